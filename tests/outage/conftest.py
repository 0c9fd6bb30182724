"""A throwaway PostgreSQL cluster of the test's own (initdb + pg_ctl on a free loopback port), stoppable mid-test.

Needs the PostgreSQL server binaries and root (the cluster runs as user ``postgres``); skipped loudly otherwise.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nas_service.storage.schema import upgrade


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """One cluster in a temporary directory, run as user ``postgres``."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "pg"
        self.port = _free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/nas?connect_timeout=2"
        self._pg_ctl = _bin("pg_ctl")
        initdb = _bin("initdb")
        assert initdb and self._pg_ctl
        root.chmod(0o755)
        self.dir.mkdir()
        shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres([initdb, "-A", "trust", "--no-sync", "-U", "postgres", "-D", str(self.dir)])
        self.start()
        createdb = _bin("createdb")
        assert createdb
        self._as_postgres([createdb, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "nas"])
        upgrade(self.url)

    @staticmethod
    def _as_postgres(cmd: list[str]) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off"
        self._as_postgres([self._pg_ctl, "-D", str(self.dir), "-o", opts, "-l", str(self.dir / "log"), "-w", "start"])

    def stop(self) -> None:
        """Stop the server at once (``-m fast``: open connections are closed)."""
        self._as_postgres([self._pg_ctl, "-D", str(self.dir), "-m", "fast", "-w", "stop"])

    def destroy(self) -> None:
        """Stop (if running) and remove the cluster."""
        subprocess.run(
            ["runuser", "-u", "postgres", "--", self._pg_ctl, "-D", str(self.dir), "-m", "immediate", "stop"],
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip


@pytest.fixture
def pg_cluster() -> Iterator[PgCluster]:
    """A fresh, migrated cluster with database ``nas``; its ``url`` for the storage."""
    if os.geteuid() != 0 or _bin("initdb") is None or shutil.which("runuser") is None:
        pytest.skip("SKIPPED LOUDLY: a throwaway PostgreSQL cluster needs root, runuser and the server binaries")
    root = Path(tempfile.mkdtemp(prefix="nas-pg-"))
    cluster = PgCluster(root)
    try:
        yield cluster
    finally:
        cluster.destroy()
        time.sleep(0.2)
        shutil.rmtree(root, ignore_errors=True)
