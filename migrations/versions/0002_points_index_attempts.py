"""A covering index for the dashboard's first Pareto draw; epoch metrics kept per attempt.

* ``ix_trials_job_state_points`` on trials ``(job_id, state, accuracy, latency_ms)`` (+ ``id``):
  ``completed_points`` reads only the index.
* ``trial_metrics.attempt``: a retried trial stores its own epochs 1..n next to the earlier attempts' (which
  stay as history); the unique key becomes ``(trial_id, attempt, epoch)``. Existing rows are given their
  trial's current attempt (they were the only curve the trial had).

Revision ID: 0002_points_index_attempts
Revises: 0001_initial
Create Date: 2026-11-24 04:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_points_index_attempts"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite's index entries carry the rowid (``id``); Postgres stores ``id`` as a non-key INCLUDE column
    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.create_index(
            "ix_trials_job_state_points",
            ["job_id", "state", "accuracy", "latency_ms"],
            unique=False,
            postgresql_include=["id"],
        )

    with op.batch_alter_table("trial_metrics", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempt", sa.Integer(), server_default=sa.text("1"), nullable=False))
        batch_op.drop_constraint("uq_trial_metrics_trial_epoch", type_="unique")
        batch_op.create_unique_constraint("uq_trial_metrics_trial_attempt_epoch", ["trial_id", "attempt", "epoch"])
    op.execute(
        "UPDATE trial_metrics SET attempt = (SELECT CASE WHEN trials.attempts > 1 THEN trials.attempts ELSE 1 END "
        "FROM trials WHERE trials.id = trial_metrics.trial_id)"
    )


def downgrade() -> None:
    # one row per (trial, epoch) again: the latest attempt's row is kept, earlier attempts' history is lost
    op.execute(
        "DELETE FROM trial_metrics WHERE EXISTS (SELECT 1 FROM trial_metrics AS newer "
        "WHERE newer.trial_id = trial_metrics.trial_id AND newer.epoch = trial_metrics.epoch "
        "AND newer.attempt > trial_metrics.attempt)"
    )
    with op.batch_alter_table("trial_metrics", schema=None) as batch_op:
        batch_op.drop_constraint("uq_trial_metrics_trial_attempt_epoch", type_="unique")
        batch_op.create_unique_constraint("uq_trial_metrics_trial_epoch", ["trial_id", "epoch"])
        batch_op.drop_column("attempt")

    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.drop_index("ix_trials_job_state_points")
