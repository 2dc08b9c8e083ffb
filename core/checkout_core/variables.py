"""Typed values out of environment variables, shared by every process's settings: each refusal
names the variable and raises the caller's own error type."""

from __future__ import annotations

from collections.abc import Mapping

TRUE = ("true", "1", "yes")
FALSE = ("false", "0", "no")


def flag(
    environ: Mapping[str, str], name: str, default: bool, error: type[Exception] = ValueError
) -> bool:
    """true/1/yes or false/0/no, any case; unset or empty keeps `default`."""
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in TRUE:
        return True
    if raw in FALSE:
        return False
    raise error(f"{name}: {raw!r} is not true or false")
