"""The detection proxy loop: trains, reports mAP per epoch, stops on request; post-processing end to end."""

from __future__ import annotations

from collections.abc import Callable

import torch

from nas_service.arch import DetectionArchitecture, build_detector
from nas_service.detection.anchors import generate_anchors, match_anchors
from nas_service.detection.config import DetectionProxyConfig
from nas_service.detection.data import load_detection_data, synthetic_shapes
from nas_service.detection.inference import postprocess
from nas_service.detection.metrics import coco_map
from nas_service.jobspec import EpochReport
from workers.detection_train import train_detection_proxy


def test_oracle_head_outputs_score_one() -> None:
    """Head outputs built from the truth go through decoding, NMS and COCOeval to mAP 1."""
    split, _ = synthetic_shapes(6, 64, num_classes=3, seed=5)
    anchors = generate_anchors(64, 3, 6, 3, [(1.0, 1.0), (1.4, 0.7), (0.7, 1.4)], 3.0)
    sizes = [8, 4, 2, 1]
    cls_levels: list[list[torch.Tensor]] = [[] for _ in sizes]
    box_levels: list[list[torch.Tensor]] = [[] for _ in sizes]
    for boxes, labels in split.targets:
        matched, reg = match_anchors(anchors, boxes)
        cls = torch.full((len(anchors), 3), -10.0)
        pos = matched >= 0
        cls[pos, labels[matched[pos]]] = 10.0
        start = 0
        for i, s in enumerate(sizes):
            n = s * s * 9
            cls_levels[i].append(cls[start : start + n].reshape(s, s, 27).permute(2, 0, 1))
            box_levels[i].append(reg[start : start + n].reshape(s, s, 36).permute(2, 0, 1))
            start += n
    cls_out = [torch.stack(x) for x in cls_levels]
    box_out = [torch.stack(x) for x in box_levels]
    dets = postprocess(cls_out, box_out, anchors, 3, 64)
    result = coco_map(split.targets, dets, 3)
    assert result.map == 1.0 and result.map50 == 1.0


def test_trains_and_reports_map(tiny_detector: Callable[..., DetectionArchitecture]) -> None:
    cfg = DetectionProxyConfig(resolution=64, epochs=2, train_images=24, val_images=8, batch_size=8, device="cpu")
    data = load_detection_data(cfg)
    torch.manual_seed(0)
    model = build_detector(tiny_detector())
    reports: list[EpochReport] = []
    steps = []
    outcome = train_detection_proxy(model, data, cfg, on_epoch=reports.append, on_step=lambda: steps.append(1))
    assert outcome.status == "completed" and outcome.epochs_run == 2 and len(reports) == 2
    assert len(steps) == 6 and outcome.samples_seen == 48
    assert reports[1].train_loss is not None and reports[0].train_loss is not None
    assert reports[1].train_loss < reports[0].train_loss
    assert outcome.val_accuracy is not None and 0.0 <= outcome.val_accuracy <= 1.0
    assert outcome.val_map50 is not None and outcome.val_map50 >= outcome.val_accuracy
    assert outcome.images_per_second > 0


def test_stop_request_prunes(tiny_detector: Callable[..., DetectionArchitecture]) -> None:
    cfg = DetectionProxyConfig(resolution=64, epochs=3, train_images=16, val_images=4, batch_size=8, device="cpu")
    data = load_detection_data(cfg)
    outcome = train_detection_proxy(build_detector(tiny_detector()), data, cfg, should_stop=lambda: True)
    assert outcome.status == "pruned" and outcome.epochs_run == 0 and outcome.samples_seen == 8
