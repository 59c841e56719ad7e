"""SeaweedFS `weed mini` as the local S3, plus the buckets Étude needs."""

from __future__ import annotations

import socket
from contextlib import AbstractAsyncContextManager
from typing import Any

import aioboto3
import httpx
from botocore.config import Config
from botocore.exceptions import ClientError

from deploy import binaries
from deploy.net import HostPort, from_url
from deploy.services.base import Service
from etude.logging import get_logger
from etude.settings import Settings

log = get_logger(__name__)

# weed mini's components besides the S3 gateway, each moved from its fixed default port
# (9333, 19333, 9340, 8888, 23646, ...) to s3_local_port_base + offset.
_INTERNAL_PORTS: dict[str, int] = {
    "master.port": 0,
    "master.port.grpc": 1,
    "volume.port": 2,
    "volume.port.grpc": 3,
    "filer.port": 4,
    "filer.port.grpc": 5,
    "s3.port.grpc": 6,
    "admin.port": 7,  # the admin server still runs with -admin.ui=false
    "admin.port.grpc": 8,
}


# Outside Tansu's own prefixes in its bucket; never in the artifact bucket.
_SENTINEL_KEY = "_etude-stack/ready"
_BUCKET_EXISTS = ("BucketAlreadyOwnedByYou", "BucketAlreadyExists")


def s3_client(settings: Settings) -> AbstractAsyncContextManager[Any]:
    """An aioboto3 S3 client for the configured endpoint, path-style, few retries.

    botocore's default retries turn one rejected request into ~9 s of back-off; setup code
    wants a fast, clear failure instead.
    """
    client: AbstractAsyncContextManager[Any] = aioboto3.Session().client(
        "s3",
        endpoint_url=settings.s3_endpoint,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key,
        aws_secret_access_key=settings.s3_secret_key.get_secret_value(),
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 2, "mode": "standard"},
            connect_timeout=3,
            read_timeout=15,
        ),
    )
    return client


async def ensure_bucket(settings: Settings, bucket: str, *, versioned: bool) -> None:
    async with s3_client(settings) as s3:
        try:
            await s3.create_bucket(Bucket=bucket)
            log.info("stack.bucket_created", bucket=bucket)
        except ClientError as err:
            if err.response["Error"]["Code"] not in _BUCKET_EXISTS:
                raise
        if versioned:
            await s3.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
            )


class S3Service(Service):
    name = "s3"

    @property
    def address(self) -> HostPort:
        return from_url(self.settings.s3_endpoint, 80)

    @property
    def display_address(self) -> str:
        return self.settings.s3_endpoint

    def _internal(self) -> dict[str, HostPort]:
        base = self.settings.s3_local_port_base
        return {
            flag: HostPort(self.address.host, base + off) for flag, off in _INTERNAL_PORTS.items()
        }

    def ports(self) -> dict[str, HostPort]:
        return {"S3 API": self.address, **{f"weed {k}": v for k, v in self._internal().items()}}

    def argv(self) -> list[str]:
        ip = socket.gethostbyname(self.address.host)  # -ip.bind needs an address, not a name
        return [
            str(binaries.weed()),
            "mini",
            f"-dir={self.data_dir.resolve()}",
            f"-ip={ip}",
            f"-ip.bind={ip}",
            "-master.telemetry=false",  # no phoning home (and no network here anyway)
            f"-s3.port={self.address.port}",
            *(f"-{flag}={hp.port}" for flag, hp in self._internal().items()),
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ]

    def env(self) -> dict[str, str]:
        # With credentials in its environment weed creates an admin identity and refuses
        # anonymous requests; without them every request is allowed.
        return {
            **super().env(),
            "AWS_ACCESS_KEY_ID": self.settings.s3_access_key,
            "AWS_SECRET_ACCESS_KEY": self.settings.s3_secret_key.get_secret_value(),
        }

    async def probe(self) -> bool:
        async with httpx.AsyncClient(timeout=2.0) as http:
            response = await http.get(f"{self.settings.s3_endpoint.rstrip('/')}/healthz")
            return response.status_code == 200

    async def provision(self) -> None:
        await ensure_bucket(self.settings, self.settings.s3_bucket, versioned=True)
        await ensure_bucket(self.settings, self.settings.s3_broker_bucket, versioned=False)
        await self._round_trip()

    async def _round_trip(self) -> None:
        """Write and read back a small object: /healthz answers before the volume server has
        re-registered its volumes with the master after a restart, and reads in that window
        fail with InternalError. Raises until storage really serves (the caller retries)."""
        body = b"ready"
        async with s3_client(self.settings) as s3:
            bucket = self.settings.s3_broker_bucket
            await s3.put_object(Bucket=bucket, Key=_SENTINEL_KEY, Body=body)
            got = await s3.get_object(Bucket=bucket, Key=_SENTINEL_KEY)
            if await got["Body"].read() != body:
                raise RuntimeError("S3 round trip returned other bytes")
