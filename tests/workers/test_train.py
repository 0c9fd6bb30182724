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


def test_channels_last_gives_the_logits_of_nchw(tiny_arch: Architecture) -> None:
    # Training runs channels_last on every device; every block type must compute the same function in it.
    from nas_service.space import get_space

    space = get_space("digits")
    for seed in range(3):
        arch = space.decode(space.sample(seed)).model_copy(update={"num_classes": 10, "in_channels": 1})
        torch.manual_seed(seed)
        model = build_model(arch).eval()
        x = torch.randn(4, 1, arch.resolution, arch.resolution)
        with torch.no_grad():
            plain = model(x)
            model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            last = model(x.contiguous(memory_format=torch.channels_last))
        torch.testing.assert_close(last, plain, rtol=1e-4, atol=1e-5)


def test_augment_batch_crops_and_flips_per_sample() -> None:
    from workers.train import TrainRecipe, augment_batch

    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4) + 1
    assert augment_batch(x, TrainRecipe(), torch.Generator()) is x
    flipped = augment_batch(x, TrainRecipe(flip=True), torch.Generator().manual_seed(0))
    for b in range(2):
        assert torch.equal(flipped[b], x[b]) or torch.equal(flipped[b], x[b].flip(-1))
    crops = [augment_batch(x, TrainRecipe(crop_padding=1), torch.Generator().manual_seed(s)) for s in range(20)]
    for crop in crops:
        assert crop.shape == x.shape
        for b in range(2):
            # Every crop is the image shifted by at most one pixel, with zeros where it left the frame.
            inner = crop[b, 0][crop[b, 0] > 0]
            assert set(inner.tolist()) <= set(x[b, 0].flatten().tolist())
    assert len({tuple(c.flatten().tolist()) for c in crops}) > 3  # the offsets do vary
    both = TrainRecipe(crop_padding=1, flip=True)
    again = augment_batch(x, both, torch.Generator().manual_seed(7))
    assert torch.equal(again, augment_batch(x, both, torch.Generator().manual_seed(7)))


def test_resume_from_a_checkpoint_continues_the_same_training(tiny_arch: Architecture) -> None:
    from workers.train import Checkpoint, TrainRecipe

    cfg = ProxyConfig(dataset="digits", resolution=8, epochs=4, batch_size=64, max_train_samples=300, lr=0.1)
    data = load_dataset(cfg)
    recipe = TrainRecipe(crop_padding=1, ema_decay=0.9)
    whole = _model(tiny_arch, cfg)
    straight = train_proxy(whole, data, cfg, recipe=recipe)
    assert straight.status == "completed" and straight.test_accuracy is not None and straight.resumed_from is None

    saved: list[Checkpoint] = []
    first = _model(tiny_arch, cfg)
    interrupted = train_proxy(
        first, data, cfg, recipe=recipe, on_checkpoint=saved.append, should_stop=lambda: len(saved) >= 2
    )
    assert interrupted.status == "pruned" and [c.epoch for c in saved] == [1, 2]
    reports: list[EpochReport] = []
    resumed = train_proxy(_model(tiny_arch, cfg), data, cfg, recipe=recipe, resume=saved[-1], on_epoch=reports.append)
    assert resumed.resumed_from == 2 and [r.epoch for r in reports] == [3, 4]
    assert [r.epoch for r in resumed.history] == [1, 2, 3, 4]
    assert resumed.val_accuracy == straight.val_accuracy and resumed.test_accuracy == straight.test_accuracy
    assert [r.train_loss for r in resumed.history] == [r.train_loss for r in straight.history]
