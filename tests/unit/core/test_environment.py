"""Typed values out of environment variables: one reader, one error naming the variable."""

from __future__ import annotations

import pytest

from checkout_core.environment import Environment, SettingsError


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
