"""Engine set-up and the one scoped-session helper every SQLAlchemy storage call goes through."""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session, sessionmaker

from nas_service.storage.errors import IntegrityError, InvalidValueError, StorageError, StorageUnavailable
from nas_service.storage.fencing import check_fence

_BEGIN_OPTION = "nas_sqlite_begin"
log = logging.getLogger(__name__)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def json_serializer(value: Any) -> str:
    """JSON for JSON columns, the same on every backend: NaN and infinities become ``null``.

    Postgres refuses ``NaN`` in ``json`` while SQLite would store it; mapping both to ``null`` keeps the two
    backends identical (a strategy that needs non-finite values must encode them itself).
    """
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        log.warning("non-finite floats in a JSON column were stored as null")
        return json.dumps(_finite(value), allow_nan=False)


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (``None`` for in-memory or non-SQLite URLs)."""
    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def secure_sqlite_file(path: Path) -> None:
    """Make the database file (and its WAL and shared-memory files) readable by its owner only (mode 600).

    The file is created empty with mode 600 before SQLite opens it; SQLite gives the ``-wal`` and ``-shm``
    files the database file's permissions, so they follow. A new parent directory is created with mode 700.
    Files of another user (a read-only mount, say) are left alone.
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        with suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        try:
            if candidate.exists() and candidate.stat().st_mode & 0o077:
                candidate.chmod(0o600)
        except PermissionError:
            log.warning("cannot restrict %s to mode 600 (not its owner)", candidate)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys, a busy timeout and explicit ``BEGIN`` control.

    pysqlite's own transaction handling starts a deferred transaction at the first write, so a transaction
    that reads first and writes later can fail with ``database is locked`` without waiting. We issue ``BEGIN
    IMMEDIATE`` ourselves for writing sessions (readers keep a plain ``BEGIN`` and run concurrently under WAL).
    """
    kwargs.setdefault("json_serializer", json_serializer)
    if url.startswith("sqlite"):
        database = sqlite_file(url)
        if database is not None:
            secure_sqlite_file(database)
        connect_args = {"check_same_thread": False, "timeout": 30}
        engine = create_engine(url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see _on_begin)
            cur = dbapi_conn.cursor()
            if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            try:  # re-scoring in SQL needs power(); older SQLite builds lack the math functions
                cur.execute("SELECT power(2.0, 0.5)")
            except Exception:
                dbapi_conn.create_function("power", 2, math.pow, deterministic=True)
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql(conn.get_execution_options().get(_BEGIN_OPTION, "BEGIN IMMEDIATE"))

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    return create_engine(url, **kwargs)


def _quiet_rollback(session: Session) -> None:
    """Roll back after a lost connection (the rollback itself may fail the same way)."""
    try:
        session.rollback()
    except sa_exc.SQLAlchemyError:
        log.debug("rollback after a lost connection failed", exc_info=True)


class SessionScope:
    """Hands out sessions that commit on success, roll back on error and map driver errors."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._factory = sessionmaker(engine, expire_on_commit=False, autoflush=False)

    @contextmanager
    def __call__(self, write: bool = True) -> Iterator[Session]:
        """One transaction.

        Args:
            write: ``False`` for read-only work (on SQLite a deferred transaction that does not
                block writers).

        Raises:
            LeaseLostError: A write made under :func:`~nas_service.storage.fencing.fenced` whose lease moved.
            StorageUnavailable: The database cannot be reached now (transient; retry later).
            IntegrityError: A constraint refused a write.
            StorageError: Any other driver error (the original is chained).
        """
        session = self._factory()
        try:
            if self.is_sqlite:
                session.connection(execution_options={_BEGIN_OPTION: "BEGIN IMMEDIATE" if write else "BEGIN"})
            if write:
                check_fence(session)  # first: the job row stays locked until the commit (lock order job -> trial)
            yield session
            session.commit()
        except StorageError:
            session.rollback()
            raise
        except sa_exc.IntegrityError as exc:
            session.rollback()
            raise IntegrityError(str(exc.orig).splitlines()[0] if exc.orig else str(exc)) from exc
        except sa_exc.DataError as exc:
            session.rollback()
            raise InvalidValueError(f"invalid value: {str(exc.orig or exc).splitlines()[0]}") from exc
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError) as exc:
            _quiet_rollback(session)
            raise StorageUnavailable("database unavailable") from exc
        except sa_exc.SQLAlchemyError as exc:
            session.rollback()
            raise StorageError(f"database error: {str(exc).splitlines()[0]}") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
