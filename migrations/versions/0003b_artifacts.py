"""Artifacts stored in the database; monotonic trial counters for ``/metrics``.

* ``artifacts`` + ``artifact_chunks``: the database artifact store (trained weights, later checkpoints) keeps
  each artifact's bytes in chunks of at most 1 MiB, so every host that reaches the database can serve them.
* ``trial_counters``: per-job counts of trial transitions (``created``, ``completed``, ``pruned``, ``failed``,
  ``cancelled``, ``requeued``, ``stale``) that only ever grow. Existing databases start from the trials' current states.
* ``worker``-scoped API tokens are deleted: the ``/internal`` worker API they were for is gone (workers report
  through a Ray actor), and no route accepts them.

Revision ID: 0003b
Revises: 0002_points_index_attempts
Create Date: 2026-12-03 07:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003b"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "artifacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifacts")),
        sa.UniqueConstraint("key", name=op.f("uq_artifacts_key")),
    )
    op.create_table(
        "artifact_chunks",
        sa.Column("artifact_id", sa.Integer(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["artifacts.id"],
            name=op.f("fk_artifact_chunks_artifact_id_artifacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("artifact_id", "part", name=op.f("pk_artifact_chunks")),
    )
    op.create_table(
        "trial_counters",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "name", name=op.f("pk_trial_counters")),
    )
    op.execute(
        "INSERT INTO trial_counters (job_id, name, value) SELECT job_id, state, count(*) FROM trials "
        "WHERE state IN ('completed', 'pruned', 'failed', 'cancelled') GROUP BY job_id, state"
    )
    op.execute(
        "INSERT INTO trial_counters (job_id, name, value) SELECT job_id, 'created', count(*) FROM trials "
        "GROUP BY job_id"
    )
    op.execute("DELETE FROM api_tokens WHERE scope = 'worker'")


def downgrade() -> None:
    # deleted worker tokens are not restored: they authorised nothing
    op.drop_table("trial_counters")
    op.drop_table("artifact_chunks")
    op.drop_table("artifacts")
