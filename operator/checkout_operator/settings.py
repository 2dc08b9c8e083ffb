"""The operator's configuration: read from the environment once, at start-up, into a typed object.
Nothing else reads os.environ."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from checkout_core.retries import RetryPolicy
from checkout_core.steps import STEPS
from checkout_core.variables import flag


class SettingsError(ValueError):
    """An environment variable has a value we cannot use; the message names it."""


@dataclass(frozen=True)
class Settings:
    function_url_template: str = "http://checkout-{function}.{namespace}.svc/"
    """Where a function answers, by name and the operator's namespace: in a cluster, its Service.
    CHECKOUT_FUNCTION_URL_TEMPLATE."""
    function_urls: Mapping[str, str] = field(default_factory=dict)
    """Explicit URLs by function name, overriding the template (locally: the processes' ports).
    CHECKOUT_FUNCTION_URLS="confirmation=http://127.0.0.1:8001/,warehouse=...,rewards=..."."""
    namespace: str = "default"
    """The namespace the operator and the functions run in. CHECKOUT_NAMESPACE."""
    attempts: int = 5
    """How many calls a step may make before it fails (the attempt budget). CHECKOUT_ATTEMPTS."""
    attempt_timeout: float = 10.0
    """Seconds one call may take before it counts as a transient failure.
    CHECKOUT_ATTEMPT_TIMEOUT."""
    backoff_base: float = 0.5
    """Seconds before the first retry; doubles each retry, with jitter. CHECKOUT_BACKOFF_BASE."""
    backoff_cap: float = 30.0
    """The longest wait between two attempts, in seconds. CHECKOUT_BACKOFF_CAP."""
    status_batch_window: float = 0.05
    """Seconds to gather step changes before one status write. CHECKOUT_STATUS_BATCH_WINDOW."""
    nats_url: str = ""
    """The broker (NATS JetStream) for choreography; empty: Choreography checkouts fail with
    reason BrokerNotConfigured. CHECKOUT_NATS_URL."""
    manage_triggers: bool = True
    """Keep the step catalogue's Triggers in `namespace`. CHECKOUT_MANAGE_TRIGGERS=false leaves
    them to someone else (e.g. written as Knative Triggers)."""
    resync_interval: float = 10.0
    """Seconds between two rounds of repairs: every Trigger's consumer made again if the broker
    lost it, stalled Choreography checkouts republished. CHECKOUT_RESYNC_INTERVAL."""
    republish_after: float = 300.0
    """Seconds a Choreography checkout may go without any change before its `order.placed` is
    published again; 0 never. Longer than a Trigger's retries take (five calls of up to 10 s,
    with backoff: about a minute), or a slow step would be delivered twice over: harmless, but
    wasteful. CHECKOUT_REPUBLISH_AFTER."""

    @property
    def retry_policy(self) -> RetryPolicy:
        """The budget and backoff of every step, in both modes (a Trigger's delivery too)."""
        return RetryPolicy(self.attempts, self.backoff_base, self.backoff_cap)

    def function_url(self, function: str) -> str:
        return self.function_urls.get(function) or self.function_url_template.format(
            function=function, namespace=self.namespace
        )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            function_url_template=env.get(
                "CHECKOUT_FUNCTION_URL_TEMPLATE", defaults.function_url_template
            ),
            function_urls=_urls(env.get("CHECKOUT_FUNCTION_URLS", "")),
            namespace=env.get("CHECKOUT_NAMESPACE", defaults.namespace),
            attempts=int(_number(env, "CHECKOUT_ATTEMPTS", defaults.attempts, minimum=1)),
            attempt_timeout=_number(env, "CHECKOUT_ATTEMPT_TIMEOUT", defaults.attempt_timeout),
            backoff_base=_number(env, "CHECKOUT_BACKOFF_BASE", defaults.backoff_base),
            backoff_cap=_number(env, "CHECKOUT_BACKOFF_CAP", defaults.backoff_cap),
            status_batch_window=_number(
                env, "CHECKOUT_STATUS_BATCH_WINDOW", defaults.status_batch_window, minimum=0
            ),
            nats_url=env.get("CHECKOUT_NATS_URL", defaults.nats_url),
            manage_triggers=flag(
                env, "CHECKOUT_MANAGE_TRIGGERS", defaults.manage_triggers, SettingsError
            ),
            resync_interval=_number(env, "CHECKOUT_RESYNC_INTERVAL", defaults.resync_interval),
            republish_after=_number(
                env, "CHECKOUT_REPUBLISH_AFTER", defaults.republish_after, minimum=0
            ),
        )


def _number(env: Mapping[str, str], name: str, default: float, minimum: float = 0.001) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise SettingsError(f"{name}={raw!r} must be at least {minimum}")
    return value


def _urls(raw: str) -> dict[str, str]:
    known = {s.function for s in STEPS}
    urls = {}
    for pair in filter(None, (p.strip() for p in raw.split(","))):
        name, sep, url = pair.partition("=")
        if not sep or not url.startswith(("http://", "https://")):
            raise SettingsError(f"CHECKOUT_FUNCTION_URLS: {pair!r} is not function=http(s)://url")
        if name not in known:
            raise SettingsError(
                f"CHECKOUT_FUNCTION_URLS: unknown function {name!r}; known: {sorted(known)}"
            )
        urls[name] = url
    return urls
