"""The replica's own HTTP endpoint: GET /healthz (the process is serving), GET /readyz (it is
connected to the broker and has listed its Triggers) and GET /metrics (Prometheus)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from checkout_dispatcher.metrics import Metrics
from checkout_dispatcher.settings import Settings


@dataclass(frozen=True)
class Health:
    """How the endpoint learns the replica's state, asked on each request."""

    broker: Callable[[], bool]
    """Whether the broker connection is up."""
    listed: Callable[[], bool]
    """Whether every watched namespace's Triggers have been listed once."""
    workers: Callable[[], int]
    """How many Triggers are being served."""


async def start(settings: Settings, metrics: Metrics, health: Health) -> web.AppRunner:
    """Serve on settings.host:port until the returned runner is cleaned up."""

    async def healthz(_: web.Request) -> web.Response:
        # Liveness: the event loop answers. A broker outage is not a reason to restart us.
        return web.json_response(
            {"status": "ok", "broker": health.broker(), "workers": health.workers()}
        )

    async def readyz(_: web.Request) -> web.Response:
        ready = health.broker() and health.listed()
        return web.json_response(
            {"status": "ok" if ready else "unavailable", "broker": health.broker()},
            status=200 if ready else 503,
        )

    async def prometheus(_: web.Request) -> web.Response:
        body, content_type = metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", prometheus)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.port).start()
    return runner
