"""The operator's own calls to the Kubernetes API, beyond what Kopf does for it: Checkout status
and deletion, Kubernetes Events, Triggers. The client is blocking, so every call runs in a worker
thread."""

from __future__ import annotations

import asyncio
import datetime
import logging
import socket
import time
from collections.abc import Mapping
from typing import Any, ClassVar, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from checkout_core.api import CHECKOUTS, GROUP, TRIGGERS, VERSION
from checkout_operator import status as model

FIELD_MANAGER = "checkout-operator"
PAGE = 500
"""Objects per page of a listing: memory stays bounded however many are stored."""
log = logging.getLogger(__name__)
Body = dict[str, Any]


def api_client() -> client.ApiClient:
    """In a pod: its ServiceAccount; elsewhere: the kubeconfig (KUBECONFIG or ~/.kube/config)."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        config.load_kube_config(client_configuration=configuration)
    return client.ApiClient(configuration)


class Checkouts:
    """Reading Checkouts, writing their status (through the status subresource), deleting the
    finished ones whose time is up."""

    def __init__(self, api: client.ApiClient) -> None:
        self._objects = client.CustomObjectsApi(api)

    async def get(self, namespace: str, name: str) -> Body | None:
        """The Checkout, or None when it does not exist (any more)."""
        try:
            body = await asyncio.to_thread(
                self._objects.get_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                CHECKOUTS,
                name,
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return cast(Body, body)

    async def write_status(self, namespace: str, name: str, status: model.Status) -> None:
        await asyncio.to_thread(
            self._objects.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            CHECKOUTS,
            name,
            {"status": model.to_json(status)},
        )

    async def delete(self, namespace: str, name: str, uid: str) -> bool:
        """Delete the Checkout if it is still the object `uid`: True when deleted; False when it
        is gone already (404) or its name belongs to a newer object now (409: the uid
        precondition failed), which is left alone."""
        options = client.V1DeleteOptions(
            preconditions=client.V1Preconditions(uid=uid), propagation_policy="Background"
        )
        try:
            await asyncio.to_thread(
                self._objects.delete_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                CHECKOUTS,
                name,
                body=options,
            )
        except ApiException as error:
            if error.status in (404, 409):
                return False
            raise
        return True

    async def page(
        self, namespace: str | None, field_selector: str, token: str = "", limit: int = PAGE
    ) -> tuple[list[Body], str]:
        """One page of the Checkouts of `namespace` (None: of every namespace) that match
        `field_selector`, and the token of the next page ("" after the last)."""
        options: dict[str, Any] = {"field_selector": field_selector, "limit": limit}
        if token:
            options["_continue"] = token
        if namespace is None:
            found = await asyncio.to_thread(
                self._objects.list_cluster_custom_object, GROUP, VERSION, CHECKOUTS, **options
            )
        else:
            found = await asyncio.to_thread(
                self._objects.list_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                CHECKOUTS,
                **options,
            )
        listed = cast(Body, found)
        return list(listed["items"]), listed["metadata"].get("continue") or ""

    async def selectable(self, namespace: str | None, field_selector: str) -> bool:
        """Whether the API server can select Checkouts by `field_selector`: a CRD installed
        before the field was made selectable cannot (400)."""
        try:
            await self.page(namespace, field_selector, limit=1)
        except ApiException as error:
            if error.status == 400:
                return False
            raise
        return True


class Events:
    """Kubernetes Events (events.k8s.io/v1) on our objects, posted in the background: reporting a
    step change never delays the step, and a failed post is logged, not raised."""

    CONTROLLER = "shop.example.com/checkout-operator"
    """The Events' reportingController (the API server wants a qualified name)."""
    ACTIONS: ClassVar[Mapping[str, str]] = {
        "Succeeded": "Finish",
        "Failed": "Finish",
        "StepFailed": "RunStep",
        "StepRetrying": "RetryStep",
        "InvalidOrder": "Refuse",
        "Republished": "Republish",
    }
    """What the operator did, by the Event's reason (the API requires an action); any other
    reason is its own action."""
    NOTE_BYTES = 1024
    """The API server's limit on a note, counted in UTF-8 bytes (core/v1 had none)."""
    NAME_PREFIX = 253 - 17
    """How much of the object's name an Event's name keeps: room for `.` and 16 hex digits."""

    def __init__(self, api: client.ApiClient) -> None:
        # Not CoreV1Api: building it costs the operator's start-up 0.35-0.5 s, this 0.03 s.
        self._events = client.EventsV1Api(api)
        self._pending: set[asyncio.Task[None]] = set()
        self._instance = socket.gethostname()

    def post(self, body: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
        meta = body["metadata"]
        event = client.EventsV1Event(
            metadata=client.V1ObjectMeta(
                name=self._name(meta["name"]), namespace=meta["namespace"]
            ),
            regarding=client.V1ObjectReference(
                api_version=body.get("apiVersion"),
                kind=body.get("kind"),
                name=meta["name"],
                namespace=meta["namespace"],
                uid=meta.get("uid"),
            ),
            note=self._note(message),
            reason=reason,
            type=kind,
            action=self.ACTIONS.get(reason, reason),
            reporting_controller=self.CONTROLLER,
            reporting_instance=self._instance,
            event_time=self._micro_time(datetime.datetime.now(datetime.UTC)),
        )
        task = asyncio.create_task(self._send(meta["namespace"], event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send(self, namespace: str, event: client.EventsV1Event) -> None:
        try:
            await asyncio.to_thread(self._events.create_namespaced_event, namespace, event)
        except ApiException as error:
            log.warning("could not post event %s: %s", event.reason, error.reason)

    async def drain(self) -> None:
        """Wait for the posts in flight (at shutdown)."""
        await asyncio.gather(*self._pending, return_exceptions=True)

    @classmethod
    def _name(cls, regarding: str) -> str:
        """`<name>.<now in ns, hex>`, as client-go names Events. `kubectl describe` sorts Events
        by lastTimestamp, which events.k8s.io leaves empty, so it lists them in the API's order,
        by name: with these names, the order they happened in. (Generated names would be in no
        order, and events.k8s.io refuses the `<name>.` prefix that core/v1 took.)"""
        return f"{regarding[: cls.NAME_PREFIX].rstrip('.-')}.{time.time_ns():x}"

    @classmethod
    def _note(cls, message: str) -> str:
        """`message`, cut to the API's limit on a whole character; never raises, not even on a
        lone surrogate (which a JSON reply can hold)."""
        return message.encode(errors="replace")[: cls.NOTE_BYTES].decode(errors="ignore")

    @staticmethod
    def _micro_time(now: datetime.datetime) -> datetime.datetime:
        """`now` as the client can send it as a MicroTime: it writes `isoformat()`, which leaves
        out the fraction when the microseconds are 0, and the API server refuses that."""
        return now if now.microsecond else now.replace(microsecond=1)


class Triggers:
    """The Triggers of a namespace, and the CRD that owns the ones we make."""

    def __init__(self, api: client.ApiClient) -> None:
        self._objects = client.CustomObjectsApi(api)
        self._extensions = client.ApiextensionsV1Api(api)

    async def list(self, namespace: str, selector: str) -> list[Body]:
        found = await asyncio.to_thread(
            self._objects.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            TRIGGERS,
            label_selector=selector,
        )
        return list(cast(Body, found)["items"])

    async def apply(self, body: Body) -> None:
        """Create, or bring the spec and labels up to date (server-side apply: only the fields
        we set are ours, anything a user added stays)."""
        meta = body["metadata"]
        await asyncio.to_thread(
            self._objects.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            meta["namespace"],
            TRIGGERS,
            meta["name"],
            body,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type="application/apply-patch+yaml",
        )

    async def write_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        await asyncio.to_thread(
            self._objects.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            TRIGGERS,
            name,
            {"status": status},
        )

    async def owner(self, crd: str) -> dict[str, Any]:
        """An ownerReference to a CRD: the Triggers we make exist for that API, and go with it."""
        found = await asyncio.to_thread(self._extensions.read_custom_resource_definition, crd)
        meta = found.metadata
        assert meta is not None
        return {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "name": crd,
            "uid": meta.uid or "",
        }
