"""The confirmation function's mail server connection against real SMTP servers (aiosmtpd) that
require STARTTLS and a login, or speak TLS from the first byte: a good login sends, a wrong one, a
missing STARTTLS or an untrusted certificate make the server Unavailable (retried, 503) and
send nothing, and readiness says so too."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from checkout_devenv import pki
from checkout_devenv.processes import free_port
from checkout_functions.errors import Unavailable
from checkout_functions.mail import Mailer

USER, PASSWORD = "shop", "s3cret-Password"


class Inbox:
    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(envelope.content)
        return "250 OK"


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    good = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=good, handled=False)  # aiosmtpd answers 235 or 535 itself


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    """A CA file for the client, and the server's TLS context (a certificate for 127.0.0.1)."""
    folder = tmp_path_factory.mktemp("smtp-pki")
    bundle = pki.generate()
    (folder / "ca.crt").write_bytes(bundle.ca.cert)
    (folder / "server.crt").write_bytes(bundle.serving.cert)
    (folder / "server.key").write_bytes(bundle.serving.key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "server.crt", folder / "server.key")
    return folder / "ca.crt", context


def serve(**options: Any) -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def starttls_server(certificates: tuple[Path, ssl.SSLContext]) -> Iterator[tuple[Inbox, int]]:
    yield from serve(
        tls_context=certificates[1],
        require_starttls=True,
        auth_require_tls=True,
        authenticator=authenticate,
    )


@pytest.fixture
def tls_server(certificates: tuple[Path, ssl.SSLContext]) -> Iterator[tuple[Inbox, int]]:
    # the whole connection is TLS, which aiosmtpd does not count as "TLS for AUTH"
    yield from serve(
        ssl_context=certificates[1], authenticator=authenticate, auth_require_tls=False
    )


@pytest.fixture
def plain_server() -> Iterator[tuple[Inbox, int]]:
    yield from serve()


def message() -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "orders@shop.example.com"
    mail["To"] = "ada@example.com"
    mail["Subject"] = "Your order 1001 is confirmed"
    mail.set_content("thank you")
    return mail


def mailer(port: int, security: str, ca: Path, password: str = PASSWORD) -> Mailer:
    return Mailer("127.0.0.1", port, 5.0, security, USER, password, str(ca))


def test_starttls_and_a_good_login_send(
    starttls_server: tuple[Inbox, int], certificates: tuple[Path, ssl.SSLContext]
) -> None:
    inbox, port = starttls_server
    connection = mailer(port, "starttls", certificates[0])
    connection.check()
    connection.send(message(), "ada@example.com")
    assert len(inbox.received) == 1 and b"order 1001" in inbox.received[0]


def test_a_wrong_password_is_unavailable_sends_nothing_and_is_not_ready(
    starttls_server: tuple[Inbox, int], certificates: tuple[Path, ssl.SSLContext]
) -> None:
    inbox, port = starttls_server
    connection = mailer(port, "starttls", certificates[0], password="wrong")
    with pytest.raises(Unavailable, match="authentication as 'shop' failed") as failed:
        connection.send(message(), "ada@example.com")
    assert "wrong" not in str(failed.value)
    with pytest.raises(Unavailable):
        connection.check()
    assert inbox.received == []


def test_a_server_without_starttls_is_unavailable_rather_than_plain(
    plain_server: tuple[Inbox, int], certificates: tuple[Path, ssl.SSLContext]
) -> None:
    inbox, port = plain_server
    with pytest.raises(Unavailable, match="does not offer STARTTLS"):
        mailer(port, "starttls", certificates[0]).send(message(), "ada@example.com")
    assert inbox.received == []


def test_implicit_tls_and_a_good_login_send(
    tls_server: tuple[Inbox, int], certificates: tuple[Path, ssl.SSLContext]
) -> None:
    inbox, port = tls_server
    mailer(port, "tls", certificates[0]).send(message(), "ada@example.com")
    assert len(inbox.received) == 1


def test_an_untrusted_certificate_is_unavailable(
    tls_server: tuple[Inbox, int], tmp_path: Path
) -> None:
    inbox, port = tls_server
    stranger = tmp_path / "other-ca.crt"
    stranger.write_bytes(pki.generate().ca.cert)
    with pytest.raises(Unavailable, match="CERTIFICATE_VERIFY_FAILED"):
        mailer(port, "tls", stranger).send(message(), "ada@example.com")
    assert inbox.received == []
