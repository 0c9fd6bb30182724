"""Shared fixtures: database URLs for both backends and a migrated storage.

``db_url`` is parametrized over ``sqlite`` (a file in a temporary directory) and ``postgres`` (a throwaway
database ``nas_test_<random>`` created on the server at ``NAS_TEST_PG_DSN``, default
``host=127.0.0.1 port=5432 user=postgres dbname=postgres``, dropped at the end of the session). Where the
server cannot be reached, the Postgres parameters are SKIPPED with the reason (and a warning printed), never
silently.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

# No test may read or write the user's real data dir (~/.nas-service: database, admin token, trial weights):
# every process of the session, Ray workers included (they inherit the environment), gets a throwaway one.
# Tests that need their own still set NAS_DATA_DIR themselves. Ray must never try to reach the internet.
os.environ["NAS_DATA_DIR"] = tempfile.mkdtemp(prefix="nas-test-data-")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

PG_DSN = os.environ.get("NAS_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3")


#: Why Postgres tests skip (set when the server does not answer).
_PG_SKIP_REASON = ["PostgreSQL unreachable"]


def _pg_params() -> dict[str, str]:
    return dict(part.split("=", 1) for part in PG_DSN.split())


@pytest.fixture(scope="session")
def _postgres_server() -> Iterator[dict[str, str] | None]:
    """Connection parameters of a reachable Postgres server, or ``None`` (with the reason recorded)."""
    try:
        import psycopg

        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # unreachable server, missing driver
        reason = f"PostgreSQL unreachable at {PG_DSN!r}: {exc}; Postgres tests are SKIPPED"
        warnings.warn(reason, stacklevel=1)
        print(f"\nWARNING: {reason}", file=sys.stderr)
        _PG_SKIP_REASON[0] = reason
        yield None
        return
    yield _pg_params()


def _new_pg_database(server: dict[str, str]) -> tuple[str, str]:
    import psycopg

    name = f"nas_test_{secrets.token_hex(6)}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    host, port, user = (
        server.get("host", "127.0.0.1"),
        server.get("port", "5432"),
        server.get("user", "postgres"),
    )
    password = f":{server['password']}" if "password" in server else ""
    return name, f"postgresql+psycopg://{user}{password}@{host}:{port}/{name}"


def _drop_pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def _postgres_session_db(_postgres_server: dict[str, str] | None) -> Iterator[str | None]:
    if _postgres_server is None:
        yield None
        return
    name, url = _new_pg_database(_postgres_server)
    try:
        yield url
    finally:
        _drop_pg_database(name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A URL of a fresh (empty, unmigrated) SQLite file."""
    return f"sqlite:///{tmp_path / 'nas.db'}"


@pytest.fixture
def postgres_url(_postgres_session_db: str | None) -> Iterator[str]:
    """A URL of an empty Postgres database (the session's throwaway database, wiped before each test)."""
    if _postgres_session_db is None:
        pytest.skip(_PG_SKIP_REASON[0])
    from sqlalchemy import create_engine, pool, text

    engine = create_engine(_postgres_session_db, poolclass=pool.NullPool)
    with engine.begin() as conn:  # a clean slate per test: cheaper than CREATE DATABASE each time
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    yield _postgres_session_db


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """An empty database URL, once per backend."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session; tests get copies (an Alembic run costs ~0.5 s)."""
    from nas_service.storage.schema import upgrade

    path = tmp_path_factory.mktemp("template") / "nas.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _postgres_migrated_db(_postgres_server: dict[str, str] | None) -> Iterator[str | None]:
    """A second throwaway Postgres database, migrated once; emptied (TRUNCATE) before each test."""
    if _postgres_server is None:
        yield None
        return
    from nas_service.storage.schema import upgrade

    name, url = _new_pg_database(_postgres_server)
    try:
        upgrade(url)
        yield url
    finally:
        _drop_pg_database(name)


def _reset_postgres(url: str) -> None:
    """Empty every table; re-create the schema when a test left it at another revision."""
    from sqlalchemy import create_engine, inspect, pool, text

    from nas_service.storage.schema import current_revision, head_revision, upgrade

    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        if current_revision(url) != head_revision():
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            upgrade(url)
            return
        tables = [t for t in inspect(engine).get_table_names() if t != "alembic_version"]
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def migrated_url(
    request: pytest.FixtureRequest, tmp_path: Path, _sqlite_template: Path, _postgres_migrated_db: str | None
) -> str:
    """A database at the head revision with no rows, once per backend."""
    if request.param == "sqlite":
        path = tmp_path / "nas.db"
        shutil.copyfile(_sqlite_template, path)
        return f"sqlite:///{path}"
    if _postgres_migrated_db is None:
        pytest.skip(_PG_SKIP_REASON[0])
    _reset_postgres(_postgres_migrated_db)
    return _postgres_migrated_db


@pytest.fixture
def storage(migrated_url: str) -> Iterator[object]:
    """A :class:`~nas_service.storage.SQLAlchemyStorage` on a migrated, empty database, once per backend."""
    from nas_service.storage import SQLAlchemyStorage

    store = SQLAlchemyStorage(migrated_url)
    yield store
    store.close()
