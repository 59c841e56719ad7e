"""The Tansu broker (Kafka protocol) with its log in S3, plus every topic Étude uses."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code

from deploy import binaries
from deploy.net import HostPort, from_bootstrap, tcp_open
from deploy.services.base import Service
from deploy.services.s3 import ensure_bucket
from etude.logging import get_logger
from schemas.topics import ALL_TOPICS

log = get_logger(__name__)

_TOPIC_ALREADY_EXISTS = 36
# Topics keep their history so replay works: no time-based deletion.
_TOPIC_CONFIG = {"retention.ms": "-1"}


class KafkaService(Service):
    name = "kafka"

    @property
    def address(self) -> HostPort:
        return from_bootstrap(self.settings.kafka_bootstrap)

    def argv(self) -> list[str]:
        url = f"tcp://{self.address}"
        return [
            str(binaries.tansu()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            f"s3://{self.settings.s3_broker_bucket}/",
        ]

    def env(self) -> dict[str, str]:
        return {
            **super().env(),
            "AWS_ENDPOINT": self.settings.s3_endpoint,
            "AWS_REGION": self.settings.s3_region,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": self.settings.s3_access_key,
            "AWS_SECRET_ACCESS_KEY": self.settings.s3_secret_key.get_secret_value(),
        }

    async def before_start(self) -> None:
        # Tansu does not create its bucket; S3 may be external, so ensure it here too.
        await ensure_bucket(self.settings, self.settings.s3_broker_bucket, versioned=False)

    def _admin(self) -> AIOKafkaAdminClient:
        return AIOKafkaAdminClient(
            bootstrap_servers=self.settings.kafka_bootstrap, request_timeout_ms=5000
        )

    async def probe(self) -> bool:
        if not await tcp_open(self.address):  # spares aiokafka's error logs while it starts
            return False
        admin = self._admin()
        try:
            await admin.start()  # bootstraps: a metadata request must succeed
            await admin.list_topics()
            return True
        finally:
            await admin.close()

    async def provision(self) -> None:
        await create_topics(self.settings.kafka_bootstrap, self.settings.kafka_topic_partitions)


async def create_topics(bootstrap: str, partitions: int) -> None:
    """Create every topic in ALL_TOPICS; existing topics are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in ALL_TOPICS if t not in existing]
        if not missing:
            return
        response = await admin.create_topics(
            [NewTopic(t, partitions, 1, topic_configs=_TOPIC_CONFIG) for t in missing]
        )
        for topic, code, *rest in response.topic_errors:
            if code not in (0, _TOPIC_ALREADY_EXISTS):
                raise for_code(code)(f"create topic {topic}: {rest[0] if rest else ''}")
        log.info("stack.topics_created", topics=missing, partitions=partitions)
    finally:
        await admin.close()
