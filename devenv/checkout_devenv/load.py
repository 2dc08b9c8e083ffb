"""Load on the API server for `make bench`: Checkouts created in a burst or at a steady rate, each
followed on one watch until it has finished, and the latencies, throughput and pacing that came of
it; and `fill`, which stores Checkouts that are already finished, as fast as the API server takes
them.

It shares a two-core machine with everything it measures, so it must cost little CPU: one asyncio
loop, one aiohttp pool of keep-alive connections straight to the API server, JSON in and out. (The
kubernetes client is synchronous, so concurrency would take a thread per request in flight, and it
spends about half as much CPU again on each request.) The arithmetic of a run (schedule,
percentiles, throughput, lag) and the statuses it writes are pure functions, apart from the I/O."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime
import json
import math
import ssl
import tempfile
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar, cast

import aiohttp
import yaml

from checkout_core import api, events
from checkout_core.api import CHECKOUTS, GROUP, SUCCEEDED, VERSION, Phase
from checkout_core.order import Order
from checkout_core.steps import STEPS
from checkout_devenv.targets import Summary

Body = dict[str, Any]
T = TypeVar("T")

FINISHED = frozenset({Phase.SUCCEEDED.value, Phase.FAILED.value})
"""The phases that end a checkout."""
MERGE_PATCH = "application/merge-patch+json"
REQUEST_TIMEOUT = 60.0
"""Seconds one request (not a watch) may take before it counts as failed."""
WATCH_SECONDS = 300
"""How long the API server keeps one watch request open; the watch is then resumed."""


# Reaching the API server as the kubeconfig's user.


@dataclass(frozen=True)
class Credentials:
    """The API server of a kubeconfig's current context, and how its user proves who it is."""

    server: str
    ca: bytes = b""
    """PEM of the CA the server's certificate is checked against; empty: the system's."""
    cert: bytes = b""
    """PEM of the client certificate, with `key`; empty when the user has none."""
    key: bytes = b""
    token: str = ""
    """A bearer token (a ServiceAccount's), when the user authenticates with one."""


def credentials(config: Mapping[str, Any], base: Path) -> Credentials:
    """The current context's server and user in a kubeconfig document; a file a field names
    (`certificate-authority`, `client-certificate`, `client-key`) is read relative to `base`, the
    kubeconfig's folder, as kubectl reads it."""
    context = _named(config, "contexts", config["current-context"])["context"]
    cluster = _named(config, "clusters", context["cluster"])["cluster"]
    user = _named(config, "users", context["user"])["user"]

    def pem(section: Mapping[str, Any], field: str) -> bytes:
        if section.get(f"{field}-data"):
            return base64.b64decode(section[f"{field}-data"])
        if section.get(field):
            return (base / str(section[field])).read_bytes()
        return b""

    return Credentials(
        server=cluster["server"],
        ca=pem(cluster, "certificate-authority"),
        cert=pem(user, "client-certificate"),
        key=pem(user, "client-key"),
        token=user.get("token", ""),
    )


def _named(config: Mapping[str, Any], section: str, name: str) -> Mapping[str, Any]:
    for entry in config.get(section) or []:
        if entry["name"] == name:
            return cast(Mapping[str, Any], entry)
    raise ValueError(f"the kubeconfig has no entry {name!r} in {section}")


def ssl_context(who: Credentials) -> ssl.SSLContext:
    """Trusts the kubeconfig's CA and presents its client certificate, if it has one."""
    context = ssl.create_default_context(cadata=who.ca.decode() if who.ca else None)
    if who.cert:
        # The ssl module loads a certificate and its key from files only; these live for the
        # moment it takes, in a folder only we can read.
        with tempfile.TemporaryDirectory() as folder:
            cert, key = Path(folder) / "client.crt", Path(folder) / "client.key"
            cert.write_bytes(who.cert)
            key.write_bytes(who.key)
            context.load_cert_chain(cert, key)
    return context


def collection(group: str, version: str, namespace: str, plural: str) -> str:
    """The URL path of a namespaced custom resource's objects."""
    return f"/apis/{group}/{version}/namespaces/{namespace}/{plural}"


class ApiError(RuntimeError):
    """The API server answered a request with an error status."""

    def __init__(self, method: str, path: str, status: int, body: bytes) -> None:
        self.status = status
        self.body = body
        said = body[:500].decode("utf-8", errors="replace")
        super().__init__(f"{method} {path}: HTTP {status}: {said}")


class Api:
    """The API server over one pool of keep-alive connections, as the kubeconfig's user.
    `connections` bounds the pool: make it at least the requests in flight, plus one per watch."""

    def __init__(self, kubeconfig: Path, connections: int = 33) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        self.credentials = credentials(config, kubeconfig.parent)
        self.connections = connections
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        who = self.credentials
        headers = {"Accept": "application/json"}
        if who.token:
            headers["Authorization"] = f"Bearer {who.token}"
        self._session = aiohttp.ClientSession(
            base_url=who.server,
            connector=aiohttp.TCPConnector(limit=self.connections, ssl=ssl_context(who)),
            headers=headers,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("use Api as `async with Api(kubeconfig) as api:`")
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
    ) -> Body:
        """One request; the answer's JSON document. Raises ApiError for an error status."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if data is not None else None
        async with self.session.request(
            method, path, data=data, headers=headers, params=params
        ) as response:
            answer = await response.read()
            if response.status >= 300:
                raise ApiError(method, path, response.status, answer)
            return cast(Body, json.loads(answer))

    async def create(self, path: str, body: Body) -> Body:
        return await self.request("POST", path, body)

    async def patch_status(self, path: str, name: str, status: Body) -> Body:
        """A JSON merge patch of the object's status subresource."""
        patch = {"status": status}
        return await self.request("PATCH", f"{path}/{name}/status", patch, content_type=MERGE_PATCH)

    async def delete_collection(self, path: str, label_selector: str) -> None:
        await self.request("DELETE", path, params={"labelSelector": label_selector})

    async def resource_version(self, path: str) -> str:
        """The collection's resourceVersion now: a watch from it sees every later change."""
        listed = await self.request("GET", path, params={"limit": "1"})
        return str(listed["metadata"]["resourceVersion"])

    async def watch(self, path: str, version: str) -> AsyncGenerator[Body]:
        """Every change to the collection after `version` (its watch events, bookmarks left
        out), for as long as the caller reads on: when the API server ends a watch, another is
        opened from the last version seen. Read it inside `contextlib.aclosing`."""
        while True:
            params = {
                "watch": "true",
                "resourceVersion": version,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": str(WATCH_SECONDS),
            }
            async with self.session.get(
                path, params=params, timeout=aiohttp.ClientTimeout(total=None, sock_read=None)
            ) as response:
                if response.status != 200:
                    raise ApiError("WATCH", path, response.status, await response.read())
                pending = bytearray()
                async for chunk in response.content.iter_any():
                    pending += chunk
                    while (end := pending.find(b"\n")) >= 0:
                        line = bytes(pending[:end])
                        del pending[: end + 1]
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        if event["type"] == "ERROR":
                            status = event["object"].get("code", 0)
                            raise ApiError("WATCH", path, status, line)
                        version = event["object"]["metadata"]["resourceVersion"]
                        if event["type"] != "BOOKMARK":
                            yield event


async def bounded(
    items: Sequence[T], in_flight: int, work: Callable[[T], Awaitable[object]]
) -> None:
    """`work` on every item, at most `in_flight` at a time. The first failure stops the rest and
    is raised as itself."""
    iterator = iter(items)

    async def worker() -> None:
        for item in iterator:
            await work(item)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(in_flight, len(items))):
                group.create_task(worker())
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None


@dataclass(frozen=True)
class Rate:
    """`count` things done in `seconds`."""

    count: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


# Schedules, and what a run recorded. Pure.


@dataclass(frozen=True)
class Burst:
    """Every create at once, at most `in_flight` of them outstanding."""

    in_flight: int = 32
    """Creates outstanding at most; the next goes out as soon as one is answered."""


@dataclass(frozen=True)
class Paced:
    """`rate` creates a second for `duration` seconds, each sent at its own time whatever became
    of the ones before it, with at most `in_flight` outstanding: when the API server falls behind
    that many, the next create waits, and the run records how late it went out."""

    rate: float
    """Creates a second."""
    duration: float
    """Seconds the schedule lasts: it holds `rate * duration` creates."""
    in_flight: int = 64
    """Creates outstanding at most; a create due while this many are waits, and is late."""

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.duration <= 0:
            raise ValueError(f"a pace needs a positive rate and duration, not {self}")

    @property
    def count(self) -> int:
        """How many creates the schedule holds (the checkouts a run of it takes)."""
        return math.floor(self.rate * self.duration + 1e-9)


Schedule = Burst | Paced


def send_times(rate: float, count: int) -> list[float]:
    """When each of `count` creates is due, in seconds from the start, at `rate` a second."""
    return [i / rate for i in range(count)]


@dataclass(frozen=True)
class Record:
    """What became of one Checkout of a run; times in seconds since the run began."""

    name: str
    due: float | None = None
    """When its create was scheduled; None in a burst, which has no schedule to keep."""
    started: float | None = None
    """When its create request went out."""
    finished: float | None = None
    """When the watch first showed it Succeeded or Failed; None if it did not in time."""
    phase: str | None = None
    """The phase it finished in."""
    error: str = ""
    """Why its create failed; such a checkout never started."""

    @property
    def latency(self) -> float | None:
        """Seconds from its create to its end, when it ended."""
        if self.error or self.started is None or self.finished is None:
            return None
        return self.finished - self.started

    @property
    def lag(self) -> float:
        """Seconds its create went out after it was due (0 without a schedule)."""
        if self.due is None or self.started is None:
            return 0.0
        return max(0.0, self.started - self.due)


def latencies(records: Sequence[Record]) -> list[float]:
    """Create-to-finished seconds of every checkout that finished, in the records' order."""
    return [r.latency for r in records if r.latency is not None]


def throughput(records: Sequence[Record]) -> float:
    """Checkouts finished per second, from the first create to the last finish."""
    ended = [r for r in records if r.latency is not None]
    if not ended:
        return 0.0
    first = min(r.started for r in records if r.started is not None)
    last = max(cast(float, r.finished) for r in ended)
    return len(ended) / max(last - first, 1e-9)


def lag(records: Sequence[Record]) -> float:
    """How far behind its schedule the run fell: the latest any create went out, in seconds."""
    return max((r.lag for r in records), default=0.0)


@dataclass(frozen=True)
class Result:
    """A run's records, and the figures they make."""

    records: tuple[Record, ...]

    @property
    def latency(self) -> Summary | None:
        """The create-to-finished latencies; None when nothing finished."""
        samples = latencies(self.records)
        return Summary.of(samples) if samples else None

    def percentile(self, q: float) -> float | None:
        summary = self.latency
        return summary.percentile(q) if summary else None

    @property
    def p50(self) -> float | None:
        return self.percentile(50)

    @property
    def p95(self) -> float | None:
        return self.percentile(95)

    @property
    def p99(self) -> float | None:
        return self.percentile(99)

    @property
    def throughput(self) -> float:
        return throughput(self.records)

    @property
    def lag(self) -> float:
        return lag(self.records)

    @property
    def succeeded(self) -> int:
        return sum(1 for r in self.records if r.latency is not None and r.phase == SUCCEEDED)

    @property
    def failed(self) -> int:
        """Finished, but Failed."""
        return sum(1 for r in self.records if r.latency is not None and r.phase != SUCCEEDED)

    @property
    def unfinished(self) -> int:
        """Created, but not seen finished before the timeout."""
        return sum(1 for r in self.records if not r.error and r.finished is None)

    @property
    def not_created(self) -> int:
        """Refused by the API server, or never answered."""
        return sum(1 for r in self.records if r.error)

    def figures(self) -> dict[str, float | int | None]:
        """Everything in one flat mapping, for a report or a JSON file."""
        return {
            "checkouts": len(self.records),
            "succeeded": self.succeeded,
            "failed": self.failed,
            "unfinished": self.unfinished,
            "not created": self.not_created,
            "p50": self.p50,
            "p95": self.p95,
            "p99": self.p99,
            "throughput": self.throughput,
            "lag": self.lag,
        }


# Statuses of a checkout, as the operator writes them. Pure.


def running_status(order: Mapping[str, Any], at: datetime.datetime, generation: int = 1) -> Body:
    """The status of `order` once every step that applies to it has started, at `at`."""
    return _status(order, at, generation, finished=False)


def finished_status(order: Mapping[str, Any], at: datetime.datetime, generation: int = 1) -> Body:
    """The status the operator writes when every step of `order` has succeeded at `at` (rewards
    skipped for a non-member): a Checkout stored with it is as finished as one carried out."""
    return _status(order, at, generation, finished=True)


def _status(
    order: Mapping[str, Any], at: datetime.datetime, generation: int, *, finished: bool
) -> Body:
    placed = Order.from_json(order)
    member = "true" if placed.customer.rewards_member else "false"
    attributes = {events.REWARDS_MEMBER: member}
    outputs = {
        "messageId": f"<{placed.id}@bench.shop.example.com>",
        "shipmentId": f"bench-{placed.id}",
        "points": placed.points,
        "balance": placed.points,
    }
    stamp = api.rfc3339(at)
    steps: list[Body] = []
    for step in STEPS:
        entry: Body = {"name": step.name, "attempts": 1, "message": "", "output": {}}
        if not step.applies(attributes):
            held = ", ".join(f"{k}={v}" for k, v in step.when.items())
            entry |= {"phase": Phase.SKIPPED.value, "attempts": 0, "completedAt": stamp}
            entry["message"] = f"condition {held} does not hold"
        elif finished:
            entry |= {"phase": Phase.SUCCEEDED.value, "startedAt": stamp, "completedAt": stamp}
            entry["output"] = step.output(outputs)
        else:
            entry |= {"phase": Phase.RUNNING.value, "startedAt": stamp}
        steps.append(entry)
    done = sum(1 for s in steps if Phase(s["phase"]).done)
    progress = f"{done}/{len(steps)}"
    if finished:
        summary = ("True", "AllStepsSucceeded", "every step succeeded or was skipped")
    else:
        summary = ("Unknown", "StepsRunning", f"{progress} steps done")
    return {
        "observedGeneration": generation,
        "phase": (Phase.SUCCEEDED if finished else Phase.RUNNING).value,
        "progress": progress,
        "startedAt": stamp,
        "completedAt": stamp if finished else None,
        "steps": steps,
        "conditions": [api.condition(SUCCEEDED, *summary, generation=generation, since=at)],
    }


# Running load.


def checkouts(namespace: str) -> str:
    """The URL path of the Checkouts of `namespace`."""
    return collection(GROUP, VERSION, namespace, CHECKOUTS)


class _Progress:
    """The records of a run as they fill in, and whether every checkout has come to an end."""

    def __init__(self, names: Sequence[str], began: float) -> None:
        self.records = {name: Record(name) for name in names}
        self.began = began
        self.ended = asyncio.Event()
        self._open = len(self.records)
        if not self._open:
            self.ended.set()

    def now(self) -> float:
        return time.monotonic() - self.began

    def started(self, name: str, due: float | None) -> None:
        self._update(name, due=due, started=self.now())

    def refused(self, name: str, error: str) -> None:
        record = self.records[name]
        self._update(name, error=error)
        if record.finished is None:
            self._close()

    def seen(self, body: Body) -> None:
        name = body["metadata"]["name"]
        phase = (body.get("status") or {}).get("phase")
        record = self.records.get(name)
        if record is None or record.finished is not None or phase not in FINISHED:
            return
        self._update(name, finished=self.now(), phase=phase)
        if not record.error:
            self._close()

    def _update(self, name: str, **changes: Any) -> None:
        self.records[name] = dataclasses.replace(self.records[name], **changes)

    def _close(self) -> None:
        self._open -= 1
        if self._open == 0:
            self.ended.set()


async def run(
    kubeconfig: Path,
    namespace: str,
    bodies: Sequence[Body],
    schedule: Schedule,
    timeout: float = 120.0,
) -> Result:
    """Create the Checkouts `bodies` in `namespace` on `schedule` and follow them on one watch,
    from the collection's resourceVersion read before the first create (so no change is missed),
    until each has finished or `timeout` seconds have passed since the last create was answered.
    A paced schedule takes exactly `schedule.count` bodies. A create the API server refuses is
    recorded as such (`Result.not_created`), not raised: under load, a refusal is an outcome."""
    names = [b["metadata"]["name"] for b in bodies]
    if len(set(names)) != len(names):
        raise ValueError("every Checkout of a run needs a name of its own")
    due: list[float] | None = None
    if isinstance(schedule, Paced):
        if len(bodies) != schedule.count:
            raise ValueError(f"{schedule} sends {schedule.count} Checkouts, not {len(bodies)}")
        due = send_times(schedule.rate, schedule.count)
    path = checkouts(namespace)
    async with Api(kubeconfig, connections=schedule.in_flight + 1) as client:
        version = await client.resource_version(path)
        progress = _Progress(names, time.monotonic())
        watching = asyncio.create_task(_follow(client, path, version, progress))
        try:
            await _send(client, path, bodies, due, schedule.in_flight, progress)
            ended = asyncio.create_task(progress.ended.wait())
            await asyncio.wait(
                {ended, watching}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            ended.cancel()
            if watching.done():
                watching.result()  # the watch failed: that is the error of the run
        finally:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
    return Result(tuple(progress.records[name] for name in names))


async def _follow(client: Api, path: str, version: str, progress: _Progress) -> None:
    async with contextlib.aclosing(client.watch(path, version)) as changes:
        async for event in changes:
            if event["type"] in ("ADDED", "MODIFIED"):
                progress.seen(event["object"])


async def _send(
    client: Api,
    path: str,
    bodies: Sequence[Body],
    due: list[float] | None,
    in_flight: int,
    progress: _Progress,
) -> None:
    slots = asyncio.Semaphore(in_flight)

    async def create(body: Body, at: float | None) -> None:
        name = body["metadata"]["name"]
        async with slots:
            progress.started(name, at)
            try:
                await client.create(path, body)
            except (ApiError, aiohttp.ClientError, TimeoutError) as error:
                progress.refused(name, f"{type(error).__name__}: {error}")

    if due is None:
        await bounded(bodies, in_flight, lambda body: create(body, None))
        return
    sent = []
    for body, at in zip(bodies, due, strict=True):
        wait = progress.began + at - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        sent.append(asyncio.create_task(create(body, at)))
    await asyncio.gather(*sent)


async def fill(
    kubeconfig: Path, namespace: str, bodies: Sequence[Body], in_flight: int = 32
) -> Rate:
    """Store the Checkouts `bodies` in `namespace` already finished, as fast as the API server
    takes them: each created, then its status patched to Succeeded. Meant for an operator that
    is not running: one that is would start on them between the two writes."""
    path = checkouts(namespace)
    async with Api(kubeconfig, connections=in_flight) as client:

        async def store(body: Body) -> None:
            created = await client.create(path, body)
            meta = created["metadata"]
            status = finished_status(
                body["spec"]["order"],
                datetime.datetime.now(datetime.UTC),
                generation=meta.get("generation", 1),
            )
            await client.patch_status(path, meta["name"], status)

        began = time.monotonic()
        await bounded(bodies, in_flight, store)
        return Rate(len(bodies), time.monotonic() - began)
