"""In-memory store and publisher for handler tests (the integration tier uses the real ones)."""

from __future__ import annotations

from dataclasses import dataclass, field

from etude.errors import ChecksumMismatchError, MissingObjectError
from etude.store import StoredObject, object_key, sha256_hex
from schemas import ArtifactKind, DeadLetter, S3Location
from schemas.events import Envelope


@dataclass
class MemoryStore:
    bucket: str = "test"
    objects: dict[str, bytes] = field(default_factory=dict)
    fail_gets: list[Exception] = field(default_factory=list)

    async def put(self, kind: ArtifactKind, data: bytes, media_type: str) -> StoredObject:
        sha = sha256_hex(data)
        key = object_key(kind, sha)
        created = key not in self.objects
        self.objects[key] = data
        return StoredObject(S3Location(bucket=self.bucket, key=key), sha, len(data), created)

    async def get(self, location: S3Location, expected_sha256: str) -> bytes:
        if self.fail_gets:
            raise self.fail_gets.pop(0)
        if location.key not in self.objects:
            raise MissingObjectError(f"S3 object missing: {location.key}")
        data = self.objects[location.key]
        if sha256_hex(data) != expected_sha256:
            raise ChecksumMismatchError(f"checksum mismatch for {location.key}")
        return data


@dataclass
class MemoryPublisher:
    sent: list[tuple[str, Envelope]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)

    async def publish(self, event: Envelope, topic: str) -> None:
        self.sent.append((topic, event))

    async def publish_dead_letter(self, record: DeadLetter, topic: str) -> None:
        self.dead.append(record)

    def of_type(self, event_type: str) -> list[Envelope]:
        return [e for _, e in self.sent if e.event_type == event_type]
