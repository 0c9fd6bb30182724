"""Detection data: an offline synthetic shapes dataset generated from code, and a COCO-format loader.

Both give :class:`DetectionSplit`s of square images resized to the detector's resolution, with boxes in that
image's pixels (``x1, y1, x2, y2``) and labels ``0..num_classes-1``. Images are normalised as
``(pixel - 0.5) / 0.25`` with pixels in ``[0, 1]``. Nothing is downloaded.

**Synthetic shapes** (:func:`synthetic_shapes`): each image has a smooth two-colour gradient background with
noise and 1-``max_objects`` filled shapes of random colour (contrasting with what they cover), size, aspect and
position; the class is the shape (rectangle, ellipse, triangle, diamond, cross, ring; ``num_classes`` picks the
first ones). Boxes are the tight boxes of the drawn masks. The same ``seed`` always gives the same dataset.

**COCO format** (:func:`load_coco`): an instances JSON (``images``, ``annotations`` with ``bbox = [x, y, w, h]``,
``categories``) and a directory of the image files. Categories map to contiguous labels in id order; crowd
annotations and boxes without area are skipped; images are stretched to the resolution and boxes scaled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from nas_service.detection.config import DetectionProxyConfig

SHAPES = ("rectangle", "ellipse", "triangle", "diamond", "cross", "ring")


class DetectionDataError(ValueError):
    """The detection data could not be read; the message names the file and the offending field."""


@dataclass
class DetectionSplit:
    """Images ``(N, 3, R, R)`` (normalised) and per image ``(boxes (M, 4), labels (M,))``."""

    images: torch.Tensor
    targets: list[tuple[torch.Tensor, torch.Tensor]]
    image_ids: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.image_ids:
            self.image_ids = list(range(1, len(self.targets) + 1))

    def __len__(self) -> int:
        return len(self.targets)


@dataclass
class DetectionData:
    """A training and a validation split with their class names."""

    train: DetectionSplit
    val: DetectionSplit
    class_names: list[str]
    resolution: int

    @property
    def num_classes(self) -> int:
        """Number of object classes."""
        return len(self.class_names)


#: Every detection image is standardised as ``(pixel - PIXEL_MEAN) / PIXEL_STD`` (per channel, RGB, pixels in [0, 1]).
PIXEL_MEAN, PIXEL_STD = 0.5, 0.25


def normalize(pixels: np.ndarray) -> torch.Tensor:
    """``(N, H, W, 3)`` float pixels in ``[0, 1]`` to a normalised ``(N, 3, H, W)`` tensor."""
    tensor = torch.from_numpy(np.ascontiguousarray(pixels.transpose(0, 3, 1, 2))).float()
    return (tensor - PIXEL_MEAN) / PIXEL_STD


def detection_preprocessing(resolution: int) -> dict[str, object]:
    """What a trained detector's input is (:class:`nas_service.export.Preprocessing` as a dict)."""
    return {
        "input_shape": [3, resolution, resolution],
        "channel_order": "RGB",
        "mean": [PIXEL_MEAN] * 3,
        "std": [PIXEL_STD] * 3,
    }


def _shape_mask(kind: str, xx: np.ndarray, yy: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    x1, y1, x2, y2 = box
    cx, cy, hw, hh = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
    u, v = (xx - cx) / hw, (yy - cy) / hh  # -1..1 inside the box
    inside = (np.abs(u) <= 1) & (np.abs(v) <= 1)
    if kind == "rectangle":
        return inside
    if kind == "ellipse":
        return u**2 + v**2 <= 1
    if kind == "triangle":  # apex at the top, base at the bottom
        return inside & (np.abs(u) <= (v + 1) / 2)
    if kind == "diamond":
        return np.abs(u) + np.abs(v) <= 1
    if kind == "cross":
        return inside & ((np.abs(u) <= 0.3) | (np.abs(v) <= 0.3))
    r2 = u**2 + v**2  # ring
    return (r2 <= 1) & (r2 >= 0.36)


def _contrasting_colour(rng: np.random.Generator, under: np.ndarray) -> np.ndarray:
    # Shapes stand out from what they cover (Euclidean RGB distance >= 0.5): the task is about finding and
    # telling shapes apart, not about seeing a shape the colour of its background.
    while True:
        colour = rng.uniform(0.0, 1.0, 3)
        if np.linalg.norm(colour - under) >= 0.5:
            return colour


def synthetic_shapes(
    num_images: int, resolution: int, num_classes: int = 3, max_objects: int = 3, seed: int = 0
) -> tuple[DetectionSplit, list[str]]:
    """Generate the synthetic shapes split (deterministic in ``seed``).

    Raises:
        DetectionDataError: For ``num_classes`` outside ``1..6`` or a resolution below 16.
    """
    if not 1 <= num_classes <= len(SHAPES):
        raise DetectionDataError(f"num_classes: the synthetic shapes have 1..{len(SHAPES)} classes, got {num_classes}")
    if resolution < 16:
        raise DetectionDataError(f"resolution: at least 16 for synthetic shapes, got {resolution}")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:resolution, 0:resolution].astype(np.float32) + 0.5
    images = np.empty((num_images, resolution, resolution, 3), dtype=np.float32)
    targets = []
    for i in range(num_images):
        c0, c1 = rng.uniform(0.0, 1.0, 3), rng.uniform(0.0, 1.0, 3)
        angle = rng.uniform(0, 2 * np.pi)
        t = ((xx * np.cos(angle) + yy * np.sin(angle)) / resolution + 1) / 2
        img = c0 * (1 - t[..., None]) + c1 * t[..., None]
        img = img + rng.normal(0, 0.04, img.shape)
        boxes, labels = [], []
        for _ in range(int(rng.integers(1, max_objects + 1))):
            label = int(rng.integers(num_classes))
            w, h = rng.uniform(0.18, 0.55, 2) * resolution
            x1, y1 = rng.uniform(0, resolution - w), rng.uniform(0, resolution - h)
            mask = _shape_mask(SHAPES[label], xx, yy, (x1, y1, x1 + w, y1 + h))
            if not mask.any():
                continue
            img[mask] = _contrasting_colour(rng, img[mask].mean(axis=0))
            ys, xs = np.nonzero(mask)
            boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            labels.append(label)
        images[i] = np.clip(img, 0, 1)
        targets.append(
            (torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), torch.tensor(labels, dtype=torch.long))
        )
    return DetectionSplit(normalize(images), targets), list(SHAPES[:num_classes])


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DetectionDataError(f"{path}: cannot read the annotations: {exc}") from None
    if not isinstance(data, dict):
        raise DetectionDataError(f"{path}: expected a JSON object with images, annotations and categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DetectionDataError(f"{path}: '{key}' must be a list")
    return data


def load_coco(
    images_dir: str | Path, ann_file: str | Path, resolution: int, max_images: int | None = None
) -> tuple[DetectionSplit, list[str]]:
    """Load a COCO-format split (see the module docstring).

    Raises:
        DetectionDataError: Naming the file and field on a missing image, a malformed annotation or JSON.
    """
    from PIL import Image, UnidentifiedImageError

    ann_path, root = Path(ann_file), Path(images_dir)
    data = _read_json(ann_path)
    try:
        cats = sorted(data["categories"], key=lambda c: int(c["id"]))
        label_of = {int(c["id"]): i for i, c in enumerate(cats)}
        names = [str(c.get("name", c["id"])) for c in cats]
        images = sorted(data["images"], key=lambda im: int(im["id"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise DetectionDataError(f"{ann_path}: malformed categories or images ({exc!r})") from None
    if max_images is not None:
        images = images[:max_images]
    by_image: dict[int, list[dict]] = {}
    for k, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or "image_id" not in ann or "bbox" not in ann or "category_id" not in ann:
            raise DetectionDataError(f"{ann_path}: annotations[{k}] needs image_id, bbox and category_id")
        by_image.setdefault(int(ann["image_id"]), []).append(ann)
    pixels = np.empty((len(images), resolution, resolution, 3), dtype=np.float32)
    targets, ids = [], []
    for n, im in enumerate(images):
        path = root / str(im.get("file_name", ""))
        try:
            with Image.open(path) as raw:
                rgb = raw.convert("RGB")
                width, height = rgb.size
                pixels[n] = (
                    np.asarray(rgb.resize((resolution, resolution), Image.Resampling.BILINEAR), dtype=np.float32) / 255
                )
        except (OSError, UnidentifiedImageError) as exc:
            raise DetectionDataError(f"{ann_path}: image id {im['id']}: cannot read {path}: {exc}") from None
        sx, sy = resolution / width, resolution / height
        boxes, labels = [], []
        for ann in by_image.get(int(im["id"]), []):
            x, y, w, h = (float(v) for v in ann["bbox"])
            if ann.get("iscrowd", 0) or w <= 0 or h <= 0:
                continue
            cat = int(ann["category_id"])
            if cat not in label_of:
                raise DetectionDataError(f"{ann_path}: annotation {ann.get('id')}: unknown category_id {cat}")
            boxes.append([x * sx, y * sy, (x + w) * sx, (y + h) * sy])
            labels.append(label_of[cat])
        targets.append(
            (torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), torch.tensor(labels, dtype=torch.long))
        )
        ids.append(int(im["id"]))
    return DetectionSplit(normalize(pixels), targets, ids), names


def _subset(split: DetectionSplit, idx: list[int]) -> DetectionSplit:
    return DetectionSplit(split.images[idx], [split.targets[i] for i in idx], [split.image_ids[i] for i in idx])


def load_detection_data(cfg: DetectionProxyConfig) -> DetectionData:
    """The training and validation splits ``cfg`` describes, at ``cfg.resolution``.

    Raises:
        DetectionDataError: When the files cannot be read or the held-out split would be empty.
    """
    res = cfg.resolution
    if cfg.dataset == "shapes":
        # Separate seeds: the validation images are never training images.
        train, names = synthetic_shapes(cfg.train_images, res, cfg.num_classes, cfg.max_objects, cfg.seed)
        val, _ = synthetic_shapes(cfg.val_images, res, cfg.num_classes, cfg.max_objects, cfg.seed + 1_000_003)
        return DetectionData(train, val, names, res)
    assert cfg.data_path is not None and cfg.train_annotations is not None  # checked by the config
    train, names = load_coco(cfg.data_path, cfg.train_annotations, res, cfg.train_images)
    if cfg.val_annotations:
        val, val_names = load_coco(cfg.data_path, cfg.val_annotations, res, cfg.val_images)
        if val_names != names:
            raise DetectionDataError(f"{cfg.val_annotations}: categories differ from those of {cfg.train_annotations}")
        return DetectionData(train, val, names, res)
    n_val = int(round(len(train) * cfg.val_fraction))
    if n_val < 1 or n_val >= len(train):
        raise DetectionDataError(
            f"val_fraction: {cfg.val_fraction} of {len(train)} images leaves an empty split; give val_annotations"
        )
    cut = len(train) - n_val
    return DetectionData(_subset(train, list(range(cut))), _subset(train, list(range(cut, len(train)))), names, res)
