"""The artifact store against real S3 (SeaweedFS): create-only, versioned, checksummed."""

from __future__ import annotations

import base64
import hashlib
import tempfile
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from etude.errors import ChecksumMismatchError, MissingObjectError
from etude.settings import Settings
from etude.store import open_store
from schemas import ArtifactKind, S3Location

pytestmark = pytest.mark.integration


async def test_put_is_create_only_and_idempotent(stack: Settings) -> None:
    data = f"artifact {uuid.uuid4()}".encode()
    async with open_store(stack) as store:
        first = await store.put(ArtifactKind.MIDI, data, "audio/midi")
        again = await store.put(ArtifactKind.MIDI, data, "audio/midi")
        assert first.created
        assert not again.created  # 412 on the identical object is success
        assert again.location == first.location
        assert first.location.key.endswith(hashlib.sha256(data).hexdigest())
        assert await store.object_versions(first.location.key) == [first.location.version_id]
        assert await store.get(first.location, first.sha256) == data


async def test_reads_verify_the_sha256(stack: Settings) -> None:
    async with open_store(stack) as store:
        stored = await store.put(ArtifactKind.SVG, b"<svg/>" + uuid.uuid4().bytes, "image/svg+xml")
        with pytest.raises(ChecksumMismatchError, match="checksum mismatch"):
            await store.get(stored.location, "0" * 64)
        missing = S3Location(bucket=stack.s3_bucket, key="svg/00/" + "0" * 64)
        with pytest.raises(MissingObjectError):
            await store.get(missing, "0" * 64)


async def test_a_bad_digest_fails_at_once_without_retries(stack: Settings) -> None:
    async with open_store(stack) as store:
        s3 = store._s3
        wrong = base64.b64encode(hashlib.sha256(b"other bytes").digest()).decode()
        started = time.monotonic()
        with pytest.raises(ClientError) as info:
            await s3.put_object(
                Bucket=stack.s3_bucket,
                Key=f"test/{uuid.uuid4()}",
                Body=b"payload",
                ChecksumSHA256=wrong,
            )
        assert info.value.response["Error"]["Code"] == "BadDigest"
        assert time.monotonic() - started < 2.0  # botocore would retry it ~9 s by default


async def test_presigned_url_downloads_and_plain_requests_are_refused(stack: Settings) -> None:
    import httpx

    async with open_store(stack) as store:
        stored = await store.put(ArtifactKind.MIDI, b"MThd" + uuid.uuid4().bytes, "audio/midi")
        url = await store.presigned_get(stored.location)
    async with httpx.AsyncClient() as client:
        ok = await client.get(url)
        plain = await client.get(f"{stack.s3_endpoint}/{stack.s3_bucket}/{stored.location.key}")
    assert ok.status_code == 200
    assert ok.content.startswith(b"MThd")
    assert plain.status_code == 403


async def test_a_spooled_file_streams_to_the_same_content_address(stack: Settings) -> None:
    data = uuid.uuid4().bytes * 100_000  # 1.6 MB: past the spool's memory threshold
    with tempfile.SpooledTemporaryFile(max_size=1 << 20) as spooled:
        spooled.write(data)
        async with open_store(stack) as store:
            streamed = await store.put_file(ArtifactKind.PDF, spooled, "application/pdf")
            from_bytes = await store.put(ArtifactKind.PDF, data, "application/pdf")
            assert streamed.created
            assert not from_bytes.created
            assert streamed.location == from_bytes.location
            assert streamed.size == len(data)
            assert await store.get(streamed.location, streamed.sha256) == data
