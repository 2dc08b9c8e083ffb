"""The broker's names: its streams, the subject of each event type and of each Trigger's dead
letters, and each Trigger's durable consumer. Pure, so what only names things (a Trigger as
read, its status) needs no connection to the broker."""

from __future__ import annotations

STREAM = "SHOP"
PREFIX = "shop.events"
ALL = f"{PREFIX}.>"
DEAD_LETTER_STREAM = "SHOP_DEADLETTER"
DEAD_LETTER_PREFIX = "shop.deadletter"
DUPLICATE_WINDOW = 3600.0
"""Seconds during which a message id is remembered: a publish retried within it is dropped."""
MSG_ID = "Nats-Msg-Id"


def subject(event_type: str) -> str:
    """The subject of an event of this type: shop.events.<type>."""
    return f"{PREFIX}.{event_type}"


def dead_letter_subject(namespace: str, trigger: str) -> str:
    return f"{DEAD_LETTER_PREFIX}.{namespace}.{trigger}"


def consumer_name(namespace: str, trigger: str) -> str:
    """A Trigger's durable consumer. Dots are not allowed in consumer names, dashes are; a
    Trigger's name may hold dots (a namespace's may not) but never underscores, so dots become
    underscores without two Triggers ever sharing a consumer."""
    return f"trigger_{namespace}_{trigger.replace('.', '_')}"
