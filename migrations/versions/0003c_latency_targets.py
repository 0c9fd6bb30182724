"""Latency targets and their predictors.

* ``latency_targets``: named measurement targets (runtime, device, threads, batch, dtype, warm-up, repeats,
  Ray resource) as a JSON ``settings`` document, unique by name; the built-in ``local-cpu`` is not stored.
* ``latency_predictors``: one JSON document per target name (lookup table of isolated parts, whole-network
  samples, fitted correction, accuracy); ``version`` counts saves.

Revision ID: 0003c
Revises: 0002_points_index_attempts
Create Date: 2026-12-03 07:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003c"
# the lead chains the parallel 0003 revisions at merge time; on this branch 0003c follows 0002
down_revision: str | None = "0003b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "latency_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["owners.id"], name=op.f("fk_latency_targets_owner_id_owners"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_latency_targets")),
        sa.UniqueConstraint("name", name=op.f("uq_latency_targets_name")),
    )
    with op.batch_alter_table("latency_targets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_latency_targets_owner_id"), ["owner_id"], unique=False)
    op.create_table(
        "latency_predictors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=63), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_latency_predictors")),
        sa.UniqueConstraint("target", name=op.f("uq_latency_predictors_target")),
    )


def downgrade() -> None:
    op.drop_table("latency_predictors")
    with op.batch_alter_table("latency_targets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_latency_targets_owner_id"))
    op.drop_table("latency_targets")
