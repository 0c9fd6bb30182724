"""A real two-node Ray cluster on loopback addresses: trials land on both nodes.

The nodes run as ``ray start --block`` subprocesses in their own process groups, and the driver (a
:class:`RayExecutor` connecting by address) runs in a subprocess too, so this test never collides with the
session's local Ray. Teardown signals only those process groups: ``ray stop`` would kill every Ray process on
the machine, other people's included.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nas_service.arch.spec import Architecture

pytestmark = [pytest.mark.slow, pytest.mark.ray]

HEAD_IP, WORKER_IP = "127.0.0.2", "127.0.0.3"
RAY = str(Path(sys.executable).parent / "ray")

DRIVER = r"""
import json, sys, time
import ray
from nas_service.arch.spec import Architecture
from nas_service.jobspec import LatencyConfig, ProxyConfig
from workers.executor import FinishedEvent, CrashedEvent, RayExecutor
from workers.trial import TrialPayload

address, arch_json = sys.argv[1], sys.argv[2]
t0 = time.monotonic()
ex = RayExecutor(address=address, node_ip_address="127.0.0.2")
deadline = time.monotonic() + 60
while sum(1 for n in ray.nodes() if n["Alive"]) < 2:
    assert time.monotonic() < deadline, "the second node never joined"
    time.sleep(0.5)
proxy = ProxyConfig(dataset="digits", resolution=16, epochs=1, max_train_samples=300, threads=1)
latency = LatencyConfig(device="cpu", warmup=2, repeats=5)
arch = Architecture.model_validate_json(arch_json)
handles = [
    ex.submit(
        TrialPayload(trial_id=f"c{i}", job_id="cluster", architecture=arch, proxy=proxy, latency=latency),
        resources={"cpu": 1, "gpu": 0},
    )
    for i in range(2)
]
done = []
deadline = time.monotonic() + 150
while len(done) < len(handles):
    assert time.monotonic() < deadline, f"trials did not finish: {done}"
    for ev in ex.poll(timeout=0.5):
        if isinstance(ev, FinishedEvent):
            done.append({"state": str(ev.result.state), "node": ev.result.node, "error": ev.result.error})
        elif isinstance(ev, CrashedEvent):
            done.append({"state": "crashed", "node": None, "error": ev.error})
ex.shutdown()
print("RESULTS " + json.dumps(done))
print(f"driver took {time.monotonic() - t0:.1f} s", file=sys.stderr)
"""


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _wait_listening(host: str, port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ray start exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on {host}:{port}")


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the node's own process group (ray start --block shuts its children down), then SIGKILL."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers in the group (workers)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    return env


@pytest.fixture
def loopback_cluster() -> Iterator[str]:
    """A head on 127.0.0.2 and a worker node on 127.0.0.3, one CPU each; yields the head's address."""
    try:
        _free_port(WORKER_IP)
    except OSError:
        pytest.skip("127.0.0.3 is not a usable loopback address here")
    temp_dir = tempfile.mkdtemp(prefix="nasray", dir="/tmp")  # short: Ray's socket paths have a length limit
    port = _free_port(HEAD_IP)
    common = [
        "--block", "--num-cpus=1", "--num-gpus=0", f"--memory={1024**3}",
        f"--object-store-memory={100 * 1024**2}", "--disable-usage-stats", f"--temp-dir={temp_dir}",
    ]  # fmt: skip
    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        for ip, extra in (
            (HEAD_IP, ["--head", f"--port={port}", "--include-dashboard=false"]),
            (WORKER_IP, [f"--address={HEAD_IP}:{port}"]),
        ):  # fmt: skip
            log = open(Path(temp_dir) / f"start-{ip}.log", "wb")  # noqa: SIM115 - closed in teardown
            logs.append(log)
            cmd = [
                RAY, "start", *common, *extra, f"--node-ip-address={ip}",
                f"--dashboard-agent-listen-port={_free_port(ip)}", f"--metrics-export-port={_free_port(ip)}",
            ]  # fmt: skip
            procs.append(
                subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=_env(), start_new_session=True)
            )
            if ip == HEAD_IP:
                try:
                    _wait_listening(HEAD_IP, port, procs[0], timeout=60)
                except (RuntimeError, TimeoutError) as exc:
                    text = (Path(temp_dir) / f"start-{ip}.log").read_text(errors="replace")
                    raise RuntimeError(f"{exc}\n{text[-3000:]}") from None
        yield f"{HEAD_IP}:{port}"
    finally:
        for proc in reversed(procs):
            _stop_group(proc)
        for log in logs:
            log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_trials_run_on_both_nodes(loopback_cluster: str, tiny_arch: Architecture) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, loopback_cluster, tiny_arch.model_dump_json()],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=240,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULTS ")]
    assert proc.returncode == 0 and lines, f"driver failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    results = json.loads(lines[-1].removeprefix("RESULTS "))
    assert [r["state"] for r in results] == ["completed", "completed"], results
    node_ips = {r["node"].split("/")[0] for r in results}
    assert node_ips == {HEAD_IP, WORKER_IP}
