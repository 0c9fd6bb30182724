"""The artifact-store interface: named blobs (trained weights, checkpoints) that every host of a deployment reads.

Keys are relative, ``/``-separated paths such as ``trials/42/weights.pt``: segments of letters, digits, ``.``,
``_`` and ``-`` that do not start with a dot (so no ``..`` and no hidden files), at most 512 characters.

Semantics every backend keeps (the contract suite in ``tests/artifacts`` checks them on each):

* :meth:`BaseArtifactStore.put` overwrites atomically: a reader sees the old bytes or the new ones, never a mix;
* :meth:`BaseArtifactStore.iter_chunks` streams an artifact in chunks of at most :data:`CHUNK_SIZE` bytes;
* :meth:`BaseArtifactStore.list` returns the keys that start with a prefix, sorted.
"""

from __future__ import annotations

import io
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

#: Largest piece :meth:`BaseArtifactStore.iter_chunks` yields and the database backend stores per row.
CHUNK_SIZE = 1 << 20
MAX_KEY_LENGTH = 512
_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9._-]*"
_KEY = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
_PREFIX = re.compile(rf"(?:{_SEGMENT}/)*(?:{_SEGMENT})?")


class ArtifactError(Exception):
    """Base class of the artifact-store errors."""


class InvalidArtifactKey(ArtifactError, ValueError):
    """A key (or list prefix) that is not a clean relative path."""


class ArtifactNotFound(ArtifactError, LookupError):
    """No artifact under that key (or it was replaced or deleted while being read)."""


@dataclass(frozen=True)
class ArtifactInfo:
    """What a store knows about one artifact without reading it.

    Attributes:
        key: The artifact's key.
        size: Its length in bytes.
    """

    key: str
    size: int


def check_key(key: str) -> str:
    """Return ``key`` when it is a valid artifact key (see the module docstring).

    Raises:
        InvalidArtifactKey: Otherwise, naming the key.
    """
    if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH or not _KEY.fullmatch(key):
        raise InvalidArtifactKey(f"invalid artifact key {key!r}: use a relative path of [A-Za-z0-9._-] segments")
    return key


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` when it is a valid list prefix (a key's beginning, possibly ending in ``/``, or ``""``).

    Raises:
        InvalidArtifactKey: Otherwise.
    """
    if not isinstance(prefix, str) or len(prefix) > MAX_KEY_LENGTH or not _PREFIX.fullmatch(prefix):
        raise InvalidArtifactKey(f"invalid artifact key prefix {prefix!r}")
    return prefix


def as_stream(data: bytes | bytearray | memoryview | BinaryIO) -> BinaryIO:
    """``data`` as a readable binary stream (bytes are wrapped, streams returned as they are)."""
    if isinstance(data, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(data))
    return data


class BaseArtifactStore(ABC):
    """Named blobs shared by every host of a deployment.

    Subclasses implement :meth:`put`, :meth:`stat`, :meth:`iter_chunks`, :meth:`delete` and :meth:`list`;
    :meth:`get` and :meth:`exists` are built on them. Every method validates its key first
    (:class:`InvalidArtifactKey`).
    """

    @abstractmethod
    def put(self, key: str, data: bytes | BinaryIO) -> ArtifactInfo:
        """Store ``data`` (bytes, or a binary stream read to its end) under ``key``, replacing what was there.

        The replacement is atomic: readers see the old artifact or the new one.

        Returns:
            The stored artifact's key and size.
        """

    @abstractmethod
    def stat(self, key: str) -> ArtifactInfo | None:
        """The artifact's key and size, or ``None`` when there is none."""

    @abstractmethod
    def iter_chunks(self, key: str) -> Iterator[bytes]:
        """Stream the artifact in chunks of at most :data:`CHUNK_SIZE` bytes.

        Raises:
            ArtifactNotFound: Immediately when there is no artifact under ``key``; while iterating when it is
                replaced or deleted before the last chunk was read.
        """

    @abstractmethod
    def delete(self, key: str) -> bool:
        """Remove the artifact; ``True`` when there was one."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """The keys that start with ``prefix`` (a plain string prefix: ``"trials/4"`` matches ``trials/42/x``)."""

    def get(self, key: str) -> bytes:
        """The whole artifact in memory.

        Raises:
            ArtifactNotFound: There is none under ``key``.
        """
        return b"".join(self.iter_chunks(key))

    def exists(self, key: str) -> bool:
        """Whether an artifact is stored under ``key``."""
        return self.stat(key) is not None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the store holds (nothing by default)."""
