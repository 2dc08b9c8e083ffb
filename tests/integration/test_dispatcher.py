"""The dispatcher as a process: Triggers on the real API server (the test plays the operator:
it makes each Trigger's consumer and marks it Ready), events on a real NATS JetStream, and real
HTTP subscribers in this process that record what they receive and answer as told."""

from __future__ import annotations

import asyncio
import base64
import functools
import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.v1.event import CloudEvent
from kubernetes import client
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError

from checkout_core import binding, broker, events
from checkout_core.api import TRIGGER_KIND
from checkout_core.steps import STEPS
from checkout_core.triggers import Trigger
from checkout_devenv.broker import NatsServer
from checkout_devenv.controlplane import ControlPlane
from checkout_devenv.dispatcher import DispatcherProcess
from checkout_devenv.functions import Functions
from checkout_operator.triggers import status as trigger_status
from tests.builders import order, resource
from tests.integration.local_http import Handler, LocalHttpServer
from tests.integration.objects import TRIGGER
from tests.integration.relay import Relay
from tests.metrics import sample
from tests.waiting import eventually

T = TypeVar("T")
Body = dict[str, Any]
PING = "com.example.test.ping"
PONG = "com.example.test.pong"
PING_FAILED = "com.example.test.ping.failed"
FAST = {"retry": 3, "backoffPolicy": "linear", "backoffDelay": "PT0.2S", "timeout": "PT5S"}
"""Delivery for tests: 4 attempts, 0.2 s, 0.4 s, 0.6 s apart."""
DISPATCHER_ENV = {"DISPATCHER_FETCH_WAIT": "0.5", "DISPATCHER_DRAIN_TIMEOUT": "2"}


# --- the broker, from a synchronous test ---------------------------------------------------------


class Bus:
    """A NATS connection on an event loop of its own, so that tests can stay synchronous."""

    def __init__(self, url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.connection: Client = self.run(broker.connect(url, "test"))
        self.js: JetStreamContext = self.connection.jetstream()
        self.run(broker.ensure_streams(self.js))

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def close(self) -> None:
        self.run(self.connection.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def publish(self, event: BaseCloudEvent) -> None:
        self.run(broker.publish(self.js, event))

    def publish_raw(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        self.run(self.js.publish(subject, payload, headers=headers))

    def messages(self, subject: str, stream: str = broker.STREAM) -> list[api.RawStreamMsg]:
        """Every message the stream holds on `subject`, oldest first."""

        async def read() -> list[api.RawStreamMsg]:
            found: list[api.RawStreamMsg] = []
            sequence = 1
            while True:
                try:
                    message = await self.js.get_msg(stream, sequence, subject=subject, next=True)
                except NotFoundError:
                    return found
                found.append(message)
                sequence = (message.seq or 0) + 1

        return self.run(read())

    def events(self, subject: str, stream: str = broker.STREAM) -> list[BaseCloudEvent]:
        return [binding.from_nats(m.headers, m.data or b"") for m in self.messages(subject, stream)]

    def consumer(self, name: str) -> api.ConsumerInfo:
        return cast(api.ConsumerInfo, self.run(self.js.consumer_info(broker.STREAM, name)))

    def settled(self, name: str) -> bool:
        """Every event of the consumer taken and acknowledged (or handed back for later: a
        nak'd event waiting for its backoff counts as pending an ack)."""
        info = self.consumer(name)
        return info.num_pending == 0 and info.num_ack_pending == 0


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[NatsServer]:
    with NatsServer(tmp_path) as server:
        yield server


@pytest.fixture
def bus(nats: NatsServer) -> Iterator[Bus]:
    connected = Bus(nats.url)
    yield connected
    connected.close()


waiting = functools.partial(eventually, tolerate=(NatsError, TimeoutError))
"""Waiting while the broker may be restarting: its errors count as "not yet"."""


# --- subscribers ---------------------------------------------------------------------------------

Answer = tuple[int, dict[str, str], bytes]
Responder = Callable[[BaseCloudEvent, int], Answer]
"""How a subscriber answers an event it has now received for the n-th time."""


def pong(event: BaseCloudEvent, n: int) -> Answer:
    """The reply of a well-behaved function: 200 and an event derived from the one received."""
    headers, body = binding.to_http(events.reply(event, PONG, "/tests/sink", {"seen": n}))
    return 200, headers, body


def fail_first(times: int, status: int = 503) -> Responder:
    def answer(event: BaseCloudEvent, n: int) -> Answer:
        if n <= times:
            return status, {"Content-Type": "application/json"}, b'{"error":"not yet"}'
        return pong(event, n)

    return answer


def always(status: int, body: bytes = b"") -> Responder:
    return lambda event, n: (status, {"Content-Type": "application/json"}, body)


class Sink(LocalHttpServer):
    """An HTTP subscriber in this process: records every CloudEvent it receives (with the
    time), answers as `respond` says, optionally after `delay` seconds."""

    def __init__(self, respond: Responder = pong, delay: float = 0.0) -> None:
        self.respond = respond
        self.delay = delay
        self.received: list[tuple[BaseCloudEvent, dict[str, str], float]] = []
        self._lock = threading.Lock()
        sink = self

        class Receive(Handler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle's algorithm the second waits
            # for the client's delayed ACK, 40 ms per event.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.body()
                headers = dict(self.headers)
                event = binding.from_http(headers, body)
                with sink._lock:
                    sink.received.append((event, headers, time.monotonic()))
                    n = sum(1 for e, _, _ in sink.received if e.get_id() == event.get_id())
                time.sleep(sink.delay)
                self.answer(*sink.respond(event, n))

        super().__init__(Receive)

    def ids(self) -> list[str]:
        """The id of every event received, in order, repeats included."""
        with self._lock:
            return [event.get_id() for event, _, _ in self.received]

    def times(self, event_id: str) -> list[float]:
        with self._lock:
            return [at for event, _, at in self.received if event.get_id() == event_id]


# --- playing the operator ------------------------------------------------------------------------


def trigger_body(
    name: str,
    subscriber: str,
    attributes: dict[str, str] | None = None,
    delivery: Body | None = None,
) -> Body:
    return resource(
        TRIGGER_KIND,
        name,
        broker="default",
        filter={"attributes": attributes or {"type": PING}},
        subscriber={"uri": subscriber},
        delivery={**FAST, **(delivery or {})},
    )


class Operator:
    """What the operator does for a Trigger, done by the test: the object, its consumer, its
    Ready status."""

    def __init__(self, api: client.ApiClient, bus: Bus, namespace: str) -> None:
        self.api = api
        self.bus = bus
        self.namespace = namespace

    def create(self, body: Body, ack_wait: float = 10.0, ready: bool = True) -> Trigger:
        created = TRIGGER.create(self.api, self.namespace, body)
        trigger = Trigger.from_body(created)
        config = broker.consumer_config(trigger.consumer, trigger.filter_subject, ack_wait)
        self.bus.run(broker.ensure_consumer(self.bus.js, config))
        if ready:
            self.mark_ready(trigger.name)
        return trigger

    def get(self, name: str) -> Body:
        return TRIGGER.get(self.api, self.namespace, name)

    def mark_ready(self, name: str) -> None:
        # The status the operator writes once the Trigger's consumer exists.
        status = trigger_status(self.get(name), consumer_error=None, now=datetime.now(UTC))
        TRIGGER.patch_status(self.api, self.namespace, name, {"status": status})

    def change(self, name: str, spec: Body) -> None:
        """A new generation of the spec, then (as the operator would) its status."""
        TRIGGER.patch(self.api, self.namespace, name, {"spec": spec})
        self.mark_ready(name)

    def delete(self, name: str) -> None:
        TRIGGER.delete(self.api, self.namespace, name)


@pytest.fixture
def operator(api: client.ApiClient, bus: Bus, namespace: str) -> Operator:
    return Operator(api, bus, namespace)


StartDispatcher = Callable[..., DispatcherProcess]


@pytest.fixture
def start_dispatcher(
    control_plane: ControlPlane, nats: NatsServer, namespace: str, tmp_path: Path
) -> Iterator[StartDispatcher]:
    """Start a dispatcher replica serving this test's namespace; `env` adds settings."""
    started: list[DispatcherProcess] = []

    def start(**env: str) -> DispatcherProcess:
        process = DispatcherProcess(
            tmp_path,
            control_plane.kubeconfig,
            nats.url,
            env={**DISPATCHER_ENV, **env},
            namespaces=[namespace],
            name=f"dispatcher-{len(started)}",
        )
        started.append(process)
        process.start()
        return process

    yield start
    for process in started:
        process.stop()


def served(
    operator: Operator,
    start_dispatcher: StartDispatcher,
    subscriber: str,
    delivery: Body | None = None,
) -> tuple[Trigger, DispatcherProcess]:
    """A Ready Trigger "ping" for `subscriber`, and a dispatcher serving it."""
    return operator.create(trigger_body("ping", subscriber, delivery=delivery)), start_dispatcher()


def one_ping(
    operator: Operator,
    bus: Bus,
    start_dispatcher: StartDispatcher,
    subscriber: str,
    delivery: Body | None = None,
) -> tuple[Trigger, DispatcherProcess, CloudEvent]:
    """A Ready Trigger "ping" for `subscriber`, a dispatcher serving it, one ping published."""
    trigger, dispatcher = served(operator, start_dispatcher, subscriber, delivery)
    (event,) = pings(operator.namespace, 1)
    bus.publish(event)
    return trigger, dispatcher, event


def the_dead_letter(bus: Bus, trigger: Trigger, dispatcher: DispatcherProcess) -> api.RawStreamMsg:
    """The one dead letter of `trigger`, once it is there and the event acknowledged."""
    dead = broker.dead_letter_subject(trigger.namespace, trigger.name)
    waiting(
        lambda: len(bus.messages(dead, broker.DEAD_LETTER_STREAM)) == 1,
        "the dead letter",
        logs=logs(dispatcher),
    )
    waiting(lambda: bus.settled(trigger.consumer), "acknowledged")
    (message,) = bus.messages(dead, broker.DEAD_LETTER_STREAM)
    return message


def logs(*processes: DispatcherProcess) -> str:
    return "\n".join(f"--- {p.name}\n{p.log_tail(60)}" for p in processes)


def pings(namespace: str, count: int, **extensions: str) -> list[CloudEvent]:
    batch = uuid.uuid4().hex[:8]
    return [
        CloudEvent(
            attributes={
                "id": f"{batch}-{n}",
                "type": PING,
                "source": "/tests",
                "subject": f"order-{batch}-{n}",
                "datacontenttype": events.JSON,
                events.CHECKOUT: f"{namespace}/checkout-{n}",
                events.TRACEPARENT: f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
                **extensions,
            },
            data={"n": n},
        )
        for n in range(count)
    ]


# --- delivery ------------------------------------------------------------------------------------


def test_delivers_in_binary_mode_and_publishes_the_replies(
    operator: Operator, bus: Bus, namespace: str, start_dispatcher: StartDispatcher
) -> None:
    with Sink() as sink:
        trigger, dispatcher = served(operator, start_dispatcher, sink.url)
        sent = pings(namespace, 5)
        for event in sent:
            bus.publish(event)
        subject = broker.subject(PONG)
        waiting(lambda: len(bus.messages(subject)) == 5, "5 replies", logs=logs(dispatcher))
        waiting(lambda: bus.settled(trigger.consumer), "all acknowledged")

        assert sorted(sink.ids()) == sorted(e.get_id() for e in sent)
        for received, headers, _ in sink.received:
            lowered = {k.lower(): v for k, v in headers.items()}
            assert lowered["content-type"] == events.JSON  # binary mode: data in the body
            assert lowered["ce-type"] == PING
            assert lowered["ce-traceparent"].startswith("00-")
            assert received.get_extension(events.CHECKOUT).startswith(f"{namespace}/")
        replies = {m.headers["ce-id"]: m.headers for m in bus.messages(subject) if m.headers}
        assert set(replies) == {f"{e.get_id()}/{PONG}" for e in sent}
        for reply in replies.values():
            assert reply["ce-deliveryattempt"] == "1"
            assert reply[broker.MSG_ID] == reply["ce-id"]  # stored once however often sent
        by_id = {e.get_id(): e for e in sent}
        for answer in bus.events(subject):
            original = by_id[answer.get_id().removesuffix(f"/{PONG}")]
            assert answer.get_subject() == original.get_subject()
            assert answer.get_extension("traceparent") == original.get_extension("traceparent")
            assert answer.get_data() == {"seen": 1}

        text = dispatcher.metrics()
        assert (
            sample(
                text, "checkout_dispatcher_events_total", trigger=trigger.key, outcome="delivered"
            )
            == 5
        )
        assert sample(text, "checkout_dispatcher_replies_total", trigger=trigger.key) == 5
        assert sample(text, "checkout_dispatcher_workers") == 1
        assert dispatcher.ready()


def test_a_2xx_without_an_event_is_delivered_with_nothing_to_publish(
    operator: Operator, bus: Bus, namespace: str, start_dispatcher: StartDispatcher
) -> None:
    with Sink(always(202)) as sink:
        trigger, dispatcher = served(operator, start_dispatcher, sink.url)
        for event in pings(namespace, 3):
            bus.publish(event)
        waiting(lambda: len(sink.ids()) == 3, "3 deliveries", logs=logs(dispatcher))
        waiting(lambda: bus.settled(trigger.consumer), "all acknowledged")
        assert bus.messages(broker.subject(PONG)) == []
        assert len(sink.ids()) == 3


def test_filters_on_an_extension_attribute(
    operator: Operator, bus: Bus, namespace: str, start_dispatcher: StartDispatcher
) -> None:
    with Sink() as sink:
        trigger = operator.create(
            trigger_body("members", sink.url, {"type": PING, "rewardsmember": "true"})
        )
        dispatcher = start_dispatcher()
        members = pings(namespace, 3, rewardsmember="true")
        guests = pings(namespace, 3, rewardsmember="false")
        unmarked = pings(namespace, 2)
        for event in [*guests, *members, *unmarked]:
            bus.publish(event)
        waiting(lambda: bus.settled(trigger.consumer), "all 8 taken", logs=logs(dispatcher))
        # Settled means every event was handled: the 5 that do not match were acknowledged
        # without delivery.
        assert sorted(sink.ids()) == sorted(e.get_id() for e in members)
        waiting(lambda: len(bus.messages(broker.subject(PONG))) == 3, "3 replies")
        assert (
            sample(
                dispatcher.metrics(),
                "checkout_dispatcher_events_total",
                trigger=trigger.key,
                outcome="filtered",
            )
            == 5
        )


# --- retries and dead letters ----------------------------------------------------------------


def test_retries_with_backoff_until_the_subscriber_recovers(
    operator: Operator, bus: Bus, namespace: str, start_dispatcher: StartDispatcher
) -> None:
    with Sink(fail_first(2)) as sink:
        trigger, dispatcher, event = one_ping(operator, bus, start_dispatcher, sink.url)
        subject = broker.subject(PONG)
        waiting(lambda: len(bus.messages(subject)) == 1, "the reply", logs=logs(dispatcher))
        waiting(lambda: bus.settled(trigger.consumer), "acknowledged")

        times = sink.times(event.get_id())
        assert len(times) == 3
        # Linear backoff of 0.2 s, half of it jittered: at least 0.1 s before the 2nd attempt,
        # 0.2 s before the 3rd.
        assert times[1] - times[0] >= 0.1 * 0.9
        assert times[2] - times[1] >= 0.2 * 0.9
        (reply,) = bus.messages(subject)
        assert reply.headers is not None
        assert reply.headers["ce-deliveryattempt"] == "3"
        assert bus.messages(broker.subject(PING_FAILED)) == []
        assert bus.messages(f"{broker.DEAD_LETTER_PREFIX}.>", broker.DEAD_LETTER_STREAM) == []
        text = dispatcher.metrics()
        assert (
            sample(text, "checkout_dispatcher_events_total", trigger=trigger.key, outcome="retried")
            == 2
        )


async def _hand_back(js: JetStreamContext, consumer: str, times: int) -> None:
    """Take the consumer's next event and hand it back unattempted, `times` times over: what a
    stopping worker, a draining replica or a restart does."""
    subscription = await js.pull_subscribe_bind(consumer=consumer, stream=broker.STREAM)
    try:
        for _ in range(times):
            (message,) = await subscription.fetch(1, timeout=5)
            await message.nak()
    finally:
        await subscription.unsubscribe()


def test_events_handed_back_unattempted_spend_none_of_the_budget(
    operator: Operator, bus: Bus, namespace: str, start_dispatcher: StartDispatcher
) -> None:
    with Sink(fail_first(2)) as sink:
        # 3 attempts in all; the broker will have counted 4 deliveries before the first.
        trigger = operator.create(trigger_body("ping", sink.url, delivery={"retry": 2}))
        (event,) = pings(namespace, 1)
        bus.publish(event)
        bus.run(_hand_back(bus.js, trigger.consumer, times=4))
        dispatcher = start_dispatcher()
        subject = broker.subject(PONG)
        waiting(lambda: len(bus.messages(subject)) == 1, "the reply", logs=logs(dispatcher))
        waiting(lambda: bus.settled(trigger.consumer), "acknowledged")

        assert sink.ids() == [event.get_id()] * 3
        (reply,) = bus.messages(subject)
        assert reply.headers is not None
        assert reply.headers["ce-deliveryattempt"] == "3"
        assert bus.messages(f"{broker.DEAD_LETTER_PREFIX}.>", broker.DEAD_LETTER_STREAM) == []


def test_exhausted_retries_go_to_the_dead_letter_stream_with_the_failed_event(
    operator: Operator, bus: Bus, namespace: str, start_dispatcher: StartDispatcher
) -> None:
    with Sink(always(503, b'{"error":"database down"}')) as sink:
        trigger, dispatcher, event = one_ping(
            operator, bus, start_dispatcher, sink.url, {"retry": 2, "failedEventType": PING_FAILED}
        )
        message = the_dead_letter(bus, trigger, dispatcher)
        assert sink.ids() == [event.get_id()] * 3
        assert message.headers is not None
        assert message.headers[broker.MSG_ID] == f"{trigger.key}/{event.get_id()}"
        letter = binding.from_nats(message.headers, message.data or b"")
        assert letter.get_id() == event.get_id()
        assert letter.get_type() == PING
        assert letter.get_data() == {"n": 0}
        assert letter.get_extension("knativeerrordest") == sink.url
        assert letter.get_extension("knativeerrorcode") == "503"
        data = base64.b64decode(letter.get_extension("knativeerrordata"))
        assert data == b'{"error":"database down"}'

        (failed,) = bus.events(broker.subject(PING_FAILED))
        assert failed.get_id() == f"{event.get_id()}/{PING_FAILED}"
        assert failed.get_source() == "/checkout-dispatcher"
        assert failed.get_subject() == event.get_subject()
        assert failed.get_extension(events.CHECKOUT) == event.get_extension(events.CHECKOUT)
        assert failed.get_extension("traceparent") == event.get_extension("traceparent")
        assert failed.get_extension("deliveryattempt") == "3"
        assert failed.get_data() == {
            "reason": "DeliveryFailed",
            "message": f"delivery to {sink.url} failed after 3 attempts: HTTP 503: database down",
        }
        assert bus.messages(broker.subject(PONG)) == []


def test_a_refusal_is_dead_lettered_without_retries(
    operator: Operator, bus: Bus, namespace: str, start_dispatcher: StartDispatcher
) -> None:
    with Sink(always(400, b'{"error":"not an order"}')) as sink:
        trigger, dispatcher, event = one_ping(
            operator, bus, start_dispatcher, sink.url, {"retry": 5, "failedEventType": PING_FAILED}
        )
        waiting(
            lambda: len(bus.messages(broker.subject(PING_FAILED))) == 1,
            "the failed event",
            logs=logs(dispatcher),
        )
        waiting(lambda: bus.settled(trigger.consumer), "acknowledged")
        assert sink.ids() == [event.get_id()]
        (letter,) = bus.events(
            broker.dead_letter_subject(namespace, "ping"), broker.DEAD_LETTER_STREAM
        )
        assert letter.get_extension("knativeerrorcode") == "400"
        (failed,) = bus.events(broker.subject(PING_FAILED))
        assert cast(Body, failed.get_data())["message"].startswith(
            f"delivery to {sink.url} was refused"
        )


def test_dead_letters_go_to_the_sink_when_the_trigger_has_one(
    operator: Operator, bus: Bus, namespace: str, start_dispatcher: StartDispatcher
) -> None:
    # The sink fails once itself: the event is not acknowledged until its dead letter is taken.
    with Sink(always(500)) as subscriber, Sink(fail_first(1, 503)) as dead_letters:
        trigger = operator.create(
            trigger_body(
                "ping",
                subscriber.url,
                delivery={
                    "retry": 1,
                    "deadLetterSink": {"uri": dead_letters.url},
                    "failedEventType": PING_FAILED,
                },
            )
        )
        dispatcher = start_dispatcher()
        (event,) = pings(namespace, 1)
        bus.publish(event)
        waiting(lambda: len(dead_letters.ids()) == 2, "dead letter taken", logs=logs(dispatcher))
        waiting(lambda: bus.settled(trigger.consumer), "acknowledged")

        letter, headers, _ = dead_letters.received[-1]
        assert letter.get_id() == event.get_id()
        assert letter.get_extension("knativeerrordest") == subscriber.url
        assert letter.get_extension("knativeerrorcode") == "500"
        assert base64.b64decode(letter.get_extension("knativeerrordata")) == b"HTTP 500"
        assert {k.lower() for k in headers} >= {"ce-knativeerrordest", "ce-knativeerrorcode"}
        assert letter.get_data() == {"n": 0}
        # Not also in the broker's dead-letter stream; the failed event is published once.
        assert bus.messages(f"{broker.DEAD_LETTER_PREFIX}.>", broker.DEAD_LETTER_STREAM) == []
        waiting(lambda: len(bus.messages(broker.subject(PING_FAILED))) == 1, "failed event")
        # Two attempts (retry 1) before the first dead letter; the sink's 503 brought the
        # event back once more.
        assert subscriber.ids().count(event.get_id()) >= 2


def test_a_message_that_is_not_a_cloudevent_is_dead_lettered_at_once(
    operator: Operator, bus: Bus, namespace: str, start_dispatcher: StartDispatcher
) -> None:
    with Sink() as sink:
        trigger, dispatcher = served(operator, start_dispatcher, sink.url)
        bus.publish_raw(broker.subject(PING), b"\x00garbage", {"ce-type": PING})
        message = the_dead_letter(bus, trigger, dispatcher)
        assert message.data == b"\x00garbage"
        assert message.headers is not None
        assert message.headers["Dispatch-Error"].startswith("not a CloudEvent")
        assert message.headers["ce-type"] == PING  # kept as it came
        assert sink.ids() == []


# --- Triggers come and go ------------------------------------------------------------------------


def test_serves_a_trigger_only_while_it_is_ready_and_follows_its_changes(
    operator: Operator, bus: Bus, namespace: str, start_dispatcher: StartDispatcher
) -> None:
    with Sink() as first, Sink() as second:
        trigger = operator.create(trigger_body("ping", first.url), ready=False)
        dispatcher = start_dispatcher()
        (early,) = pings(namespace, 1)
        bus.publish(early)
        waiting(
            lambda: "not Ready" in dispatcher.log_tail(),
            "the dispatcher saw the Trigger and left it alone",
            logs=logs(dispatcher),
        )
        assert first.ids() == []
        assert bus.consumer(trigger.consumer).num_pending == 1

        operator.mark_ready("ping")
        waiting(lambda: first.ids() == [early.get_id()], "delivered once Ready")

        # A new generation: the subscriber changes, and the worker with it.
        operator.change("ping", {"subscriber": {"uri": second.url}})
        waiting(
            lambda: 'generation": 2' in dispatcher.log_tail(),
            "restarted for generation 2",
            logs=logs(dispatcher),
        )
        later = pings(namespace, 3)
        for event in later:
            bus.publish(event)
        waiting(lambda: len(second.ids()) == 3, "delivered to the new subscriber")
        assert first.ids() == [early.get_id()]

        # Deleted: the worker stops; events wait in the consumer (the operator deletes it).
        operator.delete("ping")
        waiting(
            lambda: (
                dispatcher.log_tail(200).count('"worker stopped"')
                == dispatcher.log_tail(200).count('"worker started"')
            ),
            "worker stopped",
            logs=logs(dispatcher),
        )
        assert sample(dispatcher.metrics(), "checkout_dispatcher_workers") == 0
        (orphan,) = pings(namespace, 1)
        bus.publish(orphan)
        # Stored in the consumer, held by no one.
        waiting(lambda: bus.consumer(trigger.consumer).num_pending == 1, "event stored")
        assert bus.consumer(trigger.consumer).num_ack_pending == 0
        assert orphan.get_id() not in first.ids() + second.ids()


def test_sees_new_triggers_after_its_watch_is_renewed(
    operator: Operator, bus: Bus, namespace: str, start_dispatcher: StartDispatcher
) -> None:
    with Sink() as sink:
        dispatcher = start_dispatcher(DISPATCHER_WATCH_TIMEOUT="1", DISPATCHER_LOG_LEVEL="DEBUG")
        waiting(
            lambda: dispatcher.log_tail(400).count("watch renewed") >= 2,
            "the watch expired and was renewed twice",
            logs=logs(dispatcher),
        )
        operator.create(trigger_body("ping", sink.url))
        (event,) = pings(namespace, 1)
        bus.publish(event)
        waiting(lambda: sink.ids() == [event.get_id()], "delivered", logs=logs(dispatcher))


def test_two_replicas_share_one_consumer(
    operator: Operator, bus: Bus, namespace: str, start_dispatcher: StartDispatcher
) -> None:
    with Sink(delay=0.05) as sink:
        trigger = operator.create(trigger_body("ping", sink.url))
        replicas = [start_dispatcher(DISPATCHER_CONCURRENCY="2") for _ in range(2)]
        for replica in replicas:
            waiting(
                lambda r=replica: sample(r.metrics(), "checkout_dispatcher_workers") == 1,  # type: ignore[misc]
                f"{replica.name} serves the Trigger",
            )
        sent = pings(namespace, 40)
        for event in sent:
            bus.publish(event)
        subject = broker.subject(PONG)
        waiting(lambda: len(bus.messages(subject)) == 40, "40 replies", logs=logs(*replicas))
        waiting(lambda: bus.settled(trigger.consumer), "all acknowledged")

        assert sorted(sink.ids()) == sorted(e.get_id() for e in sent)  # each exactly once
        shares = [
            sample(
                r.metrics(),
                "checkout_dispatcher_events_total",
                trigger=trigger.key,
                outcome="delivered",
            )
            for r in replicas
        ]
        assert sum(shares) == 40
        assert all(share > 0 for share in shares), shares


# --- nothing lost: a dispatcher killed, the broker restarted, the real functions -------------


def burst(
    operator: Operator, bus: Bus, namespace: str, sink: Sink, count: int = 30
) -> tuple[Trigger, list[CloudEvent]]:
    """A Trigger whose unacknowledged events come back after 2 s, and `count` events for it."""
    trigger = operator.create(trigger_body("ping", sink.url), ack_wait=2.0)
    sent = pings(namespace, count)
    for event in sent:
        bus.publish(event)
    return trigger, sent


def assert_each_delivered_and_replied_once(
    bus: Bus, trigger: Trigger, sink: Sink, sent: list[CloudEvent], *processes: DispatcherProcess
) -> None:
    subject = broker.subject(PONG)
    waiting(
        lambda: len(bus.messages(subject)) >= len(sent),
        f"{len(sent)} replies",
        timeout=90,
        logs=logs(*processes),
    )
    waiting(lambda: bus.settled(trigger.consumer), "all acknowledged", logs=logs(*processes))
    seen = Counter(sink.ids())
    assert set(seen) == {e.get_id() for e in sent}  # every event delivered at least once
    replies = [m.headers["ce-id"] for m in bus.messages(subject) if m.headers]
    # Redeliveries reached the subscriber again, but a reply is stored once per event.
    assert sorted(replies) == sorted(f"{e.get_id()}/{PONG}" for e in sent)


@pytest.mark.parametrize("struck", ["dispatcher", "broker"])
def test_a_dispatcher_or_broker_killed_mid_burst_loses_nothing_and_duplicates_no_reply(
    operator: Operator,
    bus: Bus,
    nats: NatsServer,
    namespace: str,
    start_dispatcher: StartDispatcher,
    struck: str,
) -> None:
    with Sink(delay=0.2) as sink:
        dispatcher = start_dispatcher(DISPATCHER_CONCURRENCY="4")
        trigger, sent = burst(operator, bus, namespace, sink)
        waiting(lambda: len(sink.ids()) >= 8, "a third delivered", logs=logs(dispatcher))
        killed = dispatcher if struck == "dispatcher" else nats
        killed.kill()
        assert len(set(sink.ids())) < len(sent), f"the {struck} was killed after the burst"
        killed.start()  # the broker: same port, same store
        assert_each_delivered_and_replied_once(bus, trigger, sink, sent, dispatcher)
        assert dispatcher.running()


def test_a_broker_back_with_an_empty_store_is_served_once_the_consumer_is_made_again(
    operator: Operator,
    bus: Bus,
    nats: NatsServer,
    namespace: str,
    start_dispatcher: StartDispatcher,
) -> None:
    with Sink() as sink:
        trigger, dispatcher = served(operator, start_dispatcher, sink.url)
        first, second = pings(namespace, 2)
        bus.publish(first)
        waiting(lambda: sink.ids() == [first.get_id()], "delivered", logs=logs(dispatcher))
        nats.kill()
        shutil.rmtree(nats.store)  # streams, consumers and events: all gone
        nats.start()
        config = broker.consumer_config(trigger.consumer, trigger.filter_subject, 10.0)

        def made_again() -> bool:  # as the operator's repairs do
            bus.run(broker.ensure_streams(bus.js))
            bus.run(broker.ensure_consumer(bus.js, config))
            return True

        waiting(made_again, "streams and consumer made again")
        bus.publish(second)
        waiting(
            lambda: sink.ids() == [first.get_id(), second.get_id()],
            "delivered after the loss",
            timeout=30,
            logs=logs(dispatcher),
        )
        assert dispatcher.running()


def test_real_functions_send_one_email_per_order_across_a_dispatcher_kill(
    operator: Operator,
    bus: Bus,
    namespace: str,
    functions: Functions,
    start_dispatcher: StartDispatcher,
) -> None:
    # The confirmation function behind a relay that takes its time, so that the kill falls in
    # the middle of the emails even on a busy machine.
    with Relay(functions.urls["confirmation"], delay=0.3) as slow_confirmation:
        urls = {**functions.urls, "confirmation": slow_confirmation.url}
        for step in STEPS:
            operator.create(
                trigger_body(
                    step.name,
                    urls[step.function],
                    step.trigger_filter(),
                    {"failedEventType": step.fails},
                ),
                ack_wait=2.0,
            )
        dispatcher = start_dispatcher(DISPATCHER_CONCURRENCY="2")
        orders = {uuid.uuid4().hex[:12]: n % 2 == 0 for n in range(12)}
        for order_id, member in orders.items():
            bus.publish(
                events.order_placed(
                    order(order_id, member=member, prices=("12.50",)),
                    f"{namespace}/checkout-{order_id}",
                    event_id=f"{order_id}/placed",
                    rewards_member=member,
                )
            )

        def emails() -> Counter[str]:
            subjects = [str(m["Subject"]) for m in functions.smtp.messages()]
            return Counter(o for o in orders for s in subjects if o in s)

        waiting(lambda: sum(emails().values()) >= 2, "the first emails", logs=logs(dispatcher))
        dispatcher.kill()
        assert sum(emails().values()) < len(orders), "the kill came after the last email"
        dispatcher.start()

        expected = {
            events.EMAIL_SENT: set(orders),
            events.SHIPMENT_CREATED: set(orders),
            events.POINTS_CREDITED: {o for o, member in orders.items() if member},
        }

        def replied(event_type: str) -> set[str]:
            return {str(e.get_subject()) for e in bus.events(broker.subject(event_type))}

        for event_type, order_ids in expected.items():
            waiting(
                lambda t=event_type, ids=order_ids: replied(t) >= ids,  # type: ignore[misc]
                f"{event_type} for every order",
                timeout=90,
                logs=logs(dispatcher),
            )
        for step in STEPS:
            waiting(
                lambda s=step: bus.settled(broker.consumer_name(namespace, s.name)),  # type: ignore[misc]
                f"{step.name} acknowledged",
            )
    assert emails() == Counter(set(orders))  # one email per order, none twice
    for event_type, order_ids in expected.items():
        replies = [str(e.get_subject()) for e in bus.events(broker.subject(event_type))]
        assert sorted(replies) == sorted(order_ids)  # one reply per order, stored once
    for step in STEPS:
        assert bus.messages(broker.subject(step.fails)) == []
