"""How long a finished Checkout is kept, and when each one is due to be deleted."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from checkout_core.steps import STEPS
from checkout_operator import status as model
from checkout_operator.retention import (
    Expiry,
    Schedule,
    expires_at,
    finished_at,
    seconds_to_keep,
)
from checkout_operator.settings import Settings, SettingsError

T0 = datetime.datetime(2026, 11, 26, 12, 0, tzinfo=datetime.UTC)
ATTRIBUTES = {"rewardsmember": "true"}


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def running() -> model.Status:
    status = model.initial(STEPS, ATTRIBUTES, 1, T0)
    return model.apply(status, model.StepUpdate("email", model.Change.STARTED, T0))


def finished(seconds: float, *, failed: bool = False) -> model.Status:
    """Every step ended, the last `seconds` after T0; shipment failed when `failed`."""
    status = running()
    for step in ("email", "shipment", "rewards"):
        change = model.Change.FAILED if failed and step == "shipment" else model.Change.SUCCEEDED
        status = model.apply(status, model.StepUpdate(step, change, at(seconds)))
    return status


def body(
    name: str,
    status: model.Status | None,
    ttl: int | None = None,
    uid: str | None = None,
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "metadata": {"namespace": "shop", "name": name, "uid": uid or f"uid-{name}"},
        "spec": {"mode": "Orchestration"},
    }
    if ttl is not None:
        found["spec"]["ttlSecondsAfterFinished"] = ttl
    if status is not None:
        found["status"] = model.to_json(status)
    return found


def names(due: list[Expiry]) -> list[str]:
    return [e.name for e in due]


def test_the_checkouts_own_value_beats_the_default() -> None:
    assert seconds_to_keep(body("own", None, ttl=60), default=3600) == 60
    assert seconds_to_keep(body("own", None, ttl=0), default=3600) == 0
    assert seconds_to_keep(body("none", None), default=3600) == 3600
    assert seconds_to_keep(body("none", None), default=None) is None


def test_it_finished_when_its_succeeded_condition_last_moved() -> None:
    assert finished(10).phase == "Succeeded"
    assert finished(10, failed=True).phase == "Failed"
    assert finished_at(body("ok", finished(10))) == at(10)
    assert finished_at(body("failed", finished(10, failed=True))) == at(10)
    assert finished_at(body("running", running())) is None
    assert finished_at(body("unstarted", None)) is None


def test_it_expires_that_many_seconds_after_it_finished() -> None:
    assert expires_at(body("ok", finished(10), ttl=60), default=None) == at(70)
    assert expires_at(body("failed", finished(10, failed=True)), default=5) == at(15)
    assert expires_at(body("kept", finished(10)), default=None) is None
    assert expires_at(body("running", running(), ttl=0), default=None) is None


def test_a_finished_checkout_is_due_once_its_time_is_up() -> None:
    schedule = Schedule(default=None)
    schedule.watched("ADDED", body("ok", finished(10), ttl=60))
    assert schedule.next_due() == at(70)
    assert schedule.due(at(69)) == []
    (expiry,) = schedule.due(at(70))
    assert expiry == Expiry("shop", "ok", "uid-ok", at(70), 60)


def test_the_initial_listing_counts_as_well() -> None:
    schedule = Schedule(default=60)
    schedule.watched(None, body("listed", finished(10)))  # Kopf's type for the initial listing
    assert names(schedule.due(at(70))) == ["listed"]


def test_zero_means_as_soon_as_it_finished() -> None:
    schedule = Schedule(default=3600)
    schedule.watched("MODIFIED", body("gone", finished(10), ttl=0))
    assert names(schedule.due(at(10))) == ["gone"]


def test_failed_counts_as_finished() -> None:
    schedule = Schedule(default=60)
    schedule.watched("MODIFIED", body("failed", finished(10, failed=True)))
    assert names(schedule.due(at(70))) == ["failed"]


def test_off_by_default_and_never_before_it_finished() -> None:
    schedule = Schedule(default=None)
    schedule.watched("ADDED", body("kept", finished(10)))
    schedule.watched("ADDED", body("running", running(), ttl=0))
    schedule.watched("ADDED", body("unstarted", None, ttl=0))
    assert len(schedule) == 0
    assert schedule.next_due() is None
    assert schedule.due(at(10**8)) == []


def test_one_leaving_the_watch_is_scheduled_as_finished_then_if_it_has_a_time_to_go() -> None:
    # The operator watches unfinished Checkouts only: one that finishes leaves the watch as
    # DELETED, and the event shows it as it was before, still running.
    schedule = Schedule(default=None)
    schedule.watched("MODIFIED", body("done", running(), ttl=60))
    schedule.watched("DELETED", body("done", running(), ttl=60), at(10))
    assert schedule.due(at(69)) == []
    assert names(schedule.due(at(70))) == ["done"]
    # one without a time to go is forgotten; a finished one deleted is scheduled as it stands
    schedule.watched("DELETED", body("gone", running()), at(10))
    schedule.watched("DELETED", body("deleted", finished(5), ttl=0), at(10))
    assert names(schedule.due(at(70))) == ["deleted", "done"]


def test_one_being_deleted_or_without_a_uid_is_not_scheduled() -> None:
    schedule = Schedule(default=0)
    deleting = body("deleting", finished(10))
    schedule.watched("MODIFIED", deleting)
    deleting["metadata"]["deletionTimestamp"] = "2026-11-26T12:00:11Z"
    schedule.watched("MODIFIED", deleting)
    anonymous = body("anonymous", finished(10))
    del anonymous["metadata"]["uid"]
    schedule.watched("MODIFIED", anonymous)
    assert len(schedule) == 0


def test_one_that_is_no_longer_finished_is_dropped() -> None:
    schedule = Schedule(default=60)
    schedule.watched("MODIFIED", body("ok", finished(10)))
    schedule.watched("MODIFIED", body("ok", running()))
    assert len(schedule) == 0


def test_a_changed_ttl_reschedules_and_a_removed_one_falls_back_to_the_default() -> None:
    schedule = Schedule(default=None)
    schedule.watched("MODIFIED", body("ok", finished(10), ttl=60))
    schedule.watched("MODIFIED", body("ok", finished(10), ttl=600))
    assert schedule.due(at(70)) == []
    assert schedule.next_due() == at(610)
    schedule.watched("MODIFIED", body("ok", finished(10)))
    assert len(schedule) == 0
    with_default = Schedule(default=30)
    with_default.watched("MODIFIED", body("ok", finished(10), ttl=600))
    with_default.watched("MODIFIED", body("ok", finished(10)))
    assert with_default.next_due() == at(40)


def test_the_longest_overdue_comes_first() -> None:
    schedule = Schedule(default=100)
    schedule.watched(None, body("late", finished(50)))
    schedule.watched(None, body("early", finished(10)))
    schedule.watched(None, body("own", finished(40), ttl=0))
    schedule.watched(None, body("not-yet", finished(500)))
    assert schedule.next_due() == at(40)
    assert names(schedule.due(at(200))) == ["own", "early", "late"]


def test_a_newer_object_of_the_same_name_outlives_the_old_ones_news() -> None:
    schedule = Schedule(default=60)
    schedule.watched("ADDED", body("same", finished(10), uid="old"))
    (stale,) = schedule.due(at(70))
    schedule.watched("ADDED", body("same", finished(20), uid="new"))
    schedule.done(stale)  # the old one's deletion came back: it must not drop the new entry
    schedule.watched("DELETED", body("same", finished(10), uid="old"))
    (entry,) = schedule.due(at(80))
    assert (entry.uid, entry.due) == ("new", at(80))
    schedule.done(entry)
    assert len(schedule) == 0


def test_a_failed_deletion_waits_until_the_watch_brings_news() -> None:
    schedule = Schedule(default=60)
    schedule.watched("MODIFIED", body("ok", finished(10)))
    (expiry,) = schedule.due(at(70))
    schedule.postpone(expiry, at(80))
    schedule.watched("MODIFIED", body("ok", finished(10)))  # the same again: still waiting
    assert schedule.due(at(79)) == []
    assert schedule.next_due() == at(80)
    assert names(schedule.due(at(80))) == ["ok"]
    schedule.postpone(expiry, at(90))
    schedule.watched("MODIFIED", body("ok", finished(10), ttl=5))  # news: try at once
    assert names(schedule.due(at(80))) == ["ok"]


def test_a_waiting_loop_is_told_when_an_entry_comes_or_moves() -> None:
    calls: list[str] = []
    schedule = Schedule(default=60, on_change=lambda: calls.append("changed"))
    schedule.watched("ADDED", body("ok", finished(10)))
    schedule.watched("MODIFIED", body("ok", finished(10)))  # nothing new
    schedule.watched("MODIFIED", body("ok", finished(10), ttl=5))
    schedule.watched("MODIFIED", body("running", running()))
    assert calls == ["changed", "changed"]


def test_the_operators_default_comes_from_the_environment() -> None:
    assert Settings.from_environment({}).ttl_seconds_after_finished is None
    unset = {"CHECKOUT_TTL_SECONDS_AFTER_FINISHED": " "}
    assert Settings.from_environment(unset).ttl_seconds_after_finished is None
    for raw, value in (("0", 0), ("3600", 3600)):
        settings = Settings.from_environment({"CHECKOUT_TTL_SECONDS_AFTER_FINISHED": raw})
        assert settings.ttl_seconds_after_finished == value


@pytest.mark.parametrize("raw", ["-1", "soon", "1.5", "31536001"])
def test_a_default_that_is_not_a_whole_number_of_seconds_is_refused_by_name(raw: str) -> None:
    with pytest.raises(SettingsError, match=f"CHECKOUT_TTL_SECONDS_AFTER_FINISHED={raw!r}"):
        Settings.from_environment({"CHECKOUT_TTL_SECONDS_AFTER_FINISHED": raw})
