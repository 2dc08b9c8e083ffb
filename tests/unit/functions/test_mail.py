"""The confirmation email as composed from an order: who it goes to, what it says, and a
Message-ID that is the same on every attempt."""

from __future__ import annotations

import dataclasses
import email.policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from checkout_core.order import Order
from checkout_functions import mail
from checkout_functions.settings import Settings, SettingsError
from tests.builders import ORDER as VALID
from tests.builders import order_with

SENDER = "Shop <orders@shop.example.com>"


def test_message_id_is_derived_from_the_order_id_and_the_sender_domain() -> None:
    assert mail.message_id("1001", SENDER) == "<order-1001@shop.example.com>"
    assert mail.message_id("1001", SENDER) == mail.message_id("1001", SENDER)
    assert mail.message_id("1002", SENDER) != mail.message_id("1001", SENDER)


def test_the_email_goes_to_the_customer_with_the_order_id_in_the_subject() -> None:
    message = mail.compose(Order.from_json(VALID), SENDER)
    assert message["To"].addresses[0].addr_spec == "ada@example.com"
    assert message["To"].addresses[0].display_name == "Ada Lovelace"
    assert message["From"].addresses[0].addr_spec == "orders@shop.example.com"
    assert "1001" in message["Subject"]
    assert message["Message-ID"] == "<order-1001@shop.example.com>"
    assert message["Date"]


def test_the_body_lists_items_and_the_total_with_its_currency() -> None:
    message = mail.compose(Order.from_json(VALID), SENDER)
    assert message.get_content_type() == "text/plain"
    body = message.get_content()
    assert "Dear Ada Lovelace," in body
    assert "2 x BOOK-42 at 12.50 EUR = 25.00 EUR" in body
    assert "1 x PEN-7 at 0.99 EUR = 0.99 EUR" in body
    assert "Total: 25.99 EUR" in body
    assert "N1 9GU London" in body


def test_optional_address_lines_appear_only_when_given() -> None:
    plain = mail.compose(Order.from_json(VALID), SENDER).get_content()
    fuller = order_with(shippingAddress__line2="Flat 3", shippingAddress__region="Greater London")
    body = mail.compose(Order.from_json(fuller), SENDER).get_content()
    assert "Flat 3" not in plain
    assert "  Flat 3\n" in body
    assert "  Greater London\n" in body


def test_names_outside_ascii_and_with_quotes_survive_the_headers() -> None:
    data = order_with(customer__name='Zoë "Z" Ångström')
    message = mail.compose(Order.from_json(data), SENDER)
    assert message["To"].addresses[0].display_name == 'Zoë "Z" Ångström'
    assert message["To"].addresses[0].addr_spec == "ada@example.com"
    assert "Dear Zoë" in message.get_content()


def test_an_address_outside_ascii_makes_a_message_in_utf8() -> None:
    data = order_with(customer__email="zoë@exämple.com")
    message = mail.compose(Order.from_json(data), SENDER)
    assert message["To"].addresses[0].addr_spec == "zoë@exämple.com"
    written = message.as_bytes(policy=email.policy.SMTPUTF8)
    assert "To: Ada Lovelace <zoë@exämple.com>".encode() in written


@pytest.mark.parametrize(
    "address", ['a"b@example.com', "a,b@example.com", "<a>@example.com", "a(b)@example.com"]
)
def test_an_odd_address_the_order_allows_stays_one_quoted_recipient(address: str) -> None:
    message = mail.compose(Order.from_json(order_with(customer__email=address)), SENDER)
    written = message.as_bytes(policy=email.policy.SMTP)
    (recipient,) = BytesParser(policy=email.policy.default).parsebytes(written)["To"].addresses
    assert recipient.display_name == "Ada Lovelace"
    assert recipient.domain == "example.com"


@pytest.mark.parametrize("name", ["Ada\r\nBcc: eve@example.com", "Ada\nLovelace", "Ada\rLovelace"])
def test_an_order_that_makes_no_valid_header_is_unwritable(name: str) -> None:
    # Order.from_json refuses these; an Order made otherwise still never reaches a server.
    order = Order.from_json(VALID)
    odd = dataclasses.replace(order, customer=dataclasses.replace(order.customer, name=name))
    with pytest.raises(mail.Unwritable, match="order 1001 cannot be written"):
        mail.compose(odd, SENDER)


@pytest.mark.parametrize("content", [None, b"not a certificate\n"])
def test_a_ca_file_that_cannot_be_loaded_stops_the_start_up_naming_smtp_ca_file(
    tmp_path: Path, content: bytes | None
) -> None:
    ca_file = tmp_path / "ca.pem"
    if content is not None:
        ca_file.write_bytes(content)
    for security in ("starttls", "tls"):
        with pytest.raises(SettingsError, match=f"SMTP_CA_FILE '{ca_file}'"):
            mail.Mailer("mail.example.com", 587, 5.0, security, ca_file=str(ca_file))
    # Plain SMTP has no use for it.
    mail.Mailer("mail.example.com", 25, 5.0, "none", ca_file=str(ca_file))


def test_the_mailer_takes_every_smtp_setting() -> None:
    environ = {
        "SMTP_HOST": "mail.example.com",
        "SMTP_PORT": "465",
        "SMTP_SECURITY": "tls",
        "SMTP_USERNAME": "shop",
        "SMTP_PASSWORD": "hunter2",
        "SMTP_TIMEOUT_SECONDS": "3",
    }
    mailer = mail.Mailer.from_settings(Settings.from_environ(environ))
    assert (mailer.host, mailer.port, mailer.timeout) == ("mail.example.com", 465, 3.0)
    assert mailer.security == "tls"
    assert "hunter2" not in repr(mailer)
