"""Anchors (count, geometry, order vs the heads' layout), matching, focal and Huber losses."""

from __future__ import annotations

import math

import pytest
import torch

from nas_service.arch import get_detection_preset
from nas_service.detection.anchors import flatten_head_outputs, generate_anchors, match_anchors
from nas_service.detection.boxes import decode_boxes
from nas_service.detection.loss import LossSettings, detection_loss, focal_loss, huber_loss

RATIOS = [(1.0, 1.0), (1.4, 0.7), (0.7, 1.4)]


def test_anchor_count_and_first_anchors() -> None:
    anchors = generate_anchors(512, 3, 7, 3, RATIOS, 4.0)
    assert anchors.shape == (9 * (64**2 + 32**2 + 16**2 + 8**2 + 4**2), 4)
    # First location of P3: centre (4, 4); scale 1, ratio 1:1 -> 32 x 32; then ratio (1.4, 0.7) -> 44.8 x 22.4.
    assert torch.allclose(anchors[0], torch.tensor([-12.0, -12.0, 20.0, 20.0]))
    assert torch.allclose(anchors[1], torch.tensor([4 - 22.4, 4 - 11.2, 4 + 22.4, 4 + 11.2]))
    octave = 32 * 2 ** (1 / 3)
    assert anchors[3, 2] - anchors[3, 0] == pytest.approx(octave, rel=1e-5)
    # Second location is one stride to the right.
    assert torch.allclose(anchors[9] - anchors[0], torch.tensor([8.0, 0.0, 8.0, 0.0]))


def test_anchor_order_matches_head_layout() -> None:
    # Head channel a * C + c at (y, x) of level l must land on the anchor row of (l, y, x, a).
    num_classes, a = 2, 9
    outputs = []
    offset = 0
    for size in (4, 2, 1):
        idx = torch.arange(size * size * a, dtype=torch.float32).reshape(size, size, a) + offset
        offset += size * size * a
        t = idx[..., None].repeat(1, 1, 1, num_classes)  # (H, W, A, C)
        outputs.append(t.reshape(size, size, a * num_classes).permute(2, 0, 1)[None])
    flat = flatten_head_outputs(outputs, num_classes)
    assert torch.equal(flat[0, :, 0], torch.arange(offset, dtype=torch.float32))
    assert generate_anchors(32, 3, 5, 3, RATIOS, 4.0).shape[0] == offset


def test_match_forces_each_object() -> None:
    anchors = generate_anchors(64, 3, 4, 1, [(1.0, 1.0)], 4.0)
    small = torch.tensor([[10.0, 10.0, 14.0, 14.0]])  # IoU with every anchor < 0.5
    matched, targets = match_anchors(anchors, small)
    assert (matched >= 0).sum() == 1
    pos = matched >= 0
    assert torch.allclose(decode_boxes(targets[pos], anchors[pos]), small, atol=1e-4)
    none, _ = match_anchors(anchors, torch.zeros(0, 4))
    assert (none == -1).all()


def test_focal_loss_formula() -> None:
    logits = torch.tensor([2.0, -1.0, 0.5])
    targets = torch.tensor([1.0, 0.0, 0.0])
    expected = 0.0
    for x, y in zip(logits.tolist(), targets.tolist(), strict=True):
        p = 1 / (1 + math.exp(-x))
        p_t = p if y else 1 - p
        alpha_t = 0.25 if y else 0.75
        expected += -alpha_t * (1 - p_t) ** 1.5 * math.log(p_t)
    assert focal_loss(logits, targets).item() == pytest.approx(expected, rel=1e-5)


def test_huber_loss_formula() -> None:
    pred, target = torch.tensor([0.05, 0.5]), torch.zeros(2)
    assert huber_loss(pred, target, 0.1).item() == pytest.approx(0.5 * 0.05**2 + 0.1 * (0.5 - 0.05))


def test_detection_loss_prefers_the_truth() -> None:
    spec = get_detection_preset("efficientdet_d0", num_classes=3, resolution=128)
    anchors = generate_anchors(128, 3, 7, 3, spec.aspect_ratios, 4.0)
    boxes = torch.tensor([[20.0, 30.0, 70.0, 90.0]])
    labels = torch.tensor([2])
    matched, reg = match_anchors(anchors, boxes)
    sizes = [16, 8, 4, 2, 1]

    def heads(cls_flat: torch.Tensor, box_flat: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        cls_out, box_out, start = [], [], 0
        for s in sizes:
            n = s * s * 9
            cls_out.append(cls_flat[start : start + n].reshape(s, s, 27).permute(2, 0, 1)[None])
            box_out.append(box_flat[start : start + n].reshape(s, s, 36).permute(2, 0, 1)[None])
            start += n
        return cls_out, box_out

    truth_cls = torch.full((len(anchors), 3), -8.0)
    truth_cls[matched >= 0, 2] = 8.0
    good = detection_loss(*heads(truth_cls, reg), anchors, [(boxes, labels)], 3)
    zeros = heads(torch.zeros(len(anchors), 3), torch.zeros(len(anchors), 4))
    bad = detection_loss(*zeros, anchors, [(boxes, labels)], 3)
    assert good.num_positives == int((matched >= 0).sum()) > 0
    assert good.box.item() == pytest.approx(0.0, abs=1e-6)
    assert good.total.item() < 0.01 < bad.total.item()
    assert bad.total.item() == pytest.approx((bad.cls + LossSettings().box_weight * bad.box).item())
