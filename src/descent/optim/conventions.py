r"""Framework presets: ``convention="torch" | "keras" | "optax" | "cs231n"``, one table, stored once.

A preset is a whole configuration of one algorithm: the framework's defaults (``lr``, ``eps``, the decay
rates, AdaGrad's initial accumulator, AdamW's weight decay) and its *formula choices*, the flags where the
frameworks' update rules differ:

* ``eps_inside_sqrt``: :math:`\sqrt{h + \epsilon}` instead of :math:`\sqrt{h} + \epsilon` (AdaGrad,
  RMSProp, Adam);
* ``eps_hat`` (Adam): :math:`\epsilon` added to the uncorrected :math:`\sqrt{v_t}` (Keras' "epsilon hat"),
  :math:`w \mathrel{-}= lr \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t} \frac{m_t}{\sqrt{v_t}+\epsilon}`;
* ``amsgrad_corrected`` (Adam): AMSGrad's running maximum taken of :math:`\hat v_t = v_t / (1-\beta_2^t)`
  (Optax) instead of :math:`v_t` (torch, Keras);
* ``lr_in_velocity`` (momentum, RMSProp's momentum): the velocity accumulates :math:`lr\,g` (Keras, Optax's
  RMSProp, CS231n), not :math:`g` (torch, Optax's SGD); equal at a constant rate, different once it changes;
* ``decoupled_weight_decay``: :math:`w \leftarrow w (1 - lr\,\lambda)` before the step (Keras, every
  optimizer; AdamW everywhere) instead of :math:`g \leftarrow g + \lambda w`.

Where a framework has no default (Optax's ``learning_rate`` is required) the preset keeps torch's, and says
so in ``docs/optim.md``. A framework without the algorithm has no row: CS231n has no AdaDelta or AdamW.

:func:`resolve` lays the keywords a caller gave over the preset: a hyperparameter given explicitly wins; a
formula flag given explicitly must agree with the preset, else a ValueError names both. Without a
convention (``None``, the classes' default) the torch row supplies the defaults and every flag is free, for
mixing.

>>> resolve("adam", "keras", {"lr": None, "eps": None, "eps_hat": None})
{'lr': 0.001, 'eps': 1e-07, 'eps_hat': True}
>>> resolve("rmsprop", "optax", {"alpha": 0.95, "eps_inside_sqrt": False})
Traceback (most recent call last):
...
ValueError: invalid eps_inside_sqrt=False with convention='optax': Optax's rmsprop uses eps_inside_sqrt=True
"""

from __future__ import annotations

from typing import Any

from .. import checks

CONVENTIONS = ("torch", "keras", "optax", "cs231n")
FRAMEWORK = {"torch": "torch.optim", "keras": "Keras 3", "optax": "Optax", "cs231n": "CS231n"}

# The flags that choose a formula; every other key of a preset is a default a keyword may override.
FORMULA_FLAGS = frozenset({"eps_inside_sqrt", "eps_hat", "amsgrad_corrected", "lr_in_velocity",
                           "decoupled_weight_decay"})

_ADAM_TORCH = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, eps_inside_sqrt=False,
                   eps_hat=False, amsgrad_corrected=False, decoupled_weight_decay=False)
_ADAM_KERAS = {**_ADAM_TORCH, "eps": 1e-7, "eps_hat": True, "decoupled_weight_decay": True}
_ADAM_OPTAX = {**_ADAM_TORCH, "amsgrad_corrected": True}

# PRESETS[convention][algorithm]: keyword -> value. "momentum" covers SGD, Momentum and Nesterov.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "torch": {
        "momentum": dict(lr=1e-3, lr_in_velocity=False, decoupled_weight_decay=False),
        "adagrad": dict(lr=1e-2, eps=1e-10, initial_accumulator_value=0.0, eps_inside_sqrt=False,
                        decoupled_weight_decay=False),
        "rmsprop": dict(lr=1e-2, alpha=0.99, eps=1e-8, eps_inside_sqrt=False, lr_in_velocity=False,
                        decoupled_weight_decay=False),
        "adadelta": dict(lr=1.0, rho=0.9, eps=1e-6, decoupled_weight_decay=False),
        "adam": _ADAM_TORCH,
        "adamw": {**_ADAM_TORCH, "weight_decay": 1e-2, "decoupled_weight_decay": True},
    },
    "keras": {  # keras.optimizers.*: weight_decay is always w -= lr * wd * w, before the update
        "momentum": dict(lr=1e-2, lr_in_velocity=True, decoupled_weight_decay=True),
        "adagrad": dict(lr=1e-3, eps=1e-7, initial_accumulator_value=0.1, eps_inside_sqrt=True,
                        decoupled_weight_decay=True),
        "rmsprop": dict(lr=1e-3, alpha=0.9, eps=1e-7, eps_inside_sqrt=True, lr_in_velocity=True,
                        decoupled_weight_decay=True),
        "adadelta": dict(lr=1e-3, rho=0.95, eps=1e-7, decoupled_weight_decay=True),
        "adam": _ADAM_KERAS,
        "adamw": {**_ADAM_KERAS, "weight_decay": 4e-3},
    },
    "optax": {  # optax.*: learning_rate has no default (torch's kept); weight decay as add_decayed_weights
        "momentum": dict(lr=1e-3, lr_in_velocity=False, decoupled_weight_decay=False),
        "adagrad": dict(lr=1e-2, eps=1e-7, initial_accumulator_value=0.1, eps_inside_sqrt=True,
                        decoupled_weight_decay=False),
        "rmsprop": dict(lr=1e-2, alpha=0.9, eps=1e-8, eps_inside_sqrt=True, lr_in_velocity=True,
                        decoupled_weight_decay=False),
        "adadelta": dict(lr=1.0, rho=0.9, eps=1e-6, decoupled_weight_decay=False),
        "adam": _ADAM_OPTAX,
        "adamw": {**_ADAM_OPTAX, "weight_decay": 1e-4, "decoupled_weight_decay": True},
    },
    "cs231n": {  # assignment 2's optim.py (sgd, sgd_momentum, rmsprop, adam) and the notes' AdaGrad
        "momentum": dict(lr=1e-2, lr_in_velocity=True, decoupled_weight_decay=False),
        "adagrad": dict(lr=1e-2, eps=1e-7, initial_accumulator_value=0.0, eps_inside_sqrt=False,
                        decoupled_weight_decay=False),
        # the assignment's RMSProp has no momentum; a momentum added to it keeps the course's velocity (lr in)
        "rmsprop": dict(lr=1e-2, alpha=0.99, eps=1e-8, eps_inside_sqrt=False, lr_in_velocity=True,
                        decoupled_weight_decay=False),
        "adam": _ADAM_TORCH,
    },
}


def preset(algorithm: str, convention: str) -> dict[str, Any]:
    """The preset of ``algorithm`` under ``convention`` (a copy); a ValueError if the framework lacks it."""
    convention = checks.one_of("convention", convention, CONVENTIONS)
    row = PRESETS[convention].get(algorithm)
    if row is None:
        have = [c for c in CONVENTIONS if algorithm in PRESETS[c]]
        raise checks.invalid("convention", convention, f"one of {', '.join(have)} for {algorithm} "
                             f"({FRAMEWORK[convention]} has no {algorithm})")
    return dict(row)


def resolve(algorithm: str, convention: str | None, given: dict[str, Any]) -> dict[str, Any]:
    """``given`` (keyword -> value, ``None`` = not given) completed from the preset; a given formula flag
    that contradicts an explicit convention's preset is a ValueError naming both."""
    row = preset(algorithm, "torch" if convention is None else convention)
    out = {}
    for key, value in given.items():
        if value is None:
            out[key] = row[key]
        elif convention is not None and key in FORMULA_FLAGS and key in row and value != row[key]:
            raise ValueError(f"invalid {key}={value!r} with convention={convention!r}: "
                             f"{FRAMEWORK[convention]}'s {algorithm} uses {key}={row[key]!r}")
        else:
            out[key] = value
    return out
