"""How long a finished Checkout is kept, as a Job's `ttlSecondsAfterFinished` keeps a Job: its own
spec.ttlSecondsAfterFinished, else the operator's default, else for ever. The clock starts when it
finished, the lastTransitionTime of its Succeeded condition. Pure: the operator feeds the schedule
what its watch sees and what a listing of the finished ones finds, and asks what is due (expiries
does the listing and the deleting)."""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from checkout_core.api import SUCCEEDED, Phase, parse_rfc3339

FIELD = "ttlSecondsAfterFinished"
"""The spec field, named as a Job names it."""
MAX_SECONDS = 31_536_000
"""The longest a Checkout may be kept after it finished, a year: the CRD's maximum too."""
FINISHED = (Phase.SUCCEEDED, Phase.FAILED)
SELECTING_FINISHED = tuple(f"status.phase={phase}" for phase in FINISHED)
"""Field selectors that list the finished Checkouts, one phase each (the API server ANDs the
requirements of one selector)."""

Key = tuple[str, str]
"""(namespace, name)"""


def seconds_to_keep(body: Mapping[str, Any], default: int | None) -> int | None:
    """The Checkout's own ttlSecondsAfterFinished, else `default`; None: kept for ever."""
    own = (body.get("spec") or {}).get(FIELD)
    if isinstance(own, int) and not isinstance(own, bool) and own >= 0:
        return own
    return default


def finished_at(body: Mapping[str, Any]) -> datetime.datetime | None:
    """When the Checkout finished (Succeeded or Failed): its Succeeded condition's last
    transition, True or False by then; None while it has not."""
    status = body.get("status") or {}
    if status.get("phase") not in FINISHED:
        return None
    for condition in status.get("conditions") or []:
        if condition.get("type") == SUCCEEDED and condition.get("status") in ("True", "False"):
            return parse_rfc3339(condition.get("lastTransitionTime"))
    return None


def expires_at(body: Mapping[str, Any], default: int | None) -> datetime.datetime | None:
    """When the Checkout is due to be deleted; None while it is not finished, or when it is kept
    for ever."""
    seconds = seconds_to_keep(body, default)
    finished = finished_at(body)
    if seconds is None or finished is None:
        return None
    return finished + datetime.timedelta(seconds=seconds)


@dataclass(frozen=True)
class Expiry:
    """One finished Checkout and when it is due to go. The uid names this very object: a newer
    one made under the same name is not this one, and is never deleted in its place."""

    namespace: str
    name: str
    uid: str
    due: datetime.datetime
    seconds: int
    """The ttlSecondsAfterFinished that applied, for the record."""


@dataclass
class _Entry:
    expiry: Expiry
    retry_at: datetime.datetime | None = None
    """Set when a deletion failed: not due again before then."""

    @property
    def when(self) -> datetime.datetime:
        return max(self.expiry.due, self.retry_at) if self.retry_at else self.expiry.due


def _nothing() -> None:
    pass


@dataclass
class Schedule:
    """The finished Checkouts due to be deleted, by name. Safe to feed from another thread than
    the one that asks (Kopf runs a plain-function handler in a worker thread)."""

    default: int | None
    """The operator's ttlSecondsAfterFinished for Checkouts that set none; None keeps them."""
    on_change: Callable[[], None] = _nothing
    """Called after an entry is added or moved: a loop sleeping until next_due looks again."""
    _entries: dict[Key, _Entry] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def watched(
        self, event_type: str | None, body: Mapping[str, Any], now: datetime.datetime | None = None
    ) -> None:
        """A watch event, as Kopf's on.event gives it: None for the initial listing, ADDED,
        MODIFIED or DELETED, seen at `now` (by default the present moment). The operator watches
        only unfinished Checkouts, so one that finishes leaves the watch as DELETED — and that
        event shows it as it was before, not yet finished. One with a time to be kept is then
        scheduled as finished `now` (were it in fact deleted, deleting it again finds nothing);
        any other is forgotten."""
        if event_type != "DELETED":
            self.observe(body)
            return
        meta = body["metadata"]
        key = (meta.get("namespace") or "", meta.get("name") or "")
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and entry.expiry.uid != meta.get("uid"):
            return  # news of an older object of that name changes nothing
        if finished_at(body) is not None:
            self.observe(body)
        elif seconds_to_keep(body, self.default) is not None:
            self.observe(body, finished=now or datetime.datetime.now(datetime.UTC))
        else:
            self.forget(*key, meta.get("uid"))

    def observe(self, body: Mapping[str, Any], finished: datetime.datetime | None = None) -> None:
        """What the watch saw of a Checkout (any state): scheduled when it is finished (or, said
        by `finished`, finished then) and has a time to go, dropped otherwise (not finished
        again, its ttl removed, being deleted)."""
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        seconds = seconds_to_keep(body, self.default)
        finished = finished_at(body) or finished
        uid = meta.get("uid")
        if seconds is None or finished is None or not uid or meta.get("deletionTimestamp"):
            # without a uid it cannot be deleted safely; being deleted, it needs no help
            with self._lock:
                self._entries.pop(key, None)
            return
        due = finished + datetime.timedelta(seconds=seconds)
        expiry = Expiry(key[0], key[1], uid, due, seconds)
        with self._lock:
            previous = self._entries.get(key)
            if previous is not None and previous.expiry == expiry:
                return  # the same old news: a failed deletion keeps its wait
            self._entries[key] = _Entry(expiry)
        self.on_change()

    def forget(self, namespace: str, name: str, uid: str | None = None) -> None:
        """Drop the entry of that name (only if it is the object `uid`, when one is given)."""
        with self._lock:
            entry = self._entries.get((namespace, name))
            if entry is not None and uid in (None, entry.expiry.uid):
                del self._entries[(namespace, name)]

    def done(self, expiry: Expiry) -> None:
        """The Checkout of `expiry` is gone (or its name is another object's now)."""
        self.forget(expiry.namespace, expiry.name, expiry.uid)

    def postpone(self, expiry: Expiry, until: datetime.datetime) -> None:
        """Deleting failed: try again no sooner than `until` (unless the watch brings news)."""
        with self._lock:
            entry = self._entries.get((expiry.namespace, expiry.name))
            if entry is not None and entry.expiry == expiry:
                entry.retry_at = until

    def due(self, now: datetime.datetime) -> list[Expiry]:
        """The entries whose time is up, the longest overdue first."""
        with self._lock:
            ready = sorted((e.when, k) for k, e in self._entries.items() if e.when <= now)
            return [self._entries[key].expiry for _, key in ready]

    def next_due(self) -> datetime.datetime | None:
        """When the next entry is due (maybe already past); None when there is none."""
        with self._lock:
            return min((e.when for e in self._entries.values()), default=None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
