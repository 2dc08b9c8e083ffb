"""The dispatcher's settings: environment in, typed values out, clear errors."""

from __future__ import annotations

from checkout_dispatcher.settings import Settings


def test_defaults() -> None:
    settings = Settings.from_environment({})
    assert settings.nats_url == "nats://127.0.0.1:4222"
    assert settings.namespaces == ()
    assert (settings.concurrency, settings.fetch_batch, settings.port) == (16, 16, 8080)
    assert settings.kubeconfig == ""
    assert settings.name


def test_values_from_the_environment() -> None:
    settings = Settings.from_environment(
        {
            "NATS_URL": "nats://broker:4222",
            "DISPATCHER_NAMESPACES": " shop, staging ,,",
            "DISPATCHER_CONCURRENCY": "4",
            "DISPATCHER_FETCH_BATCH": "2",
            "DISPATCHER_FETCH_WAIT": "0.5",
            "DISPATCHER_DRAIN_TIMEOUT": "0",
            "DISPATCHER_WATCH_TIMEOUT": "60",
            "DISPATCHER_HOST": "127.0.0.1",
            "DISPATCHER_PORT": "9090",
            "DISPATCHER_NAME": "dispatcher-0",
            "DISPATCHER_LOG_LEVEL": "debug",
            "KUBECONFIG": "/tmp/kubeconfig",
        }
    )
    assert settings == Settings(
        nats_url="nats://broker:4222",
        namespaces=("shop", "staging"),
        concurrency=4,
        fetch_batch=2,
        fetch_wait=0.5,
        drain_timeout=0.0,
        watch_timeout=60,
        host="127.0.0.1",
        port=9090,
        kubeconfig="/tmp/kubeconfig",
        name="dispatcher-0",
        log_level="DEBUG",
    )
