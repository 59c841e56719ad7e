"""structlog JSON logs; job_id and correlation_id are bound per message via contextvars.

Standard-library records (FastStream, aiokafka, alembic) go through the same JSON renderer,
so their lines carry the bound job_id/correlation_id too.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(level: str = "INFO", component: str = "etude") -> None:
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("msg"),
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(component=component, job_id=None, correlation_id=None)


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
