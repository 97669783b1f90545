"""``convention="keras" | "optax"`` against the real libraries: Keras 3 (torch backend) and Optax, float64.

Each case runs 30 steps on the same quadratic, with a learning rate that changes every step
(``lr_t = lr0 * 0.9**t``) and at two gradient scales (1, and 1e-4 where the placement of eps shows), on
descent's loop, foreach and fused (C++) paths. The error is that of the displacement ``w_30 - w_0``
(max abs difference / max abs displacement), so a difference in the update is not hidden by the weights'
size. Both libraries come with the ``compat`` extra (``make install``).
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported anywhere

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from optim_problems import SHAPES, make_params, numpy_grad  # noqa: E402

from descent.optim import SGD, AdaDelta, AdaGrad, Adam, AdamW, Momentum, Nesterov, RMSProp  # noqa: E402

jax.config.update("jax_enable_x64", True)
keras.config.set_floatx("float64")  # Keras' learning-rate variable, else float32

STEPS, TOLERANCE = 30, 1e-10
SCALES = (1.0, 1e-4)
PATHS = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
k, o = keras.optimizers, optax

# (label, lr0, the library's optimizer built with lr0, descent's class, descent's keywords besides lr/convention)
KERAS = [
    ("SGD", 0.05, lambda lr: k.SGD(lr), SGD, {}),
    ("SGD momentum", 0.05, lambda lr: k.SGD(lr, momentum=0.9), Momentum, {"momentum": 0.9}),
    ("SGD nesterov", 0.05, lambda lr: k.SGD(lr, momentum=0.9, nesterov=True), Nesterov, {"momentum": 0.9}),
    ("SGD momentum weight_decay", 0.05, lambda lr: k.SGD(lr, momentum=0.9, weight_decay=0.1), Momentum,
     {"momentum": 0.9, "weight_decay": 0.1}),
    ("Adagrad", 0.1, lambda lr: k.Adagrad(lr), AdaGrad, {}),
    ("Adagrad weight_decay", 0.1, lambda lr: k.Adagrad(lr, weight_decay=0.1), AdaGrad, {"weight_decay": 0.1}),
    ("RMSprop", 0.01, lambda lr: k.RMSprop(lr), RMSProp, {}),
    ("RMSprop centered", 0.01, lambda lr: k.RMSprop(lr, centered=True), RMSProp, {"centered": True}),
    ("RMSprop momentum", 0.01, lambda lr: k.RMSprop(lr, momentum=0.9), RMSProp, {"momentum": 0.9}),
    ("RMSprop centered momentum weight_decay", 0.01,
     lambda lr: k.RMSprop(lr, momentum=0.5, centered=True, weight_decay=0.1), RMSProp,
     {"momentum": 0.5, "centered": True, "weight_decay": 0.1}),
    ("Adadelta", 1.0, lambda lr: k.Adadelta(lr), AdaDelta, {}),
    ("Adadelta weight_decay", 1.0, lambda lr: k.Adadelta(lr, weight_decay=0.1), AdaDelta, {"weight_decay": 0.1}),
    ("Adam", 0.01, lambda lr: k.Adam(lr), Adam, {}),
    ("Adam amsgrad", 0.01, lambda lr: k.Adam(lr, amsgrad=True), Adam, {"amsgrad": True}),
    ("Adam weight_decay", 0.01, lambda lr: k.Adam(lr, weight_decay=0.1), Adam, {"weight_decay": 0.1}),
    ("AdamW", 0.01, lambda lr: k.AdamW(lr), AdamW, {}),
    ("AdamW amsgrad", 0.01, lambda lr: k.AdamW(lr, amsgrad=True, beta_2=0.99), AdamW,
     {"amsgrad": True, "betas": (0.9, 0.99)}),
]
OPTAX = [
    ("sgd", 0.05, lambda lr: o.sgd(lr), SGD, {}),
    ("sgd momentum", 0.05, lambda lr: o.sgd(lr, momentum=0.9), Momentum, {"momentum": 0.9}),
    ("sgd nesterov", 0.05, lambda lr: o.sgd(lr, momentum=0.9, nesterov=True), Nesterov, {"momentum": 0.9}),
    ("adagrad", 0.1, lambda lr: o.adagrad(lr), AdaGrad, {}),
    ("rmsprop", 0.01, lambda lr: o.rmsprop(lr), RMSProp, {}),
    ("rmsprop centered", 0.01, lambda lr: o.rmsprop(lr, centered=True), RMSProp, {"centered": True}),
    ("rmsprop momentum", 0.01, lambda lr: o.rmsprop(lr, momentum=0.9), RMSProp, {"momentum": 0.9}),
    ("rmsprop centered momentum", 0.01, lambda lr: o.rmsprop(lr, momentum=0.5, centered=True), RMSProp,
     {"momentum": 0.5, "centered": True}),
    ("adadelta", 1.0, lambda lr: o.adadelta(lr), AdaDelta, {}),
    ("adadelta weight_decay", 1.0, lambda lr: o.adadelta(lr, weight_decay=0.1), AdaDelta, {"weight_decay": 0.1}),
    ("adam", 0.01, lambda lr: o.adam(lr), Adam, {}),
    ("amsgrad", 0.01, lambda lr: o.amsgrad(lr, b2=0.99), Adam, {"amsgrad": True, "betas": (0.9, 0.99)}),
    ("adamw", 0.01, lambda lr: o.adamw(lr, weight_decay=0.1), AdamW, {"weight_decay": 0.1}),
    ("adamw defaults", 0.01, lambda lr: o.adamw(lr), AdamW, {}),
]


def rate(lr0: float, t: int) -> float:
    """The learning rate of step t (1, 2, ...): it changes every step."""
    return lr0 * 0.9**t


def start() -> np.ndarray:
    return torch.cat([p.detach().reshape(-1) for p in make_params()]).numpy()


def run_keras(build, lr0: float, scale: float) -> np.ndarray:
    w = keras.Variable(start(), dtype="float64")
    opt = build(lr0)
    for t in range(1, STEPS + 1):
        opt.learning_rate = rate(lr0, t)
        g = scale * numpy_grad(w.value.detach().numpy())
        opt.apply([torch.from_numpy(g)], [w])
    return w.value.detach().numpy().copy()


def run_optax(build, lr0: float, scale: float) -> np.ndarray:
    w = jnp.asarray(start())
    tx = optax.inject_hyperparams(lambda learning_rate: build(learning_rate))(learning_rate=lr0)
    state = tx.init(w)
    for t in range(1, STEPS + 1):
        state.hyperparams["learning_rate"] = jnp.asarray(rate(lr0, t))
        updates, state = tx.update(scale * jnp.asarray(numpy_grad(np.asarray(w))), state, w)
        w = optax.apply_updates(w, updates)
    return np.asarray(w)


def run_descent(cls, kw: dict, convention: str, lr0: float, scale: float, path: str) -> np.ndarray:
    params = make_params()
    opt = cls(params, lr=lr0, convention=convention, **kw, **PATHS[path])
    for t in range(1, STEPS + 1):
        for group in opt.param_groups:
            group["lr"] = rate(lr0, t)
        g = scale * numpy_grad(torch.cat([p.detach().reshape(-1) for p in params]).numpy())
        offset = 0
        for p, shape in zip(params, SHAPES):
            n = int(np.prod(shape))
            p.grad = torch.from_numpy(g[offset:offset + n].reshape(shape).copy())
            offset += n
        opt.step()
    return torch.cat([p.detach().reshape(-1) for p in params]).numpy()


def displacement_error(got: np.ndarray, want: np.ndarray) -> float:
    w0 = start()
    return float(np.abs((got - w0) - (want - w0)).max() / np.abs(want - w0).max())


def _check(reference: np.ndarray, cls, kw: dict, convention: str, lr0: float, scale: float) -> None:
    errors = {path: displacement_error(run_descent(cls, kw, convention, lr0, scale, path), reference)
              for path in PATHS}
    assert max(errors.values()) <= TOLERANCE, errors


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize(("label", "lr0", "build", "cls", "kw"), KERAS, ids=[c[0] for c in KERAS])
def test_keras_convention_matches_keras(label, lr0, build, cls, kw, scale):
    _check(run_keras(build, lr0, scale), cls, kw, "keras", lr0, scale)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize(("label", "lr0", "build", "cls", "kw"), OPTAX, ids=[c[0] for c in OPTAX])
def test_optax_convention_matches_optax(label, lr0, build, cls, kw, scale):
    _check(run_optax(build, lr0, scale), cls, kw, "optax", lr0, scale)


@pytest.mark.parametrize(("run", "build", "cls", "kw", "low"), [
    (run_keras, lambda lr: k.Adam(lr), Adam, {"eps": 1e-7}, 1e-4),  # epsilon hat
    (run_keras, lambda lr: k.RMSprop(lr, momentum=0.9), RMSProp,  # lr inside the velocity, eps inside
     {"alpha": 0.9, "eps": 1e-7, "momentum": 0.9, "eps_inside_sqrt": True}, 1e-2),
    (run_optax, lambda lr: o.rmsprop(lr, momentum=0.9), RMSProp,
     {"alpha": 0.9, "momentum": 0.9, "eps_inside_sqrt": True}, 1e-2),
    (run_optax, lambda lr: o.amsgrad(lr, b2=0.99), Adam, {"amsgrad": True, "betas": (0.9, 0.99)}, 1e-4),
], ids=["keras-adam", "keras-rmsprop-momentum", "optax-rmsprop-momentum", "optax-amsgrad"])
def test_torch_formulas_miss_the_libraries(run, build, cls, kw, low):
    """Without the preset's formula flag (same defaults otherwise) the error is far above the tolerance, so
    the comparisons above can fail: the flag is what makes them pass."""
    reference = run(build, 0.01, 1e-4)
    err = displacement_error(run_descent(cls, kw, None, 0.01, 1e-4, "loop"), reference)
    assert err > low, err
