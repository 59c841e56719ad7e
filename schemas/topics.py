"""Every Kafka topic name Étude uses, in one place.

Downstream tools subscribe to the artifact topics; `etude.stage` carries job lifecycle
events (JobSubmitted, StageStarted, StageFailed); `etude.dlq` keeps poison messages.
"""

from __future__ import annotations

from typing import Final

from schemas.kinds import ArtifactKind

ARTIFACT_TOPIC_PREFIX: Final = "etude.artifact."
STAGE: Final = "etude.stage"
DLQ: Final = "etude.dlq"


def artifact_topic(kind: ArtifactKind | str) -> str:
    """Topic on which `ArtifactCreated` events of `kind` are published."""
    return ARTIFACT_TOPIC_PREFIX + ArtifactKind(kind).value


ARTIFACT_TOPICS: Final[tuple[str, ...]] = tuple(artifact_topic(k) for k in ArtifactKind)
ALL_TOPICS: Final[tuple[str, ...]] = (*ARTIFACT_TOPICS, STAGE, DLQ)
