"""Proxy datasets for trial training: in-memory tensors and a deterministic train/validation/test split.

:func:`load_dataset` turns a :class:`~nas_service.jobspec.ProxyConfig` into a :class:`ProxyData`: float images
``(N, C, H, W)`` resized to ``cfg.resolution`` and normalised per channel with the training split's
statistics, and ``long`` labels.

The split, in this order:

1. **Test** (``cfg.test_fraction`` of the samples, stratified by class): drawn with a *fixed* seed that does not
   depend on the job, so every job on one dataset holds out the same test samples; searches train on the
   training split, select on the validation split and never look at the test split; only a stage-two
   (``final``) job evaluates on it. CIFAR-10 uses its own ``test_batch`` as the test split and an ``npz`` file
   its ``x_test``/``y_test`` arrays when present.
2. **Validation** (``cfg.val_fraction`` of what remains, or the ``npz`` file's ``x_val``/``y_val``): drawn with
   the job's ``cfg.seed``.
3. **Training**: the rest, optionally reduced to a stratified ``cfg.data_fraction`` (a cheaper proxy) and capped
   at ``cfg.max_train_samples``.

:attr:`ProxyData.split_indices` names the source sample indices of each split, so tests (and users) can check
that they are disjoint. The data of one config is loaded once per worker process (a small
module-level LRU keyed by the fields that change the data), not once per trial: Ray reuses worker processes,
so a search pays for the load once per worker.

Sources:

* ``digits``: scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes, offline), 1 channel.
* ``synthetic``: a seeded toy task (10 classes, 3 channels): one smooth random pattern per class plus noise.
* ``cifar10``: the CIFAR-10 *python* directory (``data_batch_1`` .. ``data_batch_5``, ``batches.meta``). The
  validation split is held out of the training batches; ``test_batch`` is the test split, which a search never
  trains or selects on. These pickles are trusted data files on the worker's disk that the operator points at;
  they are never uploaded through the API. They are still read with an unpickler that only admits
  the numpy types CIFAR batches contain, so a tampered file fails instead of running code.
* ``imagefolder``: ``root/<class>/*.png|jpg|jpeg|bmp``, classes in sorted order, decoded by Pillow.
* ``npz``: arrays ``x`` (``N,H,W`` or ``N,H,W,C``; ``N,C,H,W`` is accepted when unambiguous) and ``y``
  (``N``), optional ``x_val``/``y_val`` used as the validation split instead of a random one and optional
  ``x_test``/``y_test`` used as the test split. Loaded with
  ``allow_pickle=False``.

Every missing or malformed input raises :class:`DatasetError` naming the path and the field.
"""

from __future__ import annotations

import functools
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nas_service.fitcheck import BUILTIN_DATASETS
from nas_service.jobspec import ProxyConfig

__all__ = ["DatasetError", "ProxyData", "clear_dataset_cache", "dataset_signature", "load_dataset"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
_SYNTHETIC_SAMPLES = 2000
_SYNTHETIC_CLASSES = BUILTIN_DATASETS["synthetic"].classes
_SYNTHETIC_CHANNELS = BUILTIN_DATASETS["synthetic"].channels
#: ``(classes, channels)`` of the sources whose shape never depends on the files (one table, shared with the
#: submit-time fit check).
_FIXED_SIGNATURES: dict[str, tuple[int, int]] = {name: (d.classes, d.channels) for name, d in BUILTIN_DATASETS.items()}


class DatasetError(ValueError):
    """A dataset is missing or malformed; the message names the path and the field."""


@dataclass(frozen=True)
class ProxyData:
    """A proxy dataset in memory, shared by every trial of the process: never modify its tensors in place.

    Attributes:
        train_x: Training images, float32 ``(N, C, H, W)``, normalised.
        train_y: Training labels, int64 ``(N,)``.
        val_x: Validation images, float32 ``(M, C, H, W)``, normalised with the training statistics.
        val_y: Validation labels, int64 ``(M,)``.
        num_classes: Number of classes.
        in_channels: Image channels ``C``.
        test_x: Held-out test images (see the module docstring), normalised like the others.
        test_y: Test labels.
        mean: Per-channel mean subtracted from inputs in ``[0, 1]`` (the preprocessing an export must repeat).
        std: Per-channel standard deviation inputs were divided by.
        split_indices: Source sample indices of ``train``/``val``/``test`` where the splits were carved from one
            array (absent for splits a source ships separately).
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    num_classes: int
    in_channels: int
    test_x: torch.Tensor = field(default_factory=lambda: torch.empty(0))
    test_y: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.int64))
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    split_indices: dict[str, np.ndarray] = field(default_factory=dict, compare=False)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The per-sample shape ``(C, H, W)``."""
        c, h, w = self.train_x.shape[1:]
        return int(c), int(h), int(w)


def load_dataset(cfg: ProxyConfig) -> ProxyData:
    """Load (or reuse from this process's cache) the proxy dataset described by ``cfg``.

    Args:
        cfg: The proxy settings; only ``dataset``, ``data_path``, ``resolution``, ``val_fraction``,
            ``test_fraction``, ``data_fraction``, ``max_train_samples`` and ``seed`` matter here.

    Returns:
        The normalised train and validation tensors.

    Raises:
        DatasetError: The data is missing or malformed.
    """
    path = _allowed_path(cfg.data_path) if cfg.data_path else None
    if cfg.dataset in ("cifar10", "imagefolder", "npz") and path is None:
        raise DatasetError(f"dataset {cfg.dataset!r} needs 'data_path'")
    return _load_cached(
        cfg.dataset,
        path,
        cfg.resolution,
        _SplitSpec(cfg.val_fraction, cfg.test_fraction, cfg.data_fraction, cfg.max_train_samples, cfg.seed),
    )


def _allowed_path(data_path: str) -> str:
    """The real path of ``data_path``; under ``NAS_DATA_ROOTS`` when this process has that set.

    The API already refused paths outside its data roots at submit; a worker with its own ``NAS_DATA_ROOTS``
    checks again (its disk, its rule), with the same message whether or not the path exists.
    """
    from nas_service.datapaths import parse_roots, resolve_data_path
    from nas_service.limits import LimitError
    from nas_service.settings import get_settings

    roots = get_settings().data_roots
    if not roots:
        return str(Path(data_path).expanduser().resolve())
    try:
        return str(resolve_data_path(data_path, parse_roots(roots)))
    except LimitError as exc:
        raise DatasetError(f"data_path {exc.message}") from None


def dataset_signature(cfg: ProxyConfig) -> tuple[int, int]:
    """``(num_classes, in_channels)`` of the data ``cfg`` describes: what a network trained on it ends in.

    Cheap for the built-in sources (constants); ``npz`` and ``imagefolder`` are loaded once through the same
    per-process cache :func:`load_dataset` uses, so the answer is exactly what a worker will see.

    Raises:
        DatasetError: The data is missing or malformed.
    """
    fixed = _FIXED_SIGNATURES.get(cfg.dataset)
    if fixed is not None:
        return fixed
    data = load_dataset(cfg)
    return data.num_classes, data.in_channels


def clear_dataset_cache() -> None:
    """Forget every dataset loaded by this process (tests; a changed file on disk)."""
    _load_cached.cache_clear()


@dataclass(frozen=True)
class _SplitSpec:
    val_fraction: float
    test_fraction: float
    data_fraction: float
    max_train_samples: int | None
    seed: int


#: The seed of the test split: fixed, so the test samples of a dataset are the same for every job.
_TEST_SPLIT_SEED = 20_260_000


def stratified_pick(y: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions of a class-stratified ``fraction`` of ``y`` (at least one per class present).

    Each class contributes ``round(fraction * count)`` samples (but at least one, and at most ``count``), so a
    small fraction keeps every class and the class balance of the whole.
    """
    picked: list[np.ndarray] = []
    for label in np.unique(y):
        where = np.flatnonzero(y == label)
        k = min(len(where), max(1, round(fraction * len(where))))
        picked.append(rng.permutation(where)[:k])
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)


@functools.lru_cache(maxsize=4)
def _load_cached(dataset: str, path: str | None, resolution: int, split: _SplitSpec) -> ProxyData:
    explicit_val: tuple[np.ndarray, np.ndarray] | None = None
    explicit_test: tuple[np.ndarray, np.ndarray] | None = None
    if dataset == "digits":
        x, y = _digits()
    elif dataset == "synthetic":
        x, y = _synthetic(split.seed)
    elif dataset == "cifar10":
        assert path is not None
        x, y = _cifar10(Path(path))
        explicit_test = _cifar10_test(Path(path))
    elif dataset == "imagefolder":
        assert path is not None
        x, y = _image_folder(Path(path), resolution)
    elif dataset == "npz":
        assert path is not None
        x, y, explicit_val, explicit_test = _npz(Path(path))
    else:  # pragma: no cover - ProxyConfig's Literal forbids it
        raise DatasetError(f"unknown dataset {dataset!r}")

    where = path or dataset
    source = np.arange(len(y))
    indices: dict[str, np.ndarray] = {}
    if explicit_test is not None:
        test_x, test_y = explicit_test
    else:
        test_pos = stratified_pick(y, split.test_fraction, np.random.default_rng(_TEST_SPLIT_SEED))
        if len(test_pos) >= len(y):
            raise DatasetError(f"{where}: {len(y)} samples are too few to hold out a test split")
        keep = np.setdiff1d(source, test_pos, assume_unique=True)
        test_x, test_y, indices["test"] = x[test_pos], y[test_pos], test_pos
        x, y, source = x[keep], y[keep], source[keep]

    rng = np.random.default_rng(split.seed)
    if explicit_val is not None:
        train_x, train_y, train_src = x, y, source
        val_x, val_y = explicit_val
    else:
        order = rng.permutation(len(y))
        n_val = max(1, round(len(y) * split.val_fraction))
        if n_val >= len(y):
            raise DatasetError(f"{where}: {len(y)} samples are too few to hold out a validation split")
        val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
        train_x, train_y, val_x, val_y = x[train_idx], y[train_idx], x[val_idx], y[val_idx]
        train_src, indices["val"] = source[train_idx], source[val_idx]
    if split.data_fraction < 1.0:
        keep = stratified_pick(train_y, split.data_fraction, rng)
        train_x, train_y, train_src = train_x[keep], train_y[keep], train_src[keep]
    if split.max_train_samples is not None and split.max_train_samples < len(train_y):
        keep = np.sort(rng.permutation(len(train_y))[: split.max_train_samples])
        train_x, train_y, train_src = train_x[keep], train_y[keep], train_src[keep]
    indices["train"] = train_src

    num_classes = int(max(train_y.max(initial=0), val_y.max(initial=0), test_y.max(initial=0))) + 1
    tx, vx, sx = (_to_tensor(a, resolution) for a in (train_x, val_x, test_x))
    mean = tx.mean(dim=(0, 2, 3), keepdim=True)
    std = tx.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    tx, vx, sx = (((t - mean) / std).contiguous() for t in (tx, vx, sx))
    return ProxyData(
        train_x=tx,
        train_y=_labels(train_y),
        val_x=vx,
        val_y=_labels(val_y),
        num_classes=num_classes,
        in_channels=int(tx.shape[1]),
        test_x=sx,
        test_y=_labels(test_y),
        mean=tuple(float(v) for v in mean.flatten()),
        std=tuple(float(v) for v in std.flatten()),
        split_indices=indices,
    )


def _labels(y: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))


def _to_tensor(x: np.ndarray, resolution: int) -> torch.Tensor:
    """``(N, C, H, W)`` uint8 (0..255) or float array -> float32 tensor at ``resolution`` (bilinear)."""
    t = torch.from_numpy(np.ascontiguousarray(x))
    t = t.float().div_(255.0) if t.dtype == torch.uint8 else t.float()
    if t.shape[-2:] != (resolution, resolution) and len(t):
        downsampling = t.shape[-1] > resolution or t.shape[-2] > resolution
        t = F.interpolate(
            t, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=downsampling
        )
    return t


def _check_labels(y: np.ndarray, n: int, where: str) -> np.ndarray:
    if y.ndim != 1 or len(y) != n:
        raise DatasetError(f"{where}: expected {n} labels of shape (N,), got shape {tuple(y.shape)}")
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0):
            y = y.astype(np.int64)
        else:
            raise DatasetError(f"{where}: labels must be integers, got dtype {y.dtype}")
    if len(y) and y.min() < 0:
        raise DatasetError(f"{where}: labels must be >= 0, got {int(y.min())}")
    return y.astype(np.int64)


# --- digits and synthetic ---


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
    return x, bunch.target.astype(np.int64)


def _synthetic(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class prototypes are smooth 4x4 patterns upsampled to 16x16; samples add noise and a random gain."""
    rng = np.random.default_rng(10_007 + seed)
    coarse = torch.from_numpy(rng.normal(size=(_SYNTHETIC_CLASSES, _SYNTHETIC_CHANNELS, 4, 4)).astype(np.float32))
    protos = F.interpolate(coarse, size=(16, 16), mode="bilinear", align_corners=False).numpy()
    y = rng.integers(0, _SYNTHETIC_CLASSES, size=_SYNTHETIC_SAMPLES)
    gain = rng.uniform(0.6, 1.4, size=(_SYNTHETIC_SAMPLES, 1, 1, 1)).astype(np.float32)
    noise = rng.normal(scale=0.8, size=(_SYNTHETIC_SAMPLES, _SYNTHETIC_CHANNELS, 16, 16)).astype(np.float32)
    return protos[y] * gain + noise, y.astype(np.int64)


# --- CIFAR-10 python pickles ---


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits only what a CIFAR batch holds (dicts, lists, bytes, numpy arrays); anything else is refused."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR-10 batch")


def _read_cifar_pickle(path: Path) -> dict[bytes, object]:
    # Trusted data files the operator points at (see the module docstring); never user uploads.
    try:
        with path.open("rb") as fh:
            obj = _NumpyOnlyUnpickler(fh, encoding="bytes").load()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except Exception as exc:  # noqa: BLE001 - any unpickling problem is a malformed file
        raise DatasetError(f"{path}: not a CIFAR-10 python pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict):
        raise DatasetError(f"{path}: expected a dict, got {type(obj).__name__}")
    return obj


def _cifar10(root: Path) -> tuple[np.ndarray, np.ndarray]:
    if not root.is_dir():
        raise DatasetError(f"{root}: CIFAR-10 directory not found")
    batches = sorted(p for p in root.glob("data_batch_*") if p.is_file())
    if not batches:
        raise DatasetError(f"{root}: no 'data_batch_*' files (expected the CIFAR-10 python version)")
    meta_path = root / "batches.meta"
    num_classes = 10
    if meta_path.exists():
        meta = _read_cifar_pickle(meta_path)
        names = meta.get(b"label_names")
        if not isinstance(names, list) or not names:
            raise DatasetError(f"{meta_path}: field 'label_names' missing or empty")
        num_classes = len(names)
    xs, ys = [], []
    for path in batches:
        batch = _read_cifar_pickle(path)
        data, labels = batch.get(b"data"), batch.get(b"labels")
        if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            shape = getattr(data, "shape", None)
            raise DatasetError(f"{path}: field 'data' must be a uint8 array of shape (N, 3072), got {shape}")
        if labels is None:
            raise DatasetError(f"{path}: field 'labels' missing")
        y = _check_labels(np.asarray(labels), len(data), f"{path}: field 'labels'")
        if len(y) and y.max() >= num_classes:
            raise DatasetError(f"{path}: field 'labels' has label {int(y.max())} >= {num_classes} classes")
        xs.append(data.astype(np.uint8).reshape(-1, 3, 32, 32))
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def _cifar10_test(root: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """CIFAR-10's ``test_batch`` (the final job's test split), or ``None`` where the directory lacks it."""
    path = root / "test_batch"
    if not path.is_file():
        return None
    batch = _read_cifar_pickle(path)
    data, labels = batch.get(b"data"), batch.get(b"labels")
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or labels is None:
        raise DatasetError(f"{path}: expected fields 'data' (N, 3072) and 'labels'")
    y = _check_labels(np.asarray(labels), len(data), f"{path}: field 'labels'")
    return data.astype(np.uint8).reshape(-1, 3, 32, 32), y


# --- npz ---


def _npz_images(arr: np.ndarray, where: str) -> np.ndarray:
    if arr.ndim == 3:
        return arr[:, None, :, :]
    if arr.ndim == 4:
        if arr.shape[-1] in (1, 3, 4):
            return np.transpose(arr, (0, 3, 1, 2))
        if arr.shape[1] in (1, 3, 4):
            return arr
    raise DatasetError(f"{where}: expected images of shape (N,H,W) or (N,H,W,C) with C in 1,3,4; got {arr.shape}")


_Pair = tuple[np.ndarray, np.ndarray]


def _npz(path: Path) -> tuple[np.ndarray, np.ndarray, _Pair | None, _Pair | None]:
    if not path.is_file():
        raise DatasetError(f"{path}: .npz file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:  # noqa: BLE001 - any reading problem is a malformed file
        raise DatasetError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    for field_name in ("x", "y"):
        if field_name not in arrays:
            raise DatasetError(f"{path}: field {field_name!r} missing (found {sorted(arrays)})")
    x = _npz_images(arrays["x"], f"{path}: field 'x'")
    y = _check_labels(arrays["y"], len(x), f"{path}: field 'y'")
    _check_numeric(path, "x", x)
    extra: dict[str, _Pair | None] = {}
    for split in ("val", "test"):
        xs, ys = f"x_{split}", f"y_{split}"
        if (xs in arrays) != (ys in arrays):
            raise DatasetError(f"{path}: fields {xs!r} and {ys!r} must be given together")
        extra[split] = None
        if xs in arrays:
            xe = _npz_images(arrays[xs], f"{path}: field {xs!r}")
            ye = _check_labels(arrays[ys], len(xe), f"{path}: field {ys!r}")
            if xe.shape[1:] != x.shape[1:]:
                raise DatasetError(f"{path}: field {xs!r} has image shape {xe.shape[1:]}, 'x' has {x.shape[1:]}")
            _check_numeric(path, xs, xe)
            extra[split] = (xe, ye)
    return x, y, extra["val"], extra["test"]


def _check_numeric(path: Path, name: str, arr: np.ndarray) -> None:
    if not (np.issubdtype(arr.dtype, np.number) and arr.dtype != np.complex128):
        raise DatasetError(f"{path}: field {name!r} must be numeric, got dtype {arr.dtype}")


# --- image folders ---


def _image_folder(root: Path, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    if not root.is_dir():
        raise DatasetError(f"{root}: image folder not found")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DatasetError(f"{root}: no class sub-directories (expected root/<class>/*.png)")
    files: list[tuple[Path, int]] = []
    for label, cls in enumerate(classes):
        found = sorted(p for p in cls.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        files.extend((p, label) for p in found)
    if not files:
        raise DatasetError(f"{root}: no images with suffix {'/'.join(IMAGE_SUFFIXES)} in the class directories")
    images = [_read_image(p) for p, _ in files]
    channels = 3 if any(img.shape[2] >= 3 for img in images) else 1
    out = np.empty((len(images), channels, resolution, resolution), dtype=np.float32)
    for i, img in enumerate(images):
        rgb = img[:, :, :3] if img.shape[2] >= 3 else np.repeat(img[:, :, :1], channels, axis=2)
        out[i] = _to_tensor(rgb.transpose(2, 0, 1)[None], resolution)[0].numpy()
    return out, np.array([label for _, label in files], dtype=np.int64)


def _read_image(path: Path) -> np.ndarray:
    """An image as uint8 ``(H, W, C)`` with C in 1..3, decoded by Pillow (PNG, JPEG, BMP, ...)."""
    from PIL import Image

    try:
        with Image.open(path) as opened:
            im = opened.convert("RGB") if opened.mode not in ("L", "RGB") else opened
            arr = np.asarray(im, dtype=np.uint8)
    except Exception as exc:  # noqa: BLE001 - any decoding problem is a malformed image
        raise DatasetError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from None
    return arr[:, :, None] if arr.ndim == 2 else arr
