"""The operator's command line: its logs, JSON by default like every other process's."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from checkout_operator.main import configure_logging, main


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_carry_the_object_they_are_about(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", logging.INFO)
    ref = {"kind": "Checkout", "namespace": "shop", "name": "order-1001"}
    extra = {"k8s_ref": ref, "k8s_skip": False, "settings": "OperatorSettings(...)"}
    logging.getLogger("checkout_operator.test").info("Handler succeeded.", extra=extra)
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert (line["level"], line["logger"], line["message"]) == (
        "INFO",
        "checkout_operator.test",
        "Handler succeeded.",
    )
    assert line["k8s_ref"] == ref
    assert "settings" not in line and "k8s_skip" not in line


@pytest.mark.usefixtures("restore_logging")
def test_text_is_there_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("text", logging.INFO)
    logging.getLogger("checkout_operator").warning("projector paused")
    assert capsys.readouterr().err.strip().endswith("WARNING checkout_operator: projector paused")


@pytest.mark.usefixtures("restore_logging")
def test_the_stall_watchers_successes_are_not_logged(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", logging.INFO)
    kopf_objects = logging.getLogger("kopf.objects")
    kopf_objects.info("Handler 'watch-checkouts' succeeded.")
    kopf_objects.info("Handler 'orchestrate' succeeded.")
    kopf_objects.error("Handler 'watch-checkouts' failed with an exception and will ignore it")
    lines = [json.loads(line)["message"] for line in capsys.readouterr().err.splitlines()]
    assert lines == [
        "Handler 'orchestrate' succeeded.",
        "Handler 'watch-checkouts' failed with an exception and will ignore it",
    ]


def test_a_bad_setting_stops_the_operator_before_kopf_starts_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHECKOUT_ATTEMPTS", "many")
    assert main(["--liveness="]) == 2
    assert capsys.readouterr().err.strip() == (
        "checkout-operator: CHECKOUT_ATTEMPTS='many' is not a number"
    )
