"""Boxes: IoU, the Faster R-CNN box coding and (batched) non-maximum suppression, in plain torch.

Boxes are ``(x1, y1, x2, y2)`` in pixels. torchvision is not available beside this torch, so NMS is written here:
greedy, highest score first, dropping every later box of the same class whose IoU with a kept box is *greater*
than the threshold (torchvision's convention). Classes are kept apart by shifting each class's boxes into its
own region of the plane, so one pass serves all classes.
"""

from __future__ import annotations

import torch

#: Box-coding clamp of the log size ratios (``log(1000 / 16)``, as in Detectron): no overflow in ``exp``.
MAX_LOG_RATIO = 4.135166556742356


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Area of ``(N, 4)`` boxes (zero for degenerate ones)."""
    return (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU matrix ``(N, M)`` of boxes ``a`` ``(N, 4)`` and ``b`` ``(M, 4)``; zero where the union is empty."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))


def _centers(boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    return boxes[:, 0] + 0.5 * w, boxes[:, 1] + 0.5 * h, w, h


def encode_boxes(boxes: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Regression targets ``(dx, dy, dw, dh)`` of ``boxes`` relative to ``anchors`` (both ``(N, 4)``).

    ``dx = (x - xa) / wa``, ``dy = (y - ya) / ha``, ``dw = log(w / wa)``, ``dh = log(h / ha)`` (Faster R-CNN,
    no scale factors, as in the EfficientDet reference).
    """
    x, y, w, h = _centers(boxes)
    xa, ya, wa, ha = _centers(anchors)
    w, h = w.clamp(min=1e-6), h.clamp(min=1e-6)
    return torch.stack([(x - xa) / wa, (y - ya) / ha, torch.log(w / wa), torch.log(h / ha)], dim=1)


def decode_boxes(deltas: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`encode_boxes`: boxes from ``(N, 4)`` deltas and anchors."""
    xa, ya, wa, ha = _centers(anchors)
    x = deltas[:, 0] * wa + xa
    y = deltas[:, 1] * ha + ya
    w = torch.exp(deltas[:, 2].clamp(max=MAX_LOG_RATIO)) * wa
    h = torch.exp(deltas[:, 3].clamp(max=MAX_LOG_RATIO)) * ha
    return torch.stack([x - 0.5 * w, y - 0.5 * h, x + 0.5 * w, y + 0.5 * h], dim=1)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices of the boxes kept by greedy NMS, in decreasing score order.

    Args:
        boxes: ``(N, 4)`` boxes.
        scores: ``(N,)`` scores.
        iou_threshold: A box is dropped when its IoU with a kept, higher-scoring box exceeds this.
    """
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    order = torch.argsort(scores, descending=True, stable=True)
    iou = box_iou(boxes[order], boxes[order])
    # The IoU matrix is computed once; the loop only ORs in the rows of kept boxes (on the CPU: tiny tensors).
    above = (iou > iou_threshold).cpu()
    suppressed = torch.zeros(len(order), dtype=torch.bool)
    keep: list[int] = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= above[i]
    return order[torch.tensor(keep, dtype=torch.long, device=boxes.device)]


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Per-class NMS in one pass: indices kept, in decreasing score order.

    Each class's boxes are shifted by ``class * (max coordinate + 1)`` on both axes, so boxes of different
    classes never overlap.
    """
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    offset = classes.to(boxes.dtype) * (boxes.max() - boxes.min() + 1)
    return nms(boxes + offset[:, None], scores, iou_threshold)
