"""The proxy training loop run for every candidate.

One loop for CPU and CUDA. Choices follow the MnasNet/EfficientNet recipes scaled down to a proxy task:

* Optimisers: SGD with Nesterov momentum 0.9; RMSProp with decay 0.9, momentum 0.9 and TensorFlow's epsilon
  (TF adds eps *inside* the square root, PyTorch outside, so TF's ``1e-3`` becomes ``sqrt(1e-3)`` here);
  AdamW. Weight decay is not applied to 1-D parameters (BatchNorm weights, biases).
* Learning rate: linear warm-up over at most one epoch (a tenth of the steps), then cosine decay to zero, per
  step.
* Label smoothing from the config; ``torch.set_num_threads(cfg.threads)`` (restored afterwards); seeded
  shuffling.
* ``channels_last`` model and batches on every device: measured on this project's 2-core CPU, the digits
  space's networks train 1.4-1.9x faster than in NCHW at batch 64 (one thread), and the logits are the same
  (``tests/workers/test_train.py``). CUDA adds bf16 autocast when ``cfg.amp`` and ``cudnn.benchmark``.
* A :class:`TrainRecipe` adds what a stage-two (``final``) training needs: augmentation (random crop with
  padding, optional horizontal flip), an EMA of the weights (evaluated instead of the raw weights), a
  checkpoint after every epoch and a resume from one (epochs continue, the shuffling and augmentation streams
  too), and the accuracy on the held-out test split at the end.

``on_epoch`` receives an :class:`~nas_service.jobspec.EpochReport` after every epoch's validation; its
``epoch`` is the number of epochs completed (1-based), the resource a multi-fidelity pruner counts in.
``should_stop`` is polled after every batch and every epoch, so keep it cheap (the Ray reporter answers from a
cached flag it refreshes at most every half second). A truthy answer stops training: the string
``"cancelled"`` means a cancel, any other truthy value a pruning decision.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn as nn

from nas_service.jobspec import EpochReport, FinalConfig, ProxyConfig
from workers.data import ProxyData

__all__ = [
    "Checkpoint",
    "TrainOutcome",
    "TrainRecipe",
    "augment_batch",
    "build_optimizer",
    "decode_checkpoint",
    "encode_checkpoint",
    "recipe_for",
    "resolve_device",
    "train_proxy",
]

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
        test_accuracy: Accuracy on the held-out test split after the last epoch (only with a recipe that asks).
        resumed_from: The epoch a resumed training continued after (``None`` when it started fresh).
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
    test_accuracy: float | None = None
    resumed_from: int | None = None

    @property
    def images_per_second(self) -> float:
        """Training throughput over the whole loop (evaluation time included)."""
        return self.samples_seen / self.train_seconds if self.train_seconds > 0 else 0.0


@dataclass(frozen=True)
class TrainRecipe:
    """What a stage-two training adds to the proxy loop (see the module docstring).

    Attributes:
        crop_padding: Pixels of zero padding for the random crop (0: no crop).
        flip: Random horizontal flips (off for data where a mirror changes the class, e.g. digits).
        ema_decay: Decay of the exponential moving average of the weights (``None``: no EMA).
        evaluate_test: Report the accuracy on the test split at the end.
    """

    crop_padding: int = 0
    flip: bool = False
    ema_decay: float | None = None
    evaluate_test: bool = True


@dataclass
class Checkpoint:
    """Everything a training needs to continue after ``epoch`` epochs (``torch.save``-able).

    Attributes:
        epoch: Epochs completed.
        state: Model, optimiser, scheduler, EMA and random-stream states, and the history so far.
    """

    epoch: int
    state: dict[str, Any]


def recipe_for(final: FinalConfig, dataset: str, resolution: int) -> TrainRecipe:
    """The :class:`TrainRecipe` of a ``final`` job on ``dataset`` at ``resolution``.

    ``augment: auto`` crops with ``resolution // 8`` pixels of padding (4 at CIFAR's 32 px, as the usual CIFAR
    recipe) and flips horizontally, except on digits, where a mirrored digit is another digit (or none).
    """
    pad = max(1, resolution // 8)
    augment = final.augment
    if augment == "auto":
        augment = "crop" if dataset == "digits" else "crop-flip"
    return TrainRecipe(
        crop_padding=pad if augment in ("crop", "crop-flip") else 0,
        flip=augment == "crop-flip",
        ema_decay=final.ema_decay,
        evaluate_test=True,
    )


def encode_checkpoint(ckpt: Checkpoint) -> bytes:
    """``torch.save`` bytes of a checkpoint (what the controller stores)."""
    buf = io.BytesIO()
    torch.save({"epoch": ckpt.epoch, "state": ckpt.state}, buf)
    return buf.getvalue()


def decode_checkpoint(data: bytes) -> Checkpoint:
    """The checkpoint :func:`encode_checkpoint` wrote (tensors, numbers and lists only: ``weights_only``)."""
    raw = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    return Checkpoint(epoch=int(raw["epoch"]), state=raw["state"])


def augment_batch(x: torch.Tensor, recipe: TrainRecipe, generator: torch.Generator) -> torch.Tensor:
    """Random crop with zero padding and optional horizontal flip, one draw per sample, on ``x`` ``(B,C,H,W)``."""
    if recipe.crop_padding <= 0 and not recipe.flip:
        return x
    b, _, h, w = x.shape
    if recipe.crop_padding > 0:
        p = recipe.crop_padding
        padded = torch.nn.functional.pad(x, (p, p, p, p))
        dy = torch.randint(0, 2 * p + 1, (b,), generator=generator)
        dx = torch.randint(0, 2 * p + 1, (b,), generator=generator)
        rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :]
        batch = torch.arange(b)[:, None, None, None]
        x = padded.permute(0, 2, 3, 1)[batch, rows, cols].squeeze(1).permute(0, 3, 1, 2)
    if recipe.flip:
        flip = torch.rand(b, generator=generator) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    return x


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
    *,
    recipe: TrainRecipe | None = None,
    resume: Checkpoint | None = None,
    on_checkpoint: Callable[[Checkpoint], None] | None = None,
) -> TrainOutcome:
    """Train ``model`` on ``data`` for ``cfg.epochs`` epochs, evaluating validation accuracy after each.

    Args:
        model: The candidate network (moved to the training device and ``channels_last`` in place).
        data: The proxy dataset.
        cfg: Optimiser, schedule, batch size, seed, device, AMP and thread settings.
        on_epoch: Called with each epoch's report.
        should_stop: Polled after every batch and epoch; truthy stops (``"cancelled"`` = cancel, else pruned).
        on_step: Called after every batch (heartbeats; implementations rate-limit themselves).
        recipe: Stage-two extras (augmentation, EMA, test accuracy); ``None`` for the plain proxy loop.
        resume: A checkpoint of this same training to continue from (epochs continue after its ``epoch``).
        on_checkpoint: Called after every completed epoch with a checkpoint to store.

    Returns:
        The outcome: status, epochs run, accuracies, history, time and throughput.
    """
    device = resolve_device(cfg.device)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        loop = _Loop(model, data, cfg, device, recipe or TrainRecipe(evaluate_test=False))
        if resume is not None:
            loop.restore(resume)
        return loop.run(on_epoch, should_stop, on_step, on_checkpoint)
    finally:
        torch.set_num_threads(previous_threads)


class _Loop:
    """One training run's state: model, optimiser, schedule, EMA and random streams (checkpointable)."""

    def __init__(
        self, model: nn.Module, data: ProxyData, cfg: ProxyConfig, device: torch.device, recipe: TrainRecipe
    ) -> None:
        self.start = time.perf_counter()
        torch.manual_seed(cfg.seed)
        self.model, self.data, self.cfg, self.device, self.recipe = model, data, cfg, device, recipe
        self.shuffle = torch.Generator().manual_seed(cfg.seed)
        self.augment = torch.Generator().manual_seed(cfg.seed + 1)
        self.amp = cfg.amp and device.type == "cuda"
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        model.to(device)
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        model.train()
        n = len(data.train_y)
        self.batch = min(cfg.batch_size, n)
        # A last batch of one sample would break BatchNorm after global pooling: drop it.
        self.steps_per_epoch = n // self.batch + (1 if n % self.batch > 1 else 0)
        total_steps = max(1, self.steps_per_epoch * cfg.epochs)
        self.optimizer = build_optimizer(model, cfg)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, _warmup_cosine(total_steps, max(1, min(self.steps_per_epoch, total_steps // 10)))
        )
        self.criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        self.ema: torch.optim.swa_utils.AveragedModel | None = None
        if recipe.ema_decay is not None:
            self.ema = torch.optim.swa_utils.AveragedModel(
                model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(recipe.ema_decay), use_buffers=True
            )
        self.outcome = TrainOutcome("completed", 0, None, None, device=device.type)

    @property
    def eval_model(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.model

    def checkpoint(self) -> Checkpoint:
        state: dict[str, Any] = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "shuffle": self.shuffle.get_state(),
            "augment": self.augment.get_state(),
            "history": [r.model_dump() for r in self.outcome.history],
            "best_val_accuracy": self.outcome.best_val_accuracy,
        }
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        return Checkpoint(epoch=self.outcome.epochs_run, state=state)

    def restore(self, ckpt: Checkpoint) -> None:
        state = ckpt.state
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.shuffle.set_state(state["shuffle"])
        self.augment.set_state(state["augment"])
        if self.ema is not None and "ema" in state:
            self.ema.load_state_dict(state["ema"])
        self.outcome.history = [EpochReport.model_validate(r) for r in state["history"]]
        self.outcome.epochs_run = ckpt.epoch
        self.outcome.best_val_accuracy = state["best_val_accuracy"]
        if self.outcome.history:
            self.outcome.val_accuracy = self.outcome.history[-1].val_accuracy
        self.outcome.resumed_from = ckpt.epoch

    def run(
        self,
        on_epoch: Callable[[EpochReport], None] | None,
        should_stop: Callable[[], object] | None,
        on_step: Callable[[], None] | None,
        on_checkpoint: Callable[[Checkpoint], None] | None,
    ) -> TrainOutcome:
        outcome, data, device = self.outcome, self.data, self.device
        for epoch in range(outcome.epochs_run, self.cfg.epochs):
            stop, train_loss = self._epoch(should_stop, on_step)
            if stop is not None:
                outcome.status = stop
                break
            acc = evaluate(self.eval_model, data.val_x, data.val_y, device, self.amp)
            outcome.epochs_run = epoch + 1
            outcome.val_accuracy = acc
            outcome.best_val_accuracy = max(acc, outcome.best_val_accuracy or 0.0)
            report = EpochReport(
                epoch=epoch + 1,
                val_accuracy=acc,
                train_loss=train_loss if math.isfinite(train_loss) else None,
                elapsed_s=time.perf_counter() - self.start,
            )
            outcome.history.append(report)
            if on_epoch is not None:
                on_epoch(report)
            if not math.isfinite(train_loss):
                outcome.diverged = True
                break
            if on_checkpoint is not None:
                on_checkpoint(self.checkpoint())
            if epoch + 1 < self.cfg.epochs and should_stop is not None and (stop := _stop_status(should_stop())):
                outcome.status = stop
                break
        if self.ema is not None and outcome.status == "completed":
            # The averaged weights are the ones evaluated, so they are the ones kept (and exported).
            self.model.load_state_dict(self.ema.module.state_dict())
        if self.recipe.evaluate_test and outcome.status == "completed" and len(data.test_y):
            outcome.test_accuracy = evaluate(self.model, data.test_x, data.test_y, device, self.amp)
        outcome.train_seconds = time.perf_counter() - self.start
        return outcome

    def _epoch(
        self, should_stop: Callable[[], object] | None, on_step: Callable[[], None] | None
    ) -> tuple[StopStatus | None, float]:
        data, device = self.data, self.device
        order = torch.randperm(len(data.train_y), generator=self.shuffle)
        loss_sum = torch.zeros((), device=device)
        batches = 0
        for step in range(self.steps_per_epoch):
            idx = order[step * self.batch : (step + 1) * self.batch]
            xb = augment_batch(data.train_x.index_select(0, idx), self.recipe, self.augment)
            xb = xb.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            yb = data.train_y.index_select(0, idx).to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.amp):
                loss = self.criterion(self.model(xb), yb)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            if self.ema is not None:
                self.ema.update_parameters(self.model)
            loss_sum += loss.detach().float()
            batches += 1
            self.outcome.samples_seen += len(idx)
            if on_step is not None:
                on_step()
            if should_stop is not None and (stop := _stop_status(should_stop())):
                return stop, math.nan
        return None, float(loss_sum) / max(1, batches)
