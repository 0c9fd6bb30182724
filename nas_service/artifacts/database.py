"""The database artifact store: artifacts as rows of the service's own database (SQLite or Postgres).

Every host that reaches the database serves the same artifacts, so a ``nas dispatcher`` on another machine (with
its own data dir) stores trained weights that ``nas serve`` exports. Each artifact is one ``artifacts`` row
(key, size, SHA-256) and its bytes are ``artifact_chunks`` rows of at most :data:`CHUNK_SIZE` bytes, so neither
a write nor a read holds more than a chunk in memory beyond what the caller passes in.

An overwrite deletes the old row and its chunks and inserts new ones in one transaction; a reader streaming the
old artifact meanwhile gets :class:`ArtifactNotFound` instead of a mix of the two.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any, BinaryIO

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from nas_service.artifacts.base import (
    CHUNK_SIZE,
    ArtifactInfo,
    ArtifactNotFound,
    BaseArtifactStore,
    as_stream,
    check_key,
    check_prefix,
)
from nas_service.storage._engine import SessionScope
from nas_service.storage.errors import IntegrityError
from nas_service.storage.orm import ArtifactChunkRow, ArtifactRow, utcnow

_PUT_TRIES = 3


class DatabaseArtifactStore(BaseArtifactStore):
    """Artifacts in the ``artifacts``/``artifact_chunks`` tables (schema revision ``0003b`` or later).

    Args:
        engine: An engine on the service's database (the storage's own: ``SQLAlchemyStorage.engine``).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session = SessionScope(engine)

    def put(self, key: str, data: bytes | BinaryIO) -> ArtifactInfo:
        """See :meth:`BaseArtifactStore.put`.

        Writers of one key are serialised by its row lock; should two still collide on the unique key, the
        loser retries when its source can be re-read from the start (else the :class:`IntegrityError` propagates).
        """
        check_key(key)
        source = as_stream(data)
        start = source.tell() if source.seekable() else None
        for attempt in range(_PUT_TRIES):
            try:
                with self._session() as s:
                    return self._put(s, key, source)
            except IntegrityError:
                if start is None or attempt == _PUT_TRIES - 1:
                    raise
                source.seek(start)
        raise AssertionError("unreachable")  # pragma: no cover

    def _put(self, s: Session, key: str, source: BinaryIO) -> ArtifactInfo:
        # Take the key's row lock first (an upsert waits for, then locks, the current row): writers of one key
        # queue here instead of racing delete+insert into the unique constraint.
        now = utcnow()
        lock = self._insert(ArtifactRow).values(key=key, size=0, sha256="", created_at=now)
        s.execute(lock.on_conflict_do_update(index_elements=[ArtifactRow.key], set_={"created_at": now}))
        _delete(s, key)  # a new row (new id) each time: a reader of the old one notices the replacement
        row = ArtifactRow(key=key, size=0, sha256="", created_at=now)
        s.add(row)
        s.flush()
        digest, size, part = hashlib.sha256(), 0, 0
        while chunk := source.read(CHUNK_SIZE):
            s.execute(insert(ArtifactChunkRow).values(artifact_id=row.id, part=part, data=chunk))
            digest.update(chunk)
            size += len(chunk)
            part += 1
        row.size, row.sha256 = size, digest.hexdigest()
        return ArtifactInfo(key=key, size=size)

    def _insert(self, table: type[ArtifactRow]) -> Any:
        return (postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert)(table)

    def stat(self, key: str) -> ArtifactInfo | None:
        """See :meth:`BaseArtifactStore.stat`."""
        check_key(key)
        with self._session(write=False) as s:
            size = s.execute(select(ArtifactRow.size).where(ArtifactRow.key == key)).scalar_one_or_none()
        return None if size is None else ArtifactInfo(key=key, size=int(size))

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        """See :meth:`BaseArtifactStore.iter_chunks`: one short read transaction per chunk, no held connection."""
        check_key(key)
        with self._session(write=False) as s:
            found = s.execute(
                select(ArtifactRow.id, ArtifactRow.size, ArtifactRow.sha256).where(ArtifactRow.key == key)
            ).first()
        if found is None:
            raise ArtifactNotFound(f"no artifact {key!r}")
        return self._chunks(key, int(found[0]), int(found[1]), str(found[2]))

    def _chunks(self, key: str, artifact_id: int, size: int, sha256: str) -> Iterator[bytes]:
        # Each chunk is read together with its artifact row's id and digest: SQLite may give a replacement the
        # same id, but not (unless the bytes are the same) the same digest.
        sent, part = 0, 0
        while sent < size:
            query = (
                select(ArtifactChunkRow.data)
                .join(ArtifactRow, ArtifactRow.id == ArtifactChunkRow.artifact_id)
                .where(ArtifactRow.id == artifact_id, ArtifactRow.sha256 == sha256, ArtifactChunkRow.part == part)
            )
            with self._session(write=False) as s:
                data = s.execute(query).scalar_one_or_none()
            if data is None:
                raise ArtifactNotFound(f"artifact {key!r} was replaced or deleted while being read")
            sent += len(data)
            part += 1
            yield bytes(data)

    def delete(self, key: str) -> bool:
        """See :meth:`BaseArtifactStore.delete`."""
        check_key(key)
        with self._session() as s:
            return _delete(s, key)

    def list(self, prefix: str = "") -> list[str]:
        """See :meth:`BaseArtifactStore.list`."""
        check_prefix(prefix)
        query = select(ArtifactRow.key)
        if prefix:
            query = query.where(ArtifactRow.key.startswith(prefix, autoescape=True))
        with self._session(write=False) as s:
            return sorted(s.execute(query).scalars())


def _delete(s: Session, key: str) -> bool:
    """Delete an artifact and its chunks (explicitly: no reliance on the engine enforcing ``ON DELETE``)."""
    ids = list(s.execute(select(ArtifactRow.id).where(ArtifactRow.key == key)).scalars())
    if not ids:
        return False
    s.execute(delete(ArtifactChunkRow).where(ArtifactChunkRow.artifact_id.in_(ids)))
    s.execute(delete(ArtifactRow).where(ArtifactRow.id.in_(ids)))
    return True
