"""`make bench`'s arithmetic: summaries, targets and their verdicts, and the API server's write
counters read from its /metrics."""

from __future__ import annotations

from typing import Any

import pytest

from checkout_devenv.bench import MODES, Loaded, Run, checkout, report
from checkout_devenv.controlplane import spent, write_totals
from checkout_devenv.load import Record, Result
from checkout_devenv.targets import TARGETS, Summary, Target, judge

METRICS = """\
# HELP apiserver_request_total [STABLE] Counter of apiserver requests
# TYPE apiserver_request_total counter
apiserver_request_total{code="201",component="apiserver",dry_run="",group="shop.example.com",\
resource="checkouts",scope="namespace",subresource="",verb="POST",version="v1alpha1"} 3
apiserver_request_total{code="422",component="apiserver",dry_run="",group="shop.example.com",\
resource="checkouts",scope="namespace",subresource="",verb="POST",version="v1alpha1"} 2
apiserver_request_total{code="200",component="apiserver",dry_run="",group="shop.example.com",\
resource="checkouts",scope="namespace",subresource="status",verb="PATCH",version="v1alpha1"} 4
apiserver_request_total{code="200",component="apiserver",dry_run="",group="shop.example.com",\
resource="checkouts",scope="namespace",subresource="",verb="LIST",version="v1alpha1"} 99
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="events",\
scope="namespace",subresource="",verb="POST",version="v1"} 1.2e+01
apiserver_request_duration_seconds_count{resource="checkouts",verb="POST"} 5
"""


def test_write_totals_sum_every_code_and_leave_out_reads() -> None:
    assert write_totals(METRICS) == {
        ("checkouts", "", "POST"): 5,
        ("checkouts", "status", "PATCH"): 4,
        ("events", "", "POST"): 12,
    }


def test_spent_is_the_difference_of_two_readings_without_zeros() -> None:
    before = {("checkouts", "", "POST"): 5, ("events", "", "POST"): 12}
    after = {("checkouts", "", "POST"): 5, ("events", "", "POST"): 18, ("leases", "", "PUT"): 1}
    assert spent(before, after) == {("events", "", "POST"): 6, ("leases", "", "PUT"): 1}


def test_summary_median_p90_and_low() -> None:
    summary = Summary.of([0.3, 0.1, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 5.0])
    assert summary.median == 0.6
    assert summary.low == 0.1
    assert summary.p90 == pytest.approx(1.0)
    assert Summary.of([0.2, 0.9, 0.1]).p90 == 0.9  # too few samples: the largest
    with pytest.raises(ValueError, match="no samples"):
        Summary.of([])


def test_a_target_is_a_ceiling_unless_it_is_a_floor() -> None:
    ceiling = Target("latency", 0.5, "s")
    floor = Target("throughput", 10.0, "checkouts/s", at_least=True)
    assert ceiling.met_by(0.5) and not ceiling.met_by(0.51)
    assert floor.met_by(10.0) and not floor.met_by(9.99)
    assert ceiling.describe() == "<= 0.5 s"
    assert floor.describe() == ">= 10 checkouts/s"


def test_judge_names_a_figure_nobody_measured() -> None:
    with pytest.raises(KeyError, match="not measured: latency"):
        judge({}, [Target("latency", 0.5, "s")])
    verdicts = judge({"latency": 0.7}, [Target("latency", 0.5, "s")])
    assert not verdicts[0].met
    assert verdicts[0].line().startswith("MISS latency")


def _loaded(count: int, seconds: float, failed: int = 0) -> Loaded:
    """`count` checkouts created at once, finishing evenly over `seconds`, the last `failed`
    of them Failed; each cost 3 writes, and the API server wrote its own lease."""
    records = tuple(
        Record(
            f"c{i}",
            started=0.0,
            finished=seconds * (i + 1) / count,
            phase="Failed" if i >= count - failed else "Succeeded",
        )
        for i in range(count)
    )
    writes = {
        ("checkouts", "", "POST"): count,
        ("checkouts", "status", "PATCH"): count,
        ("events", "", "POST"): count,
        ("leases", "", "PUT"): 3,
    }
    return Loaded(Result(records), writes, {"operator": count * 0.01})


def synthetic_run() -> Run:
    return Run(
        limits={"control plane": 160.0, "functions": 100.0},
        latencies={"Orchestration": [0.1, 0.2, 0.3], "Choreography": [0.2, 0.4, 0.6]},
        latencies_stored={"Orchestration": [0.2, 0.4], "Choreography": [0.4, 0.6]},
        loads={
            "Orchestration": {"burst": _loaded(200, 4.0), "50/s": _loaded(100, 2.0)},
            "Choreography": {"burst": _loaded(200, 5.0), "50/s": _loaded(100, 2.0, failed=2)},
        },
        memory={
            "operator": 90 * 2**20,
            "dispatcher": 60 * 2**20,
            "confirmation": 70 * 2**20,
            "warehouse": 80 * 2**20,
            "rewards": 75 * 2**20,
        },
        memory_stored=120 * 2**20,
        startup={"operator": 0.8, "dispatcher": 0.5, "rewards": 0.9},
        stored=10_000,
    )


def test_a_run_measures_every_figure_a_target_names() -> None:
    run = synthetic_run()
    figures = run.figures()
    assert len(judge(figures)) == len(TARGETS)
    assert figures["machine limit"] == 100.0  # the smaller of the two bare limits
    assert figures["latency median ratio, Choreography / Orchestration"] == 2.0
    assert figures["burst throughput, Choreography"] == 40.0
    assert figures["burst throughput / machine limit, Orchestration"] == 0.5
    assert figures["latency change with Checkouts stored, Orchestration"] == pytest.approx(1.5)
    # the API server's own leases are not the checkouts' doing
    assert figures["API writes per checkout, Orchestration"] == 3.0
    assert figures["50/s checkouts not succeeded, Choreography"] == 2.0
    assert figures["50/s p99, Orchestration"] == pytest.approx(1.98, abs=0.02)
    assert figures["memory, each function"] == 80.0
    assert figures["memory, operator, Checkouts stored"] == 120.0
    assert figures["start-up, slowest part"] == 0.9
    assert run.loads["Orchestration"]["burst"].cpu_per_checkout() == {"operator": 0.01}
    missed = {v.target.figure for v in judge(figures) if not v.met}
    assert "50/s checkouts not succeeded, Choreography" in missed
    assert "API writes per checkout, Choreography" not in missed


def test_the_report_shows_every_run_and_part() -> None:
    lines = "\n".join(report(synthetic_run()))
    assert "the limit: 100/s" in lines
    assert "Choreography 50/s" in lines
    assert "operator with 10,000 Checkouts stored: 120 MiB" in lines


def test_each_mode_gets_a_checkout_of_its_own_with_a_valid_name() -> None:
    example: dict[str, Any] = {
        "metadata": {"name": "order-1001"},
        "spec": {"mode": "Orchestration", "order": {"id": "1001"}},
    }
    bodies = [checkout(example, mode, "b1-7") for mode in MODES]
    assert [b["metadata"]["name"] for b in bodies] == [
        "order-1001-b1-7-orch",
        "order-1001-b1-7-chor",
    ]
    assert [b["spec"]["order"]["id"] for b in bodies] == ["1001-b1-7-orch", "1001-b1-7-chor"]
    assert [b["spec"]["mode"] for b in bodies] == ["Orchestration", "Choreography"]
    assert example["spec"]["mode"] == "Orchestration"  # the example itself is left alone
