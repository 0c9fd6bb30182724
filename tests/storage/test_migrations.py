"""Alembic migrations on both backends: empty -> head -> base -> head, and the start-up schema check."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, pool, text

from nas_service.storage import SchemaOutOfDate
from nas_service.storage.orm import Base
from nas_service.storage.schema import (
    current_revision,
    downgrade,
    ensure_schema_current,
    head_revision,
    upgrade,
)

TABLES = {
    "owners", "api_tokens", "search_spaces", "jobs", "trials", "trial_metrics", "latency_measurements",
    "strategy_states",
    "artifacts", "artifact_chunks", "trial_counters",
    "latency_targets", "latency_predictors",
}  # fmt: skip


def _tables(url: str) -> set[str]:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    assert current_revision(db_url) is None
    upgrade(db_url)
    assert current_revision(db_url) == head_revision() and _tables(db_url) == TABLES
    downgrade(db_url, "base")
    assert current_revision(db_url) is None and _tables(db_url) == set()
    upgrade(db_url)
    assert _tables(db_url) == TABLES
    engine = create_engine(db_url, poolclass=pool.NullPool)
    with engine.connect() as conn:  # the migration creates exactly what the ORM models describe
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == []


def test_schema_check_names_the_upgrade_command(db_url: str) -> None:
    with pytest.raises(SchemaOutOfDate, match="nas db upgrade"):
        ensure_schema_current(db_url)
    if db_url.startswith("sqlite"):
        ensure_schema_current(db_url, auto_upgrade=True)  # embedded mode upgrades itself
        assert current_revision(db_url) == head_revision()
    else:
        with pytest.raises(SchemaOutOfDate, match="nas db upgrade"):  # a server database never auto-upgrades
            ensure_schema_current(db_url, auto_upgrade=True)


def test_migrations_dir_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nas_service.storage.schema import migrations_dir

    assert (migrations_dir() / "env.py").is_file()
    monkeypatch.setenv("NAS_MIGRATIONS_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="NAS_MIGRATIONS_DIR"):
        migrations_dir()


def test_0002_gives_existing_epochs_their_trials_attempt_and_downgrades(db_url: str) -> None:
    upgrade(db_url, "0001_initial")
    engine = create_engine(db_url, poolclass=pool.NullPool)
    now = "2026-01-01 00:00:00"
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO owners (id, name, created_at) VALUES (1, 'o', :t)"), {"t": now})
        conn.execute(
            text(
                "INSERT INTO jobs (id, owner_id, name, kind, spec, state, trials_total, trials_completed, "
                "trials_pruned, trials_failed, event_seq, created_at) "
                "VALUES (1, 1, 'j', 'search', '{}', 'running', 2, 0, 0, 0, 0, :t)"
            ),
            {"t": now},
        )
        for trial_id, attempts in [(1, 2), (2, 0)]:
            conn.execute(
                text(
                    "INSERT INTO trials (id, job_id, number, state, params, attempts, epochs_run, on_front, "
                    "updated_seq, created_at) VALUES (:i, 1, :i, 'running', '{}', :a, 1, false, 0, :t)"
                ),
                {"i": trial_id, "a": attempts, "t": now},
            )
            conn.execute(
                text("INSERT INTO trial_metrics (trial_id, epoch, val_accuracy) VALUES (:i, 1, 0.5)"), {"i": trial_id}
            )
    upgrade(db_url)
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT trial_id, attempt FROM trial_metrics ORDER BY trial_id")).all()
        assert [tuple(r) for r in rows] == [(1, 2), (2, 1)]  # the only curve a trial had is its current one
        conn.execute(text("INSERT INTO trial_metrics (trial_id, attempt, epoch, val_accuracy) VALUES (1, 1, 1, 0.4)"))
    downgrade(db_url, "0001_initial")  # one row per (trial, epoch) again: the latest attempt's
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT trial_id, epoch, val_accuracy FROM trial_metrics ORDER BY trial_id")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [(1, 1, 0.5), (2, 1, 0.5)]


def test_schema_check_of_a_database_one_revision_behind(db_url: str) -> None:
    upgrade(db_url, "0001_initial")
    expected = f"revision 0001_initial but this nas-service needs {head_revision()}; run `nas db upgrade`"
    with pytest.raises(SchemaOutOfDate) as caught:
        ensure_schema_current(db_url)
    assert expected in str(caught.value)
    if db_url.startswith("sqlite"):
        ensure_schema_current(db_url, auto_upgrade=True)
        assert current_revision(db_url) == head_revision() != "0001_initial"


def test_0003b_starts_counters_from_existing_trials_and_drops_worker_tokens(db_url: str) -> None:
    upgrade(db_url, "0002_points_index_attempts")
    engine = create_engine(db_url, poolclass=pool.NullPool)
    now = "2026-01-01 00:00:00"
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO owners (id, name, created_at) VALUES (1, 'o', :t)"), {"t": now})
        for scope in ("user", "worker"):
            conn.execute(
                text(
                    "INSERT INTO api_tokens (owner_id, token_hash, prefix, scope, revoked, created_at) "
                    "VALUES (1, :h, 'nas_x', :s, false, :t)"
                ),
                {"h": f"hash-{scope}", "s": scope, "t": now},
            )
        conn.execute(
            text(
                "INSERT INTO jobs (id, owner_id, name, kind, spec, state, trials_total, trials_completed, "
                "trials_pruned, trials_failed, event_seq, created_at) "
                "VALUES (1, 1, 'j', 'search', '{}', 'running', 4, 2, 0, 1, 0, :t)"
            ),
            {"t": now},
        )
        for number, state in enumerate(["completed", "completed", "failed", "running"], start=1):
            conn.execute(
                text(
                    "INSERT INTO trials (job_id, number, state, params, attempts, epochs_run, on_front, "
                    "updated_seq, created_at) VALUES (1, :n, :s, '{}', 1, 1, false, 0, :t)"
                ),
                {"n": number, "s": state, "t": now},
            )
    upgrade(db_url)
    with engine.connect() as conn:
        counters = dict(conn.execute(text("SELECT name, value FROM trial_counters WHERE job_id = 1")).all())
        scopes = [r[0] for r in conn.execute(text("SELECT scope FROM api_tokens")).all()]
    assert counters == {"created": 4, "completed": 2, "failed": 1} and scopes == ["user"]
    downgrade(db_url, "0002_points_index_attempts")
    engine.dispose()
    assert not {"artifacts", "artifact_chunks", "trial_counters"} & _tables(db_url)
