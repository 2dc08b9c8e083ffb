"""A confirmation function killed in the middle of sending an email, end to end: the operator (a
process on the real API server, with its default retry budget) calls a real confirmation function
whose SMTP server stalls the first message; the function is SIGKILLed while its claim on the
email is in the database, and started again. Its claim, no longer renewed, goes stale within the
lease, a retry takes it over, and the checkout succeeds with exactly one email delivered."""

from __future__ import annotations

import asyncio
import email.policy
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session
from kubernetes import client
from sqlalchemy import create_engine, select

from checkout_devenv.controlplane import ControlPlane
from checkout_devenv.functions import SENDER, Functions, FunctionServer
from checkout_devenv.processes import free_port
from checkout_functions.store.emails import confirmation_emails
from tests.integration.checkouts import (
    Operators,
    checkout,
    create,
    emails_for,
    order_id,
    steps,
    wait_finished,
)

OPERATOR_DEFAULTS = {
    "CHECKOUT_ATTEMPTS": "6",
    "CHECKOUT_BACKOFF_BASE": "0.5",
    "CHECKOUT_BACKOFF_CAP": "30",
    "CHECKOUT_ATTEMPT_TIMEOUT": "10",
}
"""The operator's own retry budget (its defaults, spelled out over the tests' fast one): six
attempts, the last of them 7.75 to 15.5 seconds after the first failure."""


class Stalling:
    """An SMTP server that takes the first message whole and then never answers it: no reply to
    its DATA, so it is never delivered, as a server gone unresponsive mid-send leaves a sender
    hanging. Every later message it accepts and keeps."""

    def __init__(self) -> None:
        self.stalled = threading.Event()
        """Set once the first message has arrived and is being held."""
        self.released = threading.Event()
        self.delivered: list[EmailMessage] = []
        self._first = True

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if self._first:
            self._first = False
            self.stalled.set()
            while not self.released.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 never delivered"
        content = envelope.original_content or b""
        self.delivered.append(BytesParser(policy=email.policy.default).parsebytes(content))
        return "250 OK"

    def delivered_for(self, order: str) -> list[EmailMessage]:
        return [m for m in self.delivered if order in str(m["Subject"])]


@pytest.fixture
def stalling() -> Iterator[tuple[Stalling, Controller]]:
    handler = Stalling()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, controller
    finally:
        handler.released.set()
        controller.stop()


def claim_of(database_url: str, order: str) -> Any:
    """The order's row in the confirmation function's table, or None."""
    engine = create_engine(database_url)
    try:
        table = confirmation_emails
        with engine.connect() as connection:
            return connection.execute(select(table).where(table.c.order_id == order)).first()
    finally:
        engine.dispose()


def test_a_sender_killed_mid_send_is_taken_over_and_the_checkout_succeeds_with_one_email(
    api: client.ApiClient,
    control_plane: ControlPlane,
    namespace: str,
    functions: Functions,
    stalling: tuple[Stalling, Controller],
    tmp_path: Path,
) -> None:
    smtp, controller = stalling
    database_url = f"sqlite:///{tmp_path / 'confirmation.db'}"
    confirmation = FunctionServer(
        "confirmation",
        tmp_path,
        {
            "DATABASE_URL": database_url,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(controller.port),
            "SMTP_FROM": SENDER,
            # The stall must not end by itself: the function is killed in it.
            "SMTP_TIMEOUT_SECONDS": "60",
        },
    )
    operators = Operators(
        tmp_path, control_plane.kubeconfig, namespace, functions, env=OPERATOR_DEFAULTS
    )
    confirmation.start()
    try:
        operators.start(urls={"confirmation": confirmation.url})
        order = order_id()
        create(api, namespace, checkout("killed", order, "ada@example.com", True, ["9.99"]))

        assert smtp.stalled.wait(30), "the confirmation function never sent the first message"
        claim = claim_of(database_url, order)
        assert claim is not None and claim.state == "claimed"
        confirmation.kill()
        killed = time.monotonic()
        confirmation.start()
        restarted = time.monotonic() - killed

        body = wait_finished(api, namespace, "killed")
    finally:
        operators.stop()
        confirmation.stop()

    email = steps(body)["email"]
    assert body["status"]["phase"] == "Succeeded", (body["status"], restarted)
    assert email["phase"] == "Succeeded"
    assert email["attempts"] >= 2  # the killed attempt, then the one that took the claim over
    assert email["output"]["messageId"] == f"<order-{order}@shop.example.com>"
    (delivered,) = smtp.delivered_for(order)
    assert delivered["Message-ID"] == f"<order-{order}@shop.example.com>"
    assert delivered["To"].addresses[0].addr_spec == "ada@example.com"
    assert emails_for(functions, order) == []  # nothing went anywhere else
    row = claim_of(database_url, order)
    assert (row.state, row.message_id) == ("sent", f"<order-{order}@shop.example.com>")
    assert row.claim != claim.claim  # sent under the claim that took the dead one over
