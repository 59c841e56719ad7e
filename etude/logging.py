"""structlog JSON logs; job_id and correlation_id are bound per message via contextvars."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

_configured = False


def configure_logging(level: str = "INFO", component: str = "etude") -> None:
    global _configured
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=level.upper(), force=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("msg"),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(component=component, job_id=None, correlation_id=None)
    _configured = True


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)


@contextmanager
def job_context(job_id: object, correlation_id: object, **extra: object) -> Iterator[None]:
    """Bind job_id/correlation_id to every log line written inside the block."""
    tokens = structlog.contextvars.bind_contextvars(
        job_id=str(job_id) if job_id is not None else None,
        correlation_id=str(correlation_id) if correlation_id is not None else None,
        **extra,
    )
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
