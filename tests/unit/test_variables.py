"""Typed values out of environment variables."""

from __future__ import annotations

import pytest

from checkout_core.variables import flag


class Refused(ValueError):
    pass


@pytest.mark.parametrize(("raw", "expected"), [("TRUE", True), (" yes ", True), ("0", False)])
def test_a_flag_reads_the_usual_spellings(raw: str, expected: bool) -> None:
    assert flag({"F": raw}, "F", not expected) is expected


def test_an_unset_or_empty_flag_keeps_its_default() -> None:
    assert flag({}, "F", True) is True
    assert flag({"F": ""}, "F", False) is False


def test_anything_else_is_refused_with_the_callers_error_naming_the_variable() -> None:
    with pytest.raises(Refused, match="F: 'maybe' is not true or false"):
        flag({"F": "maybe"}, "F", False, Refused)
