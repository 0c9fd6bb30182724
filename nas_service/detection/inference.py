"""Head outputs to detections: top-k candidates, box decoding, clipping and batched NMS per image."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from nas_service.detection.anchors import flatten_head_outputs
from nas_service.detection.boxes import batched_nms, decode_boxes


@dataclass(frozen=True)
class PostprocessSettings:
    """Detection post-processing (the reference's evaluation settings)."""

    score_threshold: float = 0.05
    pre_nms_top_k: int = 1000
    iou_threshold: float = 0.5
    max_detections: int = 100


@dataclass(frozen=True)
class Detections:
    """One image's detections: ``boxes (K, 4)`` xyxy pixels, ``scores (K,)``, ``labels (K,)``."""

    boxes: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor


def postprocess(
    cls_outputs: Sequence[torch.Tensor],
    box_outputs: Sequence[torch.Tensor],
    anchors: torch.Tensor,
    num_classes: int,
    image_size: int,
    settings: PostprocessSettings | None = None,
) -> list[Detections]:
    """Detections of every image of a batch (scores are sigmoid probabilities)."""
    s = settings or PostprocessSettings()
    cls_flat = flatten_head_outputs(cls_outputs, num_classes).float()
    box_flat = flatten_head_outputs(box_outputs, 4).float()
    out = []
    for i in range(cls_flat.shape[0]):
        scores = torch.sigmoid(cls_flat[i]).flatten()  # (anchors * classes,) in anchor-major order
        k = min(s.pre_nms_top_k, scores.numel())
        top_scores, top_idx = scores.topk(k)
        keep = top_scores > s.score_threshold
        top_scores, top_idx = top_scores[keep], top_idx[keep]
        anchor_idx, labels = top_idx // num_classes, top_idx % num_classes
        boxes = decode_boxes(box_flat[i, anchor_idx], anchors[anchor_idx]).clamp(0, image_size)
        kept = batched_nms(boxes, top_scores, labels, s.iou_threshold)[: s.max_detections]
        out.append(Detections(boxes[kept], top_scores[kept], labels[kept]))
    return out
