"""The functions' configuration: environment variables read once at start-up into one typed,
documented object; nothing else reads the environment."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from checkout_core.order import COUNTRY
from checkout_core.variables import flag

SMTP_SECURITY = ("none", "starttls", "tls")


class InvalidSettings(ValueError):
    """An environment variable has a value the functions cannot use; the message names it."""


@dataclass(frozen=True)
class Settings:
    smtp_host: str = "localhost"
    """`SMTP_HOST`: the mail server the confirmation email is handed to."""
    smtp_port: int = 25
    """`SMTP_PORT`: its port."""
    smtp_security: str = "none"
    """`SMTP_SECURITY`: `none` (plain SMTP), `starttls` (EHLO, then STARTTLS, which the server
    must offer; never falls back to plain) or `tls` (TLS from the first byte, usually port 465).
    Certificates, and that they name `SMTP_HOST`, are verified against the system's trusted
    authorities (or `SMTP_CA_FILE`'s)."""
    smtp_ca_file: str = ""
    """`SMTP_CA_FILE`: a PEM file of the authorities to trust instead of the system's (a private
    CA). With `starttls` or `tls` it is read at start-up, which fails if it cannot be loaded, and
    again for every connection, so a file updated in place is picked up; unused with `none`."""
    smtp_username: str = ""
    """`SMTP_USERNAME`: log in as this user, once TLS is up; needs `SMTP_PASSWORD`, and a
    `SMTP_SECURITY` other than `none` unless `SMTP_ALLOW_PLAINTEXT_AUTH` is true."""
    smtp_password: str = field(default="", repr=False)
    """`SMTP_PASSWORD`: the user's password, taken as given but for trailing line breaks (which a
    Secret made from a file often carries); never logged, shown or put in an error message."""
    smtp_allow_plaintext_auth: bool = False
    """`SMTP_ALLOW_PLAINTEXT_AUTH`: `true` lets `SMTP_USERNAME` and `SMTP_PASSWORD` be used with
    `SMTP_SECURITY=none`, sending the password in clear; only for a server on a network you
    trust. `false` by default."""
    smtp_from: str = "orders@shop.example.com"
    """`SMTP_FROM`: the sender address; its domain is also the domain of every Message-ID."""
    smtp_timeout: float = 10.0
    """`SMTP_TIMEOUT_SECONDS`: how long one connection or command to the mail server may take."""
    database_url: str = "sqlite:///checkout-functions.db"
    """`DATABASE_URL`: an SQLAlchemy URL; a SQLite file by default, PostgreSQL as
    `postgresql+psycopg://user@host:port/db`."""
    database_timeout: float = 5.0
    """`DATABASE_TIMEOUT_SECONDS`: how long to wait to connect, or for SQLite's write lock."""
    email_claim_lease: float = 120.0
    """`EMAIL_CLAIM_LEASE_SECONDS`: how long an email claimed but not yet sent blocks duplicates
    (they get 503). Older claims are taken to be from a sender that crashed, and are taken over
    and sent again; keep it well above the time one send can take."""
    served_countries: frozenset[str] = field(default_factory=frozenset)
    """`WAREHOUSE_COUNTRIES`: comma-separated ISO 3166 alpha-2 codes the warehouse ships to;
    empty means everywhere."""
    log_level: str = "INFO"
    """`LOG_LEVEL`: DEBUG, INFO, WARNING or ERROR."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Read the settings; unset or empty variables keep their defaults."""
        defaults = cls()

        def text(name: str, default: str) -> str:
            return environ.get(name, "").strip() or default

        level = text("LOG_LEVEL", defaults.log_level).upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise InvalidSettings(f"LOG_LEVEL: {level!r} is not DEBUG, INFO, WARNING or ERROR")
        smtp_timeout = _seconds(environ, "SMTP_TIMEOUT_SECONDS", defaults.smtp_timeout)
        lease = _seconds(environ, "EMAIL_CLAIM_LEASE_SECONDS", defaults.email_claim_lease)
        if lease <= smtp_timeout:
            # A claim must outlive the slowest live send, or a duplicate would take it over and
            # send a second email while the first is still on its way.
            raise InvalidSettings(
                f"EMAIL_CLAIM_LEASE_SECONDS ({lease:g}) must be longer than "
                f"SMTP_TIMEOUT_SECONDS ({smtp_timeout:g})"
            )
        security = text("SMTP_SECURITY", defaults.smtp_security).lower()
        if security not in SMTP_SECURITY:
            raise InvalidSettings(
                f"SMTP_SECURITY: {security!r} is not one of {', '.join(SMTP_SECURITY)}"
            )
        username = environ.get("SMTP_USERNAME", "").strip()
        password = environ.get("SMTP_PASSWORD", "").rstrip("\r\n")
        if username and not password:
            raise InvalidSettings(
                "SMTP_USERNAME is set but SMTP_PASSWORD is not: set both to log in, or neither"
            )
        if password and not username:
            raise InvalidSettings(
                "SMTP_PASSWORD is set but SMTP_USERNAME is not: set both to log in, or neither"
            )
        plaintext_auth = flag(
            environ,
            "SMTP_ALLOW_PLAINTEXT_AUTH",
            defaults.smtp_allow_plaintext_auth,
            InvalidSettings,
        )
        if username and security == "none" and not plaintext_auth:
            raise InvalidSettings(
                "SMTP_USERNAME and SMTP_PASSWORD with SMTP_SECURITY=none would send the password "
                "in clear: set SMTP_SECURITY to starttls or tls (or, for a server on a network "
                "you trust, SMTP_ALLOW_PLAINTEXT_AUTH=true)"
            )
        return cls(
            smtp_host=text("SMTP_HOST", defaults.smtp_host),
            smtp_port=_port(environ, "SMTP_PORT", defaults.smtp_port),
            smtp_security=security,
            smtp_ca_file=text("SMTP_CA_FILE", defaults.smtp_ca_file),
            smtp_username=username,
            smtp_password=password,
            smtp_allow_plaintext_auth=plaintext_auth,
            smtp_from=text("SMTP_FROM", defaults.smtp_from),
            smtp_timeout=smtp_timeout,
            database_url=text("DATABASE_URL", defaults.database_url),
            database_timeout=_seconds(
                environ, "DATABASE_TIMEOUT_SECONDS", defaults.database_timeout
            ),
            email_claim_lease=lease,
            served_countries=_countries(environ, "WAREHOUSE_COUNTRIES"),
            log_level=level,
        )

    @property
    def log_level_number(self) -> int:
        return logging.getLevelNamesMapping()[self.log_level]


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    # Kubernetes injects e.g. SMTP_PORT=tcp://10.0.0.7:25 for a Service named `smtp` when service
    # links are on; say so rather than fail obscurely.
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise InvalidSettings(
            f"{name}: {raw!r} is not a port number (a Service link variable? set "
            "enableServiceLinks: false)"
        )
    return int(raw)


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidSettings(f"{name}: {raw!r} is not a number of seconds") from None
    if not value > 0:
        raise InvalidSettings(f"{name}: must be more than 0, got {raw}")
    return value


def _countries(environ: Mapping[str, str], name: str) -> frozenset[str]:
    codes = [c.strip() for c in environ.get(name, "").split(",") if c.strip()]
    for code in codes:
        if not COUNTRY.fullmatch(code):
            raise InvalidSettings(f"{name}: {code!r} is not an ISO 3166 alpha-2 code such as GB")
    return frozenset(codes)
