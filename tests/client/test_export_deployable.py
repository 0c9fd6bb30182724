"""An exported model is deployable as it stands: it carries its preprocessing, and run in onnxruntime on the raw
dataset images (values in [0, 1], no standardisation by the caller) it gives the accuracy the trial reported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nas_service.arch.spec import Architecture
from nas_service.export import Preprocessing, export_trial
from nas_service.jobspec import LatencyConfig, ProxyConfig
from nas_service.orchestration.executor import TrialPayload

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

ARCH = Architecture.from_block_strings(
    [["ds_r1_k3_s1_c8"], ["ir_r1_k3_s2_e3_c16"]], stem={"out_channels": 8}, head={"num_features": 32},
    dropout=0.0, resolution=8, num_classes=10, in_channels=1,
)  # fmt: skip


def test_exported_onnx_on_raw_digits_matches_the_reported_accuracy(tmp_path: Path) -> None:
    import torch
    from sklearn.datasets import load_digits

    from workers.data import load_dataset
    from workers.trial import NullReporter, run_trial_detailed

    proxy = ProxyConfig(dataset="digits", resolution=8, epochs=3, batch_size=32, lr=0.1, threads=1, device="cpu")
    payload = TrialPayload(
        trial_id=1, job_id=1, architecture=ARCH, proxy=proxy,
        latency=LatencyConfig(device="cpu", warmup=1, repeats=2),
    )  # fmt: skip
    run = run_trial_detailed(payload, NullReporter())
    assert run.result.state.value == "completed", run.result.error
    assert run.weights is not None and run.preprocessing is not None
    reported = run.result.accuracy
    assert reported is not None and reported > 0.5

    prep = Preprocessing.model_validate(run.preprocessing)
    state = torch.load(__import__("io").BytesIO(run.weights), weights_only=True)
    written = export_trial(ARCH, state, tmp_path, ["onnx", "json"], preprocessing=prep)
    assert json.loads(written["preprocessing"].read_text())["mean"] == list(prep.mean)
    meta = {p.key: p.value for p in onnx.load(str(written["onnx"])).metadata_props}
    assert json.loads(meta["nas.preprocessing"])["std"] == list(prep.std)

    # The validation images exactly as the dataset ships them: pixel values 0..16 scaled to [0, 1], 8x8, no
    # standardisation (the exported graph does it).
    val_idx = load_dataset(proxy).split_indices["val"]
    digits = load_digits()
    raw = (digits.images[val_idx].astype(np.float32) / 16.0)[:, None, :, :]
    session = ort.InferenceSession(str(written["onnx"]), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"input": raw})[0]
    accuracy = float((logits.argmax(1) == digits.target[val_idx]).mean())
    assert accuracy == pytest.approx(reported, abs=1.5 / len(val_idx))

    bare = export_trial(ARCH, state, tmp_path / "bare", ["onnx"], preprocessing=prep, embed_preprocessing=False)
    raw_on_bare = ort.InferenceSession(str(bare["onnx"]), providers=["CPUExecutionProvider"]).run(None, {"input": raw})
    bare_accuracy = float((raw_on_bare[0].argmax(1) == digits.target[val_idx]).mean())
    assert bare_accuracy < reported - 0.2  # the bare network needs standardised input: raw images fail on it
