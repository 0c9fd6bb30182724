"""The proxy training loop run for every candidate.

One loop for CPU and CUDA. Choices follow the MnasNet/EfficientNet recipes scaled down to a proxy task:

* Optimisers: SGD with Nesterov momentum 0.9; RMSProp with decay 0.9, momentum 0.9 and TensorFlow's epsilon
  (TF adds eps *inside* the square root, PyTorch outside, so TF's ``1e-3`` becomes ``sqrt(1e-3)`` here);
  AdamW. Weight decay is not applied to 1-D parameters (BatchNorm weights, biases).
* Learning rate: linear warm-up over at most one epoch (a tenth of the steps), then cosine decay to zero, per
  step.
* Label smoothing from the config; ``torch.set_num_threads(cfg.threads)`` (restored afterwards); seeded
  shuffling.
* CUDA: bf16 autocast when ``cfg.amp``, ``channels_last``, ``cudnn.benchmark``.

``on_epoch`` receives an :class:`~nas_service.jobspec.EpochReport` after every epoch's validation; its
``epoch`` is the number of epochs completed (1-based), the resource a multi-fidelity pruner counts in.
``should_stop`` is polled after every batch and every epoch, so keep it cheap (the Ray reporter answers from a
cached flag it refreshes at most every half second). A truthy answer stops training: the string
``"cancelled"`` means a cancel, any other truthy value a pruning decision.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn as nn

from nas_service.jobspec import EpochReport, ProxyConfig
from workers.data import ProxyData

__all__ = ["TrainOutcome", "build_optimizer", "resolve_device", "train_proxy"]

StopStatus = Literal["completed", "pruned", "cancelled"]
_EVAL_BATCH = 512


@dataclass
class TrainOutcome:
    """What a proxy training run produced.

    Attributes:
        status: ``completed``, or ``pruned``/``cancelled`` when ``should_stop`` ended it early.
        epochs_run: Epochs fully trained and evaluated.
        val_accuracy: Validation accuracy after the last evaluated epoch (``None`` if none was).
        best_val_accuracy: Best validation accuracy over the evaluated epochs.
        history: One report per evaluated epoch.
        train_seconds: Wall time of the loop, evaluation included.
        samples_seen: Training samples processed (for throughput).
        device: ``cpu`` or ``cuda`` (the device trained on).
        diverged: The training loss became non-finite (training stopped; the accuracy is what it is).
    """

    status: StopStatus
    epochs_run: int
    val_accuracy: float | None
    best_val_accuracy: float | None
    history: list[EpochReport] = field(default_factory=list)
    train_seconds: float = 0.0
    samples_seen: int = 0
    device: str = "cpu"
    diverged: bool = False

    @property
    def images_per_second(self) -> float:
        """Training throughput over the whole loop (evaluation time included)."""
        return self.samples_seen / self.train_seconds if self.train_seconds > 0 else 0.0


def resolve_device(device: str) -> torch.device:
    """Turn ``auto``/``cpu``/``cuda`` into a device; ``cuda`` without a GPU is an error, not a fallback."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but CUDA is not available on this worker")
    return torch.device(device)


def build_optimizer(model: nn.Module, cfg: ProxyConfig) -> torch.optim.Optimizer:
    """The optimiser named by ``cfg.optimizer``, without weight decay on 1-D parameters."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)
    if cfg.optimizer == "rmsprop":
        # TF-style epsilon (see the module docstring): sqrt of TF's 1e-3.
        return torch.optim.RMSprop(groups, lr=cfg.lr, alpha=0.9, eps=math.sqrt(1e-3), momentum=0.9)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def _warmup_cosine(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _stop_status(answer: object) -> StopStatus | None:
    if not answer:
        return None
    return "cancelled" if answer == "cancelled" else "pruned"


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device, amp: bool) -> float:
    """Top-1 accuracy of ``model`` on ``(x, y)`` in eval mode (the model's mode is restored)."""
    was_training = model.training
    model.eval()
    correct = 0
    try:
        with torch.inference_mode():
            for start in range(0, len(y), _EVAL_BATCH):
                xb = x[start : start + _EVAL_BATCH].to(device, non_blocking=True)
                if device.type == "cuda":
                    xb = xb.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
                    logits = model(xb)
                correct += int((logits.argmax(1).cpu() == y[start : start + _EVAL_BATCH]).sum())
    finally:
        model.train(was_training)
    return correct / max(1, len(y))


def train_proxy(
    model: nn.Module,
    data: ProxyData,
    cfg: ProxyConfig,
    on_epoch: Callable[[EpochReport], None] | None = None,
    should_stop: Callable[[], object] | None = None,
    on_step: Callable[[], None] | None = None,
) -> TrainOutcome:
    """Train ``model`` on ``data`` for ``cfg.epochs`` epochs, evaluating validation accuracy after each.

    Args:
        model: The candidate network (moved to the training device in place).
        data: The proxy dataset.
        cfg: Optimiser, schedule, batch size, seed, device, AMP and thread settings.
        on_epoch: Called with each epoch's report.
        should_stop: Polled after every batch and epoch; truthy stops (``"cancelled"`` = cancel, else pruned).
        on_step: Called after every batch (heartbeats; implementations rate-limit themselves).

    Returns:
        The outcome: status, epochs run, accuracies, history, time and throughput.
    """
    device = resolve_device(cfg.device)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _train(model, data, cfg, device, on_epoch, should_stop, on_step)
    finally:
        torch.set_num_threads(previous_threads)


def _train(
    model: nn.Module,
    data: ProxyData,
    cfg: ProxyConfig,
    device: torch.device,
    on_epoch: Callable[[EpochReport], None] | None,
    should_stop: Callable[[], object] | None,
    on_step: Callable[[], None] | None,
) -> TrainOutcome:
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    shuffle = torch.Generator().manual_seed(cfg.seed)
    cuda = device.type == "cuda"
    amp = cfg.amp and cuda
    if cuda:
        torch.backends.cudnn.benchmark = True
        model.to(device)
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    else:
        model.to(device)
    model.train()

    n = len(data.train_y)
    batch = min(cfg.batch_size, n)
    # A last batch of one sample would break BatchNorm after global pooling: drop it.
    steps_per_epoch = n // batch + (1 if n % batch > 1 else 0)
    total_steps = max(1, steps_per_epoch * cfg.epochs)
    optimizer = build_optimizer(model, cfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _warmup_cosine(total_steps, max(1, min(steps_per_epoch, total_steps // 10)))
    )
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)

    outcome = TrainOutcome("completed", 0, None, None, device=device.type)
    for epoch in range(cfg.epochs):
        order = torch.randperm(n, generator=shuffle)
        loss_sum = torch.zeros((), device=device)
        batches = 0
        stop: StopStatus | None = None
        for step in range(steps_per_epoch):
            idx = order[step * batch : (step + 1) * batch]
            xb = data.train_x.index_select(0, idx).to(device, non_blocking=True)
            yb = data.train_y.index_select(0, idx).to(device, non_blocking=True)
            if cuda:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                loss = criterion(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += loss.detach().float()
            batches += 1
            outcome.samples_seen += len(idx)
            if on_step is not None:
                on_step()
            if should_stop is not None and (stop := _stop_status(should_stop())):
                break
        if stop is not None:
            outcome.status = stop
            break
        train_loss = float(loss_sum) / max(1, batches)
        acc = evaluate(model, data.val_x, data.val_y, device, amp)
        outcome.epochs_run = epoch + 1
        outcome.val_accuracy = acc
        outcome.best_val_accuracy = max(acc, outcome.best_val_accuracy or 0.0)
        report = EpochReport(
            epoch=epoch + 1,
            val_accuracy=acc,
            train_loss=train_loss if math.isfinite(train_loss) else None,
            elapsed_s=time.perf_counter() - start,
        )
        outcome.history.append(report)
        if on_epoch is not None:
            on_epoch(report)
        if not math.isfinite(train_loss):
            outcome.diverged = True
            break
        if epoch + 1 < cfg.epochs and should_stop is not None and (stop := _stop_status(should_stop())):
            outcome.status = stop
            break
    outcome.train_seconds = time.perf_counter() - start
    return outcome
