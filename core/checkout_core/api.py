"""The API's names, written once: group, version, resources, modes, phases and condition types;
and what every status of ours shares, RFC 3339 times and Kubernetes conditions. Pure."""

from __future__ import annotations

import datetime
import enum
from collections.abc import Mapping
from typing import Any

GROUP = "shop.example.com"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CHECKOUTS = "checkouts"
"""The Checkout resource's plural."""
TRIGGERS = "triggers"
"""The Trigger resource's plural."""
CHECKOUT_KIND = "Checkout"
TRIGGER_KIND = "Trigger"
CHECKOUT_CRD = f"{CHECKOUTS}.{GROUP}"
TRIGGER_CRD = f"{TRIGGERS}.{GROUP}"


class Mode(enum.StrEnum):
    """spec.mode of a Checkout."""

    ORCHESTRATION = "Orchestration"
    CHOREOGRAPHY = "Choreography"


ORCHESTRATION = Mode.ORCHESTRATION
CHOREOGRAPHY = Mode.CHOREOGRAPHY


class Phase(enum.StrEnum):
    """status.phase of a Checkout, and status.steps[].phase of its steps."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"  # steps only

    @property
    def terminal(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED, Phase.SKIPPED)

    @property
    def done(self) -> bool:
        """Finished without a failure: counts towards progress."""
        return self in (Phase.SUCCEEDED, Phase.SKIPPED)


SUCCEEDED = "Succeeded"
"""A Checkout's condition type: `kubectl wait --for=condition=Succeeded`."""
READY = "Ready"
"""A Trigger's summary condition type."""


def rfc3339(when: datetime.datetime) -> str:
    """A time as the API writes it: UTC, microseconds, `Z`."""
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(text: str | None) -> datetime.datetime | None:
    """A time as the API wrote it (with or without fractions); None for none."""
    if not text:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def condition(
    kind: str,
    status: str,
    reason: str,
    message: str,
    *,
    generation: int,
    since: datetime.datetime,
) -> dict[str, Any]:
    """One entry of status.conditions, as Kubernetes API conventions write it."""
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": rfc3339(since),
        "observedGeneration": generation,
    }


def transitioned(
    previous: Mapping[str, Any] | None, status: str, now: datetime.datetime
) -> datetime.datetime:
    """When a condition whose status is now `status` last changed: its previous time when the
    status stayed the same (a condition moves only when its status does), else `now`."""
    if previous and previous.get("status") == status:
        before = parse_rfc3339(previous.get("lastTransitionTime"))
        if before is not None:
            return before
    return now
