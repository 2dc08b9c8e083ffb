"""gunicorn's configuration for a function (`gunicorn -c python:checkout_functions.serving ...`):
one worker process with threads, so the Prometheus counters live in one process and /metrics
tells the whole truth, and gunicorn's own logs as JSON too."""

from __future__ import annotations

from typing import Any

workers = 1
worker_class = "gthread"
threads = 8
# The worker loads the app itself. Preloading it in the master would save no start-up time with one
# worker (the same imports, before the fork rather than after), and creating the app opens the
# database, whose pooled connections must not cross a fork.
preload_app = False
graceful_timeout = 10
# The control socket's default path ($HOME/.gunicorn/gunicorn.ctl) is one per user: several
# functions on one machine would take it from each other. Nothing here uses it.
control_socket_disable = True

logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "checkout_functions.logs.JsonFormatter"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
    },
}
