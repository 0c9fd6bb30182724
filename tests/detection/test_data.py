"""Synthetic shapes (deterministic, tight boxes) and the COCO-format loader on files the test writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pydantic import ValidationError

from nas_service.detection.config import DetectionProxyConfig
from nas_service.detection.data import DetectionDataError, load_coco, load_detection_data, synthetic_shapes


def test_synthetic_is_deterministic() -> None:
    a, names = synthetic_shapes(8, 64, num_classes=4, seed=3)
    b, _ = synthetic_shapes(8, 64, num_classes=4, seed=3)
    c, _ = synthetic_shapes(8, 64, num_classes=4, seed=4)
    assert names == ["rectangle", "ellipse", "triangle", "diamond"]
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a.targets, b.targets, strict=True))


def test_synthetic_boxes_are_in_the_image_and_classes_in_range() -> None:
    split, _ = synthetic_shapes(32, 64, num_classes=3, max_objects=3, seed=0)
    assert split.images.shape == (32, 3, 64, 64) and len(split) == 32
    counts = [len(t[1]) for t in split.targets]
    assert min(counts) >= 1 and max(counts) <= 3
    for boxes, labels in split.targets:
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= 64).all()
        assert (boxes[:, 2:] > boxes[:, :2]).all()
        assert ((labels >= 0) & (labels < 3)).all()


def test_synthetic_refuses_bad_settings() -> None:
    with pytest.raises(DetectionDataError, match="num_classes"):
        synthetic_shapes(2, 64, num_classes=7)


def write_coco(root: Path) -> Path:
    """Two images (one 80x40), three categories with non-contiguous ids, a crowd box and a zero-area box."""
    (root / "img").mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 80, 3), dtype=np.uint8)).save(root / "img" / "a.png")
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(root / "img" / "b.jpg")
    ann = {
        "images": [
            {"id": 7, "file_name": "b.jpg", "width": 64, "height": 64},
            {"id": 3, "file_name": "a.png", "width": 80, "height": 40},
        ],
        "categories": [{"id": 18, "name": "dog"}, {"id": 1, "name": "person"}, {"id": 5, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 3, "category_id": 18, "bbox": [8, 4, 40, 20], "iscrowd": 0},
            {"id": 2, "image_id": 3, "category_id": 1, "bbox": [0, 0, 10, 10], "iscrowd": 1},
            {"id": 3, "image_id": 7, "category_id": 5, "bbox": [16, 16, 32, 16]},
            {"id": 4, "image_id": 7, "category_id": 1, "bbox": [1, 1, 0, 5]},
        ],
    }
    path = root / "instances.json"
    path.write_text(json.dumps(ann))
    return path


def test_coco_loader(tmp_path: Path) -> None:
    ann = write_coco(tmp_path)
    split, names = load_coco(tmp_path / "img", ann, 32)
    assert names == ["person", "car", "dog"]  # category id order
    assert split.image_ids == [3, 7] and split.images.shape == (2, 3, 32, 32)
    boxes, labels = split.targets[0]  # image 3, 80x40 stretched to 32x32
    assert labels.tolist() == [2]
    assert torch.allclose(boxes, torch.tensor([[8 * 0.4, 4 * 0.8, 48 * 0.4, 24 * 0.8]]))
    boxes, labels = split.targets[1]
    assert labels.tolist() == [1] and torch.allclose(boxes, torch.tensor([[8.0, 8.0, 24.0, 16.0]]))


def test_coco_errors_name_the_file(tmp_path: Path) -> None:
    ann = write_coco(tmp_path)
    (tmp_path / "img" / "a.png").unlink()
    with pytest.raises(DetectionDataError, match=r"image id 3: cannot read .*a\.png"):
        load_coco(tmp_path / "img", ann, 32)
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": []}')
    with pytest.raises(DetectionDataError, match="'annotations' must be a list"):
        load_coco(tmp_path / "img", bad, 32)


def test_config_routes_and_holdout(tmp_path: Path) -> None:
    ann = write_coco(tmp_path)
    cfg = DetectionProxyConfig(
        dataset="coco", data_path=str(tmp_path / "img"), train_annotations=str(ann), val_fraction=0.5, resolution=32
    )
    data = load_detection_data(cfg)
    assert len(data.train) == 1 and len(data.val) == 1 and data.num_classes == 3
    with pytest.raises(ValidationError, match="train_annotations"):
        DetectionProxyConfig(dataset="coco", data_path="x")
    shapes = load_detection_data(DetectionProxyConfig(train_images=4, val_images=2, resolution=32))
    assert len(shapes.train) == 4 and len(shapes.val) == 2 and shapes.num_classes == 3
