"""The detection proxy training loop: the classification loop's recipe with detection losses and mAP.

Same optimiser builder, warm-up + cosine schedule, seeding, thread handling, stop polling and outcome type as
:mod:`workers.train`; the loss is :func:`nas_service.detection.loss.detection_loss` and the validation metric
is COCO mAP@[.5:.95] (reported as the epoch's ``val_accuracy``: it is the task's accuracy metric, in 0..1).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from nas_service.arch.bifpn import EfficientDet
from nas_service.detection.anchors import generate_anchors
from nas_service.detection.config import DetectionProxyConfig
from nas_service.detection.data import DetectionData, DetectionSplit
from nas_service.detection.inference import postprocess
from nas_service.detection.loss import detection_loss
from nas_service.detection.metrics import MeanAP, coco_map
from nas_service.jobspec import EpochReport
from workers.train import StopStatus, TrainOutcome, _stop_status, _warmup_cosine, build_optimizer, resolve_device

__all__ = ["DetectionOutcome", "anchors_for", "evaluate_detector", "train_detection_proxy"]

_EVAL_BATCH = 32


@dataclass
class DetectionOutcome(TrainOutcome):
    """A :class:`~workers.train.TrainOutcome` whose accuracy is mAP@[.5:.95], plus the last mAP@.5."""

    val_map50: float | None = None


def anchors_for(model: EfficientDet, resolution: int) -> torch.Tensor:
    """The anchors of ``model``'s levels and anchor settings at ``resolution``."""
    s = model.spec
    return generate_anchors(resolution, s.min_level, s.max_level, s.num_scales, s.aspect_ratios, s.anchor_scale)


def evaluate_detector(
    model: EfficientDet, split: DetectionSplit, device: torch.device, amp: bool = False
) -> MeanAP:
    """mAP of ``model`` on ``split`` in eval mode (the model's mode is restored)."""
    res = split.images.shape[-1]
    anchors = anchors_for(model, res).to(device)
    was_training = model.training
    model.eval()
    dets = []
    try:
        with torch.inference_mode():
            for start in range(0, len(split), _EVAL_BATCH):
                xb = split.images[start : start + _EVAL_BATCH].to(device)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
                    cls_out, box_out = model(xb)
                for d in postprocess(cls_out, box_out, anchors, model.spec.num_classes, res):
                    dets.append(type(d)(d.boxes.cpu(), d.scores.cpu(), d.labels.cpu()))
    finally:
        model.train(was_training)
    return coco_map(split.targets, dets, model.spec.num_classes, split.image_ids)


def train_detection_proxy(
    model: EfficientDet,
    data: DetectionData,
    cfg: DetectionProxyConfig,
    on_epoch: Callable[[EpochReport], None] | None = None,
    should_stop: Callable[[], object] | None = None,
    on_step: Callable[[], None] | None = None,
) -> DetectionOutcome:
    """Train ``model`` on ``data`` for ``cfg.epochs`` epochs, evaluating mAP after each (see the module docstring).

    Raises:
        ValueError: When the model's classes differ from the data's.
    """
    if model.spec.num_classes != data.num_classes:
        raise ValueError(f"num_classes: the detector has {model.spec.num_classes}, the data {data.num_classes}")
    device = resolve_device(cfg.device)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _train(model, data, cfg, device, on_epoch, should_stop, on_step)
    finally:
        torch.set_num_threads(previous_threads)


def _train(
    model: EfficientDet,
    data: DetectionData,
    cfg: DetectionProxyConfig,
    device: torch.device,
    on_epoch: Callable[[EpochReport], None] | None,
    should_stop: Callable[[], object] | None,
    on_step: Callable[[], None] | None,
) -> DetectionOutcome:
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    shuffle = torch.Generator().manual_seed(cfg.seed)
    amp = cfg.amp and device.type == "cuda"
    model.to(device).train()
    anchors = anchors_for(model, data.resolution).to(device)
    n = len(data.train)
    batch = min(cfg.batch_size, n)
    # A last batch of one image would break the heads' BatchNorm on the 1x1 top level: drop it.
    steps_per_epoch = max(1, n // batch + (1 if n % batch > 1 else 0))
    total_steps = steps_per_epoch * cfg.epochs
    optimizer = build_optimizer(model, cfg.optimizer_config())
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _warmup_cosine(total_steps, max(1, min(steps_per_epoch, total_steps // 10)))
    )
    outcome = DetectionOutcome("completed", 0, None, None, device=device.type)
    for epoch in range(cfg.epochs):
        order = torch.randperm(n, generator=shuffle)
        loss_sum, batches = 0.0, 0
        stop: StopStatus | None = None
        for step in range(steps_per_epoch):
            idx = order[step * batch : (step + 1) * batch]
            xb = data.train.images.index_select(0, idx).to(device, non_blocking=True)
            targets = [data.train.targets[int(i)] for i in idx]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                cls_out, box_out = model(xb)
            loss = detection_loss(cls_out, box_out, anchors, targets, data.num_classes).total
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            # The reference clips gradients at norm 10: early focal-loss steps are large.
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
            scheduler.step()
            loss_sum += float(loss.detach())
            batches += 1
            outcome.samples_seen += len(idx)
            if on_step is not None:
                on_step()
            if should_stop is not None and (stop := _stop_status(should_stop())):
                break
        if stop is not None:
            outcome.status = stop
            break
        train_loss = loss_sum / max(1, batches)
        scores = evaluate_detector(model, data.val, device, amp)
        outcome.epochs_run = epoch + 1
        outcome.val_accuracy, outcome.val_map50 = scores.map, scores.map50
        outcome.best_val_accuracy = max(scores.map, outcome.best_val_accuracy or 0.0)
        report = EpochReport(
            epoch=epoch + 1,
            val_accuracy=scores.map,
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
