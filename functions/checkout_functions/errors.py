"""The outcomes a function can end in besides success, as exceptions the runtime turns into HTTP
answers: a business refusal (200 with a `…failed` event), a bad event (400) and an unavailable
dependency (503, so the caller retries)."""

from __future__ import annotations


class Refusal(Exception):
    """The order cannot be served, and asking again will not change that: the reply is the step's
    `…failed` event, and the caller does not retry."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        """CamelCase, e.g. `CountryNotServed`; goes to the failed event's data."""
        self.message = message
        """A sentence for people."""


class BadEvent(Exception):
    """The request is not an event this function can accept (400, nothing written)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class Unavailable(Exception):
    """A dependency (SMTP server, database) cannot be used right now, or another request is doing
    the same work; the caller should retry later (503)."""
