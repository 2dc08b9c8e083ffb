"""Typed values out of environment variables, for the settings of every component (operator,
dispatcher, functions): one reader, and one error whose message names the variable and what is
wrong with its value. Unset or empty variables keep their defaults."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

TRUE = ("true", "1", "yes")
FALSE = ("false", "0", "no")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class SettingsError(ValueError):
    """An environment variable has a value we cannot use; the message names it."""


class Environment:
    """Reads variables out of `environ` (os.environ, or a dict in tests)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def raw(self, name: str) -> str:
        """The value, stripped; empty when unset."""
        return self._environ.get(name, "").strip()

    def text(self, name: str, default: str) -> str:
        return self.raw(name) or default

    def number(
        self,
        name: str,
        default: float,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        raw = self.raw(name)
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise SettingsError(f"{name}={raw!r} is not a number")
        if minimum is not None and value < minimum:
            raise SettingsError(f"{name}={raw!r} must be at least {minimum:g}")
        if maximum is not None and value > maximum:
            raise SettingsError(f"{name}={raw!r} must be at most {maximum:g}")
        return value

    def integer(
        self, name: str, default: int, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        value = self.number(name, default, minimum, maximum)
        if not float(value).is_integer():
            raise SettingsError(f"{name}={self.raw(name)!r} is not a whole number")
        return int(value)

    def seconds(self, name: str, default: float) -> float:
        """A duration in seconds, more than 0."""
        value = self.number(name, default)
        if not value > 0:
            raise SettingsError(f"{name}={self.raw(name)!r} must be more than 0 seconds")
        return value

    def port(self, name: str, default: int) -> int:
        raw = self.raw(name)
        if raw and not raw.isdigit():
            # Kubernetes injects e.g. SMTP_PORT=tcp://10.0.0.7:25 for a Service named `smtp`
            # when service links are on; say so rather than fail obscurely.
            raise SettingsError(
                f"{name}={raw!r} is not a port number (a Service link variable? set "
                "enableServiceLinks: false)"
            )
        return self.integer(name, default, minimum=1, maximum=65535)

    def flag(self, name: str, default: bool) -> bool:
        """true/1/yes or false/0/no, any case."""
        raw = self.raw(name).lower()
        if not raw:
            return default
        if raw in TRUE:
            return True
        if raw in FALSE:
            return False
        raise SettingsError(f"{name}={raw!r} is not true or false")

    def choice(
        self,
        name: str,
        default: str,
        options: Iterable[str],
        normalise: Callable[[str], str] = str,
    ) -> str:
        """One of `options`, after `normalise` (str.lower: any case)."""
        allowed = tuple(options)
        value = normalise(self.raw(name) or default)
        if value not in allowed:
            raise SettingsError(f"{name}={value!r} is not {' or '.join(allowed)}")
        return value

    def log_level(self, name: str, default: str = "INFO") -> str:
        """DEBUG, INFO, WARNING or ERROR, any case."""
        return self.choice(name, default, LOG_LEVELS, normalise=str.upper)

    def items(self, name: str) -> tuple[str, ...]:
        """A comma-separated list, blanks dropped."""
        return tuple(p for p in (part.strip() for part in self.raw(name).split(",")) if p)
