"""Our custom objects through the API server, as dicts: what the tests of the CRDs, of the
operator and of the dispatcher write and read."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from checkout_core.api import CHECKOUTS, GROUP, TRIGGERS, VERSION

Body = dict[str, Any]


@dataclass(frozen=True)
class Resource:
    """One plural of our group: create, read, patch and delete its objects."""

    plural: str

    def create(self, api: client.ApiClient, namespace: str, body: Body) -> Body:
        return cast(
            Body,
            client.CustomObjectsApi(api).create_namespaced_custom_object(
                GROUP, VERSION, namespace, self.plural, copy.deepcopy(body)
            ),
        )

    def get(self, api: client.ApiClient, namespace: str, name: str) -> Body:
        return cast(
            Body,
            client.CustomObjectsApi(api).get_namespaced_custom_object(
                GROUP, VERSION, namespace, self.plural, name
            ),
        )

    def patch(self, api: client.ApiClient, namespace: str, name: str, body: Body) -> Body:
        return cast(
            Body,
            client.CustomObjectsApi(api).patch_namespaced_custom_object(
                GROUP, VERSION, namespace, self.plural, name, body
            ),
        )

    def patch_status(self, api: client.ApiClient, namespace: str, name: str, body: Body) -> Body:
        return cast(
            Body,
            client.CustomObjectsApi(api).patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, self.plural, name, body
            ),
        )

    def delete(self, api: client.ApiClient, namespace: str, name: str) -> None:
        client.CustomObjectsApi(api).delete_namespaced_custom_object(
            GROUP, VERSION, namespace, self.plural, name
        )


CHECKOUT = Resource(CHECKOUTS)
TRIGGER = Resource(TRIGGERS)


def refusal(call: Callable[[], object]) -> str:
    """The API server's message when it refuses a write (422 Invalid)."""
    with pytest.raises(ApiException) as caught:
        call()
    assert caught.value.status == 422, caught.value.body
    message: str = json.loads(caught.value.body or "{}")["message"]
    return message
