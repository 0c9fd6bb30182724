"""``pip install .`` (a wheel, not editable) gives a working ``nas db upgrade`` and ``nas serve``.

The wheel is built from this checkout and installed with ``--target`` into a fresh directory (its dependencies
come from the test environment); every command then runs from an unrelated working directory with only that
directory on the path, so nothing can be found by accident in the source tree.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from nas_service.testing import free_port

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


_IGNORED = shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__", ".*cache")


def _ignore(directory: str, names: list[str]) -> set[str]:
    """What the copy leaves out; ``artifacts/`` only at the top (run outputs), never the ``nas_service.artifacts``
    package."""
    ignored = set(_IGNORED(directory, names))
    if Path(directory) == ROOT and "artifacts" in names:
        ignored.add("artifacts")
    return ignored


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"  # a copy: building never writes build/ or *.egg-info into the checkout
    shutil.copytree(
        ROOT,
        source,
        ignore=_ignore,
    )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    wheels = work / "dist"
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)], check=True)
    (wheel,) = wheels.glob("nas_service-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "nas_service/_migrations/env.py" in names
    assert any(n.startswith("nas_service/_migrations/versions/0001") for n in names)
    assert not any(n.startswith("nas_service/client/testing") for n in names)  # test helpers are not SDK
    target = work / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True)
    return target


def _env(installed: Path, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NAS_")}
    env.update(PYTHONPATH=str(installed), NAS_DATA_DIR=str(tmp_path / "data"), HOME=str(tmp_path))
    return env


def test_db_upgrade_finds_the_packaged_migrations(installed: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    nas = [sys.executable, "-m", "nas_service.cli.main"]
    env = _env(installed, tmp_path)
    where = subprocess.run(
        [sys.executable, "-c", "import nas_service.storage.schema as s; print(s.migrations_dir())"],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert where.stdout.strip() == str(installed / "nas_service" / "_migrations")
    done = subprocess.run([*nas, "db", "upgrade", "--url", url], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    from nas_service.storage.schema import head_revision

    assert f"<empty> -> {head_revision()}" in done.stdout
    current = subprocess.run([*nas, "db", "current", "--url", url], env=env, cwd=tmp_path, capture_output=True)
    assert current.returncode == 0


def test_serve_answers_from_the_installed_package(installed: Path, tmp_path: Path) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "nas_service.cli.main", "serve", "--port", str(port), "--no-dispatcher"]
    proc = subprocess.Popen(
        cmd, env=_env(installed, tmp_path), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail(f"nas serve never answered: {proc.communicate(timeout=10)[0]}")
        assert ready.status_code == 200 and ready.json()["status"] == "ok"
        docs = httpx.get(f"http://127.0.0.1:{port}/api/v1/docs/assets/swagger-ui-bundle.js", timeout=5)
        assert docs.status_code == 200
        page = httpx.get(f"http://127.0.0.1:{port}/dashboard", timeout=5, follow_redirects=True)
        assert page.status_code in (200, 401), page.status_code
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert str(installed) in _origin(installed, tmp_path)


def _origin(installed: Path, tmp_path: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", "import api.app, nas_service; print(api.app.__file__, nas_service.__file__)"],
        env=_env(installed, tmp_path), cwd=tmp_path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def test_the_cpu_image_cannot_pull_a_cuda_torch() -> None:
    """Docker cannot run here: the Dockerfile's torch install is checked as text (index, pin, the refusal)."""
    text = (ROOT / "Dockerfile").read_text()
    assert "ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu" in text and "ARG TORCH_VARIANT=cpu" in text
    assert '--index-url "$TORCH_INDEX" -c constraints.txt torch' in text
    assert "torch==" in (ROOT / "constraints.txt").read_text()
    assert "torch.version.cuda" in text and "nvidia-" in text  # the build refuses a CUDA torch on a CPU image
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "TORCH_VARIANT: cuda" in compose  # only the GPU worker asks for CUDA
