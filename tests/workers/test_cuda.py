"""CUDA code paths: bf16 autocast + channels_last training and CUDA-event latency (skipped without a GPU)."""

from __future__ import annotations

import pytest
import torch

from nas_service.arch.builder import build_model
from nas_service.arch.spec import Architecture
from nas_service.jobspec import LatencyConfig, ProxyConfig
from workers.data import load_dataset
from workers.executor import _pin_to_cpu, _task_options
from workers.latency import measure_latency
from workers.train import train_proxy
from workers.trial import TrialPayload

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@needs_cuda
def test_amp_bf16_channels_last_training(tiny_arch: Architecture) -> None:
    cfg = ProxyConfig(dataset="digits", resolution=16, epochs=2, device="cuda", amp=True, lr=0.1)
    model = build_model(tiny_arch.model_copy(update={"num_classes": 10, "resolution": 16, "in_channels": 1}))
    seen_dtypes: set[torch.dtype] = set()
    first_conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    first_conv.register_forward_hook(lambda _m, _i, out: seen_dtypes.add(out.dtype))
    outcome = train_proxy(model, load_dataset(cfg), cfg)
    assert outcome.device == "cuda" and outcome.status == "completed"
    assert torch.bfloat16 in seen_dtypes  # autocast ran the convs in bf16
    assert first_conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert torch.backends.cudnn.benchmark
    assert outcome.val_accuracy is not None and outcome.val_accuracy > 0.3


@needs_cuda
def test_cuda_event_latency(tiny_arch: Architecture) -> None:
    model = build_model(tiny_arch.model_copy(update={"num_classes": 10, "resolution": 16, "in_channels": 1}))
    m = measure_latency(model, (1, 16, 16), LatencyConfig(device="cuda", warmup=5, repeats=20, batch_size=4))
    assert m.device_kind == "cuda" and m.device.startswith("cuda:") and m.samples == 20
    assert 0 < m.median_ms < 1000
    assert next(model.parameters()).device.type == "cpu"  # a copy was measured


def test_gpu_resources_request_num_gpus() -> None:
    assert _task_options({"cpu": 2, "gpu": 1}) == {"num_cpus": 2.0, "num_gpus": 1.0}
    assert _task_options(None) == {"num_cpus": 1.0, "num_gpus": 0.0}
    opts = _task_options({"cpu": 1, "gpu": 0.5, "memory": 2e9, "tpu_slice": 1})
    assert opts == {"num_cpus": 1.0, "num_gpus": 0.5, "memory": 2_000_000_000, "resources": {"tpu_slice": 1.0}}


def test_cpu_only_attempt_never_picks_a_gpu(tiny_arch: Architecture) -> None:
    payload = TrialPayload(trial_id=1, job_id=1, architecture=tiny_arch)
    pinned = _pin_to_cpu(payload)
    assert pinned.proxy.device == "cpu" and pinned.latency.device == "cpu"
    explicit = payload.model_copy(update={"proxy": ProxyConfig(device="cuda")})
    assert _pin_to_cpu(explicit).proxy.device == "cuda"  # an explicit choice is the user's
