"""The outcomes a function can end in besides success, as exceptions the runtime turns into HTTP
answers: a business refusal (200 with a `…failed` event), a bad event (400) and an unavailable
dependency (503, so the caller retries)."""

from __future__ import annotations

import datetime


class Refusal(Exception):
    """The order cannot be served, and asking again will not change that: the reply is the step's
    `…failed` event, and the caller does not retry."""

    def __init__(self, reason: str, message: str, at: datetime.datetime | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        """CamelCase, e.g. `CountryNotServed`; goes to the failed event's data."""
        self.message = message
        """A sentence for people."""
        self.at = at
        """When the refusal was recorded (UTC), if it was: the time of its reply, the same for
        every repeat. None for a refusal decided afresh each time: its reply is timed now."""


class ConflictingRepeat(Refusal):
    """The order id was served already, and this event asks for a different side effect (another
    recipient, country, account or amount): it is refused and nothing is done, since an order id
    is served once; the message says what was done and which field differs."""

    def __init__(self, order_id: str, done: str, asked: str, fields: str) -> None:
        super().__init__(
            "ConflictingRepeat",
            f"order {order_id} was already {done}; this event asks for {asked} in {fields}, "
            "and an order id is served only once",
        )


class BadEvent(Exception):
    """The request is not an event this function can accept (400, nothing written)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class Unavailable(Exception):
    """A dependency (SMTP server, database) cannot be used right now, or another request is doing
    the same work; the caller should retry later (503)."""
