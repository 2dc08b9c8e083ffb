"""The operator's settings: environment in, typed values out, clear errors."""

from __future__ import annotations

import pytest

from checkout_operator.settings import Settings, SettingsError


def test_defaults_point_at_in_cluster_services() -> None:
    settings = Settings.from_environment({"CHECKOUT_NAMESPACE": "shop"})
    assert settings.function_url("warehouse") == "http://checkout-warehouse.shop.svc/"
    assert settings.attempts == 6


def test_explicit_urls_override_the_template() -> None:
    settings = Settings.from_environment(
        {"CHECKOUT_FUNCTION_URLS": "confirmation=http://127.0.0.1:9001/, rewards=http://h:2/"}
    )
    assert settings.function_url("confirmation") == "http://127.0.0.1:9001/"
    assert settings.function_url("rewards") == "http://h:2/"
    assert settings.function_url("warehouse").startswith("http://checkout-warehouse.")


def test_repairs_are_tunable_and_republishing_can_be_switched_off() -> None:
    defaults = Settings.from_environment({})
    assert (defaults.resync_interval, defaults.republish_after) == (10.0, 300.0)
    settings = Settings.from_environment(
        {"CHECKOUT_RESYNC_INTERVAL": "0.5", "CHECKOUT_REPUBLISH_AFTER": "0"}
    )
    assert (settings.resync_interval, settings.republish_after) == (0.5, 0.0)
    with pytest.raises(SettingsError, match="CHECKOUT_RESYNC_INTERVAL='0' must be at least"):
        Settings.from_environment({"CHECKOUT_RESYNC_INTERVAL": "0"})


def test_status_writes_and_concurrency_are_tunable_and_checked() -> None:
    defaults = Settings.from_environment({})
    assert (defaults.status_batch_window, defaults.status_interval, defaults.concurrency) == (
        0.2,
        1.0,
        16,
    )
    settings = Settings.from_environment(
        {
            "CHECKOUT_STATUS_BATCH_WINDOW": "0",
            "CHECKOUT_STATUS_INTERVAL": "5",
            "CHECKOUT_CONCURRENCY": "64",
        }
    )
    assert (settings.status_batch_window, settings.status_interval, settings.concurrency) == (
        0.0,
        5.0,
        64,
    )
    with pytest.raises(SettingsError, match="CHECKOUT_CONCURRENCY='0' must be at least 1"):
        Settings.from_environment({"CHECKOUT_CONCURRENCY": "0"})
    with pytest.raises(SettingsError, match="CHECKOUT_STATUS_INTERVAL"):
        Settings.from_environment({"CHECKOUT_STATUS_INTERVAL": "soon"})
