"""The operator's own calls to the Kubernetes API, beyond what Kopf does for it: Checkout status
and deletion, Kubernetes Events, Triggers. The client is blocking, so every call runs in a worker
thread."""

from __future__ import annotations

import asyncio
import datetime
import logging
import socket
from collections.abc import Mapping
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from checkout_core.api import CHECKOUTS, GROUP, TRIGGERS, VERSION
from checkout_operator import status as model

COMPONENT = "checkout-operator"
FIELD_MANAGER = "checkout-operator"
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


class Events:
    """Kubernetes Events on our objects, posted in the background: reporting a step change never
    delays the step, and a failed post is logged, not raised."""

    def __init__(self, api: client.ApiClient) -> None:
        self._core = client.CoreV1Api(api)
        self._pending: set[asyncio.Task[None]] = set()
        self._instance = socket.gethostname()

    def post(self, body: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
        meta = body["metadata"]
        now = datetime.datetime.now(datetime.UTC)
        event = client.CoreV1Event(
            metadata=client.V1ObjectMeta(
                generate_name=f"{meta['name']}.", namespace=meta["namespace"]
            ),
            involved_object=client.V1ObjectReference(
                api_version=body.get("apiVersion"),
                kind=body.get("kind"),
                name=meta["name"],
                namespace=meta["namespace"],
                uid=meta.get("uid"),
            ),
            reason=reason,
            message=message[:1024],
            type=kind,
            source=client.V1EventSource(component=COMPONENT),
            reporting_component=COMPONENT,
            reporting_instance=self._instance,
            first_timestamp=now,
            last_timestamp=now,
            count=1,
        )
        task = asyncio.create_task(self._send(meta["namespace"], event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send(self, namespace: str, event: client.CoreV1Event) -> None:
        try:
            await asyncio.to_thread(self._core.create_namespaced_event, namespace, event)
        except ApiException as error:
            log.warning("could not post event %s: %s", event.reason, error.reason)

    async def drain(self) -> None:
        """Wait for the posts in flight (at shutdown)."""
        await asyncio.gather(*self._pending, return_exceptions=True)


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
