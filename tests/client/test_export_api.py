"""``Client.export`` end to end: architecture from the API, weights from ``/trials/{id}/weights`` when saved."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from nas_service.artifacts import artifact_store_for, trial_weights_key
from nas_service.client import Client, NotFoundError
from nas_service.client.testing import LiveServer, seed_job
from nas_service.export import UntrainedExportWarning
from nas_service.settings import get_settings

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
    store = artifact_store_for(live.storage, live.data_dir, get_settings().artifact_store)
    buffer = io.BytesIO()
    torch.save(trained.state_dict(), buffer)
    store.put(trial_weights_key(trial_id), buffer.getvalue())
    try:
        written = client.export(trial_id, tmp_path, format="torchscript")
    finally:
        store.delete(trial_weights_key(trial_id))
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


def test_weights_route_is_404_without_stored_weights(client: Client, trial_id: int) -> None:
    assert client.download_weights(trial_id) is None
