"""The entry point servers load: `checkout_functions.app:create("confirmation")` builds the app
of one function (confirmation, warehouse or rewards) from the environment. Serve it with
`gunicorn -c python:checkout_functions.serving`: one worker process, as the metrics need."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from flask import Flask

from checkout_functions import confirmation, logs, rewards, runtime, warehouse
from checkout_functions.settings import Settings
from checkout_functions.store.database import Database

FUNCTIONS: Mapping[str, Callable[[Settings, Database], runtime.Function]] = {
    "confirmation": confirmation.function,
    "warehouse": warehouse.function,
    "rewards": rewards.function,
}
"""Keyed by the step catalogue's `function` field."""


def create(name: str) -> Flask:
    """The app of function `name`, configured from the environment (see Settings). Its tables are
    created first, so a database that cannot be reached stops the start-up, loudly."""
    if name not in FUNCTIONS:
        raise ValueError(f"unknown function {name!r}; one of {', '.join(FUNCTIONS)}")
    settings = Settings.from_environ(os.environ)
    logs.configure(settings.log_level_number)
    database = Database(settings.database_url, settings.database_timeout)
    return runtime.create_app(FUNCTIONS[name](settings, database))
