"""The functions' configuration: environment variables read once at start-up into one typed,
documented object; nothing else reads the environment."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from checkout_core.environment import Environment, SettingsError
from checkout_core.order import COUNTRY

SMTP_SECURITY = ("none", "starttls", "tls")

__all__ = ["SMTP_SECURITY", "Settings", "SettingsError"]


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
    database_timeout: float = 1.5
    """`DATABASE_TIMEOUT_SECONDS`: how long to wait to connect, or for SQLite's write lock; less
    than two thirds of `EMAIL_CLAIM_LEASE_SECONDS` (see there)."""
    email_claim_lease: float = 3.0
    """`EMAIL_CLAIM_LEASE_SECONDS`: how long a claim on an email holds without being renewed.
    While its sender works, duplicates get 503; the sender renews the claim every third of this,
    however long the send takes. A claim not renewed for this long is from a sender that died:
    the next attempt takes it over and sends. Keep it short beside the caller's retry budget
    (the operator's default spreads its five attempts over 4 to 7.5 seconds), or the retries
    after a crash end before the claim is free. It must be longer than a third of itself plus
    `DATABASE_TIMEOUT_SECONDS`, the longest one renewal may wait for the database, so that a live
    sender's claim is renewed before it could be taken over."""
    served_countries: frozenset[str] = field(default_factory=frozenset)
    """`WAREHOUSE_COUNTRIES`: comma-separated ISO 3166 alpha-2 codes the warehouse ships to;
    empty means everywhere."""
    log_level: str = "INFO"
    """`LOG_LEVEL`: DEBUG, INFO, WARNING or ERROR."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Read the settings; unset or empty variables keep their defaults."""
        defaults = cls()
        env = Environment(environ)
        database_timeout = env.seconds("DATABASE_TIMEOUT_SECONDS", defaults.database_timeout)
        lease = env.seconds("EMAIL_CLAIM_LEASE_SECONDS", defaults.email_claim_lease)
        if lease / 3 + database_timeout >= lease:
            # A live sender renews its claim every third of the lease, and one renewal may wait
            # DATABASE_TIMEOUT_SECONDS for the database: the renewal must land before the claim
            # goes stale, or a duplicate would take it over and send a second email while the
            # first is still on its way.
            raise SettingsError(
                f"EMAIL_CLAIM_LEASE_SECONDS ({lease:g}) must be longer than a third of itself "
                f"plus DATABASE_TIMEOUT_SECONDS ({database_timeout:g}): more than "
                f"{1.5 * database_timeout:g}"
            )
        security = env.choice(
            "SMTP_SECURITY", defaults.smtp_security, SMTP_SECURITY, normalise=str.lower
        )
        username = env.raw("SMTP_USERNAME")
        password = environ.get("SMTP_PASSWORD", "").rstrip("\r\n")
        if username and not password:
            raise SettingsError(
                "SMTP_USERNAME is set but SMTP_PASSWORD is not: set both to log in, or neither"
            )
        if password and not username:
            raise SettingsError(
                "SMTP_PASSWORD is set but SMTP_USERNAME is not: set both to log in, or neither"
            )
        plaintext_auth = env.flag("SMTP_ALLOW_PLAINTEXT_AUTH", defaults.smtp_allow_plaintext_auth)
        if username and security == "none" and not plaintext_auth:
            raise SettingsError(
                "SMTP_USERNAME and SMTP_PASSWORD with SMTP_SECURITY=none would send the password "
                "in clear: set SMTP_SECURITY to starttls or tls (or, for a server on a network "
                "you trust, SMTP_ALLOW_PLAINTEXT_AUTH=true)"
            )
        return cls(
            smtp_host=env.text("SMTP_HOST", defaults.smtp_host),
            smtp_port=env.port("SMTP_PORT", defaults.smtp_port),
            smtp_security=security,
            smtp_ca_file=env.text("SMTP_CA_FILE", defaults.smtp_ca_file),
            smtp_username=username,
            smtp_password=password,
            smtp_allow_plaintext_auth=plaintext_auth,
            smtp_from=env.text("SMTP_FROM", defaults.smtp_from),
            smtp_timeout=env.seconds("SMTP_TIMEOUT_SECONDS", defaults.smtp_timeout),
            database_url=env.text("DATABASE_URL", defaults.database_url),
            database_timeout=database_timeout,
            email_claim_lease=lease,
            served_countries=_countries(env, "WAREHOUSE_COUNTRIES"),
            log_level=env.log_level("LOG_LEVEL", defaults.log_level),
        )

    @property
    def log_level_number(self) -> int:
        return logging.getLevelNamesMapping()[self.log_level]


def _countries(env: Environment, name: str) -> frozenset[str]:
    codes = env.items(name)
    for code in codes:
        if not COUNTRY.fullmatch(code):
            raise SettingsError(f"{name}={code!r} is not an ISO 3166 alpha-2 code such as GB")
    return frozenset(codes)
