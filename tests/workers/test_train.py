"""The proxy training loop: it learns, it stops when asked, it is seeded."""

from __future__ import annotations

import pytest
import torch

from nas_service.arch.builder import build_model
from nas_service.arch.spec import Architecture
from nas_service.jobspec import EpochReport, ProxyConfig
from workers.data import load_dataset
from workers.train import build_optimizer, resolve_device, train_proxy


def _model(arch: Architecture, cfg: ProxyConfig) -> torch.nn.Module:
    torch.manual_seed(cfg.seed)
    return build_model(arch.model_copy(update={"num_classes": 10, "resolution": cfg.resolution, "in_channels": 1}))


def test_training_beats_chance_on_digits(tiny_arch: Architecture) -> None:
    cfg = ProxyConfig(dataset="digits", resolution=16, epochs=2, batch_size=32, lr=0.1)
    reports: list[EpochReport] = []
    outcome = train_proxy(_model(tiny_arch, cfg), load_dataset(cfg), cfg, on_epoch=reports.append)
    assert outcome.status == "completed" and outcome.epochs_run == 2
    assert [r.epoch for r in reports] == [1, 2] and reports == outcome.history
    assert outcome.val_accuracy is not None and outcome.val_accuracy > 0.3  # chance is 0.1
    assert all(r.train_loss is not None for r in reports)
    assert outcome.samples_seen > 0 and outcome.device == "cpu"


@pytest.mark.parametrize("optimizer", ["rmsprop", "adamw"])
def test_other_optimizers_and_label_smoothing(tiny_arch: Architecture, optimizer: str) -> None:
    lr = 0.01 if optimizer == "rmsprop" else 0.01
    cfg = ProxyConfig(
        dataset="digits", resolution=8, epochs=1, optimizer=optimizer, lr=lr, label_smoothing=0.1,
        max_train_samples=400,
    )  # fmt: skip
    outcome = train_proxy(_model(tiny_arch, cfg), load_dataset(cfg), cfg)
    assert outcome.status == "completed" and outcome.val_accuracy is not None


def test_no_weight_decay_on_norms_and_biases(tiny_arch: Architecture) -> None:
    cfg = ProxyConfig(weight_decay=0.1)
    opt = build_optimizer(_model(tiny_arch, cfg), cfg)
    decayed, plain = opt.param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decayed["params"]) and all(p.ndim <= 1 for p in plain["params"])


def test_should_stop_prunes_or_cancels(tiny_arch: Architecture) -> None:
    cfg = ProxyConfig(dataset="digits", resolution=8, epochs=5, batch_size=64, max_train_samples=256)
    data = load_dataset(cfg)
    reports: list[EpochReport] = []
    pruned = train_proxy(
        _model(tiny_arch, cfg), data, cfg, on_epoch=reports.append, should_stop=lambda: len(reports) >= 2
    )
    assert pruned.status == "pruned" and pruned.epochs_run == 2
    calls = []

    def cancel_mid_epoch() -> str | bool:
        calls.append(1)
        return "cancelled" if len(calls) >= 3 else False

    cancelled = train_proxy(_model(tiny_arch, cfg), data, cfg, should_stop=cancel_mid_epoch)
    assert cancelled.status == "cancelled" and cancelled.epochs_run == 0 and cancelled.val_accuracy is None


def test_training_is_seeded_and_restores_threads(tiny_arch: Architecture) -> None:
    cfg = ProxyConfig(dataset="digits", resolution=8, epochs=1, max_train_samples=200, threads=1)
    data = load_dataset(cfg)
    before = torch.get_num_threads()
    a = train_proxy(_model(tiny_arch, cfg), data, cfg)
    b = train_proxy(_model(tiny_arch, cfg), data, cfg)
    assert a.history[0].train_loss == b.history[0].train_loss and a.val_accuracy == b.val_accuracy
    assert torch.get_num_threads() == before


def test_cuda_requested_without_cuda_is_an_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        resolve_device("cuda")
