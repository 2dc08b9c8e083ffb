"""Typed values out of environment variables: one reader, one error naming the variable."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import pytest

from checkout_core.environment import Environment, SettingsError
from checkout_dispatcher import settings as dispatcher
from checkout_functions import settings as functions
from checkout_operator import settings as operator


@pytest.mark.parametrize(("raw", "expected"), [("TRUE", True), (" yes ", True), ("0", False)])
def test_a_flag_reads_the_usual_spellings(raw: str, expected: bool) -> None:
    assert Environment({"F": raw}).flag("F", not expected) is expected


def test_an_unset_or_empty_variable_keeps_its_default() -> None:
    env = Environment({"F": "", "N": "  "})
    assert env.flag("F", True) is True
    assert env.flag("UNSET", False) is False
    assert env.number("N", 2.5) == 2.5
    assert env.text("F", "x") == "x"


@pytest.mark.parametrize(
    ("read", "words"),
    [
        (lambda env: env.flag("V", False), "V='maybe' is not true or false"),
        (lambda env: env.number("V", 1.0), "V='maybe' is not a number"),
        (lambda env: env.log_level("V"), "V='MAYBE' is not DEBUG or INFO or WARNING or ERROR"),
        (lambda env: env.choice("V", "a", ("a", "b")), "V='maybe' is not a or b"),
    ],
)
def test_anything_else_is_refused_naming_the_variable(read: object, words: str) -> None:
    with pytest.raises(SettingsError, match=words):
        read(Environment({"V": "maybe"}))  # type: ignore[operator]


def test_numbers_are_bounded_and_whole_numbers_whole() -> None:
    env = Environment({"LOW": "0", "HIGH": "70000", "HALF": "2.5", "NAN": "nan", "OK": " 8 "})
    with pytest.raises(SettingsError, match="LOW='0' must be at least 1"):
        env.integer("LOW", 5, minimum=1)
    with pytest.raises(SettingsError, match="HIGH='70000' must be at most 65535"):
        env.integer("HIGH", 5, maximum=65535)
    with pytest.raises(SettingsError, match=r"HALF='2\.5' is not a whole number"):
        env.integer("HALF", 5)
    with pytest.raises(SettingsError, match="NAN='nan' is not a number"):
        env.number("NAN", 1.0)
    assert env.integer("OK", 5, minimum=1, maximum=9) == 8


def test_lists_drop_blanks() -> None:
    assert Environment({"L": " shop, ,staging ,"}).items("L") == ("shop", "staging")


READ: dict[str, Callable[[Mapping[str, str]], object]] = {
    "operator": operator.Settings.from_environment,
    "dispatcher": dispatcher.Settings.from_environment,
    "functions": functions.Settings.from_environ,
}
"""Each component's settings, read through this one reader."""


@pytest.mark.parametrize(
    ("component", "env", "words"),
    [
        ("operator", {"CHECKOUT_ATTEMPTS": "many"}, "CHECKOUT_ATTEMPTS='many' is not a number"),
        ("operator", {"CHECKOUT_ATTEMPTS": "0"}, "CHECKOUT_ATTEMPTS='0' must be at least 1"),
        ("operator", {"CHECKOUT_FUNCTION_URLS": "mailer=http://x/"}, "unknown function 'mailer'"),
        ("operator", {"CHECKOUT_FUNCTION_URLS": "rewards=ftp://x/"}, "is not function=http(s)://"),
        ("dispatcher", {"NATS_URL": "http://b:4222"}, "NATS_URL='http://b:4222' is not a nats://"),
        (
            "dispatcher",
            {"DISPATCHER_CONCURRENCY": "x"},
            "DISPATCHER_CONCURRENCY='x' is not a number",
        ),
        (
            "dispatcher",
            {"DISPATCHER_CONCURRENCY": "0"},
            "DISPATCHER_CONCURRENCY='0' must be at least 1",
        ),
        (
            "dispatcher",
            {"DISPATCHER_FETCH_BATCH": "2.5"},
            "DISPATCHER_FETCH_BATCH='2.5' is not a whole",
        ),
        (
            "dispatcher",
            {"DISPATCHER_PORT": "70000"},
            "DISPATCHER_PORT='70000' must be at most 65535",
        ),
        (
            "dispatcher",
            {"DISPATCHER_FETCH_WAIT": "0"},
            "DISPATCHER_FETCH_WAIT='0' must be at least 0.1",
        ),
        (
            "dispatcher",
            {"DISPATCHER_LOG_LEVEL": "LOUD"},
            "DISPATCHER_LOG_LEVEL='LOUD' is not DEBUG",
        ),
        (
            "functions",
            {"SMTP_PORT": "tcp://10.0.0.7:25"},
            "SMTP_PORT='tcp://10.0.0.7:25' is not a port",
        ),
        ("functions", {"SMTP_PORT": "70000"}, "SMTP_PORT='70000' must be at most 65535"),
        (
            "functions",
            {"SMTP_TIMEOUT_SECONDS": "soon"},
            "SMTP_TIMEOUT_SECONDS='soon' is not a number",
        ),
        (
            "functions",
            {"DATABASE_TIMEOUT_SECONDS": "0"},
            "DATABASE_TIMEOUT_SECONDS='0' must be more",
        ),
        ("functions", {"EMAIL_CLAIM_LEASE_SECONDS": "2"}, "EMAIL_CLAIM_LEASE_SECONDS (2) must be"),
        (
            "functions",
            {"EMAIL_CLAIM_LEASE_SECONDS": "3", "DATABASE_TIMEOUT_SECONDS": "2"},
            "plus DATABASE_TIMEOUT_SECONDS (2)",
        ),
        ("functions", {"WAREHOUSE_COUNTRIES": "GB,France"}, "WAREHOUSE_COUNTRIES='France' is not"),
        ("functions", {"LOG_LEVEL": "LOUD"}, "LOG_LEVEL='LOUD' is not DEBUG"),
    ],
)
def test_every_component_refuses_a_bad_value_naming_the_variable(
    component: str, env: dict[str, str], words: str
) -> None:
    with pytest.raises(SettingsError, match=re.escape(words)):
        READ[component](env)
