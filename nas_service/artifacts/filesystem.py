"""The filesystem artifact store: ``<root>/<key>``, written through a temp file and ``os.replace``.

Only hosts that share ``root`` (one machine, or a shared volume) see the same artifacts; a deployment whose
dispatcher runs elsewhere uses the database store (:mod:`nas_service.artifacts.database`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from nas_service.artifacts.base import (
    CHUNK_SIZE,
    ArtifactInfo,
    ArtifactNotFound,
    BaseArtifactStore,
    as_stream,
    check_key,
    check_prefix,
)


class FileSystemArtifactStore(BaseArtifactStore):
    """Artifacts as files under a root directory (created on the first write).

    Args:
        root: The directory; ``trials/42/weights.pt`` is stored at ``<root>/trials/42/weights.pt``.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def put(self, key: str, data: bytes | BinaryIO) -> ArtifactInfo:
        """See :meth:`BaseArtifactStore.put`."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        source = as_stream(data)
        # temp names start with a dot, which no key segment may: list() never shows a half-written file
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        size = 0
        try:
            with os.fdopen(fd, "wb") as fh:
                while chunk := source.read(CHUNK_SIZE):
                    fh.write(chunk)
                    size += len(chunk)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return ArtifactInfo(key=key, size=size)

    def stat(self, key: str) -> ArtifactInfo | None:
        """See :meth:`BaseArtifactStore.stat`."""
        try:
            return ArtifactInfo(key=key, size=self._path(key).stat().st_size)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        """See :meth:`BaseArtifactStore.iter_chunks` (the open file keeps its bytes even if replaced meanwhile)."""
        try:
            fh = self._path(key).open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ArtifactNotFound(f"no artifact {key!r}") from None
        return _read_chunks(fh)

    def delete(self, key: str) -> bool:
        """See :meth:`BaseArtifactStore.delete`; empty directories left behind are removed."""
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return False
        for parent in path.parents:
            if parent == self.root or self.root not in parent.parents:
                break
            try:
                parent.rmdir()
            except OSError:  # not empty (or gone): stop climbing
                break
        return True

    def list(self, prefix: str = "") -> list[str]:
        """See :meth:`BaseArtifactStore.list`."""
        check_prefix(prefix)
        start = self.root.joinpath(*prefix.split("/")[:-1]) if "/" in prefix else self.root
        keys: list[str] = []
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            base = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                if name.startswith("."):
                    continue
                key = name if base == "." else f"{base}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)


def _read_chunks(fh: BinaryIO) -> Iterator[bytes]:
    with fh:
        while chunk := fh.read(CHUNK_SIZE):
            yield chunk
