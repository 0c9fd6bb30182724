"""``nas serve`` as a user runs it: a real process, its port, Ray's token authentication, SIGTERM, exit codes."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from nas_service.cli.exitcodes import EXIT_CANNOT_START
from nas_service.testing import free_port

NAS = [sys.executable, "-m", "nas_service.cli.main"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NAS_", "RAY_AUTH"))}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(HOME=str(home), NAS_DATA_DIR=str(tmp_path / "data"), RAY_USAGE_STATS_ENABLED="0", **extra)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return env


def test_a_busy_port_exits_6_before_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        done = subprocess.run(
            [*NAS, "serve", "--port", str(port)], env=_env(tmp_path), capture_output=True, text=True, timeout=60
        )
    assert done.returncode == EXIT_CANNOT_START, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "--port" in done.stderr
    assert "Ray" not in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "data" / "nas.db").exists()  # nothing was started or created
    assert time.monotonic() - started < 30


@pytest.mark.ray
@pytest.mark.slow
def test_serve_keeps_rays_token_to_itself_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = _env(tmp_path, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [*NAS, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("nas serve never became ready")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "Traceback" not in out and "SystemExit" not in out and "SIGTERM received" not in out, out
    assert "Token authentication is" not in out, out  # Ray's warning: the choice was made deliberately
    assert not (tmp_path / "home" / ".ray" / "auth_token").exists()
    token = tmp_path / "data" / "ray-auth-token"
    assert token.exists() and token.stat().st_mode & 0o777 == 0o600
    assert "Ray authentication: token" in out
    stamped = [line for line in out.splitlines() if "Application startup complete" in line]
    assert stamped and re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", stamped[0]), out
