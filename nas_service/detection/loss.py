"""Detection losses: focal loss for classes, Huber (smooth-L1) loss for boxes (EfficientDet settings).

``loss = focal / num_pos + box_weight * huber / (4 * num_pos)`` over the batch, with ``num_pos`` the number
of positive anchors plus one; focal ``alpha = 0.25``, ``gamma = 1.5``; Huber ``delta = 0.1``; box weight 50.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nas_service.detection.anchors import flatten_head_outputs, match_anchors


@dataclass(frozen=True)
class LossSettings:
    """Loss hyper-parameters (the reference's defaults)."""

    alpha: float = 0.25
    gamma: float = 1.5
    delta: float = 0.1
    box_weight: float = 50.0
    match_iou: float = 0.5


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 1.5) -> torch.Tensor:
    """Sigmoid focal loss, summed: ``alpha_t (1 - p_t)**gamma * BCE`` elementwise (targets in {0, 1})."""
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return (alpha_t * (1 - p_t).pow(gamma) * ce).sum()


def huber_loss(pred: torch.Tensor, target: torch.Tensor, delta: float = 0.1) -> torch.Tensor:
    """Huber loss, summed: ``0.5 x**2`` inside ``|x| <= delta``, ``delta (|x| - 0.5 delta)`` outside."""
    return F.huber_loss(pred, target, reduction="sum", delta=delta)


@dataclass(frozen=True)
class DetectionLoss:
    """The total and its two terms (already normalised and weighted)."""

    total: torch.Tensor
    cls: torch.Tensor
    box: torch.Tensor
    num_positives: int


def detection_loss(
    cls_outputs: Sequence[torch.Tensor],
    box_outputs: Sequence[torch.Tensor],
    anchors: torch.Tensor,
    targets: Sequence[tuple[torch.Tensor, torch.Tensor]],
    num_classes: int,
    settings: LossSettings | None = None,
) -> DetectionLoss:
    """The loss of a batch.

    Args:
        cls_outputs: Per-level class head outputs ``(N, A * num_classes, H, W)``.
        box_outputs: Per-level box head outputs ``(N, A * 4, H, W)``.
        anchors: ``(total, 4)`` anchors in the same order.
        targets: Per image, ``(boxes (M, 4) xyxy pixels, labels (M,) in 0..num_classes-1)``.
        num_classes: Object classes.
        settings: Loss settings.
    """
    s = settings or LossSettings()
    cls_flat = flatten_head_outputs(cls_outputs, num_classes).float()
    box_flat = flatten_head_outputs(box_outputs, 4).float()
    cls_targets = torch.zeros_like(cls_flat)
    box_sum = cls_flat.new_zeros(())
    num_pos = 0
    for i, (boxes, labels) in enumerate(targets):
        matched, reg = match_anchors(anchors, boxes.to(anchors.device), s.match_iou)
        pos = matched >= 0
        num_pos += int(pos.sum())
        if pos.any():
            cls_targets[i, pos, labels.to(anchors.device)[matched[pos]]] = 1.0
            box_sum = box_sum + huber_loss(box_flat[i, pos], reg[pos], s.delta)
    norm = num_pos + 1.0
    cls_loss = focal_loss(cls_flat, cls_targets, s.alpha, s.gamma) / norm
    box_loss = box_sum / (4 * norm)
    return DetectionLoss(cls_loss + s.box_weight * box_loss, cls_loss, box_loss, num_pos)
