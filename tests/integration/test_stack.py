"""The hermetic local stack itself: every server up, provisioned, and crash-safe."""

from __future__ import annotations

import asyncio
import signal
import uuid

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from deploy.services.postgres import parse_database_url
from deploy.services.s3 import s3_client
from deploy.stack import SERVICE_NAMES, LocalStack
from etude.settings import Settings
from schemas.topics import ALL_TOPICS, DLQ, STAGE

pytestmark = pytest.mark.integration


async def _produce(settings: Settings, topic: str, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)  # returns once acknowledged
    finally:
        await producer.stop()


async def _read_all(settings: Settings, topic: str, timeout_s: float = 20.0) -> list[bytes]:
    """Every value in `topic`, read from offset 0 by partition assignment (no group)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        assert partitions, f"{topic} has no partitions"
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        values: list[bytes] = []
        async with asyncio.timeout(timeout_s):
            while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
                batch = await consumer.getmany(timeout_ms=500)
                values += [m.value for msgs in batch.values() for m in msgs if m.value]
        return values
    finally:
        await consumer.stop()


async def test_up_twice_starts_nothing_new(local_stack: LocalStack) -> None:
    before = local_stack.running()
    assert set(before) == local_stack.settings.local_service_set
    await local_stack.up()
    assert local_stack.running() == before


async def test_status_reports_every_service_ready(local_stack: LocalStack) -> None:
    statuses = {s.name: s for s in await local_stack.status()}
    assert set(statuses) == set(SERVICE_NAMES)
    for status in statuses.values():
        assert status.ready, status
        assert status.local and status.pid is not None, status


async def test_artifact_bucket_versioned_and_anonymous_refused(stack: Settings) -> None:
    async with s3_client(stack) as s3:
        versioning = await s3.get_bucket_versioning(Bucket=stack.s3_bucket)
        assert versioning.get("Status") == "Enabled"
        await s3.head_bucket(Bucket=stack.s3_broker_bucket)
        await s3.put_object(Bucket=stack.s3_bucket, Key="probe/anon.txt", Body=b"secret")
    async with httpx.AsyncClient() as http:
        base = stack.s3_endpoint.rstrip("/")
        read = await http.get(f"{base}/{stack.s3_bucket}/probe/anon.txt")
        listing = await http.get(f"{base}/{stack.s3_bucket}")
        write = await http.put(f"{base}/{stack.s3_bucket}/probe/anon2.txt", content=b"x")
    assert (read.status_code, listing.status_code, write.status_code) == (403, 403, 403)


async def test_every_topic_exists_with_configured_partitions(stack: Settings) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap)
    await consumer.start()
    try:
        topics = await consumer.topics()
        for topic in ALL_TOPICS:
            assert topic in topics
            assert len(consumer.partitions_for_topic(topic) or ()) == stack.kafka_topic_partitions
    finally:
        await consumer.stop()


async def test_topics_keep_their_history(stack: Settings) -> None:
    """retention.ms=-1 was accepted and stored by the broker."""
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, STAGE)])
        [(error_code, _msg, _type, _name, entries)] = response.resources
        assert error_code == 0
        assert ("retention.ms", "-1") in {(e[0], e[1]) for e in entries}
    finally:
        await admin.close()


async def test_produce_consume_round_trip(stack: Settings) -> None:
    value = f"round-trip {uuid.uuid4()}".encode()
    await _produce(stack, STAGE, b"job-1", value)
    assert value in await _read_all(stack, STAGE)


async def test_consumer_group_commit(stack: Settings) -> None:
    """A group member gets the message and can commit its offset (what stages rely on)."""
    value = f"group {uuid.uuid4()}".encode()
    await _produce(stack, DLQ, b"job-2", value)
    consumer = AIOKafkaConsumer(
        DLQ,
        bootstrap_servers=stack.kafka_bootstrap,
        group_id=f"test-{uuid.uuid4()}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=stack.kafka_session_timeout_ms,
        heartbeat_interval_ms=stack.kafka_heartbeat_interval_ms,
    )
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            while True:
                msg = await consumer.getone()
                if msg.value == value:
                    await consumer.commit()
                    break
    finally:
        await consumer.stop()


async def test_broker_sigkill_keeps_acknowledged_message(local_stack: LocalStack) -> None:
    settings = local_stack.settings
    value = f"durable {uuid.uuid4()}".encode()
    await _produce(settings, STAGE, b"job-3", value)  # acknowledged (acks=all)
    old_pid = local_stack.running()["kafka"]
    assert await local_stack.kill_service("kafka", signal.SIGKILL)
    assert "kafka" not in local_stack.running()
    await local_stack.restart_service("kafka")
    assert local_stack.running()["kafka"] != old_pid
    assert value in await _read_all(settings, STAGE)


async def test_postgres_accepts_the_configured_role(stack: Settings) -> None:
    target = parse_database_url(stack.database_url)
    conn = await asyncpg.connect(
        host=target.host, port=target.port, user=target.user, database=target.database
    )
    try:
        assert await conn.fetchval("SELECT current_user") == target.user
        assert (await conn.fetchval("SHOW server_version")).startswith("18")
    finally:
        await conn.close()


async def test_redis_ping(stack: Settings) -> None:
    client = aioredis.from_url(stack.redis_url)
    try:
        assert await client.ping()
    finally:
        await client.aclose()


async def test_s3_restart_keeps_objects_and_broker_recovers(local_stack: LocalStack) -> None:
    settings = local_stack.settings
    async with s3_client(settings) as s3:
        put = await s3.put_object(Bucket=settings.s3_bucket, Key="probe/keep.txt", Body=b"kept")
    await local_stack.restart_service("s3")
    async with s3_client(settings) as s3:
        got = await s3.get_object(
            Bucket=settings.s3_bucket, Key="probe/keep.txt", VersionId=put["VersionId"]
        )
        assert await got["Body"].read() == b"kept"
    # The broker keeps its log in S3: it must carry on once S3 is back.
    value = f"after s3 restart {uuid.uuid4()}".encode()
    await _produce(settings, STAGE, b"job-4", value)
    assert value in await _read_all(settings, STAGE)
