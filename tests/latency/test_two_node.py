"""A two-node loopback Ray cluster: node 1 trains, node 2 advertises a latency resource and measures in onnxruntime.

Same pattern as ``tests/workers/test_cluster.py``: both nodes are ``ray start --block`` subprocesses in their
own process groups, the driver (a :class:`RayExecutor` connecting by address) is a subprocess too, teardown
signals only those groups. Node 2 has no CPUs for training (``--num-cpus=0``) and advertises
``{"latency:edge": 1}``: the trial trains on node 1 and its latency task can only run on node 2.
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

HEAD_IP, LATENCY_IP = "127.0.0.2", "127.0.0.3"
RAY = str(Path(sys.executable).parent / "ray")

DRIVER = r"""
import json, sys, time
import ray
from nas_service.arch.spec import Architecture
from nas_service.jobspec import LatencyConfig, ProxyConfig
from nas_service.latency import LatencyTarget
from workers.executor import FinishedEvent, CrashedEvent, RayExecutor
from workers.trial import TrialPayload

address, arch_json = sys.argv[1], sys.argv[2]
ex = RayExecutor(address=address, node_ip_address="127.0.0.2")
deadline = time.monotonic() + 60
while sum(1 for n in ray.nodes() if n["Alive"]) < 2:
    assert time.monotonic() < deadline, "the second node never joined"
    time.sleep(0.5)
edge = LatencyTarget(name="edge", runtime="onnxruntime", warmup=2, repeats=10, resource="latency:edge")
latency = LatencyConfig(device="cpu", target="edge", extra_targets=["local-cpu"], resolved={"edge": edge})
proxy = ProxyConfig(dataset="digits", resolution=16, epochs=1, max_train_samples=200, threads=1)
payload = TrialPayload(trial_id="t1", job_id="two-node", architecture=Architecture.model_validate_json(arch_json),
                       proxy=proxy, latency=latency)
ex.submit(payload, resources={"cpu": 1, "gpu": 0})
deadline = time.monotonic() + 200
while True:
    assert time.monotonic() < deadline, "the trial did not finish"
    events = ex.poll(timeout=0.5)
    ev = next((e for e in events if isinstance(e, (FinishedEvent, CrashedEvent))), None)
    if ev is not None:
        break
ex.shutdown()
if isinstance(ev, CrashedEvent):
    print("RESULT " + json.dumps({"state": "crashed", "error": ev.error}))
else:
    print("RESULT " + ev.result.model_dump_json())
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
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    return env


@pytest.fixture
def latency_cluster() -> Iterator[str]:
    """Head on 127.0.0.2 (1 CPU, trains); node 2 on 127.0.0.3 (0 CPUs, ``latency:edge``); the head's address."""
    try:
        _free_port(LATENCY_IP)
    except OSError:
        pytest.skip("127.0.0.3 is not a usable loopback address here")
    temp_dir = tempfile.mkdtemp(prefix="nasray", dir="/tmp")
    port = _free_port(HEAD_IP)
    common = [
        "--block", "--num-gpus=0", f"--memory={1024**3}", f"--object-store-memory={100 * 1024**2}",
        "--disable-usage-stats", f"--temp-dir={temp_dir}",
    ]  # fmt: skip
    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        for ip, extra in (
            (HEAD_IP, ["--head", f"--port={port}", "--include-dashboard=false", "--num-cpus=1"]),
            (LATENCY_IP, [f"--address={HEAD_IP}:{port}", "--num-cpus=0", '--resources={"latency:edge": 1}']),
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


def test_trains_on_node_1_and_measures_on_node_2(latency_cluster: str, tiny_arch: Architecture) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, latency_cluster, tiny_arch.model_dump_json()],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"driver failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result["state"] == "completed", result.get("error")
    latency = result["latency"]
    assert result["node"].split("/")[0] == HEAD_IP  # trained on node 1
    assert latency["node"].split("/")[0] == LATENCY_IP  # measured on node 2, by its latency task
    assert latency["target"] == "edge" and latency["runtime"].startswith("onnxruntime-")
    assert latency["median_ms"] > 0 and latency["cv"] is not None
    assert latency["extra_ms"]["local-cpu"] > 0  # the extra target, measured where the trial trained
