"""Trials are the one source of truth for a strategy's history.

* ``trials.suggestion_id``: the strategy's id of the suggestion a trial came from, written in the transaction
  that creates the trial; unique per job (``ix_trials_job_suggestion``; NULLs are distinct); and
  ``trials.suggestion_memo``, what else the strategy needs to recognise it (e.g. Optuna system attributes).
* ``strategy_states``: the small resumable strategy state (RNG state, policy weights, population ids), one row
  per job, instead of ``jobs.strategy_state`` (which copied the whole trial history into the job row and was
  decoded on every job lock). The old blobs are dropped: their format is not resumable by this version (a job
  a dispatcher resumes after the upgrade starts its strategy afresh from its trials).
* ``jobs.lease_epoch``: incremented by every claim, the fencing token of the current claim (lease fencing
  builds on it: a write carrying an older epoch is refused).

Revision ID: 0003
Revises: 0002_points_index_attempts
Create Date: 2026-12-03 07:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002_points_index_attempts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "strategy_states",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id"),
    )
    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.add_column(sa.Column("suggestion_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("suggestion_memo", sa.JSON(), nullable=True))
        batch_op.create_index("ix_trials_job_suggestion", ["job_id", "suggestion_id"], unique=True)
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("strategy_state")
        batch_op.add_column(sa.Column("lease_epoch", sa.Integer(), server_default=sa.text("0"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("lease_epoch")
        batch_op.add_column(sa.Column("strategy_state", sa.JSON(), nullable=True))
    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.drop_index("ix_trials_job_suggestion")
        batch_op.drop_column("suggestion_memo")
        batch_op.drop_column("suggestion_id")
    op.drop_table("strategy_states")
