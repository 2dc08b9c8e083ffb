"""The API's shared pieces: RFC 3339 times and conditions, written once for every status."""

from __future__ import annotations

import datetime

from checkout_core import api

T0 = datetime.datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=datetime.UTC)
LATER = T0 + datetime.timedelta(minutes=5)


def test_times_are_written_in_utc_with_microseconds_and_read_back() -> None:
    paris = T0.astimezone(datetime.timezone(datetime.timedelta(hours=1)))
    assert api.rfc3339(paris) == "2026-01-01T10:00:00.123456Z"
    assert api.parse_rfc3339("2026-01-01T10:00:00.123456Z") == T0
    assert api.parse_rfc3339("2026-01-01T10:00:00Z") == T0.replace(microsecond=0)
    assert api.parse_rfc3339("") is None and api.parse_rfc3339(None) is None


def test_a_condition_moves_its_time_only_when_its_status_changes() -> None:
    before = api.condition("Ready", "True", "Ready", "delivering", generation=1, since=T0)
    assert before == {
        "type": "Ready",
        "status": "True",
        "reason": "Ready",
        "message": "delivering",
        "lastTransitionTime": "2026-01-01T10:00:00.123456Z",
        "observedGeneration": 1,
    }
    assert api.transitioned(before, "True", LATER) == T0
    assert api.transitioned(before, "False", LATER) == LATER
    assert api.transitioned(None, "True", LATER) == LATER
