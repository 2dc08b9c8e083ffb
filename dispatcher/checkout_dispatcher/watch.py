"""Trigger objects through the Kubernetes API: list, then watch from the list's version, listing
again whenever the watch cannot resume. The Kubernetes client blocks, so each watch runs in a
thread of its own and hands every change to the event loop."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import urllib3.exceptions
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from checkout_core.api import GROUP, VERSION
from checkout_core.api import TRIGGERS as PLURAL
from checkout_dispatcher.lifecycle import Change, Changed, Deleted, Listed
from checkout_dispatcher.logs import LOGGER

log = logging.getLogger(LOGGER)

RETRY_SECONDS = 2.0
"""Pause after the API server could not be reached, before trying again."""
GONE = 410


def configuration(kubeconfig: str) -> client.Configuration:
    """How to reach the kubeconfig's cluster, or the pod's own (with its service account)."""
    loaded = client.Configuration()
    if kubeconfig:
        config.load_kube_config(config_file=kubeconfig, client_configuration=loaded)
    else:
        config.load_incluster_config(client_configuration=loaded)
    return loaded


class TriggerWatch:
    """Lists and watches the Triggers of one namespace (None: all), calling `emit` with each
    Change from its own thread. Read-only: list and watch are all it asks of the API."""

    def __init__(
        self,
        cluster: client.Configuration,
        namespace: str | None,
        emit: Callable[[Change], None],
        timeout: int = 300,
    ) -> None:
        self.cluster = cluster
        self.timeout = timeout
        """Seconds one watch request lasts before it is renewed."""
        self.namespace = namespace
        self.emit = emit
        self.listed = threading.Event()
        """Set once the first list has been handed over."""
        self._stop = threading.Event()
        self._watch: watch.Watch | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"watch {namespace or '*'}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end. It is a daemon blocked on a socket at worst, so nobody waits."""
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()

    def _run(self) -> None:
        context = {"namespace": self.namespace or "*"}
        # A client per thread: the Kubernetes client is not meant to be shared across threads.
        with client.ApiClient(self.cluster) as api:
            objects = client.CustomObjectsApi(api)
            while not self._stop.is_set():
                try:
                    version = self._list(objects)
                    self._follow(objects, version)
                except ApiException as error:
                    if error.status == GONE:
                        log.info("watch expired; listing again", extra=context)
                        continue
                    if not self._stop.is_set():
                        log.warning(
                            "Kubernetes API: %s %s", error.status, error.reason, extra=context
                        )
                    self._stop.wait(RETRY_SECONDS)
                except (urllib3.exceptions.HTTPError, OSError, ValueError) as error:
                    # Connection refused or reset, a read timeout, a truncated stream.
                    if not self._stop.is_set():
                        log.warning("Kubernetes API unreachable: %r", error, extra=context)
                    self._stop.wait(RETRY_SECONDS)

    def _call(self, objects: client.CustomObjectsApi) -> tuple[Callable[..., Any], list[str]]:
        if self.namespace is None:
            return objects.list_cluster_custom_object, [GROUP, VERSION, PLURAL]
        return objects.list_namespaced_custom_object, [GROUP, VERSION, self.namespace, PLURAL]

    def _list(self, objects: client.CustomObjectsApi) -> str:
        function, args = self._call(objects)
        listing = function(*args, _request_timeout=60)
        self.emit(Listed(self.namespace, list(listing.get("items") or [])))
        self.listed.set()
        return str(listing["metadata"]["resourceVersion"])

    def _follow(self, objects: client.CustomObjectsApi, version: str) -> None:
        """Watch from `version` until told to stop; raises ApiException 410 when the version is
        too old to resume from (the caller lists again)."""
        function, args = self._call(objects)
        while not self._stop.is_set():
            self._watch = watch.Watch()
            for event in self._watch.stream(
                function,
                *args,
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=self.timeout,
                # A silent half-open connection must not hold the watch forever.
                _request_timeout=self.timeout + 30,
            ):
                body = event["raw_object"]
                version = body["metadata"]["resourceVersion"]
                if event["type"] in ("ADDED", "MODIFIED"):
                    self.emit(Changed(body))
                elif event["type"] == "DELETED":
                    self.emit(Deleted(body))
                # BOOKMARK: only the version moves on.
            log.debug("watch renewed", extra={"namespace": self.namespace or "*"})
