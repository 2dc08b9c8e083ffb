"""JSON logs: one object per line on stderr, with the context a call passes in `extra` (trigger,
event id, order id, attempt, outcome), so log collectors can index them without parsing text."""

from __future__ import annotations

import logging
import sys

from checkout_core.logs import JsonFormatter

LOGGER = "checkout_dispatcher"

__all__ = ["LOGGER", "JsonFormatter", "configure"]


def configure(level: str) -> None:
    """Every logger of the process (ours, the NATS client's, aiohttp's) to stderr as JSON."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The Kubernetes client logs every request at DEBUG; a watch would drown everything else.
    logging.getLogger("kubernetes").setLevel(max(logging.INFO, root.level))
