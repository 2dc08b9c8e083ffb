"""What the Trigger objects seen through the Kubernetes API mean for the workers: which Triggers
want one, and whether a change starts, restarts, stops or keeps a worker. Pure."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checkout_core.triggers import InvalidTrigger, Trigger

Body = Mapping[str, Any]


@dataclass(frozen=True)
class Listed:
    """Every Trigger of `namespace` (None: of all namespaces) at one moment: a fresh list after
    start-up or after a watch could not resume. Triggers not in it are gone."""

    namespace: str | None
    bodies: Sequence[Body]


@dataclass(frozen=True)
class Changed:
    """A Trigger was created or changed (its spec, its status, its labels)."""

    body: Body


@dataclass(frozen=True)
class Deleted:
    body: Body


Change = Listed | Changed | Deleted


class Action(enum.Enum):
    START = "start"
    RESTART = "restart"
    STOP = "stop"
    KEEP = "keep"


def key(body: Body) -> str:
    """A Trigger object's `namespace/name`, as Trigger.key has it."""
    meta = body["metadata"]
    return f"{meta['namespace']}/{meta['name']}"


def wanted(body: Body) -> Trigger:
    """The Trigger a worker should serve; raises InvalidTrigger when the object cannot be served:
    not Ready (the operator has not made its consumer or resolved its subscriber, or has not
    seen its latest generation yet) or not valid."""
    try:
        trigger = Trigger.from_body(body)
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, InvalidTrigger):
            raise
        raise InvalidTrigger(f"unreadable Trigger: {type(error).__name__}: {error}") from error
    if not trigger.ready:
        raise InvalidTrigger("not Ready for its current generation")
    return trigger


def plan(running: Trigger | None, desired: Trigger | None) -> Action:
    """What to do with the worker of one Trigger, from what it serves now and what it should."""
    if desired is None:
        return Action.KEEP if running is None else Action.STOP
    if running is None:
        return Action.START
    # Labels change nothing about delivery; anything else (a new generation, a newly resolved
    # subscriber) is only honoured by a worker built from it.
    same = dataclasses.replace(running, labels={}) == dataclasses.replace(desired, labels={})
    return Action.KEEP if same else Action.RESTART


def gone(running: Sequence[str], listed: Listed) -> list[str]:
    """Keys of running workers whose Trigger is no longer in the namespace `listed` covers."""
    present = {key(body) for body in listed.bodies}
    scope = f"{listed.namespace}/" if listed.namespace is not None else ""
    return [k for k in running if k.startswith(scope) and k not in present]
