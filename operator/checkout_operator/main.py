"""`checkout-operator`: start the operator (Kopf, standalone: one replica, no peering)."""

from __future__ import annotations

import argparse
import logging
import sys

import kopf

from checkout_core.logs import JsonFormatter
from checkout_operator import handlers  # importing it registers the handlers
from checkout_operator.settings import Settings, SettingsError

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
KOPF_BOOKKEEPING = frozenset({"settings", "k8s_skip"})
"""Extras Kopf puts on its objects' log records for itself: every operator setting, and a flag."""


class QuietWatching(logging.Filter):
    """Drops Kopf's line for each watch event the stalled-checkout watcher saw: one per change of
    every Checkout, saying only that an in-memory update worked. (Its failures are still logged.)"""

    SAID = f"Handler '{handlers.WATCHER}' succeeded."

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self.SAID


def configure_logging(log_format: str, level: int) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(QuietWatching())
    json_lines = JsonFormatter(omit=KOPF_BOOKKEEPING)
    handler.setFormatter(json_lines if log_format == "json" else logging.Formatter(TEXT))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="checkout-operator", description=__doc__)
    parser.add_argument(
        "--namespace",
        action="append",
        default=[],
        help="watch only this namespace (repeatable); default: all namespaces",
    )
    parser.add_argument(
        "--liveness",
        default="http://0.0.0.0:8080/healthz",
        help="liveness endpoint URL (default %(default)s); empty to disable",
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--log-format",
        choices=["json", "text"],
        default="json",
        help="json (default: one object per line, with the Kubernetes object a line is about, "
        "as the functions and the dispatcher log) or text, for people",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_environment()
    except SettingsError as error:
        # Before Kopf starts: a bad setting is a usage error, named, not a crash loop.
        print(f"checkout-operator: {error}", file=sys.stderr)
        return 2
    configure_logging(args.log_format, logging.DEBUG if args.verbose else logging.INFO)
    kopf.run(
        memo=kopf.Memo(settings=settings, namespaces=list(args.namespace)),
        standalone=True,
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=args.liveness or None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
