"""`checkout-selftest`: the installation checked end to end, as `helm test` runs it. It places one
Checkout in each mode, waits for each to succeed, prints what happened and deletes them again.
Exit status 0 when every Checkout succeeded, 1 when one failed or timed out, 2 on bad usage."""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from checkout_core.api import CHECKOUTS as PLURAL
from checkout_core.api import CHOREOGRAPHY, GROUP, ORCHESTRATION, VERSION
from checkout_operator.cluster import api_client

POLL = 0.5


def checkout(name: str, mode: str, order_id: str) -> dict[str, Any]:
    """A small Checkout of a rewards member, so every step runs (none is skipped)."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Checkout",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/created-by": "checkout-selftest"}},
        "spec": {
            "mode": mode,
            "order": {
                "id": order_id,
                "customer": {
                    "name": "Self Test",
                    "email": "selftest@example.com",
                    "rewardsMember": True,
                },
                "items": [{"sku": "SELFTEST-1", "quantity": 1, "unitPrice": "1.00"}],
                "shippingAddress": {
                    "line1": "1 Test Street",
                    "city": "Testville",
                    "postalCode": "00000",
                    "country": "GB",
                },
            },
        },
    }


def outcome(body: Mapping[str, Any]) -> str | None:
    """The Checkout's final phase, Succeeded or Failed; None while it runs."""
    phase = (body.get("status") or {}).get("phase")
    return phase if phase in ("Succeeded", "Failed") else None


def summary(body: Mapping[str, Any]) -> str:
    """One line per step: name, phase, attempts, and the message when there is one."""
    lines = []
    for step in (body.get("status") or {}).get("steps") or []:
        message = f" - {step['message']}" if step.get("message") else ""
        attempts = step.get("attempts", 0)
        lines.append(f"  {step.get('name')}: {step.get('phase')} (attempts {attempts}){message}")
    return "\n".join(lines) or "  (no status yet)"


def run(
    objects: client.CustomObjectsApi,
    namespace: str,
    modes: list[str],
    timeout: float,
    say: Callable[[str], None] = print,
) -> bool:
    """Place one Checkout per mode, wait for all, clean up; True when all succeeded."""

    def read(name: str) -> Mapping[str, Any]:
        return cast(
            Mapping[str, Any],
            objects.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name),
        )

    token = uuid.uuid4().hex[:8]
    names = {mode: f"selftest-{mode.lower()}-{token}" for mode in modes}
    for mode, name in names.items():
        objects.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, checkout(name, mode, f"selftest-{token}-{mode[:5]}")
        )
        say(f"created {namespace}/{name} ({mode})")
    results: dict[str, Mapping[str, Any]] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(results) < len(names) and time.monotonic() < deadline:
            for mode, name in names.items():
                if mode in results:
                    continue
                body = read(name)
                if outcome(body):
                    results[mode] = body
            if len(results) < len(names):
                time.sleep(POLL)
        ok = True
        for mode, name in names.items():
            body = results.get(mode) or read(name)
            verdict = outcome(body) or f"not finished after {timeout:g}s"
            ok = ok and verdict == "Succeeded"
            say(f"{name} ({mode}): {verdict}\n{summary(body)}")
        return ok
    finally:
        for name in names.values():
            try:
                objects.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
            except ApiException as error:
                if error.status != 404:
                    say(f"could not delete {namespace}/{name}: {error.status} {error.reason}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="checkout-selftest", description=__doc__)
    parser.add_argument("--namespace", required=True, help="where to place the Checkouts")
    parser.add_argument(
        "--mode",
        action="append",
        choices=[ORCHESTRATION, CHOREOGRAPHY],
        help="a mode to try (repeatable); default: both",
    )
    parser.add_argument(
        "--timeout", type=float, default=180.0, help="seconds to wait (default %(default)s)"
    )
    args = parser.parse_args(argv)
    with api_client() as api:
        try:
            ok = run(
                client.CustomObjectsApi(api),
                args.namespace,
                args.mode or [ORCHESTRATION, CHOREOGRAPHY],
                args.timeout,
            )
        except ApiException as error:
            print(f"the API refused: {error.status} {error.reason}: {error.body}", file=sys.stderr)
            return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
