"""The runtime every function shares: a Flask app that takes one CloudEvent on `POST /`, checks
it, hands the order to the function's business logic and answers with the reply event; plus
health, readiness and metrics. A function is only its `handle`."""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from flask import Flask, Response, jsonify, request

from checkout_core import binding, events
from checkout_core.order import InvalidOrder, Order
from checkout_core.steps import Step
from checkout_functions.errors import BadEvent, Refusal, Unavailable
from checkout_functions.logs import LOGGER
from checkout_functions.metrics import Metrics

MAX_BODY = 1024 * 1024
"""An order is at most 100 items; anything near this size is not one."""
RETRY_AFTER = "1"
"""Seconds a caller should wait after a 503."""

LEVELS = {
    "succeeded": logging.INFO,
    "refused": logging.INFO,
    "rejected": logging.WARNING,
    "unavailable": logging.WARNING,
}
"""The level of an outcome's log line; anything else (a bug) is an error."""

log = logging.getLogger(LOGGER)


@dataclass(frozen=True)
class Served:
    """What the business logic did for an order: the data of the success event, and when."""

    data: dict[str, Any]
    at: datetime.datetime | None = None
    """When the work was done (UTC), as recorded: the reply's `time`, so that a repeat gets the
    very same reply. None: now."""


@dataclass(frozen=True)
class Function:
    """A function as the runtime serves it."""

    step: Step
    """The catalogue's step it carries out: the event type it consumes and those it replies."""
    handle: Callable[[Order], Served]
    """The business logic: what it did, or raises Refusal, Unavailable or (for an order it can
    never serve, found out only now) BadEvent."""
    checks: Sequence[Callable[[], None]] = field(default_factory=tuple)
    """Readiness: each raises Unavailable when a dependency cannot be reached."""

    @property
    def source(self) -> str:
        return f"/functions/{self.step.function}"


def accept(event: BaseCloudEvent, step: Step) -> Order:
    """The order an event carries, if the event is one `step` can take; raises BadEvent."""
    if event.get_type() != step.consumes:
        raise BadEvent(
            "WrongEventType",
            f"event type {event.get_type()!r} is not {step.consumes!r}, the type this function "
            "takes",
        )
    subject = event.get_subject()
    if not subject:
        raise BadEvent("MissingSubject", "the event has no subject; it must be the order id")
    if not event.get_extension(events.CHECKOUT):
        raise BadEvent(
            "MissingCheckout",
            f"the event has no {events.CHECKOUT!r} extension attribute (the Checkout's "
            "namespace/name)",
        )
    content_type = (event.get_datacontenttype() or events.JSON).split(";")[0].strip().lower()
    if content_type != events.JSON and not content_type.endswith("+json"):
        raise BadEvent(
            "InvalidData", f"datacontenttype {content_type!r} is not JSON; the data is the order"
        )
    data = event.get_data()
    if isinstance(data, str | bytes):
        # The SDK hands back the raw text when JSON data does not parse.
        raise BadEvent("InvalidData", "the event's data is not valid JSON")
    if not isinstance(data, dict):
        raise BadEvent("InvalidData", "the event's data must be a JSON object: the order")
    try:
        order = Order.from_json(data)
    except InvalidOrder as error:
        raise BadEvent("InvalidOrder", str(error)) from error
    if subject != order.id:
        raise BadEvent(
            "SubjectMismatch",
            f"the event's subject {subject!r} is not the order id {order.id!r} of its data",
        )
    return order


def create_app(function: Function) -> Flask:
    app = Flask(f"checkout_functions.{function.step.function}")
    metrics = Metrics(function.step.function)

    @app.post("/")
    def invoke() -> Response:
        started = time.perf_counter()
        outcome, context = "error", {"function": function.step.function}
        try:
            response, outcome = _invoke(function, context)
            return response
        finally:
            seconds = time.perf_counter() - started
            metrics.observe(outcome, seconds)
            log.log(
                LEVELS.get(outcome, logging.ERROR),
                "event %s",
                outcome,
                extra={**context, "outcome": outcome, "durationMs": round(seconds * 1000, 1)},
            )

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz() -> Response | tuple[Response, int]:
        try:
            for check in function.checks:
                check()
        except Unavailable as error:
            log.warning("not ready: %s", error, extra={"function": function.step.function})
            return jsonify(status="unavailable", error=str(error)), 503
        return jsonify(status="ok")

    @app.get("/metrics")
    def prometheus() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, 200, {"Content-Type": content_type})

    return app


def _invoke(function: Function, context: dict[str, Any]) -> tuple[Response, str]:
    """Answer one request; `context` collects what the log line should carry."""
    step = function.step
    body = _body()
    if body is None:
        # 400, not 413: senders retry every 4xx but 400, and no retry makes an order smaller.
        message = f"the request body is larger than {MAX_BODY} bytes; an order is far smaller"
        return _error(400, "TooLarge", message, context), "rejected"
    try:
        event = binding.from_http(dict(request.headers), body)
        context.update(eventId=event.get_id(), eventType=event.get_type())
        if event.get_subject():
            context["orderId"] = event.get_subject()
        order = accept(event, step)
    except binding.UnacceptableEvent as error:
        return _error(400, "UnacceptableEvent", str(error), context), "rejected"
    except BadEvent as error:
        return _error(400, error.reason, error.message, context), "rejected"
    try:
        served = function.handle(order)
        reply = events.reply(event, step.produces, function.source, served.data, served.at)
        outcome = "succeeded"
    except Refusal as refusal:
        context["reason"] = refusal.reason
        data = events.failure(refusal.reason, refusal.message)
        reply = events.reply(event, step.fails, function.source, data, refusal.at)
        outcome = "refused"
    except BadEvent as error:
        return _error(400, error.reason, error.message, context), "rejected"
    except Unavailable as error:
        response = _error(503, "Unavailable", str(error), context)
        response.headers["Retry-After"] = RETRY_AFTER
        return response, "unavailable"
    headers, body = binding.to_http(reply)
    context["replyType"] = reply.get_type()
    return Response(body, 200, headers), outcome


def _body() -> bytes | None:
    """The request body, or None when it is larger than MAX_BODY: read here, never more than
    MAX_BODY + 1 bytes, however it is framed. (Werkzeug's MAX_CONTENT_LENGTH refuses a
    Content-Length over the limit, but cuts a chunked body at the limit and hands over what it
    read as if it were the whole body.)"""
    declared = request.content_length
    if declared is not None and declared > MAX_BODY:
        return None
    stream = request.stream
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_BODY:
        chunk = stream.read(MAX_BODY + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return None if size > MAX_BODY else b"".join(chunks)


def _error(status: int, reason: str, message: str, context: dict[str, Any]) -> Response:
    context.update(reason=reason, error=message)
    body: dict[str, Any] = {"error": message, "reason": reason}
    if "eventId" in context:
        body["eventId"] = context["eventId"]
    response = jsonify(body)
    response.status_code = status
    return response
