"""What ``descent compare`` trains on: a workload is one dataset's splits and a function that builds a fresh
model for them. Built in: a dataset name (``mnist1d``, ``digits``, ``spiral``...) and descent's model for it
(``--model auto|mlp|cnn``). The user's own, named ``FILE.py:FUNCTION``:

* a model: ``FUNCTION(input_shape, num_classes) -> torch.nn.Module`` (``input_shape`` excludes the batch);
* data: ``FUNCTION() -> (x_train, y_train, x_test, y_test)`` (a tuple or a dict with those keys), NumPy arrays
  or tensors, ``y`` holding class indices ``0..K-1``. The validation split is carved from the training
  arrays by the data seed (``--val-fraction``); the arrays are used as given (no standardization).

Every workload's data is split once, by the base seed: the seeds of a comparison change the initialization
and the batch order, never the data. A wrong file, function or result is one line naming it.

>>> w = builtin_workload(TrainConfig.of(data="spiral", model="mlp"))
>>> w.name, w.splits.input_shape, w.splits.num_classes, type(w.build_model()).__name__
('spiral', (2,), 3, 'MLP')
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import data as data_module
from ..config import TrainConfig
from ..errors import DescentError
from ..models import build_model

ModelFn = Callable[[tuple[int, ...], int], nn.Module]
DataFn = Callable[[], Any]
_KIND_BY_NDIM = {2: "vector", 3: "signal1d", 4: "image"}
# a built-in dataset of each kind: the stand-in that lets descent.train.resolve check a configuration
# whose data are the user's (nothing is loaded from it)
STAND_IN = {"vector": "spiral", "signal1d": "mnist1d", "image": "digits"}


@dataclass
class Workload:
    """One dataset's splits and the model builder; ``spec`` and ``model`` name them as the user did
    (``FILE.py:FUNCTION``, a function's name, or descent's model); ``builtin``: a dataset of descent."""

    name: str
    splits: data_module.Splits
    model_fn: ModelFn
    spec: str
    model: str = "descent"
    builtin: bool = True

    def build_model(self) -> nn.Module:
        """A fresh model for the splits; the caller seeds torch first (the initialization is the seed's)."""
        return self.model_fn(self.splits.input_shape, self.splits.num_classes)

    def probe(self) -> None:
        """Build the model once and score two training examples: a wrong model is refused before any run."""
        model = self.build_model()
        x = self.splits.train[0][:2]
        try:
            with torch.no_grad():
                scores = model.eval()(x)
        except Exception as e:
            raise DescentError(f"model {self.model}: scoring inputs of shape {tuple(x.shape)} raised "
                               f"{type(e).__name__}: {e}") from None
        expected = (len(x), self.splits.num_classes)
        if not isinstance(scores, torch.Tensor) or tuple(scores.shape) != expected:
            shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
            raise DescentError(f"model {self.model}: scores of shape {shape} for inputs {tuple(x.shape)}, "
                               f"expected {expected} ({self.splits.num_classes} classes)")


def is_file_spec(spec: str) -> bool:
    """``FILE.py:FUNCTION`` rather than a built-in name."""
    path, sep, function = str(spec).rpartition(":")
    return bool(sep) and path.endswith(".py") and bool(function)


def load_function(spec: str, flag: str) -> Callable[..., Any]:
    """The function ``FUNCTION`` of the Python file ``FILE.py`` of ``spec`` (its module is executed)."""
    path_text, _, function = spec.rpartition(":")
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise DescentError(f"{flag} {spec}: no such file {str(path)!r}")
    name = f"descent_user_{abs(hash(str(path.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise DescentError(f"{flag} {spec}: cannot load {str(path)!r} as a Python file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # dataclasses and pickling look their module up here
    try:
        module_spec.loader.exec_module(module)
    except Exception as e:  # the user's code: any error is theirs, reported in one line
        raise DescentError(f"{flag} {spec}: running {path.name} raised {type(e).__name__}: {e}") from None
    found = getattr(module, function, None)
    if not callable(found):
        raise DescentError(f"{flag} {spec}: {path.name} has no function {function!r}")
    return found


def user_model_fn(spec: str) -> ModelFn:
    """The model builder of ``--model FILE.py:FUNCTION``, its result checked when it is called."""
    function = load_function(spec, "--model")

    def build(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
        try:
            model = function(input_shape, num_classes)
        except Exception as e:
            raise DescentError(f"--model {spec}: calling it raised {type(e).__name__}: {e}") from None
        if not isinstance(model, nn.Module):
            raise DescentError(f"--model {spec}: returned a {type(model).__name__}, not a torch.nn.Module")
        if not any(p.requires_grad for p in model.parameters()):
            raise DescentError(f"--model {spec}: the model has no trainable parameters")
        return model

    return build


def user_splits(spec: str, cfg: TrainConfig) -> data_module.Splits:
    """The splits of ``--data FILE.py:FUNCTION``: its four arrays checked, validation carved by the seed."""
    function = load_function(spec, "--data")
    try:
        result = function()
    except Exception as e:
        raise DescentError(f"--data {spec}: calling it raised {type(e).__name__}: {e}") from None
    path, _, name = spec.rpartition(":")
    return arrays_splits(result, f"{Path(path).stem}:{name}", cfg, label=f"--data {spec}")


def arrays_splits(result: Any, name: str, cfg: TrainConfig, label: str = "data") -> data_module.Splits:
    """Splits from ``(x_train, y_train, x_test, y_test)`` (or a dict with those keys), checked."""
    keys = ("x_train", "y_train", "x_test", "y_test")
    if isinstance(result, Mapping):
        missing = [k for k in keys if k not in result]
        if missing:
            raise DescentError(f"{label}: the dict lacks {', '.join(missing)}")
        result = tuple(result[k] for k in keys)
    if not isinstance(result, (tuple, list)) or len(result) != 4:
        raise DescentError(f"{label}: must be (x_train, y_train, x_test, y_test), got {type(result).__name__}")
    x, y, xt, yt = (_array(label, k, a) for k, a in zip(keys, result))
    return _split(label, name, x, y, xt, yt, cfg)


def _array(label: str, key: str, value: Any) -> np.ndarray:
    try:
        array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    except Exception:
        raise DescentError(f"{label}: {key} is not an array ({type(value).__name__})") from None
    if key.startswith("y"):
        if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) or _whole(array)):
            raise DescentError(f"{label}: {key} must be a 1-D array of class indices, got shape "
                               f"{array.shape} of {array.dtype}")
        return array.astype(np.int64)
    if array.ndim not in _KIND_BY_NDIM or not np.issubdtype(array.dtype, np.number):
        raise DescentError(f"{label}: {key} must be numbers of shape (N, D), (N, C, L) or (N, C, H, W), "
                           f"got shape {array.shape} of {array.dtype}")
    if not np.isfinite(array).all():
        raise DescentError(f"{label}: {key} holds NaN or Inf")
    return array.astype(np.float32)


def _whole(array: np.ndarray) -> bool:
    return np.issubdtype(array.dtype, np.floating) and bool(np.all(array == np.round(array)))


def _split(label: str, name: str, x: np.ndarray, y: np.ndarray, xt: np.ndarray, yt: np.ndarray,
           cfg: TrainConfig) -> data_module.Splits:
    for what, inputs, labels in (("train", x, y), ("test", xt, yt)):
        if len(inputs) != len(labels) or len(inputs) == 0:
            raise DescentError(f"{label}: x_{what} has {len(inputs)} examples and y_{what} {len(labels)}; "
                               "they must match and not be empty")
    if x.shape[1:] != xt.shape[1:]:
        raise DescentError(f"{label}: x_train examples have shape {x.shape[1:]}, x_test {xt.shape[1:]}")
    if min(y.min(), yt.min()) < 0:
        raise DescentError(f"{label}: labels must be class indices 0..K-1, found {min(y.min(), yt.min())}")
    order = np.random.default_rng(cfg.run.seed).permutation(len(x))
    n_val = int(round(len(x) * cfg.data.val_fraction))
    if n_val >= len(x):
        raise DescentError(f"{label}: --val-fraction {cfg.data.val_fraction} leaves no training example")
    val, train = order[:n_val], order[n_val:]

    def pair(a: np.ndarray, b: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(np.ascontiguousarray(a)), torch.from_numpy(np.ascontiguousarray(b))

    classes = int(max(y.max(), yt.max())) + 1
    return data_module.Splits(name, pair(x[train], y[train]), pair(x[val], y[val]), pair(xt, yt), classes,
                              _KIND_BY_NDIM[x.ndim])


def builtin_workload(cfg: TrainConfig, model_fn: ModelFn | None = None, model: str = "descent") -> Workload:
    """Dataset ``cfg.data`` split by ``cfg.run.seed``, with ``model_fn`` or descent's model ``cfg.model``."""
    d = cfg.data
    splits = data_module.load(d.name, d.data_dir, seed=cfg.run.seed, val_fraction=d.val_fraction,
                              standardize=d.standardize, train_subset=d.train_subset)
    return Workload(d.name, splits, model_fn or _descent_model(cfg, splits), d.name, model)


def _descent_model(cfg: TrainConfig, splits: data_module.Splits) -> ModelFn:
    return lambda shape, classes: build_model(cfg.model, splits)


def workload(data: Any, cfg: TrainConfig, model: str | ModelFn | None = None) -> Workload:
    """The workload of ``data`` (a dataset name, ``FILE.py:FUNCTION``, a function returning the four arrays,
    or the arrays) and ``model`` (``None``: descent's model of ``cfg``; ``FILE.py:FUNCTION``; a function)."""
    if model is None:
        model_fn, model_name = None, "descent"
    elif callable(model):
        model_fn, model_name = model, getattr(model, "__name__", "model")
    else:
        model_fn, model_name = user_model_fn(model), str(model)
    if isinstance(data, str) and not is_file_spec(data):
        return builtin_workload(cfg.replace(data=data), model_fn, model_name)
    if isinstance(data, str):
        splits, spec = user_splits(data, cfg), os.fspath(data)
    elif callable(data):
        spec = getattr(data, "__name__", "data")
        try:
            result = data()
        except Exception as e:
            raise DescentError(f"data {spec}: calling it raised {type(e).__name__}: {e}") from None
        splits = arrays_splits(result, spec, cfg, label=f"data {spec}")
    else:
        spec = "arrays"
        splits = arrays_splits(data, spec, cfg)
    return Workload(splits.name, splits, model_fn or _descent_model(cfg, splits), spec, model_name, builtin=False)
