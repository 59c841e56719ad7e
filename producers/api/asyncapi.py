"""The AsyncAPI 3.0 document of Étude's topics, built from the `schemas` package.

Written from the contract itself rather than from a FastStream broker: the topics are
published by several processes (stages, producers), none of which holds all of them, while
`schemas` names every topic and event. Payload schemas are pydantic's JSON Schemas, with their
shared definitions under components.schemas.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from etude import __version__
from schemas import (
    ARTIFACT_TOPICS,
    DLQ,
    STAGE,
    ArtifactCreated,
    DeadLetter,
    JobSubmitted,
    StageFailed,
    StageStarted,
)

MESSAGES: dict[str, type[BaseModel]] = {
    "ArtifactCreated": ArtifactCreated,
    "JobSubmitted": JobSubmitted,
    "StageStarted": StageStarted,
    "StageFailed": StageFailed,
    "DeadLetter": DeadLetter,
}


def topic_messages() -> dict[str, list[str]]:
    """Topic → the message names published on it (the README's topic table)."""
    topics: dict[str, list[str]] = {t: ["ArtifactCreated"] for t in ARTIFACT_TOPICS}
    topics[STAGE] = ["JobSubmitted", "StageStarted", "StageFailed"]
    topics[DLQ] = ["DeadLetter"]
    return topics


def _channel_id(topic: str) -> str:
    return topic.replace(".", "_")


@cache
def asyncapi_document() -> dict[str, Any]:
    _, defs = models_json_schema(
        [(model, "serialization") for model in MESSAGES.values()],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = defs.get("$defs", {})
    key_schema = {"type": "string", "format": "uuid", "description": "The job id."}
    messages = {
        name: {
            "name": name,
            "title": name,
            "summary": (model.__doc__ or name).strip().splitlines()[0],
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{name}"},
            "headers": {
                "type": "object",
                "properties": {
                    "correlation_id": {"type": "string", "format": "uuid"},
                    "causation_id": {"type": "string", "format": "uuid"},
                    "event_type": {"type": "string", "const": name},
                },
            },
            "bindings": {"kafka": {"key": key_schema, "bindingVersion": "0.5.0"}},
        }
        for name, model in MESSAGES.items()
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic, names in topic_messages().items():
        cid = _channel_id(topic)
        channels[cid] = {
            "address": topic,
            "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in names},
            "bindings": {"kafka": {"topic": topic, "bindingVersion": "0.5.0"}},
        }
        operations[f"receive_{cid}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{cid}"},
            "summary": f"Subscribe to {topic} (key = job id; at-least-once: dedupe on event_id)",
            "messages": [{"$ref": f"#/channels/{cid}/messages/{n}"} for n in names],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Étude events",
            "version": __version__,
            "description": "Kafka topics of the Étude pipeline. Every event carries the envelope"
            " (event_id, event_type, schema_version, job_id, occurred_at, correlation_id,"
            " causation_id, producer, attempt).",
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {"host": "127.0.0.1:19092", "protocol": "kafka", "description": "Tansu"}
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }
