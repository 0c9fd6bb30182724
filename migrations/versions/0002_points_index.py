"""A covering index for the dashboard's first Pareto draw (``completed_points``).

Revision ID: 0002_points_index
Revises: 0001_initial
Create Date: 2026-11-24 04:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002_points_index"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # (job_id, state, accuracy, latency_ms) + id: completed_points reads only the index (SQLite's entries
    # carry the rowid, which is ``id``; Postgres stores ``id`` as a non-key INCLUDE column)
    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.create_index(
            "ix_trials_job_state_points",
            ["job_id", "state", "accuracy", "latency_ms"],
            unique=False,
            postgresql_include=["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.drop_index("ix_trials_job_state_points")
