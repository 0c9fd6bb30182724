"""IoU, box coding and (batched) NMS against brute-force Python references."""

from __future__ import annotations

import pytest
import torch

from nas_service.detection.boxes import batched_nms, box_iou, decode_boxes, encode_boxes, nms


def random_boxes(n: int, gen: torch.Generator, size: float = 100.0) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=gen) * size
    wh = torch.rand(n, 2, generator=gen) * size / 3 + 1
    return torch.cat([xy, xy + wh], dim=1)


def iou_py(a: list[float], b: list[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def nms_py(boxes: list[list[float]], scores: list[float], classes: list[int], thr: float) -> list[int]:
    """Brute force: for each class, repeatedly take the best remaining box and drop those overlapping it."""
    kept: list[int] = []
    for c in sorted(set(classes)):
        remaining = sorted((i for i in range(len(boxes)) if classes[i] == c), key=lambda i: -scores[i])
        while remaining:
            best = remaining.pop(0)
            kept.append(best)
            remaining = [i for i in remaining if iou_py(boxes[best], boxes[i]) <= thr]
    return sorted(kept, key=lambda i: -scores[i])


def test_iou_matches_brute_force() -> None:
    gen = torch.Generator().manual_seed(0)
    a, b = random_boxes(20, gen), random_boxes(15, gen)
    got = box_iou(a, b)
    for i in range(20):
        for j in range(15):
            assert got[i, j].item() == pytest.approx(iou_py(a[i].tolist(), b[j].tolist()), abs=1e-6)
    assert torch.allclose(box_iou(a, a).diagonal(), torch.ones(20))


def test_box_coding_round_trip() -> None:
    gen = torch.Generator().manual_seed(1)
    boxes, anchors = random_boxes(50, gen), random_boxes(50, gen)
    deltas = encode_boxes(boxes, anchors)
    assert torch.allclose(decode_boxes(deltas, anchors), boxes, atol=1e-4)
    assert torch.allclose(encode_boxes(anchors, anchors), torch.zeros(50, 4), atol=1e-6)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("thr", [0.3, 0.5, 0.7])
def test_nms_matches_brute_force(seed: int, thr: float) -> None:
    gen = torch.Generator().manual_seed(seed)
    boxes = random_boxes(80, gen, size=60.0)  # crowded: many overlaps
    scores = torch.rand(80, generator=gen)
    got = nms(boxes, scores, thr).tolist()
    assert got == nms_py(boxes.tolist(), scores.tolist(), [0] * 80, thr)


@pytest.mark.parametrize("seed", range(6))
def test_batched_nms_matches_per_class_brute_force(seed: int) -> None:
    gen = torch.Generator().manual_seed(100 + seed)
    boxes = random_boxes(120, gen, size=60.0)
    scores = torch.rand(120, generator=gen)
    classes = torch.randint(0, 4, (120,), generator=gen)
    got = batched_nms(boxes, scores, classes, 0.5).tolist()
    assert got == nms_py(boxes.tolist(), scores.tolist(), classes.tolist(), 0.5)
    # Same boxes under one class suppress more.
    assert len(got) > len(nms(boxes, scores, 0.5))


def test_nms_edge_cases() -> None:
    empty = torch.zeros(0, 4)
    assert nms(empty, torch.zeros(0), 0.5).numel() == 0
    assert batched_nms(empty, torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.5).numel() == 0
    box = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    same = box.repeat(3, 1)
    assert nms(same, torch.tensor([0.1, 0.9, 0.5]), 0.5).tolist() == [1]
    assert batched_nms(same, torch.tensor([0.1, 0.9, 0.5]), torch.tensor([0, 1, 0]), 0.5).tolist() == [1, 2]
