"""What every local server has in common: a data dir, a log, ports, a probe, provisioning."""

from __future__ import annotations

import os
import signal
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from deploy.net import HostPort
from etude.settings import Settings


class Service(ABC):
    name: ClassVar[str]
    # The signal that shuts the server down cleanly (Postgres overrides it).
    stop_signal: ClassVar[int] = signal.SIGTERM

    def __init__(self, settings: Settings, stack_dir: Path) -> None:
        self.settings = settings
        self.stack_dir = stack_dir

    @property
    def data_dir(self) -> Path:
        return self.stack_dir / self.name

    @property
    def log_path(self) -> Path:
        return self.stack_dir / "logs" / f"{self.name}.log"

    @property
    @abstractmethod
    def address(self) -> HostPort:
        """Where clients reach it (from the ETUDE_* settings)."""

    @property
    def display_address(self) -> str:
        return str(self.address)

    def ports(self) -> dict[str, HostPort]:
        """Every TCP port the server opens, by label: all must be free before it starts."""
        return {"listener": self.address}

    @property
    def run_as(self) -> str | None:
        """System user to run the server as (None: the current user)."""
        return None

    def prepare(self) -> None:
        """Blocking one-time setup before the first start (dirs, initdb). Idempotent."""
        self.data_dir.mkdir(parents=True, exist_ok=True)

    @abstractmethod
    def argv(self) -> list[str]: ...

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    async def before_start(self) -> None:
        """Async precondition (e.g. the broker's bucket must exist)."""
        return None

    @abstractmethod
    async def probe(self) -> bool:
        """One readiness check: True when the server answers its own protocol."""

    async def provision(self) -> None:
        """Idempotent setup after it is ready (buckets, topics, role and database)."""
        return None
