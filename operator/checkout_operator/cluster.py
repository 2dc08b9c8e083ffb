"""The operator's own calls to the Kubernetes API, beyond what Kopf does for it: writing a
Checkout's status. The client is blocking, so calls run in a worker thread."""

from __future__ import annotations

import asyncio

from kubernetes import client, config

from checkout_operator import status as model
from checkout_operator.checkouts import GROUP, PLURAL, VERSION, Checkout


def api_client() -> client.ApiClient:
    """In a pod: its ServiceAccount; elsewhere: the kubeconfig (KUBECONFIG or ~/.kube/config)."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        config.load_kube_config(client_configuration=configuration)
    return client.ApiClient(configuration)


class StatusWriter:
    """Writes a Checkout's status through the status subresource (a JSON merge patch)."""

    def __init__(self, api: client.ApiClient, checkout: Checkout) -> None:
        self._objects = client.CustomObjectsApi(api)
        self._checkout = checkout

    async def __call__(self, status: model.Status) -> None:
        body = {"status": model.to_json(status)}
        await asyncio.to_thread(
            self._objects.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            self._checkout.namespace,
            PLURAL,
            self._checkout.name,
            body,
        )
