"""mAP@[.5:.95] and mAP@.5 with pycocotools' ``COCOeval`` (bbox, all areas, 100 detections per image)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import NamedTuple

import torch

from nas_service.detection.inference import Detections


class MeanAP(NamedTuple):
    """COCO mean average precision over IoU .5:.95 and at IoU .5 (0 when there is nothing to score)."""

    map: float
    map50: float


def coco_map(
    targets: Sequence[tuple[torch.Tensor, torch.Tensor]],
    detections: Sequence[Detections],
    num_classes: int,
    image_ids: Sequence[int] | None = None,
) -> MeanAP:
    """Score ``detections`` against ``targets`` (same image order; boxes xyxy, labels ``0..num_classes-1``)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ids = list(image_ids) if image_ids is not None else list(range(1, len(targets) + 1))
    annotations: list[dict[str, object]] = []
    for img_id, (boxes, labels) in zip(ids, targets, strict=True):
        for box, label in zip(boxes.tolist(), labels.tolist(), strict=True):
            w, h = box[2] - box[0], box[3] - box[1]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": img_id,
                    "category_id": int(label) + 1,
                    "bbox": [box[0], box[1], w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    results: list[dict[str, object]] = []
    for img_id, det in zip(ids, detections, strict=True):
        for box, score, label in zip(det.boxes.tolist(), det.scores.tolist(), det.labels.tolist(), strict=True):
            results.append(
                {
                    "image_id": img_id,
                    "category_id": int(label) + 1,
                    "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]],
                    "score": float(score),
                }
            )
    if not annotations or not results:
        return MeanAP(0.0, 0.0)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress and summary
        gt = COCO()
        gt.dataset = {
            "images": [{"id": i} for i in ids],
            "annotations": annotations,
            "categories": [{"id": c + 1} for c in range(num_classes)],
        }
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return MeanAP(max(0.0, float(ev.stats[0])), max(0.0, float(ev.stats[1])))
