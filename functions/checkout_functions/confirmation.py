"""The confirmation function (step `email`): one email per order, to the customer. The order is
claimed in the database before sending, so duplicates, even concurrent ones, send nothing more."""

from __future__ import annotations

import logging
from typing import Any

from checkout_core import steps
from checkout_core.order import Order
from checkout_functions import mail
from checkout_functions.errors import Refusal, Unavailable
from checkout_functions.logs import LOGGER
from checkout_functions.runtime import Function
from checkout_functions.settings import Settings
from checkout_functions.store import EMAIL_TABLES, EmailState, Store

log = logging.getLogger(LOGGER)


def function(settings: Settings, store: Store) -> Function:
    store.create(EMAIL_TABLES)
    mailer = mail.Mailer.from_settings(settings)

    def handle(order: Order) -> dict[str, Any]:
        recipient = order.customer.email
        message = mail.compose(order, settings.smtp_from)
        claim = store.claim_email(
            order.id, str(message["Message-ID"]), recipient, settings.email_claim_lease
        )
        sent = {"messageId": claim.message_id, "recipient": recipient}
        if claim.state is EmailState.SENT:
            return sent
        if claim.state is EmailState.REFUSED:
            raise Refusal(claim.reason, claim.detail)
        if not claim.owned:
            raise Unavailable(f"the email of order {order.id} is being sent by another request")
        try:
            mailer.send(message, recipient)
        except Refusal as refusal:
            store.email_refused(order.id, claim.token, refusal.reason, refusal.message)
            raise
        except Unavailable:
            store.release_email(order.id, claim.token)
            raise
        if not store.email_sent(order.id, claim.token):
            # Our claim outlived its lease and another request took it over: the customer may
            # get a second copy, with the same Message-ID.
            log.warning("email sent after its claim was taken over", extra={"orderId": order.id})
        return sent

    return Function(steps.BY_FUNCTION["confirmation"], handle, (store.ping, mailer.check))
