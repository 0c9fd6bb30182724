"""Anchor grids and matching anchors to objects (EfficientDet / RetinaNet conventions).

Anchors of level ``l`` (stride ``s = 2**l``) are centred on ``((j + 0.5) s, (i + 0.5) s)``; at each location,
for every octave scale ``2**(k / num_scales)`` (outer) and every aspect pair ``(aw, ah)`` (inner), the box has
width ``anchor_scale * s * 2**(k / num_scales) * aw`` and height ``... * ah``. The flattened order is level,
row, column, anchor: the order of the heads' outputs after :func:`flatten_head_outputs`.

Matching: an anchor is positive for the object it overlaps most when that IoU is at least ``match_iou`` (0.5),
negative otherwise; each object's best anchor is forced positive for it, so small objects are never lost.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from nas_service.detection.boxes import box_iou, encode_boxes


def generate_anchors(
    resolution: int,
    min_level: int,
    max_level: int,
    num_scales: int,
    aspect_ratios: Sequence[tuple[float, float]],
    anchor_scale: float,
) -> torch.Tensor:
    """All anchors of an image of ``resolution`` x ``resolution`` as ``(total, 4)`` xyxy boxes."""
    out = []
    for level in range(min_level, max_level + 1):
        stride = 2**level
        size = resolution // stride
        centers = (torch.arange(size, dtype=torch.float32) + 0.5) * stride
        cy, cx = torch.meshgrid(centers, centers, indexing="ij")
        wh = []
        for k in range(num_scales):
            base = anchor_scale * stride * 2 ** (k / num_scales)
            for aw, ah in aspect_ratios:
                wh.append((base * aw, base * ah))
        whs = torch.tensor(wh, dtype=torch.float32)  # (A, 2)
        c = torch.stack([cx, cy], dim=-1).reshape(-1, 1, 2)  # (H*W, 1, 2)
        half = whs[None] / 2
        out.append(torch.cat([c - half, c + half], dim=-1).reshape(-1, 4))
    return torch.cat(out, dim=0)


def flatten_head_outputs(outputs: Sequence[torch.Tensor], per_anchor: int) -> torch.Tensor:
    """Per-level ``(N, A * per_anchor, H, W)`` head outputs to ``(N, total_anchors, per_anchor)``."""
    flat = []
    for o in outputs:
        n, _, h, w = o.shape
        flat.append(o.permute(0, 2, 3, 1).reshape(n, h * w * (o.shape[1] // per_anchor), per_anchor))
    return torch.cat(flat, dim=1)


def match_anchors(
    anchors: torch.Tensor, boxes: torch.Tensor, match_iou: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Match anchors to one image's objects.

    Args:
        anchors: ``(A, 4)`` anchors.
        boxes: ``(M, 4)`` object boxes (``M`` may be 0).
        match_iou: IoU from which an anchor is positive.

    Returns:
        ``matched``: ``(A,)`` index of the object of every positive anchor, ``-1`` for negatives; and
        ``targets``: ``(A, 4)`` box regression targets (meaningful only where ``matched >= 0``).
    """
    n = anchors.shape[0]
    if boxes.numel() == 0:
        return torch.full((n,), -1, dtype=torch.long, device=anchors.device), torch.zeros_like(anchors)
    iou = box_iou(anchors, boxes)  # (A, M)
    best_iou, best = iou.max(dim=1)
    matched = torch.where(best_iou >= match_iou, best, torch.full_like(best, -1))
    # Force each object's best anchor to it (the last object wins a tie over one anchor, as in the reference).
    forced = iou.argmax(dim=0)
    matched[forced] = torch.arange(boxes.shape[0], device=anchors.device)
    targets = encode_boxes(boxes[matched.clamp(min=0)], anchors)
    return matched, targets
