"""Export round trip: architecture JSON and block strings, TorchScript and ONNX equal to PyTorch's outputs."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from nas_service.arch.spec import Architecture
from nas_service.export import (
    ExportError,
    UntrainedExportWarning,
    export_trial,
    load_state_dict,
    normalize_formats,
)

torch = pytest.importorskip("torch")


def tiny_architecture() -> Architecture:
    return Architecture.from_block_strings(
        [["ds_r1_k3_s1_c8"], ["ir_r1_k3.5_s2_e3_c16_se0.25"]],
        num_classes=10,
        resolution=16,
        stem={"out_channels": 8},
        head={"num_features": 32},
    )


def test_formats_are_validated() -> None:
    assert normalize_formats("all") == ("json", "torchscript", "onnx", "blocks")
    assert normalize_formats(["onnx", "json", "onnx"]) == ("onnx", "json")
    with pytest.raises(ExportError, match="unknown export format"):
        normalize_formats("tflite")


def test_json_and_blocks_need_no_torch_work(tmp_path: Path) -> None:
    arch = tiny_architecture()
    written = export_trial(arch, None, tmp_path, ("json", "blocks"))
    assert set(written) == {"json", "blocks"}
    assert Architecture.model_validate_json(written["json"].read_text()) == arch
    lines = [ln for ln in written["blocks"].read_text().splitlines() if not ln.startswith("#")]
    assert [ln.split() for ln in lines] == arch.block_strings()
    assert Architecture.from_block_strings([ln.split() for ln in lines]).stages == arch.stages


def test_torchscript_and_onnx_match_pytorch(tmp_path: Path) -> None:
    import numpy as np
    import onnx
    from onnx.reference import ReferenceEvaluator

    from nas_service.arch import build_model

    arch = tiny_architecture()
    torch.manual_seed(0)
    model = build_model(arch).eval()
    with torch.no_grad():  # non-trivial BN statistics, so a wrongly exported BN would show
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 1.5)
    state = model.state_dict()
    written = export_trial(arch, state, tmp_path, "all")
    assert {"json", "blocks", "torchscript", "onnx", "weights"} <= set(written)

    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        expected = model(x).numpy()
    scripted = torch.jit.load(str(written["torchscript"]))
    with torch.no_grad():
        np.testing.assert_allclose(scripted(x).numpy(), expected, rtol=1e-4, atol=1e-5)

    proto = onnx.load(str(written["onnx"]))
    onnx.checker.check_model(proto, full_check=True)
    assert any(op.version == 17 for op in proto.opset_import if op.domain in ("", "ai.onnx"))
    outputs: Any = ReferenceEvaluator(proto).run(None, {"input": x.numpy()})  # batch 3: dynamic batch axis
    np.testing.assert_allclose(np.asarray(outputs[0], dtype=np.float32), expected, rtol=1e-3, atol=1e-4)

    reloaded = load_state_dict(written["weights"])
    assert set(reloaded) == set(state)


def test_untrained_export_warns(tmp_path: Path) -> None:
    with pytest.warns(UntrainedExportWarning):
        written = export_trial(tiny_architecture(), None, tmp_path, "torchscript")
    assert written["torchscript"].stat().st_size > 0
    assert "weights" not in written


def test_weights_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    with warnings.catch_warnings(), pytest.raises(ExportError, match="do not fit"):
        export_trial(tiny_architecture(), {"nonsense": torch.zeros(1)}, tmp_path, "onnx")
