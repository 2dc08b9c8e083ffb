"""The functions' settings: defaults, every variable read, and bad values refused by name."""

from __future__ import annotations

import logging

import pytest

from checkout_functions.settings import Settings, SettingsError


def test_defaults_with_an_empty_environment() -> None:
    settings = Settings.from_environ({})
    assert settings == Settings()
    assert settings.database_url == "sqlite:///checkout-functions.db"
    assert settings.served_countries == frozenset()
    assert settings.log_level_number == logging.INFO


def test_every_variable_is_read() -> None:
    settings = Settings.from_environ(
        {
            "SMTP_HOST": "mail.internal",
            "SMTP_PORT": "2525",
            "SMTP_FROM": "shop@example.org",
            "SMTP_TIMEOUT_SECONDS": "3.5",
            "DATABASE_URL": "postgresql+psycopg://u@db:5432/shop",
            "DATABASE_TIMEOUT_SECONDS": "2",
            "EMAIL_CLAIM_LEASE_SECONDS": "30",
            "WAREHOUSE_COUNTRIES": "GB, IE,,FR",
            "LOG_LEVEL": "debug",
        }
    )
    assert settings == Settings(
        smtp_host="mail.internal",
        smtp_port=2525,
        smtp_from="shop@example.org",
        smtp_timeout=3.5,
        database_url="postgresql+psycopg://u@db:5432/shop",
        database_timeout=2.0,
        email_claim_lease=30.0,
        served_countries=frozenset({"GB", "IE", "FR"}),
        log_level="DEBUG",
    )


def test_a_claim_is_short_and_renewed_in_time_however_long_a_send_may_take() -> None:
    settings = Settings.from_environ({})
    # Short beside the operator's retry budget (five attempts over 4 to 7.5 seconds), so that a
    # crashed sender's claim is free before the retries end...
    assert settings.email_claim_lease <= 3
    # ...and a renewal, due every third of the lease and waiting at most the database timeout,
    # lands before the claim could be taken over.
    assert settings.email_claim_lease / 3 + settings.database_timeout < settings.email_claim_lease
    # Sends longer than the lease are fine: the claim is renewed while they last.
    slow = Settings.from_environ({"SMTP_TIMEOUT_SECONDS": "30"})
    assert (slow.smtp_timeout, slow.email_claim_lease) == (30.0, 3.0)


def test_a_lease_a_renewal_cannot_keep_is_refused_naming_what_it_needs() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_environ({"EMAIL_CLAIM_LEASE_SECONDS": "4", "DATABASE_TIMEOUT_SECONDS": "3"})
    assert "EMAIL_CLAIM_LEASE_SECONDS (4)" in str(refused.value)
    assert "DATABASE_TIMEOUT_SECONDS (3)" in str(refused.value)
    assert "more than 4.5" in str(refused.value)
    accepted = {"EMAIL_CLAIM_LEASE_SECONDS": "4.6", "DATABASE_TIMEOUT_SECONDS": "3"}
    assert Settings.from_environ(accepted).email_claim_lease == 4.6


def test_empty_values_keep_the_defaults() -> None:
    assert Settings.from_environ({"SMTP_PORT": "", "SMTP_HOST": "  "}) == Settings()


def test_a_secured_login_is_read_and_the_password_never_shown() -> None:
    settings = Settings.from_environ(
        {
            "SMTP_SECURITY": "STARTTLS",
            "SMTP_USERNAME": "shop",
            "SMTP_PASSWORD": "hunter2",
            "SMTP_CA_FILE": "/etc/shop/ca.pem",
        }
    )
    assert (settings.smtp_security, settings.smtp_username) == ("starttls", "shop")
    assert (settings.smtp_password, settings.smtp_ca_file) == ("hunter2", "/etc/shop/ca.pem")
    assert settings.smtp_allow_plaintext_auth is False
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings)


def test_without_smtp_variables_mail_goes_out_plain_and_anonymous() -> None:
    settings = Settings.from_environ({})
    assert (settings.smtp_security, settings.smtp_ca_file) == ("none", "")
    assert (settings.smtp_username, settings.smtp_password) == ("", "")
    assert settings.smtp_allow_plaintext_auth is False


@pytest.mark.parametrize("security", ["none", "starttls", "tls", "TLS", " StartTLS "])
def test_every_smtp_security_is_accepted(security: str) -> None:
    assert Settings.from_environ({"SMTP_SECURITY": security}).smtp_security in (
        "none",
        "starttls",
        "tls",
    )


def test_a_password_keeps_its_spaces_but_not_a_trailing_line_break() -> None:
    environ = {"SMTP_SECURITY": "tls", "SMTP_USERNAME": " shop ", "SMTP_PASSWORD": " p w \n"}
    settings = Settings.from_environ(environ)
    assert (settings.smtp_username, settings.smtp_password) == ("shop", " p w ")


@pytest.mark.parametrize("flag", ["true", "TRUE", "1", "yes"])
def test_a_login_over_plain_smtp_needs_smtp_allow_plaintext_auth(flag: str) -> None:
    environ = {"SMTP_USERNAME": "shop", "SMTP_PASSWORD": "hunter2"}
    settings = Settings.from_environ({**environ, "SMTP_ALLOW_PLAINTEXT_AUTH": flag})
    assert (settings.smtp_security, settings.smtp_allow_plaintext_auth) == ("none", True)
    assert settings.smtp_username == "shop"


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"SMTP_SECURITY": "ssl"}, "SMTP_SECURITY"),
        ({"SMTP_SECURITY": "tls", "SMTP_USERNAME": "shop"}, "SMTP_PASSWORD is not"),
        ({"SMTP_SECURITY": "tls", "SMTP_USERNAME": "shop", "SMTP_PASSWORD": "\n"}, "SMTP_PASSWORD"),
        ({"SMTP_SECURITY": "tls", "SMTP_PASSWORD": "hunter2"}, "SMTP_USERNAME is not"),
        (
            {"SMTP_SECURITY": "tls", "SMTP_USERNAME": " ", "SMTP_PASSWORD": "hunter2"},
            "SMTP_USERNAME",
        ),
        ({"SMTP_USERNAME": "shop", "SMTP_PASSWORD": "hunter2"}, "SMTP_SECURITY=none"),
        ({"SMTP_USERNAME": "shop", "SMTP_PASSWORD": "hunter2"}, "SMTP_ALLOW_PLAINTEXT_AUTH=true"),
        (
            {
                "SMTP_USERNAME": "shop",
                "SMTP_PASSWORD": "hunter2",
                "SMTP_ALLOW_PLAINTEXT_AUTH": "false",
            },
            "SMTP_SECURITY=none",
        ),
        ({"SMTP_ALLOW_PLAINTEXT_AUTH": "maybe"}, "SMTP_ALLOW_PLAINTEXT_AUTH"),
    ],
)
def test_an_unsafe_or_incomplete_mail_login_is_refused_by_name(
    environ: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError, match=named) as refused:
        Settings.from_environ(environ)
    assert "hunter2" not in str(refused.value)
