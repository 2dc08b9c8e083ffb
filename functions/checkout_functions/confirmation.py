"""The confirmation function (step `email`): one email per order, to the customer. The order is
claimed in the database before sending, so duplicates, even concurrent ones, send nothing more."""

from __future__ import annotations

import logging

from checkout_core import steps
from checkout_core.order import Order
from checkout_functions import mail
from checkout_functions.errors import BadEvent, ConflictingRepeat, Refusal, Unavailable
from checkout_functions.logs import LOGGER
from checkout_functions.runtime import Function, Served
from checkout_functions.settings import Settings
from checkout_functions.store.database import Database
from checkout_functions.store.emails import EmailClaim, Emails, EmailState

log = logging.getLogger(LOGGER)


def conflict(order: Order, claim: EmailClaim) -> ConflictingRepeat:
    """The refusal of an event for the order whose email is, or was, for someone else."""
    done = {
        EmailState.SENT: f"confirmed to {claim.recipient}",
        EmailState.CLAIMED: f"being confirmed to {claim.recipient}",
        EmailState.REFUSED: f"refused for {claim.recipient} ({claim.reason})",
    }[claim.state]
    return ConflictingRepeat(order.id, done, order.customer.email, "order.customer.email")


def function(settings: Settings, database: Database) -> Function:
    emails = Emails(database)
    emails.create()
    mailer = mail.Mailer.from_settings(settings)
    lease = settings.email_claim_lease

    def handle(order: Order) -> Served:
        recipient = order.customer.email
        try:
            message = mail.compose(order, settings.smtp_from)
        except mail.Unwritable as error:
            raise BadEvent("InvalidOrder", str(error)) from error
        claim = emails.claim(order.id, str(message["Message-ID"]), recipient, lease)
        if claim.recipient != recipient:
            raise conflict(order, claim)
        # A repeat is told what was done, from the row: the same data and time every time.
        sent = {"messageId": claim.message_id, "recipient": claim.recipient}
        if claim.state is EmailState.SENT:
            return Served(sent, claim.at)
        if claim.state is EmailState.REFUSED:
            raise Refusal(claim.reason, claim.detail, claim.at)
        if not claim.owned:
            raise Unavailable(f"the email of order {order.id} is being sent by another request")
        with emails.renewing(order.id, claim.token, lease):
            try:
                mailer.send(message, recipient)
            except Refusal as refusal:
                at = emails.refused(order.id, claim.token, refusal.reason, refusal.message)
                raise Refusal(refusal.reason, refusal.message, at) from refusal
            except Unavailable:
                emails.release(order.id, claim.token)
                raise
            at = emails.sent(order.id, claim.token)
        if at is None:
            # Our claim went stale (our renewals could not reach the database) and another
            # request took it over: the customer may get a second copy, with the same Message-ID.
            log.warning("email sent after its claim was taken over", extra={"orderId": order.id})
        return Served(sent, at)

    return Function(steps.BY_FUNCTION["confirmation"], handle, (database.ping, mailer.check))
