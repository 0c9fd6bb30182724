"""Issue 10, item 8: what the service leaves on its host.

The embedded SQLite database and its WAL files are mode 600 in a mode-700 data dir; ``nas serve`` writes log
lines with timestamps (the embedded dispatcher's included).
"""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from nas_service.settings import Settings
from nas_service.storage import SQLAlchemyStorage, TokenScope
from nas_service.storage.schema import upgrade
from nas_service.testing import free_port

TIMESTAMPED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: ")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_sqlite_files_are_600_in_a_700_data_dir(tmp_path: Path) -> None:
    os.umask(0o022)  # the common default, under which files come out 644
    data_dir = tmp_path / "fresh" / "data"
    url = Settings(data_dir=data_dir).resolved_database_url()
    upgrade(url)
    store = SQLAlchemyStorage(url)
    try:
        store.create_token("alice", TokenScope.USER)  # a write: the WAL and shared-memory files exist now
        db = data_dir / "nas.db"
        files = [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]
        assert len(files) >= 2, files
        assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
        assert _mode(data_dir) == 0o700
    finally:
        store.close()


def test_existing_loose_files_are_tightened(tmp_path: Path) -> None:
    data_dir = tmp_path / "old"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    url = Settings(data_dir=data_dir).resolved_database_url()
    upgrade(url)
    db = data_dir / "nas.db"
    db.chmod(0o644)
    SQLAlchemyStorage(url).close()
    assert _mode(db) == 0o600 and _mode(data_dir) == 0o700


def test_serve_logs_lines_with_timestamps(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "NAS_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "nas_service.cli.main", "serve", "--no-dispatcher", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise AssertionError("nas serve did not come up")
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    lines = [line for line in out.splitlines() if line.strip() and "admin token" not in line]
    assert lines, out
    loose = [line for line in lines if not TIMESTAMPED.match(line)]
    assert not loose, out
    assert any("uvicorn" in line for line in lines) and any('"GET /healthz' in line for line in lines), out


def _children(pid: int) -> set[int]:
    """Every descendant of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _listening(pids: set[int]) -> list[str]:
    """The IPv4 addresses the processes ``pids`` listen on (TCP), from /proc."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    addresses = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if parts[3] == "0A" and parts[9] in inodes:  # LISTEN
            ip_hex = parts[1].split(":")[0]
            addresses.append(".".join(str(int(ip_hex[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return addresses


@pytest.mark.ray
@pytest.mark.slow
def test_embedded_ray_stays_on_loopback(tmp_path: Path) -> None:
    """The embedded Ray's node address is loopback and nothing of it listens on the machine's own address.

    (This Ray build's C++ gRPC servers still listen on the wildcard address whatever the node address; only a
    specific non-loopback address, which the runtime-env agent used before, is checked for.)
    """
    import ipaddress

    import ray

    from workers.dispatcher import start_embedded

    if ray.is_initialized():  # another test's Ray would be reused, not started with our settings
        ray.shutdown()
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    upgrade(url)
    storage = SQLAlchemyStorage(url)
    handle = start_embedded(Settings(data_dir=tmp_path / "data"), storage, poll_s=0.2)
    try:
        assert ipaddress.ip_address(ray.util.get_node_ip_address()).is_loopback
        addresses = _listening(_children(os.getpid()))
        assert addresses, "no Ray process found"
        assert all(ip == "0.0.0.0" or ipaddress.ip_address(ip).is_loopback for ip in addresses), addresses
    finally:
        handle.stop()
        storage.close()
