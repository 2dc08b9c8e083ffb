"""JSON logs: one object per line on stderr, with whatever context a call passes in `extra`
(order id, event id, outcome), so log collectors can index them without parsing text."""

from __future__ import annotations

import logging
import sys

from checkout_core.logs import JsonFormatter

LOGGER = "checkout_functions"

__all__ = ["LOGGER", "JsonFormatter", "configure"]


def configure(level: int) -> logging.Logger:
    """Send the functions' own logger to stderr as JSON, whatever the server did with logging."""
    logger = logging.getLogger(LOGGER)
    logger.setLevel(level)
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    # The server's root handler (also JSON under checkout_functions.serving) must not print
    # every line a second time.
    logger.propagate = False
    return logger
