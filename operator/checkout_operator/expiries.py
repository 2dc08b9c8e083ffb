"""Deleting the finished Checkouts whose time is up (see retention, which decides when): a loop
that sleeps until the schedule's next entry is due, or until the watch brings a new one.

The schedule hears of a Checkout finishing from the operator's watch. The Checkouts that finished
before the operator started, or whose ttl was changed after they finished, it does not watch
(it watches the unfinished ones only); the loop lists those, page by page, when it starts and
every `rescan` seconds. The operator's Role needs `delete` on checkouts in every watched
namespace: without it each deletion is refused (403), logged and tried again."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from collections.abc import Callable, Sequence

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from checkout_operator.cluster import Checkouts
from checkout_operator.retention import SELECTING_FINISHED, Expiry, Schedule

Clock = Callable[[], datetime.datetime]
RETRY_AFTER = 10.0
"""Seconds before a Checkout that could not be deleted is tried again."""
LONGEST_SLEEP = 60.0
"""Seconds the loop sleeps at most before it looks again, however far off the next entry is: a
wall clock that jumps delays a deletion by no more than this."""
RESCAN = 300.0
"""Seconds between two listings of the finished Checkouts."""
log = logging.getLogger(__name__)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def run(
    schedule: Schedule,
    checkouts: Checkouts,
    namespaces: Sequence[str] = (),
    *,
    selectable: bool = True,
    now: Clock = _now,
    retry_after: float = RETRY_AFTER,
    longest_sleep: float = LONGEST_SLEEP,
    rescan: float = RESCAN,
) -> None:
    """Delete each Checkout of `schedule` when it is due, forever, listing the finished ones of
    `namespaces` (none: of every namespace) now and every `rescan` seconds. `selectable`: the
    API server can select Checkouts by phase (else every one is listed, the finished kept). Never
    ends on an API error: a failed deletion is logged and tried again `retry_after` seconds
    later, a failed listing at the next."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def changed() -> None:
        # the schedule may be fed from another thread (Kopf's worker threads)
        loop.call_soon_threadsafe(wake.set)

    previous, schedule.on_change = schedule.on_change, changed
    listed_at = -rescan
    try:
        while True:
            wake.clear()
            for expiry in schedule.due(now()):
                await expire(expiry, schedule, checkouts, now, retry_after)
            if loop.time() - listed_at >= rescan:
                await _list_finished(schedule, checkouts, namespaces, selectable)
                listed_at = loop.time()
                continue  # what the listing found may be due already
            until_listing = listed_at + rescan - loop.time()
            seconds = _seconds_until(schedule.next_due(), now(), longest_sleep)
            await _sleep(wake, min(seconds, until_listing))
    finally:
        schedule.on_change = previous


async def _list_finished(
    schedule: Schedule, checkouts: Checkouts, namespaces: Sequence[str], selectable: bool
) -> None:
    """Feed the schedule every finished Checkout, a page at a time."""
    selectors = SELECTING_FINISHED if selectable else ("",)
    try:
        scopes: list[str | None] = [*namespaces] or [None]
        for namespace in scopes:
            for selector in selectors:
                token = ""
                while True:
                    page, token = await checkouts.page(namespace, selector, token)
                    for body in page:
                        schedule.observe(body)
                    if not token:
                        break
    except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
        log.warning("could not list the finished Checkouts: %s", _reason(error))


async def expire(
    expiry: Expiry,
    schedule: Schedule,
    checkouts: Checkouts,
    now: Clock = _now,
    retry_after: float = RETRY_AFTER,
) -> None:
    """Delete one Checkout whose time is up, if it is still the object the entry names."""
    try:
        deleted = await checkouts.delete(expiry.namespace, expiry.name, expiry.uid)
    except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
        log.warning(
            "could not delete finished Checkout %s/%s, trying again in %gs: %s",
            expiry.namespace,
            expiry.name,
            retry_after,
            _reason(error),
        )
        schedule.postpone(expiry, now() + datetime.timedelta(seconds=retry_after))
        return
    except Exception:
        log.exception(
            "deleting finished Checkout %s/%s failed; trying again in %gs",
            expiry.namespace,
            expiry.name,
            retry_after,
        )
        schedule.postpone(expiry, now() + datetime.timedelta(seconds=retry_after))
        return
    schedule.done(expiry)
    if deleted:
        log.info(
            "deleted Checkout %s/%s: finished at %s, ttlSecondsAfterFinished %d",
            expiry.namespace,
            expiry.name,
            (expiry.due - datetime.timedelta(seconds=expiry.seconds)).isoformat(),
            expiry.seconds,
        )
    else:
        log.debug(
            "Checkout %s/%s (uid %s) was gone already, or its name is another object's now",
            expiry.namespace,
            expiry.name,
            expiry.uid,
        )


def _reason(error: Exception) -> str:
    if isinstance(error, ApiException):
        return f"HTTP {error.status} {error.reason}"
    return f"{type(error).__name__}: {error}"


def _seconds_until(due: datetime.datetime | None, now: datetime.datetime, longest: float) -> float:
    if due is None:
        return longest
    return min(max((due - now).total_seconds(), 0.0), longest)


async def _sleep(wake: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less when the schedule changes."""
    if seconds <= 0:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), seconds)
