"""The one failure the operator's domain code raises for work that cannot be done yet: the
handlers turn it into a retry later, whatever its cause."""

from __future__ import annotations


class NotYet(RuntimeError):
    """The work cannot be done now (the broker is away, the Triggers are not Ready); trying
    again shortly may succeed."""
