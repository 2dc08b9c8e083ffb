"""Calling a function: one POST of a CloudEvent in binary mode, and what the answer means for the
step — done, refused for good, or worth another try."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from cloudevents.core.base import BaseCloudEvent

from checkout_core import binding
from checkout_core.steps import Step


@dataclass(frozen=True)
class Done:
    """The function replied with the step's success event."""

    data: dict[str, Any]


@dataclass(frozen=True)
class Refused:
    """A permanent answer: a `…failed` reply or a 400. Retrying would not help."""

    reason: str
    message: str


@dataclass(frozen=True)
class Transient:
    """5xx, a timeout, or no connection: another attempt may succeed."""

    message: str


Outcome = Done | Refused | Transient


def interpret(step: Step, status: int, headers: dict[str, str], body: bytes) -> Outcome:
    """What an HTTP answer means for `step`. Pure, so every case is tested without a server."""
    if status >= 500 or status in (404, 408, 409, 429):
        # Knative's delivery contract retries these as well: a function rolling out, overloaded,
        # or briefly unreachable behind its Service.
        return Transient(f"HTTP {status}{_detail(body)}")
    if status == 400:
        return Refused("EventRejected", f"the function refused the event: HTTP 400{_detail(body)}")
    if not 200 <= status < 300:
        return Refused("UnexpectedAnswer", f"HTTP {status}{_detail(body)}")
    try:
        reply = binding.from_http(headers, body)
    except binding.UnacceptableEvent as error:
        return Refused("InvalidReply", f"HTTP {status} without a reply event: {error}")
    data = reply.get_data()
    data = data if isinstance(data, dict) else {}
    if reply.get_type() == step.produces:
        return Done(data)
    if reply.get_type() == step.fails:
        return Refused(
            str(data.get("reason") or "Refused"), str(data.get("message") or reply.get_type())
        )
    return Refused("InvalidReply", f"unexpected reply type {reply.get_type()}")


async def call(
    session: aiohttp.ClientSession, url: str, step: Step, event: BaseCloudEvent, timeout: float
) -> Outcome:
    headers, body = binding.to_http(event)
    try:
        async with session.post(
            url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            answer = await response.read()
            return interpret(step, response.status, dict(response.headers), answer)
    except TimeoutError:
        return Transient(f"no answer within {timeout:g}s")
    except aiohttp.ClientError as error:
        return Transient(f"{type(error).__name__}: {error}")


def _detail(body: bytes) -> str:
    """The `error` of a JSON error body, or the start of any other body."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        error = body[:200].decode(errors="replace").strip()
    return f": {error}" if error else ""
