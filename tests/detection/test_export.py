"""A detector exports like a classifier: ONNX and TorchScript graphs with the preprocessing embedded, whose raw
head outputs (per level, class logits then box regressions) equal PyTorch's on the images as they come."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from nas_service.arch import DetectionArchitecture
from nas_service.arch.bifpn import build_detector
from nas_service.detection.data import PIXEL_MEAN, PIXEL_STD, detection_preprocessing
from nas_service.export import Preprocessing, blocks_text, export_trial, output_names

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


def test_a_detector_exports_with_its_preprocessing_and_equal_outputs(
    tiny_detector: Callable[..., DetectionArchitecture], tmp_path: Path
) -> None:
    arch = tiny_detector(num_classes=3)
    torch.manual_seed(0)
    model = build_detector(arch).eval()
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):  # trained-like statistics
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    prep = Preprocessing.model_validate(detection_preprocessing(arch.resolution))
    written = export_trial(arch, model.state_dict(), tmp_path, "all", preprocessing=prep)
    assert {"json", "blocks", "torchscript", "onnx", "weights", "preprocessing"} <= set(written)
    assert DetectionArchitecture.model_validate_json(written["json"].read_text()) == arch
    assert written["blocks"].read_text() == blocks_text(arch.backbone)  # the backbone's stages

    rng = np.random.default_rng(0)
    raw = rng.random((2, 3, arch.resolution, arch.resolution), dtype=np.float32)  # images in [0, 1], batch 2
    with torch.no_grad():
        classes, boxes = model((torch.from_numpy(raw) - PIXEL_MEAN) / PIXEL_STD)
    expected = [t.numpy() for t in [*classes, *boxes]]
    names = output_names(arch)
    assert names == ["class_p3", "class_p4", "class_p5", "class_p6", "box_p3", "box_p4", "box_p5", "box_p6"]

    session = ort.InferenceSession(str(written["onnx"]), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == names
    got = session.run(None, {"input": raw})
    for name, a, b in zip(names, got, expected, strict=True):
        assert a.shape == b.shape and np.allclose(a, b, atol=1e-4), name
    anchors_per_cell = arch.num_scales * len(arch.aspect_ratios)
    assert got[0].shape == (2, anchors_per_cell * 3, 8, 8) and got[4].shape == (2, anchors_per_cell * 4, 8, 8)
    meta = {p.key: p.value for p in onnx.load(str(written["onnx"])).metadata_props}
    detection = json.loads(meta["nas.detection"])
    assert detection["min_level"] == 3 and detection["max_level"] == 6 and detection["anchor_scale"] == 3.0
    assert detection["outputs"] == names and json.loads(meta["nas.preprocessing"])["std"] == [PIXEL_STD] * 3

    traced = torch.jit.load(str(written["torchscript"]))
    with torch.no_grad():
        ts_classes, ts_boxes = traced(torch.from_numpy(raw))
    for a, b in zip([*ts_classes, *ts_boxes], expected, strict=True):
        assert np.allclose(a.numpy(), b, atol=1e-4)
