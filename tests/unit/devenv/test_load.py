"""The load generator's arithmetic: when each create is due, what a run's records add up to
(percentiles, throughput, what did not finish, how far behind schedule it fell), the statuses it
writes, and reading a kubeconfig."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from checkout_core.api import Phase
from checkout_devenv.controlplane import kubeconfig
from checkout_devenv.load import (
    Burst,
    Paced,
    Rate,
    Record,
    Result,
    credentials,
    finished_status,
    lag,
    latencies,
    running_status,
    send_times,
    throughput,
)
from checkout_devenv.targets import Summary
from checkout_operator import status as model
from tests.builders import order

AT = datetime.datetime(2026, 5, 1, 12, 0, 0, 250000, tzinfo=datetime.UTC)


def test_send_times_are_evenly_spaced_from_zero() -> None:
    assert send_times(4.0, 5) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert send_times(2.0, 0) == []


def test_a_pace_holds_rate_times_duration_creates() -> None:
    assert Paced(rate=5, duration=2).count == 10
    assert Paced(rate=0.1, duration=30).count == 3  # 0.1 * 30 is 3.0000000000000004
    assert Paced(rate=3, duration=0.5).count == 1
    with pytest.raises(ValueError, match="positive rate"):
        Paced(rate=0, duration=10)
    assert Burst().in_flight == 32


def test_percentiles_interpolate_and_need_enough_samples_for_a_tail() -> None:
    hundred = Summary.of([float(n) for n in range(1, 101)])  # 1 .. 100
    assert hundred.percentile(50) == pytest.approx(50.5) == hundred.median
    assert hundred.p95 == pytest.approx(95.05)
    assert hundred.p99 == pytest.approx(99.01)
    assert hundred.percentile(0) == 1.0
    assert hundred.percentile(100) == 100.0
    ten = Summary.of([0.3, 0.1, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 5.0])
    assert ten.percentile(90) == pytest.approx(ten.p90)
    # Too few samples to put anything above the 99th: the largest one, as p90 does under ten.
    assert ten.p99 == 5.0
    assert Summary.of([0.2]).percentile(50) == 0.2
    with pytest.raises(ValueError, match="between 0 and 100"):
        hundred.percentile(101)


def records() -> list[Record]:
    return [
        Record("a", due=0.0, started=0.01, finished=0.51, phase="Succeeded"),
        Record("b", due=0.5, started=0.8, finished=1.0, phase="Succeeded"),
        Record("c", due=1.0, started=1.0, finished=2.01, phase="Failed"),
        Record("d", due=1.5, started=1.5),  # never finished
        Record("e", due=2.0, started=2.05, finished=2.2, error="ApiError: HTTP 409: exists"),
    ]


def test_latency_counts_only_checkouts_that_were_created_and_finished() -> None:
    assert latencies(records()) == pytest.approx([0.5, 0.2, 1.01])
    assert Record("x", started=1.0).latency is None


def test_throughput_is_finished_per_second_from_the_first_create_to_the_last_finish() -> None:
    assert throughput(records()) == pytest.approx(3 / (2.01 - 0.01))
    assert throughput([Record("x", started=0.0)]) == 0.0


def test_lag_is_the_latest_a_create_went_out_after_it_was_due() -> None:
    assert lag(records()) == pytest.approx(0.3)
    assert lag([Record("x", started=3.0)]) == 0.0  # a burst keeps no schedule
    assert lag([]) == 0.0


def test_a_result_counts_what_succeeded_failed_did_not_finish_and_was_not_created() -> None:
    result = Result(tuple(records()))
    assert (result.succeeded, result.failed, result.unfinished, result.not_created) == (2, 1, 1, 1)
    assert result.p50 == pytest.approx(0.5)
    assert result.p99 == pytest.approx(1.01)  # three samples: the largest
    figures = result.figures()
    assert figures["checkouts"] == 5
    assert figures["lag"] == pytest.approx(0.3)
    nothing = Result((Record("x", started=0.0),))
    assert nothing.p50 is None and nothing.latency is None and nothing.unfinished == 1


def test_a_rate_is_count_over_seconds() -> None:
    assert Rate(30, 2.0).per_second == 15.0
    assert Rate(0, 0.0).per_second == 0.0


@pytest.mark.parametrize("member", [True, False])
def test_the_finished_status_is_exactly_what_the_status_model_writes(member: bool) -> None:
    placed = order("o-1", member=member, prices=("12.99",), quantity=2)
    written = finished_status(placed, AT, generation=2)
    read = model.from_json(written)
    assert read is not None
    assert read.phase is Phase.SUCCEEDED
    assert model.to_json(read) == written
    assert written["conditions"][0]["status"] == "True"
    rewards = read.step("rewards")
    if member:
        assert rewards.phase is Phase.SUCCEEDED
        assert rewards.output == {"points": 25, "balance": 25}
    else:
        assert rewards.phase is Phase.SKIPPED


def test_the_running_status_is_exactly_what_the_status_model_writes() -> None:
    written = running_status(order("o-2", member=False), AT)
    read = model.from_json(written)
    assert read is not None
    assert read.phase is Phase.RUNNING
    assert model.to_json(read) == written
    assert written["progress"] == "1/3"  # rewards is skipped for a non-member
    assert written["completedAt"] is None


def test_credentials_come_from_the_current_context_inline_or_from_files(tmp_path: Path) -> None:
    inline = kubeconfig("https://127.0.0.1:6443", b"CA", b"CERT", b"KEY")
    who = credentials(inline, tmp_path)
    assert (who.server, who.ca, who.cert, who.key, who.token) == (
        "https://127.0.0.1:6443",
        b"CA",
        b"CERT",
        b"KEY",
        "",
    )
    (tmp_path / "ca.crt").write_bytes(b"FILE-CA")
    with_token: Any = kubeconfig("https://10.0.0.1", b"", token="abc", user="sa")
    cluster = with_token["clusters"][0]["cluster"]
    cluster.pop("certificate-authority-data")
    cluster["certificate-authority"] = "ca.crt"
    who = credentials(with_token, tmp_path)
    assert (who.ca, who.cert, who.token) == (b"FILE-CA", b"", "abc")
    inline["current-context"] = "elsewhere"
    with pytest.raises(ValueError, match="elsewhere"):
        credentials(inline, tmp_path)
