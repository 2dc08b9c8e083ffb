"""`make demo`: apply the example Checkouts (fresh names and order ids each run, so every run
sends its own emails), wait until they finish, and print what happened: the checkouts side by
side with per-step timings, what each step produced, and the confirmation emails that arrived."""

from __future__ import annotations

import copy
import datetime
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml
from kubernetes import client, watch

from checkout_devenv.environment import api_client
from checkout_devenv.functions import read_maildir

GROUP, VERSION, PLURAL = "shop.example.com", "v1alpha1", "checkouts"
Body = dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    body: Body
    seconds: float
    """Wall time from the create call to the watch event that showed the checkout finished."""


def _parse(value: str | None) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def fresh(example: Body, run: str) -> Body:
    body = copy.deepcopy(example)
    body["metadata"] = {"name": f"{example['metadata']['name']}-{run}"}
    body["spec"]["order"]["id"] = f"{example['spec']['order']['id']}-{run}"
    return body


def run_checkouts(
    api: client.ApiClient, namespace: str, bodies: Sequence[Body], timeout: float = 120.0
) -> list[Outcome]:
    """Create the Checkouts at once and wait, on a watch, until each has finished."""
    objects = client.CustomObjectsApi(api)
    listed = cast(
        Body, objects.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, limit=1)
    )
    version = listed["metadata"]["resourceVersion"]
    started = {}
    for body in bodies:
        started[body["metadata"]["name"]] = time.monotonic()
        objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    finished: dict[str, Outcome] = {}
    deadline = time.monotonic() + timeout
    stream = watch.Watch()
    while len(finished) < len(bodies):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(
                f"not finished after {timeout:.0f}s: {sorted(set(started) - set(finished))}"
            )
        events = stream.stream(
            objects.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            resource_version=version,
            timeout_seconds=max(1, int(left)),
            _request_timeout=left + 5,
        )
        for event in events:
            body = cast(Body, event["object"])
            version = body["metadata"]["resourceVersion"]
            name = body["metadata"]["name"]
            if name in started and name not in finished and _done(body):
                finished[name] = Outcome(body, time.monotonic() - started[name])
                if len(finished) == len(bodies):
                    stream.stop()
    return [finished[b["metadata"]["name"]] for b in bodies]


def _done(body: Body) -> bool:
    return (body.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def column(outcome: Outcome) -> list[str]:
    """One checkout as a column of cells, row by row as ROWS names them."""
    body, status = outcome.body, outcome.body["status"]
    spec = body["spec"]
    customer = spec["order"]["customer"]
    mode = spec["mode"] + (f" ({spec['strategy']})" if spec["mode"] == "Orchestration" else "")
    cells = [
        body["metadata"]["name"],
        mode,
        f"{customer['name']} ({'member' if customer.get('rewardsMember') else 'guest'})",
        f"{status['phase']} {status['progress']} in {outcome.seconds:.2f}s",
    ]
    for step in status["steps"]:
        begun, ended = _parse(step.get("startedAt")), _parse(step.get("completedAt"))
        took = f"{(ended - begun).total_seconds() * 1000:.0f} ms" if begun and ended else ""
        calls = f"{step.get('attempts', 0)} call(s)" if step["phase"] != "Skipped" else ""
        cells.append(" ".join(filter(None, [step["phase"], took, calls])))
    return cells


ROWS = ["checkout", "mode", "customer", "create -> done", "email", "shipment", "rewards"]


def table(outcomes: Sequence[Outcome]) -> list[str]:
    """The checkouts side by side, one column each."""
    columns = [column(o) for o in outcomes]
    width = max(len(cell) for c in columns for cell in c) + 3
    return [
        f"{label:<16}" + "".join(f"{c[row]:<{width}}" for c in columns)
        for row, label in enumerate(ROWS)
    ]


def outputs(outcome: Outcome) -> list[str]:
    status = outcome.body["status"]
    lines = [f"{outcome.body['metadata']['name']}:"]
    for step in status["steps"]:
        detail = step.get("message") or ", ".join(f"{k}={v}" for k, v in step["output"].items())
        lines.append(f"  {step['name']:<9}{detail}")
    return lines


def main(workdir: Path, examples: Sequence[Path], namespace: str = "default") -> int:
    run = datetime.datetime.now().strftime("%H%M%S")
    bodies = [fresh(yaml.safe_load(path.read_text()), run) for path in examples]
    with api_client(workdir / "kubeconfig") as api:
        outcomes = run_checkouts(api, namespace, bodies)
    print()
    print("\n".join(table(outcomes)))
    print()
    for outcome in outcomes:
        print("\n".join(outputs(outcome)))
    print()
    orders = {b["spec"]["order"]["id"] for b in bodies}
    print(f"Emails received (Maildir {workdir / 'maildir'}):")
    for message in read_maildir(workdir / "maildir"):
        subject = str(message["Subject"])
        if any(order in subject for order in orders):
            print(f"  to {message['To']}: {subject}")
    print(f"\nkubectl get checkouts (KUBECONFIG={workdir / 'kubeconfig'}) shows them all.")
    return 0 if all(o.body["status"]["phase"] == "Succeeded" for o in outcomes) else 1
