"""The confirmation email: composed from the order (pure, so it can be tested without a server)
and handed to an SMTP server, whose answers become a refusal (5xx for the recipient: the address
will not work) or unavailability (unreachable, 4xx: try again later)."""

from __future__ import annotations

import email.errors
import email.policy
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from checkout_core.order import Order
from checkout_functions.errors import Refusal, Unavailable
from checkout_functions.settings import Settings, SettingsError


def message_id(order_id: str, sender: str) -> str:
    """The same Message-ID for every attempt at one order's email, so that even a second copy
    (sent after a crash between sending and recording it) is recognisably the same message."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return f"<order-{order_id}@{domain}>"


class Unwritable(ValueError):
    """The order cannot be written as an email (a header the email library refuses, text it
    cannot encode): no attempt will change that, so the event is refused (400)."""


def compose(order: Order, sender: str) -> EmailMessage:
    """The confirmation: to the customer, the order id in the subject, items and total in a
    plain-text body. Raises Unwritable if the order makes no valid message; the message is
    written out once here, as smtplib will write it, so that no such error is left for the
    send."""
    try:
        message = _compose(order, sender)
        # smtplib writes UTF-8 headers (SMTPUTF8) when an envelope address is not ASCII, else
        # encoded words, with CRLF line ends: the same here.
        international = not (parseaddr(sender)[1] + order.customer.email).isascii()
        message.as_bytes(policy=email.policy.SMTPUTF8 if international else email.policy.SMTP)
    except (ValueError, email.errors.MessageError) as error:  # UnicodeError is a ValueError
        raise Unwritable(
            f"the confirmation email of order {order.id} cannot be written: {error}"
        ) from error
    return message


def _compose(order: Order, sender: str) -> EmailMessage:
    currency = order.currency
    lines = [
        f"Dear {order.customer.name},",
        "",
        f"thank you for your order {order.id}. You ordered:",
        "",
    ]
    for item in order.items:
        lines.append(
            f"  {item.quantity} x {item.sku} at {item.unit_price:.2f} {currency}"
            f" = {item.subtotal:.2f} {currency}"
        )
    address = order.shipping_address
    lines += [
        "",
        f"Total: {order.total:.2f} {currency}",
        "",
        "It will be shipped to:",
        f"  {address.line1}",
        *([f"  {address.line2}"] if address.line2 else []),
        f"  {address.postal_code} {address.city}",
        *([f"  {address.region}"] if address.region else []),
        f"  {address.country}",
        "",
    ]
    message = EmailMessage()
    message["From"] = sender
    # The address in its two parts, quoted as needed when written, rather than parsed: any
    # address the order allows makes a header, one outside ASCII too (sent with SMTPUTF8).
    local, _, domain = order.customer.email.rpartition("@")
    message["To"] = Address(display_name=order.customer.name, username=local, domain=domain)
    message["Subject"] = f"Your order {order.id} is confirmed"
    message["Message-ID"] = message_id(order.id, sender)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message.set_content("\n".join(lines))
    return message


@dataclass(frozen=True)
class Mailer:
    """An SMTP server, one connection per message: plain, upgraded with STARTTLS, or TLS from the
    start, and logged in to when there are credentials. The password appears in no message this
    class makes (nor in its repr)."""

    host: str
    port: int
    timeout: float
    security: str = "none"
    username: str = ""
    password: str = field(default="", repr=False)
    ca_file: str = ""

    def __post_init__(self) -> None:
        if self.security != "none":
            # A CA file that cannot be read is a mistake in the configuration: say so at start-up
            # rather than with every email.
            try:
                self._tls()
            except Unavailable as error:
                raise SettingsError(str(error)) from None

    @classmethod
    def from_settings(cls, settings: Settings) -> Mailer:
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_timeout,
            settings.smtp_security,
            settings.smtp_username,
            settings.smtp_password,
            settings.smtp_ca_file,
        )

    @property
    def _where(self) -> str:
        return f"mail server {self.host}:{self.port}"

    def _safe(self, text: str) -> str:
        """`text` (a server's answer, an exception) with the password masked, should it be there."""
        return text.replace(self.password, "***") if self.password else text

    def _tls(self) -> ssl.SSLContext:
        """A fresh context for each connection, so a CA file updated in place (a mounted Secret or
        ConfigMap) is picked up."""
        try:
            return ssl.create_default_context(cafile=self.ca_file or None)
        except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
            raise Unavailable(f"SMTP_CA_FILE {self.ca_file!r} cannot be loaded: {error}") from None

    def _tls_failed(self, error: ssl.SSLError) -> Unavailable:
        if isinstance(error, ssl.SSLCertVerificationError):
            trusted = self.ca_file or "the system's trusted authorities"
            return Unavailable(
                f"{self._where}: TLS handshake failed, its certificate was not accepted "
                f"(verified against {trusted}): {error.verify_message or error}"
            )
        return Unavailable(f"{self._where}: TLS handshake failed: {error}")

    def _connect(self) -> smtplib.SMTP:
        """A connection ready to send: secured and logged in as configured. Failures to secure or
        to log in are our configuration's or the server's, not the message's: Unavailable."""
        where = self._where
        # An explicit EHLO name: smtplib's default asks DNS for our FQDN, which can stall.
        name = socket.gethostname()
        smtp: smtplib.SMTP
        try:
            if self.security == "tls":
                smtp = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    local_hostname=name,
                    timeout=self.timeout,
                    context=self._tls(),
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, local_hostname=name, timeout=self.timeout)
        except ssl.SSLError as error:
            raise self._tls_failed(error) from error
        try:
            if self.security == "starttls":
                # Raises SMTPNotSupportedError unless the EHLO answer offers STARTTLS: there is no
                # falling back to plain.
                smtp.starttls(context=self._tls())
            if self.username:
                smtp.login(self.username, self.password)
        except smtplib.SMTPNotSupportedError as error:
            smtp.close()
            what = "STARTTLS" if self.security == "starttls" else "authentication (AUTH)"
            raise Unavailable(f"{where} does not offer {what}") from error
        except smtplib.SMTPAuthenticationError as error:
            smtp.close()
            answer = error.smtp_error
            if isinstance(answer, bytes):
                answer = answer.decode(errors="replace")
            raise Unavailable(
                self._safe(
                    f"{where}: authentication failed for user {self.username!r}: "
                    f"{error.smtp_code} {answer}"
                )
            ) from error
        except ssl.SSLError as error:
            smtp.close()
            raise self._tls_failed(error) from error
        except BaseException:
            smtp.close()
            raise
        return smtp

    def check(self) -> None:
        """Raise Unavailable unless the server accepts a connection, secured and logged in to as
        configured, and answers NOOP: readiness, so a wrong password shows as not ready."""
        try:
            with self._connect() as smtp:
                code, _ = smtp.noop()
        except (smtplib.SMTPException, OSError) as error:
            raise Unavailable(self._safe(f"{self._where}: {error}")) from error
        if code != 250:
            raise Unavailable(f"{self._where} answered NOOP with {code}")

    def send(self, message: EmailMessage, recipient: str) -> None:
        """Send `message` to `recipient` (the envelope address, exactly as given, rather than
        whatever a parser makes of the To header)."""
        where = self._where
        sender = parseaddr(str(message["From"]))[1]
        try:
            with self._connect() as smtp:
                smtp.send_message(message, from_addr=sender, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as error:
            answers = "; ".join(
                f"{rcpt}: {code} {text.decode(errors='replace')}"
                for rcpt, (code, text) in error.recipients.items()
            )
            if all(code >= 500 for code, _ in error.recipients.values()):
                raise Refusal("RecipientRefused", f"{where} refused {answers}") from error
            raise Unavailable(f"{where} deferred {answers}") from error
        except smtplib.SMTPDataError as error:
            if error.smtp_code >= 500:
                raise Refusal(
                    "MessageRejected", f"{where} rejected the message: {error}"
                ) from error
            raise Unavailable(f"{where} deferred the message: {error}") from error
        except smtplib.SMTPNotSupportedError as error:
            # E.g. a non-ASCII address and a server without SMTPUTF8: no retry will change that.
            raise Refusal("RecipientRefused", f"{where}: {error}") from error
        except (smtplib.SMTPException, OSError) as error:
            # Unreachable, disconnected, our sender refused, 4xx: worth another try later.
            raise Unavailable(self._safe(f"{where}: {error}")) from error
