"""Which of the operator's Triggers are Ready, kept in memory as the Trigger handlers see them,
so that starting a Choreography checkout costs no read of the API. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from checkout_core.triggers import InvalidTrigger, Trigger
from checkout_operator import triggers


@dataclass
class Readiness:
    _ready: set[str] = field(default_factory=set)

    def saw(self, body: Mapping[str, Any], status: Mapping[str, Any]) -> None:
        """A Trigger of ours and the status just computed for it."""
        name = body["metadata"]["name"]
        labels = body["metadata"].get("labels") or {}
        try:
            ready = Trigger.from_body({**body, "status": status}).ready
        except InvalidTrigger:
            ready = False
        if ready and labels.get(triggers.MANAGED_BY) == triggers.OPERATOR:
            self._ready.add(name)
        else:
            self._ready.discard(name)

    def forget(self, name: str) -> None:
        """The Trigger is gone."""
        self._ready.discard(name)

    def missing(self, names: Iterable[str]) -> list[str]:
        """Those of `names` not Ready (or not seen yet), in order."""
        return [name for name in names if name not in self._ready]
