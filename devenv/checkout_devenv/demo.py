"""`make demo`: apply the example Checkouts (fresh names and order ids each run, so every run
sends its own emails), wait until they finish, and print what happened: the checkouts side by
side with per-step timings, what each step produced, and the confirmation emails that arrived."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path

import yaml

from checkout_devenv.environment import api_client
from checkout_devenv.functions import read_maildir
from checkout_devenv.runs import Outcome, fresh, run_checkouts


def _parse(value: str | None) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


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
