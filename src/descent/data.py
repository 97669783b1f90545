"""Datasets as in-memory tensors with seeded train / validation / test splits.

Shipped or generated (no download, ever)::

    mnist1d   MNIST-1D (Greydanus, 2020): 4,000 train / 1,000 test signals of 40 samples, generated offline
              from the package's templates with the benchmark's own arguments (seed 42), cached as .npz.
    digits    scikit-learn's bundled 8x8 handwritten digits (1,797 images), 20% held out for test.
    spiral    the CS231n K-class 2-D spiral, generated from the seed.

Read from files the user already has (``data_dir``)::

    mnist, fashion-mnist   the four IDX files (optionally .gz)
    cifar10                the binary version: data_batch_1.bin ... data_batch_5.bin, test_batch.bin

Nothing is ever unpickled.

Preprocessing follows the lecture: zero mean and unit variance, with the statistics taken from the training
split only (per feature for vectors, per channel for images, one scalar for 1-D signals).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ._io import atomic_open
from .errors import DescentError

DATASETS = ("mnist1d", "digits", "spiral", "mnist", "fashion-mnist", "cifar10")
# what each dataset's examples are: the model and the augmentations that fit them follow from it
KINDS = {"mnist1d": "signal1d", "digits": "image", "spiral": "vector", "mnist": "image",
         "fashion-mnist": "image", "cifar10": "image"}
# the datasets read from files the user has (``data_dir``); the others are generated or ship with a package
FROM_FILES = ("mnist", "fashion-mnist", "cifar10")


@dataclass
class Splits:
    """Train / validation / test tensors of one dataset. ``kind`` is vector, signal1d or image."""

    name: str
    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    num_classes: int
    kind: str

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train[0].shape[1:])


def load(
    name: str,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    val_fraction: float = 0.1,
    standardize: bool = True,
    train_subset: int | None = None,
    spiral_classes: int = 3,
) -> Splits:
    """Load dataset ``name`` and split it; the same seed gives the same splits."""
    key = name.lower()
    if key not in DATASETS:
        raise DescentError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    if train_subset is not None and train_subset <= 0:
        raise ValueError(f"train_subset must be positive, got {train_subset!r}")
    if key in ("mnist", "fashion-mnist", "cifar10") and data_dir is None:
        raise DescentError(f"dataset {name!r} is read from files you have: pass --data-dir FOLDER")
    if key == "mnist1d":
        x, y, xt, yt = _mnist1d()
        kind = "signal1d"
    elif key == "digits":
        x, y, xt, yt = _digits()
        kind = "image"
    elif key == "spiral":
        x, y, xt, yt = _spiral(spiral_classes, seed)
        kind = "vector"
    elif key == "cifar10":
        x, y, xt, yt = _cifar10(Path(data_dir))
        kind = "image"
    else:
        x, y, xt, yt = _idx_pair(Path(data_dir), key)
        kind = "image"
    for label, arr in (("training", x), ("test", xt)):
        if not np.isfinite(arr).all():
            raise DescentError(f"dataset {name!r}: the {label} data contain NaN or Inf")
    num_classes = int(max(y.max(), yt.max())) + 1

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    n_val = int(round(len(x) * val_fraction))
    val_idx, train_idx = order[:n_val], order[n_val:]
    if train_subset is not None:
        train_idx = train_idx[:train_subset]
    if len(train_idx) == 0:
        raise ValueError(f"invalid val_fraction={val_fraction!r}: must leave training examples ({name} has "
                         f"{len(x)}, all of them would go to validation)")
    xtr, ytr, xva, yva = x[train_idx], y[train_idx], x[val_idx], y[val_idx]

    if standardize:
        mean, std = _statistics(xtr, kind)
        xtr, xva, xt = ((a - mean) / std for a in (xtr, xva, xt))

    def tensors(a: np.ndarray, b: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)), torch.from_numpy(b.astype(np.int64))

    return Splits(key, tensors(xtr, ytr), tensors(xva, yva), tensors(xt, yt), num_classes, kind)


def _statistics(x: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the training split: per feature (vector), per channel (image), scalar (signal)."""
    x = x.astype(np.float64)
    if kind == "image":
        axes = (0, 2, 3)
        mean, std = x.mean(axis=axes, keepdims=True)[0], x.std(axis=axes, keepdims=True)[0]
    elif kind == "signal1d":
        mean, std = np.array(x.mean()), np.array(x.std())
    else:
        mean, std = x.mean(axis=0), x.std(axis=0)
    return mean, np.where(std > 1e-8, std, 1.0)


# ----------------------------------------------------------------------------------------------- generated


def _cache_dir() -> Path:
    root = os.environ.get("DESCENT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "descent"
    )
    return Path(root)


def _mnist1d() -> tuple[np.ndarray, ...]:
    """MNIST-1D with the benchmark's default arguments, generated once and cached as .npz (no pickle)."""
    cache = _cache_dir() / "mnist1d-v1.npz"
    if cache.exists():
        try:
            with np.load(cache, allow_pickle=False) as z:
                return z["x"], z["y"], z["x_test"], z["y_test"]
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is regenerated below
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise DescentError("dataset 'mnist1d' needs the mnist1d package: pip install 'descent[data]'") from None
    state = np.random.get_state()  # make_dataset seeds NumPy's global RNG; leave the caller's stream alone
    try:
        d = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(state)
    arrays = {k: np.asarray(d[k]) for k in ("x", "y", "x_test", "y_test")}
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(cache, "wb") as f:
            np.savez(f, **arrays)
    except OSError:
        pass  # caching is an optimisation only
    return arrays["x"], arrays["y"], arrays["x_test"], arrays["y_test"]


def _digits() -> tuple[np.ndarray, ...]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DescentError("dataset 'digits' needs scikit-learn: pip install 'descent[data]'") from None
    d = load_digits()
    x = d.images.astype(np.float32)[:, None]  # (N, 1, 8, 8)
    y = d.target.astype(np.int64)
    order = np.random.default_rng(1234).permutation(len(x))  # a fixed test split, independent of the seed
    n_test = len(x) // 5
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def spiral(points_per_class: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The CS231n spiral: class j follows radius r in [0, 1] at angle 4j..4(j+1) plus N(0, 0.2^2) noise."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for j in range(classes):
        r = np.linspace(0.0, 1.0, points_per_class)
        t = np.linspace(j * 4.0, (j + 1) * 4.0, points_per_class) + rng.normal(0.0, 0.2, points_per_class)
        xs.append(np.c_[r * np.sin(t), r * np.cos(t)])
        ys.append(np.full(points_per_class, j))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def _spiral(classes: int, seed: int) -> tuple[np.ndarray, ...]:
    if classes < 2:
        raise ValueError(f"spiral_classes must be >= 2, got {classes!r}")
    x, y = spiral(300, classes, seed)
    xt, yt = spiral(100, classes, seed + 10_000)
    return x, y, xt, yt


# ----------------------------------------------------------------------------------------------- from files

IDX_IMAGE, IDX_CLASSES = (28, 28), 10  # MNIST and Fashion-MNIST: 28 x 28 grey images of 10 classes
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _idx_pair(folder: Path, name: str) -> tuple[np.ndarray, ...]:
    if not folder.is_dir():
        raise DescentError(f"data folder {str(folder)!r} does not exist")
    stems = [s for pair in _IDX_FILES.values() for s in pair]
    missing = [s for s in stems if _find(folder, s) is None]
    if missing:
        raise DescentError(
            f"{name}: missing {', '.join(missing)} in {str(folder)!r}; put the four IDX files "
            f"({', '.join(stems)}, optionally .gz) in that folder"
        )
    out = []
    for images, labels in _IDX_FILES.values():
        image_path, label_path = _find(folder, images), _find(folder, labels)
        x, y = read_idx(image_path), read_idx(label_path)
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DescentError(f"{name}: {images} holds {x.shape} but {labels} holds {y.shape}; they must pair")
        if x.shape[1:] != IDX_IMAGE:
            raise DescentError(f"{name}: {str(image_path)!r} holds {x.shape[1]}x{x.shape[2]} images; "
                               f"{name} images are {IDX_IMAGE[0]}x{IDX_IMAGE[1]}")
        if len(y) and int(y.max()) >= IDX_CLASSES:
            raise DescentError(f"{name}: {str(label_path)!r} holds label {int(y.max())}, out of range "
                               f"0..{IDX_CLASSES - 1} ({name} has {IDX_CLASSES} classes)")
        out += [x[:, None].astype(np.float32) / 255.0, y.astype(np.int64)]
    return tuple(out)


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format): magic 0x0000 08 NDIM, big-endian dims, then uint8 data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DescentError(f"cannot read {str(path)!r}: {e}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DescentError(f"{str(path)!r} is not an unsigned-byte IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DescentError(f"{str(path)!r} is truncated: its header is incomplete")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        raise DescentError(f"{str(path)!r} has {len(data)} bytes but its header {dims} needs {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


CIFAR_RECORD = 1 + 3 * 32 * 32


def _cifar10(folder: Path) -> tuple[np.ndarray, ...]:
    if not folder.is_dir():
        raise DescentError(f"data folder {str(folder)!r} does not exist")
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    for sub in (folder, folder / "cifar-10-batches-bin"):
        if all((sub / n).is_file() for n in names):
            folder = sub
            break
    else:
        missing = [n for n in names if not (folder / n).is_file()]
        raise DescentError(
            f"cifar10: missing {', '.join(missing)} in {str(folder)!r}; put the binary version's "
            f"data_batch_1.bin ... data_batch_5.bin and test_batch.bin there"
        )

    def read(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
        chunks = []
        for p in paths:
            raw = np.fromfile(p, dtype=np.uint8)
            if raw.size == 0 or raw.size % CIFAR_RECORD:
                raise DescentError(
                    f"{str(p)!r} has {raw.size} bytes, not a multiple of the {CIFAR_RECORD}-byte CIFAR-10 record"
                )
            chunks.append(raw.reshape(-1, CIFAR_RECORD))
        for p, chunk in zip(paths, chunks, strict=True):
            if int(chunk[:, 0].max()) > 9:
                raise DescentError(f"cifar10: {str(p)!r} holds label {int(chunk[:, 0].max())}, out of range 0..9 "
                                   "(CIFAR-10 has 10 classes)")
        rec = np.concatenate(chunks)
        return rec[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0, rec[:, 0].astype(np.int64)

    x, y = read([folder / n for n in names[:5]])
    xt, yt = read([folder / names[5]])
    return x, y, xt, yt
