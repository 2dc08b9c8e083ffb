"""The confirmation function's mail server connection against real SMTP servers (aiosmtpd) that
require STARTTLS and a login, or speak TLS from the first byte, or offer no STARTTLS at all: a good
login sends; a wrong password, a missing STARTTLS or a certificate that is not trusted make the
server Unavailable (503, retried) and send nothing, and readiness says so too. The password shows
nowhere: not in answers, logs or metrics. First the mailer alone, then the function under
gunicorn, configured only through its environment."""

from __future__ import annotations

import datetime
import email.policy
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from checkout_core import events
from checkout_devenv import pki
from checkout_devenv.functions import FunctionServer
from checkout_devenv.processes import free_port
from checkout_functions.errors import Unavailable
from checkout_functions.mail import Mailer
from tests.integration.test_functions import Answer, new_id, order, placed, request, send

# aiosmtpd does not count TLS from the first byte as TLS for AUTH, and warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

USER = "shop"
PASSWORD = "s3cret-Password-4e1b"
WRONG = "wrong-Password-9c2d"


# -- the mail servers ------------------------------------------------------------------------------


class MailServer:
    """aiosmtpd on loopback that keeps what it receives and who logged in (as which user, and
    whether the password was right)."""

    def __init__(self, **options: Any) -> None:
        self.received: list[EmailMessage] = []
        self.logins: list[tuple[str, bool]] = []
        self.port = free_port()
        self.controller = Controller(
            self, hostname="127.0.0.1", port=self.port, authenticator=self.authenticate, **options
        )

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parser = BytesParser(policy=email.policy.default)
        self.received.append(parser.parsebytes(envelope.content))
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        good = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        login = data.login.decode() if isinstance(data, LoginPassword) else "?"
        self.logins.append((login, good))
        return AuthResult(success=good, handled=False)  # aiosmtpd answers 235 or 535 itself

    def mail_for(self, order_id: str) -> list[EmailMessage]:
        return [m for m in self.received if order_id in str(m["Subject"])]


def running(**options: Any) -> Iterator[MailServer]:
    server = MailServer(**options)
    server.controller.start()
    try:
        yield server
    finally:
        server.controller.stop()


def server_context(cert: bytes, key: bytes, folder: Path) -> ssl.SSLContext:
    (folder / "server.crt").write_bytes(cert)
    (folder / "server.key").write_bytes(key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "server.crt", folder / "server.key")
    return context


def certificate_for(ca: pki.PEMPair, name: str) -> pki.PEMPair:
    """A serving certificate for DNS name `name` only, signed by `ca`."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert)
    ca_key = serialization.load_pem_private_key(ca.key, password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pki.PEMPair(cert.public_bytes(serialization.Encoding.PEM), key_pem)


class Certificates:
    """A throw-away CA, the file a client trusts it by, and the servers' TLS contexts: one for a
    certificate naming 127.0.0.1, one for a certificate naming another host."""

    def __init__(self, folder: Path) -> None:
        bundle = pki.generate()
        self.ca_file = folder / "ca.crt"
        self.ca_file.write_bytes(bundle.ca.cert)
        self.server = server_context(bundle.serving.cert, bundle.serving.key, folder)
        other = certificate_for(bundle.ca, "mail.example.com")
        (folder / "other").mkdir()
        self.other_name = server_context(other.cert, other.key, folder / "other")


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return Certificates(tmp_path_factory.mktemp("smtp-pki"))


@pytest.fixture(scope="module")
def starttls_server(certificates: Certificates) -> Iterator[MailServer]:
    """Plain at first; STARTTLS before anything else, and a login before any mail."""
    yield from running(
        tls_context=certificates.server,
        require_starttls=True,
        auth_require_tls=True,
        auth_required=True,
    )


@pytest.fixture(scope="module")
def tls_server(certificates: Certificates) -> Iterator[MailServer]:
    # The whole connection is TLS, which aiosmtpd does not count as "TLS for AUTH".
    yield from running(ssl_context=certificates.server, auth_require_tls=False, auth_required=True)


@pytest.fixture(scope="module")
def plain_server() -> Iterator[MailServer]:
    """No STARTTLS on offer, and happy to take a password in clear."""
    yield from running(auth_require_tls=False)


@pytest.fixture
def misnamed_server(certificates: Certificates) -> Iterator[MailServer]:
    """TLS with a certificate from the trusted CA, but for mail.example.com, not 127.0.0.1."""
    yield from running(ssl_context=certificates.other_name, auth_require_tls=False)


# -- the mailer alone ------------------------------------------------------------------------------


def message(order_id: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "orders@shop.example.com"
    mail["To"] = "ada@example.com"
    mail["Subject"] = f"Your order {order_id} is confirmed"
    mail.set_content("thank you")
    return mail


def mailer(port: int, security: str, ca: Path, password: str = PASSWORD) -> Mailer:
    return Mailer("127.0.0.1", port, 5.0, security, USER, password, str(ca))


@pytest.mark.parametrize(
    ("server", "security"), [("starttls_server", "starttls"), ("tls_server", "tls")]
)
def test_a_secured_connection_and_a_good_login_send(
    request: pytest.FixtureRequest, certificates: Certificates, server: str, security: str
) -> None:
    mail_server: MailServer = request.getfixturevalue(server)
    order_id = new_id()
    connection = mailer(mail_server.port, security, certificates.ca_file)
    connection.check()
    connection.send(message(order_id), "ada@example.com")
    assert len(mail_server.mail_for(order_id)) == 1


def test_a_wrong_password_is_unavailable_names_the_server_and_not_the_password(
    starttls_server: MailServer, certificates: Certificates
) -> None:
    order_id = new_id()
    connection = mailer(starttls_server.port, "starttls", certificates.ca_file, password=WRONG)
    with pytest.raises(Unavailable) as failed:
        connection.send(message(order_id), "ada@example.com")
    text = str(failed.value)
    assert f"mail server 127.0.0.1:{starttls_server.port}" in text
    assert "authentication failed for user 'shop': 535" in text
    assert WRONG not in text
    with pytest.raises(Unavailable, match="authentication failed") as not_ready:
        connection.check()
    assert WRONG not in str(not_ready.value)
    assert starttls_server.mail_for(order_id) == []


def test_a_server_without_starttls_is_unavailable_rather_than_plain(
    plain_server: MailServer, certificates: Certificates
) -> None:
    order_id, logins = new_id(), len(plain_server.logins)
    connection = mailer(plain_server.port, "starttls", certificates.ca_file)
    with pytest.raises(Unavailable, match="does not offer STARTTLS"):
        connection.send(message(order_id), "ada@example.com")
    with pytest.raises(Unavailable, match="does not offer STARTTLS"):
        connection.check()
    assert plain_server.mail_for(order_id) == []
    assert len(plain_server.logins) == logins  # the password was not sent in clear


def test_a_certificate_from_another_ca_is_not_trusted(
    tls_server: MailServer, tmp_path: Path
) -> None:
    order_id, logins = new_id(), len(tls_server.logins)
    stranger = tmp_path / "other-ca.crt"
    stranger.write_bytes(pki.generate().ca.cert)
    connection = mailer(tls_server.port, "tls", stranger)
    with pytest.raises(Unavailable, match="TLS handshake failed") as failed:
        connection.send(message(order_id), "ada@example.com")
    assert f"not accepted (verified against {stranger})" in str(failed.value)
    with pytest.raises(Unavailable, match="TLS handshake failed"):
        connection.check()
    assert tls_server.mail_for(order_id) == []
    assert len(tls_server.logins) == logins


def test_the_system_authorities_do_not_trust_a_private_ca(tls_server: MailServer) -> None:
    connection = Mailer("127.0.0.1", tls_server.port, 5.0, "tls", USER, PASSWORD)
    with pytest.raises(Unavailable, match="verified against the system's trusted authorities"):
        connection.check()


def test_a_certificate_for_another_host_is_not_trusted(
    misnamed_server: MailServer, certificates: Certificates
) -> None:
    order_id = new_id()
    connection = mailer(misnamed_server.port, "tls", certificates.ca_file)
    with pytest.raises(Unavailable, match=r"mismatch, certificate is not valid for '127\.0\.0\.1'"):
        connection.send(message(order_id), "ada@example.com")
    assert misnamed_server.received == [] and misnamed_server.logins == []


def test_tls_to_a_server_speaking_plain_is_a_failed_handshake(
    plain_server: MailServer, certificates: Certificates
) -> None:
    connection = Mailer(
        "127.0.0.1", plain_server.port, 2.0, "tls", ca_file=str(certificates.ca_file)
    )
    with pytest.raises(Unavailable, match="TLS handshake failed"):
        connection.check()


# -- the confirmation function, configured by its environment --------------------------------------


@pytest.fixture(scope="module")
def functions(
    certificates: Certificates,
    starttls_server: MailServer,
    tls_server: MailServer,
    plain_server: MailServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, FunctionServer]]:
    """The confirmation function in each configuration under test, each with its own database
    and log, started side by side."""
    login = {"SMTP_USERNAME": USER, "SMTP_PASSWORD": PASSWORD}
    configurations: dict[str, tuple[MailServer, dict[str, str]]] = {
        "starttls": (starttls_server, {**login, "SMTP_SECURITY": "starttls"}),
        "wrong-password": (
            starttls_server,
            {**login, "SMTP_SECURITY": "starttls", "SMTP_PASSWORD": WRONG},
        ),
        "tls": (tls_server, {**login, "SMTP_SECURITY": "tls"}),
        "no-starttls": (plain_server, {**login, "SMTP_SECURITY": "starttls"}),
        "plaintext-login": (
            plain_server,
            {**login, "SMTP_SECURITY": "none", "SMTP_ALLOW_PLAINTEXT_AUTH": "true"},
        ),
    }
    servers: dict[str, FunctionServer] = {}
    for name, (mail_server, env) in configurations.items():
        workdir = tmp_path_factory.mktemp(f"confirmation-{name}")
        servers[name] = FunctionServer(
            "confirmation",
            workdir,
            {
                **env,
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(mail_server.port),
                "SMTP_CA_FILE": str(certificates.ca_file),
                "DATABASE_URL": f"sqlite:///{workdir / 'functions.db'}",
            },
        )
    try:
        for server in servers.values():
            server.launch()
        for server in servers.values():
            server.wait_ready()
        yield servers
    finally:
        for server in servers.values():
            server.stop()


def readiness(function: FunctionServer) -> Answer:
    return request(function.url + "readyz", method="GET")


def shows_no_password(function: FunctionServer) -> None:
    """Neither password is in the function's log, or its metrics."""
    log = (function.workdir / "logs" / "confirmation.log").read_text()
    metrics = request(function.url + "metrics", method="GET").body.decode()
    for text in (log, metrics):
        assert PASSWORD not in text and WRONG not in text


def test_a_good_login_over_starttls_sends_the_email(
    functions: dict[str, FunctionServer], starttls_server: MailServer
) -> None:
    function = functions["starttls"]
    data = order()
    answer = send(function.url, placed(data))
    assert answer.status == 200, answer.body
    assert answer.event.get_type() == events.EMAIL_SENT
    (mail,) = starttls_server.mail_for(data["id"])
    assert mail["Subject"] == f"Your order {data['id']} is confirmed"
    assert mail["To"].addresses[0].addr_spec == data["customer"]["email"]
    assert (USER, True) in starttls_server.logins
    assert readiness(function).status == 200
    shows_no_password(function)


def test_a_wrong_password_is_503_sends_nothing_and_is_not_ready(
    functions: dict[str, FunctionServer], starttls_server: MailServer
) -> None:
    function = functions["wrong-password"]
    data = order()
    for _ in range(2):  # the claim was given back: a retry tries again, and fails the same way
        answer = send(function.url, placed(data))
        assert answer.status == 503
        assert answer.headers["retry-after"] == "1"
        assert answer.json()["reason"] == "Unavailable"
        error = answer.json()["error"]
        assert f"mail server 127.0.0.1:{starttls_server.port}" in error
        assert "authentication failed" in error
        assert WRONG not in error and PASSWORD not in error
    assert starttls_server.mail_for(data["id"]) == []

    ready = readiness(function)
    assert ready.status == 503
    assert "authentication failed" in ready.json()["error"]
    assert WRONG not in ready.body.decode()
    assert "authentication failed" in (function.workdir / "logs" / "confirmation.log").read_text()
    shows_no_password(function)


def test_a_server_without_starttls_is_503_and_gets_neither_mail_nor_password(
    functions: dict[str, FunctionServer], plain_server: MailServer
) -> None:
    function = functions["no-starttls"]
    data, logins = order(), len(plain_server.logins)
    answer = send(function.url, placed(data))
    assert answer.status == 503
    assert "does not offer STARTTLS" in answer.json()["error"]
    assert readiness(function).status == 503
    assert plain_server.mail_for(data["id"]) == []
    assert len(plain_server.logins) == logins
    shows_no_password(function)


def test_a_good_login_over_implicit_tls_sends_the_email(
    functions: dict[str, FunctionServer], tls_server: MailServer
) -> None:
    function = functions["tls"]
    data = order()
    answer = send(function.url, placed(data))
    assert answer.status == 200, answer.body
    (mail,) = tls_server.mail_for(data["id"])
    assert data["id"] in str(mail["Subject"])
    assert readiness(function).status == 200
    shows_no_password(function)


def test_a_login_in_clear_when_explicitly_allowed(
    functions: dict[str, FunctionServer], plain_server: MailServer
) -> None:
    function = functions["plaintext-login"]
    data, logins = order(), len(plain_server.logins)
    answer = send(function.url, placed(data))
    assert answer.status == 200, answer.body
    assert len(plain_server.mail_for(data["id"])) == 1
    assert plain_server.logins[logins:] == [(USER, True)]
