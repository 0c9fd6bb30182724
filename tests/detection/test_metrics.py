"""mAP with pycocotools against hand-worked cases and a brute-force COCO-style AP written here."""

from __future__ import annotations

import pytest
import torch

from nas_service.detection.inference import Detections
from nas_service.detection.metrics import coco_map


def det(boxes: list[list[float]], scores: list[float], labels: list[int]) -> Detections:
    return Detections(torch.tensor(boxes).reshape(-1, 4), torch.tensor(scores), torch.tensor(labels))


def gt(boxes: list[list[float]], labels: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor(boxes).reshape(-1, 4), torch.tensor(labels, dtype=torch.long)


def iou(a: list[float], b: list[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def brute_ap(targets: list, dets: list[Detections], cls: int, thr: float) -> float | None:
    """COCO's AP for one class and IoU threshold: greedy matching by score, 101-point interpolation."""
    n_gt = sum(int((t[1] == cls).sum()) for t in targets)
    if n_gt == 0:
        return None
    scored: list[tuple[float, bool]] = []
    for (boxes, labels), d in zip(targets, dets, strict=True):
        g = [b for b, lab in zip(boxes.tolist(), labels.tolist(), strict=True) if lab == cls]
        used = [False] * len(g)
        rows = zip(d.boxes.tolist(), d.scores.tolist(), d.labels.tolist(), strict=True)
        mine = sorted(((s, b) for b, s, lab in rows if lab == cls), key=lambda x: -x[0])
        for s, b in mine:
            best, best_iou = -1, min(thr, 1 - 1e-10)
            for j, gb in enumerate(g):
                if not used[j] and iou(b, gb) >= best_iou:
                    best, best_iou = j, iou(b, gb)
            if best >= 0:
                used[best] = True
            scored.append((s, best >= 0))
    scored.sort(key=lambda x: -x[0])
    tp = fp = 0
    rc, pr = [], []
    for _, hit in scored:
        tp, fp = tp + hit, fp + (not hit)
        rc.append(tp / n_gt)
        pr.append(tp / (tp + fp))
    for i in range(len(pr) - 2, -1, -1):
        pr[i] = max(pr[i], pr[i + 1])
    total = 0.0
    for k in range(101):
        r = k / 100
        idx = next((i for i, v in enumerate(rc) if v >= r), None)
        total += pr[idx] if idx is not None else 0.0
    return total / 101


def brute_map(targets: list, dets: list[Detections], num_classes: int) -> tuple[float, float]:
    thresholds = [0.5 + 0.05 * i for i in range(10)]
    per_t = []
    for t in thresholds:
        aps = [a for c in range(num_classes) if (a := brute_ap(targets, dets, c, t)) is not None]
        per_t.append(sum(aps) / len(aps))
    return sum(per_t) / len(per_t), per_t[0]


def test_perfect_detections_score_one() -> None:
    targets = [gt([[10, 10, 50, 40], [60, 60, 90, 100]], [0, 1]), gt([[5, 5, 20, 30]], [1])]
    dets = [det(t[0].tolist(), [0.9] * len(t[1]), t[1].tolist()) for t in targets]
    assert coco_map(targets, dets, 2) == (pytest.approx(1.0), pytest.approx(1.0))


def test_a_false_positive_above_the_true_one_halves_precision() -> None:
    targets = [gt([[10, 10, 50, 50]], [0])]
    dets = [det([[60, 60, 90, 90], [10, 10, 50, 50]], [0.9, 0.8], [0, 0])]
    result = coco_map(targets, dets, 1)
    assert result.map == pytest.approx(0.5) and result.map50 == pytest.approx(0.5)


def test_nothing_to_score() -> None:
    assert coco_map([gt([[0, 0, 5, 5]], [0])], [det([], [], [])], 1) == (0.0, 0.0)


@pytest.mark.parametrize("seed", range(4))
def test_matches_brute_force_on_random_detections(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    targets, dets = [], []
    for _ in range(5):
        n = int(torch.randint(1, 4, (1,), generator=gen))
        xy = torch.rand(n, 2, generator=gen) * 60
        boxes = torch.cat([xy, xy + 10 + torch.rand(n, 2, generator=gen) * 30], 1)
        labels = torch.randint(0, 3, (n,), generator=gen)
        targets.append((boxes, labels))
        # Jittered copies of the truth (some good, some poor) plus random false positives.
        jitter = boxes + torch.randn(n, 4, generator=gen) * 4
        fxy = torch.rand(3, 2, generator=gen) * 60
        false = torch.cat([fxy, fxy + 15], 1)
        all_boxes = torch.cat([jitter, false])
        all_labels = torch.cat([labels, torch.randint(0, 3, (3,), generator=gen)])
        dets.append(Detections(all_boxes, torch.rand(n + 3, generator=gen), all_labels))
    got = coco_map(targets, dets, 3)
    want = brute_map(targets, dets, 3)
    assert got.map == pytest.approx(want[0], abs=1e-6)
    assert got.map50 == pytest.approx(want[1], abs=1e-6)
    assert 0 < got.map < 1
