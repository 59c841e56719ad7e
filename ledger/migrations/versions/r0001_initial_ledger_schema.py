"""Initial ledger schema: jobs, artifacts, lineage, transformations, tracking, dead letters.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 04:37:41.590517
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "artifact_lineage",
        sa.Column("source_artifact_id", sa.Uuid(), nullable=False),
        sa.Column("derived_artifact_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("transformation_type", sa.Text(), nullable=False),
        sa.Column("transformation_version", sa.Text(), nullable=False),
        sa.Column("parameters", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "source_artifact_id", "derived_artifact_id", name=op.f("pk_artifact_lineage")
        ),
    )
    op.create_index(
        "ix_artifact_lineage_derived_artifact_id",
        "artifact_lineage",
        ["derived_artifact_id"],
        unique=False,
    )
    op.create_index("ix_artifact_lineage_job_id", "artifact_lineage", ["job_id"], unique=False)
    op.create_table(
        "dead_letters",
        sa.Column("dead_letter_id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("source_topic", sa.Text(), nullable=False),
        sa.Column("source_partition", sa.Integer(), nullable=True),
        sa.Column("source_offset", sa.BigInteger(), nullable=True),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("error_kind", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("dead_letter_id", name=op.f("pk_dead_letters")),
    )
    op.create_index("ix_dead_letters_job_id", "dead_letters", ["job_id"], unique=False)
    op.create_table(
        "jobs",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("filename", sa.Text(), nullable=True),
        sa.Column("first_stage", sa.String(length=32), nullable=True),
        sa.Column("facts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("correlation_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "state IN ('PENDING', 'OMR_PROCESSING', 'OMR_COMPLETED', 'OMR_FAILED', "
            "'FINGERING_PROCESSING', 'FINGERING_COMPLETED', 'FINGERING_FAILED', "
            "'RENDERING_PROCESSING', 'COMPLETED', 'FAILED')",
            name=op.f("ck_jobs_valid_state"),
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_created_at", "jobs", ["created_at"], unique=False)
    op.create_index("ix_jobs_owner_created_at", "jobs", ["owner", "created_at"], unique=False)
    op.create_index("ix_jobs_state", "jobs", ["state"], unique=False)
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_processed_events")),
    )
    op.create_index("ix_processed_events_job_id", "processed_events", ["job_id"], unique=False)
    op.create_index(
        "ix_processed_events_topic_partition_offset",
        "processed_events",
        ["topic", "partition", "offset"],
        unique=False,
    )
    op.create_table(
        "artifacts",
        sa.Column("artifact_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("artifact_schema_version", sa.Integer(), nullable=True),
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("version_id", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.Text(), nullable=False),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("page_count", sa.Integer(), nullable=True),
        sa.Column("transformation_type", sa.Text(), nullable=False),
        sa.Column("transformation_version", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.job_id"], name=op.f("fk_artifacts_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("artifact_id", name=op.f("pk_artifacts")),
    )
    op.create_index("ix_artifacts_job_id_kind", "artifacts", ["job_id", "kind"], unique=False)
    op.create_index("ix_artifacts_sha256", "artifacts", ["sha256"], unique=False)
    op.create_table(
        "transformations",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=True),
        sa.Column("input_artifact_id", sa.Uuid(), nullable=True),
        sa.Column("output_artifact_id", sa.Uuid(), nullable=True),
        sa.Column("transformation_type", sa.Text(), nullable=True),
        sa.Column("transformation_version", sa.Text(), nullable=True),
        sa.Column("error_kind", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.job_id"],
            name=op.f("fk_transformations_job_id_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_transformations")),
    )
    op.create_index(
        "ix_transformations_job_id_at", "transformations", ["job_id", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_transformations_job_id_at", table_name="transformations")
    op.drop_table("transformations")
    op.drop_index("ix_artifacts_sha256", table_name="artifacts")
    op.drop_index("ix_artifacts_job_id_kind", table_name="artifacts")
    op.drop_table("artifacts")
    op.drop_index("ix_processed_events_topic_partition_offset", table_name="processed_events")
    op.drop_index("ix_processed_events_job_id", table_name="processed_events")
    op.drop_table("processed_events")
    op.drop_index("ix_jobs_state", table_name="jobs")
    op.drop_index("ix_jobs_owner_created_at", table_name="jobs")
    op.drop_index("ix_jobs_created_at", table_name="jobs")
    op.drop_table("jobs")
    op.drop_index("ix_dead_letters_job_id", table_name="dead_letters")
    op.drop_table("dead_letters")
    op.drop_index("ix_artifact_lineage_job_id", table_name="artifact_lineage")
    op.drop_index("ix_artifact_lineage_derived_artifact_id", table_name="artifact_lineage")
    op.drop_table("artifact_lineage")
