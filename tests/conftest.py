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
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_DSN = os.environ.get("NAS_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3")


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
        _postgres_server.skip_reason = reason  # type: ignore[attr-defined]
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
        pytest.skip(getattr(_postgres_server, "skip_reason", "PostgreSQL unreachable"))
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


@pytest.fixture
def migrated_url(db_url: str) -> str:
    """``db_url`` upgraded to the head revision."""
    from nas_service.storage.schema import upgrade

    upgrade(db_url)
    return db_url


@pytest.fixture
def storage(migrated_url: str) -> Iterator[object]:
    """A :class:`~nas_service.storage.SQLAlchemyStorage` on a migrated database, once per backend."""
    from nas_service.storage import SQLAlchemyStorage

    store = SQLAlchemyStorage(migrated_url)
    yield store
    store.close()
