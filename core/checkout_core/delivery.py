"""HTTP delivery of one CloudEvent, for every sender (orchestration calling a function, the
dispatcher delivering to a subscriber or a dead-letter sink): POSTed in binary mode, redirects
refused, the answer read up to a cap, and what came back as an Attempt. Never raises for the far
side's failures: they are outcomes."""

from __future__ import annotations

import aiohttp
from cloudevents.core.base import BaseCloudEvent

from checkout_core import binding
from checkout_core.answers import Attempt

MAX_ANSWER = 1024 * 1024
"""Bytes of an answer read at most. A reply is one event about one order, far smaller."""
KEEPALIVE = 1.0
"""Seconds an idle connection is kept for the next delivery. Below the 2 s after which
gunicorn (the functions' server) closes idle connections, so a delivery never starts on a
connection the subscriber is closing: that would be a failed attempt for nothing."""


def session() -> aiohttp.ClientSession:
    """The one HTTP client of a process: pooled connections, no limit beyond each sender's own
    concurrency, no cookies (subscribers are services, not browsers)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=KEEPALIVE),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def post(
    client: aiohttp.ClientSession, url: str, event: BaseCloudEvent, timeout: float
) -> Attempt:
    """Deliver `event` to `url` and wait at most `timeout` seconds for the whole answer."""
    headers, body = binding.to_http(event)
    try:
        async with client.post(
            url,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
            # A redirect is the subscriber's mistake to fix, not an address to follow with
            # the event.
            allow_redirects=False,
        ) as response:
            answer = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                answer += chunk
                if len(answer) > MAX_ANSWER:
                    return Attempt(
                        status=response.status,
                        body=bytes(answer[:MAX_ANSWER]),
                        headers=dict(response.headers),
                        error=f"the answer is larger than {MAX_ANSWER} bytes",
                    )
            return Attempt(
                status=response.status, body=bytes(answer), headers=dict(response.headers)
            )
    except TimeoutError:
        return Attempt(error=f"no answer within {timeout:g}s")
    except aiohttp.ClientError as error:
        return Attempt(error=f"{type(error).__name__}: {error}")
