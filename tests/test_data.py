"""Datasets: sizes, seeded splits, training-only standardization, and the file readers on small files the
tests write themselves (the IDX and CIFAR-10 binary formats, written independently with NumPy)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from descent import data
from descent.errors import DescentError


def test_mnist1d_sizes_and_split():
    s = data.load("mnist1d", seed=0, val_fraction=0.1)
    assert s.train[0].shape == (3600, 40) and s.val[0].shape == (400, 40) and s.test[0].shape == (1000, 40)
    assert s.num_classes == 10 and s.kind == "signal1d"
    assert s.train[1].dtype == torch.int64
    # all ten classes are present in every split
    for _, y in (s.train, s.val, s.test):
        assert set(y.tolist()) == set(range(10))


def test_mnist1d_matches_the_generator_and_is_not_reseeded():
    from mnist1d.data import get_dataset_args, make_dataset

    np.random.seed(7)
    before = np.random.get_state()[1].copy()
    s = data.load("mnist1d", seed=0, standardize=False, val_fraction=0.0)
    assert np.array_equal(np.random.get_state()[1], before), "loading must not touch NumPy's global RNG"
    ref = make_dataset(get_dataset_args())
    assert np.allclose(s.test[0].numpy(), ref["x_test"], atol=1e-6)
    assert sorted(s.train[1].tolist()) == sorted(ref["y"].tolist())


def test_same_seed_same_split_other_seed_other_split():
    a, b, c = (data.load("digits", seed=k) for k in (3, 3, 4))
    assert torch.equal(a.train[0], b.train[0]) and torch.equal(a.val[1], b.val[1])
    assert not torch.equal(a.train[0], c.train[0])
    raw_a, raw_c = (data.load("digits", seed=k, standardize=False) for k in (3, 4))
    assert torch.equal(raw_a.test[0], raw_c.test[0]), "the test split must not depend on the seed"


def test_standardization_uses_training_statistics_only():
    raw = data.load("digits", seed=1, standardize=False)
    std = data.load("digits", seed=1, standardize=True)
    x = raw.train[0].double()
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    sd = x.std(dim=(0, 2, 3), keepdim=True, unbiased=False)
    expected_test = (raw.test[0].double() - mean) / sd
    assert torch.allclose(std.test[0].double(), expected_test, atol=1e-5)
    assert abs(float(std.train[0].mean())) < 1e-5 and abs(float(std.train[0].std(unbiased=False)) - 1) < 1e-4


def test_vector_standardization_is_per_feature():
    s = data.load("spiral", seed=0)
    assert torch.allclose(s.train[0].mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(s.train[0].std(0, unbiased=False), torch.ones(2), atol=1e-4)


def test_spiral_is_the_cs231n_spiral():
    x, y = data.spiral(100, 3, seed=0)
    assert x.shape == (300, 2) and np.bincount(y).tolist() == [100, 100, 100]
    r = np.hypot(x[:, 0], x[:, 1])
    assert np.allclose(np.sort(r[y == 0]), np.linspace(0, 1, 100))  # radius r = linspace(0, 1)


def test_train_subset_and_bad_values():
    assert len(data.load("spiral", train_subset=50).train[0]) == 50
    with pytest.raises(DescentError, match="unknown dataset 'nope'"):
        data.load("nope")
    with pytest.raises(ValueError, match="val_fraction"):
        data.load("spiral", val_fraction=1.5)
    with pytest.raises(DescentError, match="--data-dir"):
        data.load("mnist")


# --------------------------------------------------------------------------------------- IDX files


def _write_idx(path, array: np.ndarray, compress: bool = False) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def _mnist_folder(tmp_path, n_train=30, n_test=10, compress=False):
    rng = np.random.default_rng(0)
    xs = {k: rng.integers(0, 256, (n, 28, 28)) for k, n in (("train", n_train), ("t10k", n_test))}
    ys = {k: rng.integers(0, 10, n) for k, n in (("train", n_train), ("t10k", n_test))}
    for k in ("train", "t10k"):
        _write_idx(tmp_path / f"{k}-images-idx3-ubyte", xs[k], compress)
        _write_idx(tmp_path / f"{k}-labels-idx1-ubyte", ys[k], compress)
    return xs, ys


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_idx_reader(tmp_path, compress):
    xs, ys = _mnist_folder(tmp_path, compress=compress)
    s = data.load("mnist", tmp_path, standardize=False, val_fraction=0.0)
    assert s.test[0].shape == (10, 1, 28, 28)
    assert np.allclose(s.test[0].numpy()[:, 0], xs["t10k"] / 255.0)
    assert s.test[1].tolist() == ys["t10k"].tolist()
    assert sorted(s.train[1].tolist()) == sorted(ys["train"].tolist())


def test_mnist_missing_files_are_named(tmp_path):
    _mnist_folder(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DescentError, match="missing t10k-labels-idx1-ubyte"):
        data.load("fashion-mnist", tmp_path)


def test_idx_file_of_the_wrong_size(tmp_path):
    _mnist_folder(tmp_path)
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-5])
    with pytest.raises(DescentError, match="needs"):
        data.load("mnist", tmp_path)
    p.write_bytes(b"\x01\x02\x03")
    with pytest.raises(DescentError, match="magic"):
        data.load("mnist", tmp_path)


def test_cifar10_binary_reader(tmp_path):
    rng = np.random.default_rng(1)
    records = {}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        labels = rng.integers(0, 10, 4)
        pixels = rng.integers(0, 256, (4, 3072))
        (tmp_path / name).write_bytes(np.c_[labels, pixels].astype(np.uint8).tobytes())
        records[name] = (labels, pixels)
    s = data.load("cifar10", tmp_path, standardize=False, val_fraction=0.0)
    labels, pixels = records["test_batch.bin"]
    assert s.test[0].shape == (4, 3, 32, 32)
    assert np.allclose(s.test[0].numpy().reshape(4, -1), pixels / 255.0)
    assert s.test[1].tolist() == labels.tolist() and len(s.train[0]) == 20
    bad = np.c_[[3, 12, 0, 1], rng.integers(0, 256, (4, 3072))].astype(np.uint8)
    (tmp_path / "data_batch_4.bin").write_bytes(bad.tobytes())
    with pytest.raises(DescentError, match=r"data_batch_4.bin' holds label 12, out of range 0..9"):
        data.load("cifar10", tmp_path)
    (tmp_path / "data_batch_3.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(DescentError, match="not a multiple"):
        data.load("cifar10", tmp_path)
    (tmp_path / "test_batch.bin").unlink()
    with pytest.raises(DescentError, match="missing test_batch.bin"):
        data.load("cifar10", tmp_path)


def test_nan_in_the_data_is_rejected(tmp_path, monkeypatch):
    x = np.zeros((10, 40), dtype=np.float32)
    x[3, 5] = np.nan
    monkeypatch.setattr(data, "_mnist1d", lambda: (x, np.arange(10) % 10, x[:2] * 0, np.arange(2)))
    with pytest.raises(DescentError, match="NaN"):
        data.load("mnist1d")


@pytest.mark.parametrize("change, needle", [
    ("tiny train images", "holds 2x2 images; mnist images are 28x28"),
    ("tiny test images", "holds 2x2 images; mnist images are 28x28"),
    ("label 200", "holds label 200, out of range 0..9"),
])
def test_idx_files_must_be_what_the_format_promises(tmp_path, change, needle):
    """Files that parse as IDX but are not MNIST (wrong image size, train and test of different sizes, labels
    past the 10 classes) are refused by name instead of building a 256-class or 2x2-input model."""
    _mnist_folder(tmp_path)
    rng = np.random.default_rng(1)
    if change == "tiny train images":
        _write_idx(tmp_path / "train-images-idx3-ubyte", rng.integers(0, 256, (30, 2, 2)))
    elif change == "tiny test images":
        _write_idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 256, (10, 2, 2)))
    else:
        _write_idx(tmp_path / "train-labels-idx1-ubyte", np.r_[rng.integers(0, 10, 29), 200])
    with pytest.raises(DescentError, match=needle):
        data.load("mnist", tmp_path)
