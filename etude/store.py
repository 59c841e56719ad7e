"""Artifact store on S3 (SeaweedFS locally, MinIO/AWS in production), over aioboto3.

Objects are content-addressed (`<kind>/<sha256[:2]>/<sha256>`), written create-only with
`If-None-Match: *` into a versioned bucket, and sent with their SHA-256 so the server rejects
a corrupted upload. Reads recompute the digest: a consumer never trusts the bytes it is given.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import IO, Any

import aioboto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from etude.errors import BadInputError, ChecksumMismatchError, MissingObjectError, TransientError
from etude.settings import Settings
from schemas import ArtifactKind, S3Location

# botocore would retry a 400 BadDigest four times (~9 s); retries of transient failures are
# done by the stage runtime with tenacity instead, so a bad digest fails at once.
_BOTO_CONFIG = Config(
    retries={"total_max_attempts": 1, "mode": "standard"},
    s3={"addressing_style": "path"},
    connect_timeout=5,
    read_timeout=60,
    request_checksum_calculation="when_required",
    response_checksum_validation="when_required",
)
_TRANSIENT_HTTP = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class StoredObject:
    location: S3Location
    sha256: str
    size: int
    created: bool  # False when an identical object was already there


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hash_file(file: IO[bytes], chunk: int = 1 << 20) -> tuple[Any, int]:
    file.seek(0)
    digest, size = hashlib.sha256(), 0
    while block := file.read(chunk):
        digest.update(block)
        size += len(block)
    return digest, size


def object_key(kind: ArtifactKind, sha256: str) -> str:
    return f"{kind.value}/{sha256[:2]}/{sha256}"


def _http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def classify(exc: Exception, what: str) -> Exception:
    """Map a botocore failure onto the error taxonomy."""
    if isinstance(exc, ClientError):
        status, code = _http_status(exc), _error_code(exc)
        if status in _TRANSIENT_HTTP or code in {"SlowDown", "RequestTimeout", "Throttling"}:
            return TransientError(f"S3 {what}: {code or status}")
        if status == 404 or code in {"NoSuchKey", "NoSuchVersion", "NotFound"}:
            return MissingObjectError(f"S3 object missing: {what}")
        if code == "BadDigest":
            return ChecksumMismatchError(f"S3 rejected the upload's SHA-256: {what}")
        return BadInputError(f"S3 {what}: {code or status}: {exc}")
    if isinstance(exc, BotoCoreError | OSError | TimeoutError):
        return TransientError(f"S3 {what}: {type(exc).__name__}: {exc}")
    return exc


class ArtifactStore:
    """Create-only, checksummed artifact storage in one versioned bucket."""

    def __init__(self, client: Any, bucket: str, presign_seconds: int = 3600) -> None:
        self._s3 = client
        self.bucket = bucket
        self._presign_seconds = presign_seconds

    async def put(self, kind: ArtifactKind, data: bytes, media_type: str) -> StoredObject:
        return await self._put(kind, data, hashlib.sha256(data), len(data), media_type)

    async def put_file(self, kind: ArtifactKind, file: IO[bytes], media_type: str) -> StoredObject:
        """Store a seekable file without holding it in memory: hashed in one pass (the key is
        the digest), then streamed to S3 in a second."""
        digest, size = await asyncio.to_thread(_hash_file, file)
        file.seek(0)
        return await self._put(kind, file, digest, size, media_type)

    async def _put(
        self,
        kind: ArtifactKind,
        body: bytes | IO[bytes],
        digest: Any,
        size: int,
        media_type: str,
    ) -> StoredObject:
        sha = digest.hexdigest()
        key = object_key(kind, sha)
        try:
            resp = await self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentLength=size,
                ContentType=media_type,
                ChecksumSHA256=base64.b64encode(digest.digest()).decode(),
                IfNoneMatch="*",
            )
        except ClientError as exc:
            if _http_status(exc) == 412:
                # Content-addressed: an object under this key has these very bytes.
                return await self._existing(key, sha, size)
            raise classify(exc, f"put {key}") from exc
        except Exception as exc:
            raise classify(exc, f"put {key}") from exc
        location = S3Location(bucket=self.bucket, key=key, version_id=resp.get("VersionId"))
        return StoredObject(location=location, sha256=sha, size=size, created=True)

    async def _existing(self, key: str, sha: str, size: int) -> StoredObject:
        try:
            head = await self._s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except Exception as exc:
            raise classify(exc, f"head {key}") from exc
        stored_b64 = head.get("ChecksumSHA256")
        if stored_b64 and base64.b64decode(stored_b64.split("-")[0]).hex() != sha:
            raise ChecksumMismatchError(f"object {key} exists with a different SHA-256")
        location = S3Location(bucket=self.bucket, key=key, version_id=head.get("VersionId"))
        return StoredObject(location=location, sha256=sha, size=size, created=False)

    async def get(self, location: S3Location, expected_sha256: str) -> bytes:
        """Read an object and verify its SHA-256 against what the event promised."""
        what = f"s3://{location.bucket}/{location.key}"
        kwargs: dict[str, Any] = {"Bucket": location.bucket, "Key": location.key}
        if location.version_id:
            kwargs["VersionId"] = location.version_id
        try:
            resp = await self._s3.get_object(**kwargs)
            async with resp["Body"] as body:
                data: bytes = await body.read()
        except Exception as exc:
            raise classify(exc, f"get {what}") from exc
        actual = sha256_hex(data)
        if actual != expected_sha256:
            raise ChecksumMismatchError(
                f"checksum mismatch for {what}: expected sha256 {expected_sha256}, got {actual}"
            )
        return data

    async def exists(self, location: S3Location) -> bool:
        try:
            await self._s3.head_object(Bucket=location.bucket, Key=location.key)
        except ClientError as exc:
            if _http_status(exc) == 404:
                return False
            raise classify(exc, f"head {location.key}") from exc
        return True

    async def object_versions(self, key: str) -> list[str]:
        """Every version id stored under `key` (tests use it to prove nothing was rewritten)."""
        resp = await self._s3.list_object_versions(Bucket=self.bucket, Prefix=key)
        return [v["VersionId"] for v in resp.get("Versions", []) if v["Key"] == key]

    async def presigned_get(self, location: S3Location) -> str:
        # No response-content-disposition with a filename: SeaweedFS 4.48 rejects the
        # signature of any presigned URL whose override value holds '=' (measured).
        params: dict[str, Any] = {"Bucket": location.bucket, "Key": location.key}
        if location.version_id:
            params["VersionId"] = location.version_id
        url: str = await self._s3.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=self._presign_seconds
        )
        return url


def s3_client_kwargs(settings: Settings) -> dict[str, Any]:
    return {
        "service_name": "s3",
        "endpoint_url": settings.s3_endpoint,
        "region_name": settings.s3_region,
        "aws_access_key_id": settings.s3_access_key,
        "aws_secret_access_key": settings.s3_secret_key.get_secret_value(),
        "config": _BOTO_CONFIG,
    }


@asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[ArtifactStore]:
    session = aioboto3.Session()
    async with session.client(**s3_client_kwargs(settings)) as client:
        yield ArtifactStore(client, settings.s3_bucket, settings.s3_presign_seconds)
