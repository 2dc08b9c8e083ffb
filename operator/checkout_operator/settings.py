"""The operator's configuration: read from the environment once, at start-up, into a typed object.
Nothing else reads os.environ."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from checkout_core.environment import Environment, SettingsError
from checkout_core.retries import RetryPolicy
from checkout_core.steps import STEPS
from checkout_operator.retention import MAX_SECONDS

__all__ = ["Settings", "SettingsError"]


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
    attempts: int = 6
    """How many calls a step may make before it fails (the attempt budget), in both modes.
    Six, with the default backoff, spread over 7.75 to 15.5 s: long enough for a function that
    crashed to be restarted and for the claim it held (EMAIL_CLAIM_LEASE_SECONDS) to expire.
    CHECKOUT_ATTEMPTS."""
    attempt_timeout: float = 10.0
    """Seconds one call may take before it counts as a transient failure.
    CHECKOUT_ATTEMPT_TIMEOUT."""
    backoff_base: float = 0.5
    """Seconds before the first retry; doubles each retry, with jitter. CHECKOUT_BACKOFF_BASE."""
    backoff_cap: float = 30.0
    """The longest wait between two attempts, in seconds. CHECKOUT_BACKOFF_CAP."""
    status_batch_window: float = 0.2
    """Seconds from a checkout's start to its first status write, so it is seen Running — unless
    it has finished by then: a quick one costs a single write. CHECKOUT_STATUS_BATCH_WINDOW."""
    status_interval: float = 1.0
    """Seconds at least between two status writes of a checkout still running (a finished one
    is written at once): a checkout done within this costs two status writes at most.
    CHECKOUT_STATUS_INTERVAL."""
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
    published again; 0 never. Longer than a Trigger's retries take (six calls of up to 10 s,
    with backoff: under a minute and a half), or a slow step would be delivered twice over:
    harmless, but wasteful. CHECKOUT_REPUBLISH_AFTER."""
    concurrency: int = 16
    """Checkouts worked on at once: an Orchestration one carried out, a Choreography one started.
    More wait their turn, so that a burst does not crowd the functions (each serves a few calls
    at a time) and every checkout, once begun, finishes quickly; one waiting out a retry's backoff
    gives its turn up meanwhile. CHECKOUT_CONCURRENCY."""
    ttl_seconds_after_finished: int | None = None
    """Seconds a finished (Succeeded or Failed) Checkout is kept before the operator deletes it,
    for Checkouts whose spec.ttlSecondsAfterFinished says nothing; 0 as soon as it finishes;
    None, unset or empty: kept until someone deletes them. CHECKOUT_TTL_SECONDS_AFTER_FINISHED."""

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
        env = Environment(os.environ if environ is None else environ)
        defaults = cls()
        return cls(
            function_url_template=env.text(
                "CHECKOUT_FUNCTION_URL_TEMPLATE", defaults.function_url_template
            ),
            function_urls=_urls(env.raw("CHECKOUT_FUNCTION_URLS")),
            namespace=env.text("CHECKOUT_NAMESPACE", defaults.namespace),
            attempts=env.integer("CHECKOUT_ATTEMPTS", defaults.attempts, minimum=1),
            attempt_timeout=env.number(
                "CHECKOUT_ATTEMPT_TIMEOUT", defaults.attempt_timeout, minimum=0.001
            ),
            backoff_base=env.number("CHECKOUT_BACKOFF_BASE", defaults.backoff_base, minimum=0.001),
            backoff_cap=env.number("CHECKOUT_BACKOFF_CAP", defaults.backoff_cap, minimum=0.001),
            status_batch_window=env.number(
                "CHECKOUT_STATUS_BATCH_WINDOW", defaults.status_batch_window, minimum=0
            ),
            status_interval=env.number(
                "CHECKOUT_STATUS_INTERVAL", defaults.status_interval, minimum=0
            ),
            nats_url=env.text("CHECKOUT_NATS_URL", defaults.nats_url),
            manage_triggers=env.flag("CHECKOUT_MANAGE_TRIGGERS", defaults.manage_triggers),
            resync_interval=env.number(
                "CHECKOUT_RESYNC_INTERVAL", defaults.resync_interval, minimum=0.001
            ),
            republish_after=env.number(
                "CHECKOUT_REPUBLISH_AFTER", defaults.republish_after, minimum=0
            ),
            concurrency=env.integer("CHECKOUT_CONCURRENCY", defaults.concurrency, minimum=1),
            ttl_seconds_after_finished=(
                env.integer(
                    "CHECKOUT_TTL_SECONDS_AFTER_FINISHED", 0, minimum=0, maximum=MAX_SECONDS
                )
                if env.raw("CHECKOUT_TTL_SECONDS_AFTER_FINISHED")
                else defaults.ttl_seconds_after_finished
            ),
        )


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
