"""Proxy datasets: every loader on small files written here, the seeded split, the cache and the errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from nas_service.jobspec import ProxyConfig
from workers import data as data_mod
from workers.data import DatasetError, clear_dataset_cache, load_dataset


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    clear_dataset_cache()


def _write_png(path: Path, img: np.ndarray) -> None:
    """Write an 8-bit gray (H,W) or RGB (H,W,3) PNG."""
    from PIL import Image

    Image.fromarray(img).save(path)


def test_digits_shapes_normalisation_and_split() -> None:
    d = load_dataset(ProxyConfig(dataset="digits", resolution=16, val_fraction=0.2))
    assert d.train_x.shape[1:] == (1, 16, 16) and d.val_x.shape[1:] == (1, 16, 16)
    assert len(d.train_y) + len(d.val_y) + len(d.test_y) == 1797
    n_test = len(d.test_y)
    assert abs(n_test - 1797 * 0.15) <= 10  # stratified: rounded per class
    assert len(d.val_y) == round((1797 - n_test) * 0.2)
    assert d.test_x.shape[1:] == (1, 16, 16) and len(d.mean) == len(d.std) == 1
    assert d.num_classes == 10 and d.in_channels == 1
    assert d.train_x.dtype == torch.float32 and d.train_y.dtype == torch.int64
    assert abs(float(d.train_x.mean())) < 1e-3 and abs(float(d.train_x.std()) - 1) < 1e-2


def test_split_is_deterministic_per_seed() -> None:
    a = load_dataset(ProxyConfig(dataset="digits", resolution=8, seed=3))
    clear_dataset_cache()
    b = load_dataset(ProxyConfig(dataset="digits", resolution=8, seed=3))
    c = load_dataset(ProxyConfig(dataset="digits", resolution=8, seed=4))
    assert a is not b
    assert torch.equal(a.val_y, b.val_y) and torch.equal(a.train_x, b.train_x)
    assert not torch.equal(a.val_y, c.val_y)


def test_cache_reuses_data_and_ignores_training_fields() -> None:
    a = load_dataset(ProxyConfig(dataset="digits", resolution=8, epochs=1, lr=0.1))
    b = load_dataset(ProxyConfig(dataset="digits", resolution=8, epochs=7, lr=0.3, batch_size=5))
    assert a is b
    assert load_dataset(ProxyConfig(dataset="digits", resolution=12)) is not a


def test_max_train_samples_caps_training_split_only() -> None:
    d = load_dataset(ProxyConfig(dataset="digits", resolution=8, max_train_samples=100))
    assert len(d.train_y) == 100 and len(d.val_y) == round((1797 - len(d.test_y)) * 0.2)


def test_test_split_is_disjoint_and_the_same_for_every_job() -> None:
    a = load_dataset(ProxyConfig(dataset="digits", resolution=8, seed=1))
    b = load_dataset(ProxyConfig(dataset="digits", resolution=8, seed=2, data_fraction=0.5))
    for d in (a, b):
        idx = d.split_indices
        assert set(idx) == {"train", "val", "test"}
        assert not set(idx["train"]) & set(idx["val"]) and not set(idx["train"]) & set(idx["test"])
        assert not set(idx["val"]) & set(idx["test"])
        assert len(idx["train"]) == len(d.train_y) and len(idx["test"]) == len(d.test_y)
    # The test split does not depend on the job's seed or proxy options; validation does.
    assert np.array_equal(a.split_indices["test"], b.split_indices["test"])
    assert not np.array_equal(a.split_indices["val"], b.split_indices["val"])
    # Every class is in the test split, in proportion.
    counts = np.bincount(a.test_y.numpy(), minlength=10)
    assert counts.min() >= 15


def test_data_fraction_is_a_stratified_subset_of_the_training_split() -> None:
    full = load_dataset(ProxyConfig(dataset="digits", resolution=8, seed=5))
    quarter = load_dataset(ProxyConfig(dataset="digits", resolution=8, seed=5, data_fraction=0.25))
    assert set(quarter.split_indices["train"]) <= set(full.split_indices["train"])
    assert abs(len(quarter.train_y) - 0.25 * len(full.train_y)) <= 10
    full_share = np.bincount(full.train_y.numpy(), minlength=10) / len(full.train_y)
    part_share = np.bincount(quarter.train_y.numpy(), minlength=10) / len(quarter.train_y)
    assert np.abs(full_share - part_share).max() < 0.02
    assert np.array_equal(quarter.split_indices["val"], full.split_indices["val"])  # selection data unchanged
    again = load_dataset(ProxyConfig(dataset="digits", resolution=8, seed=5, data_fraction=0.25, epochs=9))
    assert again is quarter


def test_synthetic_is_seeded_and_learnable_by_prototype() -> None:
    d = load_dataset(ProxyConfig(dataset="synthetic", resolution=16, seed=1))
    assert d.in_channels == 3 and d.num_classes == 10
    # Nearest class mean classifies well above chance: the task carries signal.
    means = torch.stack([d.train_x[d.train_y == k].mean(0) for k in range(10)])
    pred = torch.cdist(d.val_x.flatten(1), means.flatten(1)).argmin(1)
    assert float((pred == d.val_y).float().mean()) > 0.5


def _write_cifar(root: Path, n_per_batch: int = 12) -> None:
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in (1, 2, "test"):
        batch = {
            b"data": rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8),
            b"labels": [int(v) for v in rng.integers(0, 10, size=n_per_batch)],
            b"batch_label": f"batch {i}".encode(),
        }
        (root / ("test_batch" if i == "test" else f"data_batch_{i}")).write_bytes(pickle.dumps(batch))
    (root / "batches.meta").write_bytes(pickle.dumps({b"label_names": [f"c{k}".encode() for k in range(10)]}))


def test_cifar10_pickle_directory(tmp_path: Path) -> None:
    root = tmp_path / "cifar-10-batches-py"
    _write_cifar(root)
    d = load_dataset(ProxyConfig(dataset="cifar10", data_path=str(root), resolution=16, val_fraction=0.25))
    assert d.in_channels == 3 and d.num_classes == 10
    assert len(d.train_y) == 18 and len(d.val_y) == 6
    assert d.train_x.shape[1:] == (3, 16, 16)
    # CIFAR-10's own test_batch is the test split: never part of training or validation.
    assert len(d.test_y) == 12 and "test" not in d.split_indices


def test_cifar10_errors_name_path_and_field(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(ProxyConfig(dataset="cifar10", data_path=str(tmp_path / "nope")))
    root = tmp_path / "c"
    _write_cifar(root)
    (root / "data_batch_2").write_bytes(pickle.dumps({b"data": np.zeros((2, 10), dtype=np.uint8)}))
    with pytest.raises(DatasetError, match=r"data_batch_2: field 'data'"):
        load_dataset(ProxyConfig(dataset="cifar10", data_path=str(root)))


def test_cifar10_refuses_pickled_code(tmp_path: Path) -> None:
    root = tmp_path / "c"
    _write_cifar(root)

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("pwned",))

    (root / "data_batch_1").write_bytes(pickle.dumps({b"data": Evil()}))
    # Only the refusal is asserted: the pickled callable's recorded module depends on whether a test patched print.
    with pytest.raises(DatasetError, match="is not allowed"):
        load_dataset(ProxyConfig(dataset="cifar10", data_path=str(root)))


def test_imagefolder_png_and_jpeg(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    originals = {}
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            img = rng.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
            path = tmp_path / cls / f"{i}.png"
            _write_png(path, img)
            originals[path] = img
        Image.fromarray(np.full((6, 5, 3), 200, dtype=np.uint8)).save(tmp_path / cls / "photo.jpg", quality=95)
    (tmp_path / "dog" / "notes.txt").write_text("ignored")
    for path, img in originals.items():  # PNG is lossless
        assert np.array_equal(data_mod._read_image(path), img)
    jpeg = data_mod._read_image(tmp_path / "cat" / "photo.jpg")
    assert jpeg.shape == (6, 5, 3) and abs(int(jpeg.mean()) - 200) <= 3  # JPEG is lossy
    d = load_dataset(ProxyConfig(dataset="imagefolder", data_path=str(tmp_path), resolution=8, val_fraction=0.25))
    assert d.in_channels == 3 and d.num_classes == 2
    assert len(d.train_y) + len(d.val_y) + len(d.test_y) == 8 and d.train_x.shape[1:] == (3, 8, 8)


def test_imagefolder_grayscale_and_errors(tmp_path: Path) -> None:
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            _write_png(tmp_path / cls / f"{i}.png", np.full((4, 4), 40 * i, dtype=np.uint8))
    d = load_dataset(ProxyConfig(dataset="imagefolder", data_path=str(tmp_path), resolution=8, val_fraction=0.25))
    assert d.in_channels == 1
    (tmp_path / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nxx")
    clear_dataset_cache()
    with pytest.raises(DatasetError, match="broken.png: cannot read image"):
        load_dataset(ProxyConfig(dataset="imagefolder", data_path=str(tmp_path)))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no class sub-directories"):
        load_dataset(ProxyConfig(dataset="imagefolder", data_path=str(empty)))


def test_npz_with_and_without_explicit_validation(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, x=rng.integers(0, 256, (20, 10, 10, 3), dtype=np.uint8), y=rng.integers(0, 4, 20))
    d = load_dataset(ProxyConfig(dataset="npz", data_path=str(path), resolution=8, val_fraction=0.25))
    n_rest = 20 - len(d.test_y)
    assert d.in_channels == 3 and len(d.val_y) == round(n_rest * 0.25) and d.train_x.shape[1:] == (3, 8, 8)
    path2 = tmp_path / "e.npz"
    np.savez(
        path2,
        x=rng.normal(size=(20, 8, 8)).astype(np.float32),
        y=rng.integers(0, 3, 20),
        x_val=rng.normal(size=(7, 8, 8)).astype(np.float32),
        y_val=np.array([0, 1, 2, 5, 0, 1, 2]),
    )
    d2 = load_dataset(ProxyConfig(dataset="npz", data_path=str(path2), resolution=8))
    assert d2.in_channels == 1 and len(d2.val_y) == 7 and d2.num_classes == 6
    assert len(d2.train_y) + len(d2.test_y) == 20 and len(d2.test_y) >= 3
    path3 = tmp_path / "f.npz"
    np.savez(
        path3,
        x=rng.normal(size=(20, 8, 8)).astype(np.float32),
        y=rng.integers(0, 3, 20),
        x_test=rng.normal(size=(6, 8, 8)).astype(np.float32),
        y_test=np.array([0, 1, 2, 0, 1, 2]),
    )
    d3 = load_dataset(ProxyConfig(dataset="npz", data_path=str(path3), resolution=8, val_fraction=0.25))
    assert len(d3.test_y) == 6 and len(d3.train_y) == 15 and len(d3.val_y) == 5


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"x": np.zeros((4, 8, 8))}, r"field 'y' missing"),
        ({"x": np.zeros((4, 8, 8)), "y": np.zeros(3, dtype=int)}, r"field 'y': expected 4 labels"),
        ({"x": np.zeros((4, 8)), "y": np.zeros(4, dtype=int)}, r"field 'x': expected images"),
        ({"x": np.zeros((4, 8, 8)), "y": np.zeros(4, dtype=int), "x_val": np.zeros((2, 8, 8))}, "together"),
        ({"x": np.zeros((4, 8, 8)), "y": np.zeros(4, dtype=int), "y_test": np.zeros(2, dtype=int)}, "together"),
        ({"x": np.zeros((4, 8, 8)), "y": np.array([0, 1, -1, 0])}, r"labels must be >= 0"),
    ],
)
def test_npz_malformed(tmp_path: Path, arrays: dict[str, np.ndarray], match: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    with pytest.raises(DatasetError, match=match) as info:
        load_dataset(ProxyConfig(dataset="npz", data_path=str(path)))
    assert str(path) in str(info.value)


def test_path_required_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="needs 'data_path'"):
        load_dataset(ProxyConfig(dataset="npz"))
    with pytest.raises(DatasetError, match=r"missing\.npz: \.npz file not found"):
        load_dataset(ProxyConfig(dataset="npz", data_path=str(tmp_path / "missing.npz")))
