"""What one HTTP delivery of a CloudEvent brought back, and the one rule, for every sender in the
system (orchestration and the dispatcher alike), of whether another attempt may succeed. Pure."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

RETRIED_4XX = frozenset({404, 408, 409, 429})
"""4xx answers worth another attempt, as Knative's senders retry them (`SelectiveRetry`): a
subscriber still starting behind its Service (404), a timeout or a conflict on its side (408,
409), throttling (429). Every other 4xx, 400 above all ("I cannot accept this event"), means the
same event would be refused again."""


@dataclass(frozen=True)
class Attempt:
    """What came back from one HTTP delivery."""

    status: int = 0
    """The HTTP status; 0 when no answer came (timeout, connection refused or reset)."""
    body: bytes = b""
    """The answer's body."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """The answer's headers (a reply's `ce-` attributes and Content-Type)."""
    error: str = ""
    """Why there was no answer, or why a 2xx answer cannot be used (too large, a bad reply)."""


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    """2xx: the subscriber has the event."""
    TRANSIENT = "transient"
    """No answer, 5xx, or a 4xx worth retrying: another attempt may succeed."""
    PERMANENT = "permanent"
    """Any other answer, or a 2xx that cannot be used: retrying cannot help."""


def retried(status: int) -> bool:
    """Whether an answer with this HTTP status is worth another attempt (0: no answer)."""
    return status == 0 or status >= 500 or status in RETRIED_4XX


def classify(attempt: Attempt) -> Outcome:
    if 200 <= attempt.status < 300:
        return Outcome.PERMANENT if attempt.error else Outcome.DELIVERED
    return Outcome.TRANSIENT if retried(attempt.status) else Outcome.PERMANENT


def detail(body: bytes) -> str:
    """What an error body says: the `error` of a JSON error (the functions' shape), else the
    start of the body."""
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if isinstance(document, dict) and document.get("error"):
        return str(document["error"])
    return body[:200].decode("utf-8", errors="replace").strip()


def summary(attempt: Attempt) -> str:
    """One line: the status and what the body says, or the error."""
    if attempt.status == 0:
        return attempt.error or "no answer"
    text = f"HTTP {attempt.status}"
    said = attempt.error or detail(attempt.body)
    return f"{text}: {said}" if said else text
