"""``Client.export`` end to end: architecture from the API, weights from ``/trials/{id}/weights`` when saved."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas_service.client import Client, NotFoundError
from nas_service.export import UntrainedExportWarning, trial_weights_path
from nas_service.testing import LiveServer, seed_job

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def trial_id(live: LiveServer) -> int:
    job = seed_job(live.storage, 2, seed=5, name="export-job", epochs=False, failed_every=0)
    assert job.best_trial_id is not None
    return int(job.best_trial_id)


def test_export_without_weights_warns_and_writes_every_format(client: Client, trial_id: int, tmp_path: Path) -> None:
    with pytest.warns(UntrainedExportWarning):
        written = client.export(trial_id, tmp_path, format="all")
    assert {p.name for p in written.values()} == {
        "architecture.json",
        "blocks.txt",
        "model.pt",
        "model.onnx",
    }
    blocks = [ln.split() for ln in (tmp_path / "blocks.txt").read_text().splitlines() if not ln.startswith("#")]
    assert blocks == client.get_trial(trial_id).block_strings


def test_export_uses_the_saved_weights(client: Client, live: LiveServer, trial_id: int, tmp_path: Path) -> None:
    import numpy as np

    from nas_service.arch import build_model
    from nas_service.arch.spec import Architecture

    arch = Architecture.model_validate(client.get_trial(trial_id).architecture)
    torch.manual_seed(1)
    trained = build_model(arch).eval()
    path = trial_weights_path(live.data_dir, str(trial_id))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(trained.state_dict(), path)
    try:
        written = client.export(trial_id, tmp_path, format="torchscript")
    finally:
        path.unlink()
    assert set(written) == {"torchscript", "weights"}
    x = torch.randn(2, arch.in_channels, arch.resolution, arch.resolution)
    with torch.no_grad():
        np.testing.assert_allclose(
            torch.jit.load(str(written["torchscript"]))(x).numpy(), trained(x).numpy(), rtol=1e-4, atol=1e-5
        )


def test_export_of_a_missing_trial_is_not_found(client: Client, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        client.export(987_654, tmp_path, format="json")
    assert not any(tmp_path.iterdir())


def test_weights_route_is_404_without_a_file(client: Client, trial_id: int) -> None:
    assert client.download_weights(trial_id) is None
