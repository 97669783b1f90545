"""The one registry of optimizers: the CLI, the trainer, the lab, ``descent compare`` and the generic tests
all iterate over :data:`OPTIMIZERS`, so a new optimizer is one new entry here.

The first-order entries are descent's own classes; ``configs`` label the option sets the generic tests run
(torch-compatible ones against ``torch_twin``, the others against ``descent.optim.reference``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from . import conventions
from .adadelta import AdaDelta
from .adagrad import AdaGrad
from .adam import Adam, AdamW
from .rmsprop import RMSProp
from .sgd import SGD, Momentum, Nesterov

# Options that only descent has: a config using one has no torch twin and is checked against the reference.
DESCENT_ONLY = frozenset({"lr_in_velocity", "eps_inside_sqrt", "bias_correction", "decoupled_weight_decay",
                          "eps_hat", "amsgrad_corrected"})


@dataclass(frozen=True)
class OptimizerEntry:
    """What the rest of descent needs to know about one optimizer.

    * ``name``: the command-line name (``descent train --optimizer NAME``).
    * ``factory``: ``factory(params, **hyper)`` builds the optimizer.
    * ``lr``: a sensible learning rate for training the project's networks (``descent compare`` default).
    * ``lab_lr``: a sensible learning rate on the 2-D test functions of the lab.
    * ``defaults``: extra hyperparameters the trainer uses by default (e.g. momentum=0.9).
    * ``closure``: True if ``step`` needs a closure that re-evaluates the loss (L-BFGS, Newton): full batch.
    * ``configs``: labelled keyword sets the generic tests run.
    * ``torch_twin``: ``torch_twin(params, **hyper)`` builds the torch.optim optimizer whose update must equal
      this one's for every config without descent-only options.
    * ``errors``: (kwargs, message regex) pairs that must raise ValueError (every entry's are tested).
    """

    name: str
    factory: Callable[..., torch.optim.Optimizer]
    lr: float
    lab_lr: float
    defaults: dict[str, Any] = field(default_factory=dict)
    closure: bool = False
    configs: tuple[tuple[str, dict[str, Any]], ...] = ()
    torch_twin: Callable[..., torch.optim.Optimizer] | None = None
    errors: tuple[tuple[dict[str, Any], str], ...] = ()

    @property
    def hyperparameters(self) -> frozenset[str]:
        """The keywords ``factory`` takes besides ``params`` and ``lr`` (read from its signature, once)."""
        return _keywords(self.factory)


@functools.cache
def _keywords(factory: Callable[..., Any]) -> frozenset[str]:
    names: set[str] = set()
    for cls in getattr(factory, "__mro__", (factory,)):
        init = getattr(cls, "__init__", cls) if isinstance(cls, type) else cls
        params = inspect.signature(init).parameters.values()
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break  # a class whose __init__ takes **options passes them on to its base: read that too
    return frozenset(names - {"self", "params", "lr"})


def class_defaults(factory: Callable[..., Any], convention: str | None = None) -> dict[str, Any]:
    """The keyword defaults ``factory`` builds with: its signature's, where a ``None`` default stands for the
    value of the convention's preset (:mod:`descent.optim.conventions`; torch's without a convention).

    >>> class_defaults(Adam)["betas"], class_defaults(Adam, "keras")["eps"]
    ((0.9, 0.999), 1e-07)
    """
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return {}
    out = {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}
    row = getattr(factory, "preset", None)
    if row is not None:
        out.update(conventions.preset(row, convention or "torch"))
    return out


def _twin(cls: Callable[..., torch.optim.Optimizer], **fixed: Any) -> Callable[..., torch.optim.Optimizer]:
    """torch.optim's class with descent's defaults where they differ (e.g. Momentum's momentum=0.9)."""
    return lambda params, **hyper: cls(params, **{**fixed, **hyper})


# Every message reads "invalid NAME=VALUE: must be ..." (descent.checks).
_POSITIVE, _NONNEGATIVE = "must be a positive finite number", "must be a non-negative finite number"
_BAD_LR = (({"lr": -0.1}, rf"^invalid lr=-0\.1: {_POSITIVE}$"), ({"lr": 0.0}, rf"^invalid lr=0\.0: {_POSITIVE}$"),
           ({"lr": float("nan")}, r"^invalid lr=nan: "))
_BAD_WD = ({"weight_decay": -1.0}, rf"^invalid weight_decay=-1\.0: {_NONNEGATIVE}$")
_BAD_EPS = (({"eps": 0.0}, rf"^invalid eps=0\.0: {_POSITIVE}$"), ({"eps": -1e-8}, r"^invalid eps=-1e-08: "))
_BAD_BETAS = (({"betas": (1.0, 0.999)}, r"^invalid betas\[0\]=1\.0: must be in \[0, 1\)$"),
              ({"betas": (0.9, -0.1)}, r"^invalid betas\[1\]=-0\.1: must be in \[0, 1\)$"),
              ({"betas": (0.9,)}, r"^invalid betas=\(0\.9,\): must be a pair \(beta1, beta2\)$"))
_NESTEROV = r"^invalid nesterov=True with momentum=.*: Nesterov needs momentum > 0 and dampening = 0$"
_BAD_CONVENTION = ({"convention": "jax"}, r"^invalid convention='jax': must be one of torch, keras, optax, cs231n$")
_TENSOR_LR = (({"lr": torch.tensor([1e-3, 1e-3])},
               r"^invalid lr=tensor\(\[0\.0010, 0\.0010\]\): must be a positive finite number or a 1-element "
               r"real tensor$"),
              ({"lr": torch.tensor(-1e-3)}, r"^invalid lr=-0\.001\d*: must be a positive finite number$"))
_FIRST_ORDER_ERRORS = (*_BAD_LR, *_TENSOR_LR, _BAD_CONVENTION)
_TENSOR_BETAS = ({"betas": (torch.tensor(0.9), 0.999)}, r"^invalid betas=\(tensor\(0\.9000\), 0\.999\): must be a pair "
                                                       r"of floats \(descent takes no tensor betas\)$")


def _contradiction(flag: str, value: Any, convention: str, algorithm: str) -> tuple[dict[str, Any], str]:
    """The error input of a formula flag that contradicts a preset (``conventions.resolve``)."""
    framework = conventions.FRAMEWORK[convention]
    return ({"convention": convention, flag: value},
            rf"^invalid {flag}={value!r} with convention='{convention}': {framework}'s {algorithm} uses {flag}=")


def _entries() -> list[OptimizerEntry]:
    o = torch.optim
    decoupled = {"weight_decay": 0.1, "decoupled_weight_decay": True}
    momentum_configs = (("default", {}), ("dampening+decay", {"dampening": 0.3, "weight_decay": 0.1}),
                        ("lr-in-velocity", {"lr_in_velocity": True}), ("maximize", {"maximize": True}),
                        ("lr-in-velocity+decoupled", {"lr_in_velocity": True, **decoupled}))
    adam_configs = (("default", {}), ("amsgrad+decay", {"amsgrad": True, "weight_decay": 0.1}),
                    ("almost", {"bias_correction": False}), ("eps-inside", {"eps_inside_sqrt": True}),
                    ("maximize", {"maximize": True}), ("eps-hat+amsgrad+decoupled",
                                                       {"eps_hat": True, "amsgrad": True, **decoupled}),
                    ("amsgrad-corrected", {"amsgrad": True, "amsgrad_corrected": True}))
    return [
        OptimizerEntry("sgd", SGD, lr=0.1, lab_lr=0.3, torch_twin=o.SGD,
                       configs=(("default", {}), ("decay", {"weight_decay": 0.1}),
                                ("maximize", {"maximize": True})),
                       errors=(*_FIRST_ORDER_ERRORS, _BAD_WD)),
        OptimizerEntry("momentum", Momentum, lr=0.05, lab_lr=0.03, defaults={"momentum": 0.9},
                       torch_twin=_twin(o.SGD, momentum=0.9), configs=momentum_configs,
                       errors=(*_FIRST_ORDER_ERRORS, _BAD_WD,
                               _contradiction("lr_in_velocity", False, "keras", "momentum"),
                               ({"momentum": -0.5}, rf"^invalid momentum=-0\.5: {_NONNEGATIVE}$"),
                               ({"dampening": 2.0}, r"^invalid dampening=2\.0: must be in \[0, 1\]$"))),
        OptimizerEntry("nesterov", Nesterov, lr=0.05, lab_lr=0.03, defaults={"momentum": 0.9},
                       torch_twin=_twin(o.SGD, momentum=0.9, nesterov=True),
                       configs=(("default", {}), ("decay", {"weight_decay": 0.1}),
                                ("lookahead-form", {"lr_in_velocity": True}),
                                ("lookahead+decoupled", {"lr_in_velocity": True, **decoupled})),
                       errors=(*_FIRST_ORDER_ERRORS, ({"momentum": 0.0}, _NESTEROV), ({"dampening": 0.5}, _NESTEROV),
                               _contradiction("lr_in_velocity", True, "optax", "momentum"))),
        OptimizerEntry("adagrad", AdaGrad, lr=0.02, lab_lr=1.0, torch_twin=o.Adagrad,
                       configs=(("default", {}), ("decay+init", {"lr_decay": 0.01, "weight_decay": 0.1,
                                                                "initial_accumulator_value": 0.1}),
                                ("eps-inside", {"eps_inside_sqrt": True, "eps": 1e-7}),
                                ("maximize", {"maximize": True}),
                                ("decoupled+decay", {"lr_decay": 0.01, **decoupled})),
                       errors=(*_FIRST_ORDER_ERRORS, _BAD_WD, *_BAD_EPS,
                               _contradiction("eps_inside_sqrt", False, "optax", "adagrad"),
                               ({"lr_decay": -1.0}, rf"^invalid lr_decay=-1\.0: {_NONNEGATIVE}$"),
                               ({"initial_accumulator_value": -0.1},
                                rf"^invalid initial_accumulator_value=-0\.1: {_NONNEGATIVE}$"))),
        OptimizerEntry("rmsprop", RMSProp, lr=1e-3, lab_lr=0.1, torch_twin=o.RMSprop,
                       configs=(("default", {}), ("centered+momentum", {"centered": True, "momentum": 0.5}),
                                ("decay", {"weight_decay": 0.1}), ("eps-inside", {"eps_inside_sqrt": True}),
                                ("maximize", {"maximize": True}),
                                ("lr-in-velocity", {"centered": True, "momentum": 0.5, "lr_in_velocity": True}),
                                ("decoupled+momentum", {"momentum": 0.5, **decoupled})),
                       errors=(*_FIRST_ORDER_ERRORS, _BAD_WD, *_BAD_EPS,
                               _contradiction("lr_in_velocity", False, "keras", "rmsprop"),
                               _contradiction("eps_inside_sqrt", True, "cs231n", "rmsprop"),
                               ({"alpha": 1.5}, r"^invalid alpha=1\.5: must be in \[0, 1\]$"),
                               ({"momentum": -0.1}, rf"^invalid momentum=-0\.1: {_NONNEGATIVE}$"))),
        OptimizerEntry("adadelta", AdaDelta, lr=1.0, lab_lr=1.0, torch_twin=o.Adadelta,
                       configs=(("default", {}), ("decay", {"weight_decay": 0.1, "rho": 0.95}),
                                ("maximize", {"maximize": True}), ("decoupled", decoupled)),
                       errors=(*_FIRST_ORDER_ERRORS, _BAD_WD, *_BAD_EPS,
                               ({"convention": "cs231n"}, r"^invalid convention='cs231n': must be one of torch, "
                                                          r"keras, optax for adadelta \(CS231n has no adadelta\)$"),
                               ({"rho": -0.1}, r"^invalid rho=-0\.1: must be in \[0, 1\]$"))),
        OptimizerEntry("adam", Adam, lr=3e-3, lab_lr=0.1, torch_twin=o.Adam, configs=adam_configs,
                       errors=(*_FIRST_ORDER_ERRORS, _BAD_WD, *_BAD_EPS, *_BAD_BETAS, _TENSOR_BETAS,
                               _contradiction("eps_hat", False, "keras", "adam"),
                               _contradiction("amsgrad_corrected", False, "optax", "adam"),
                               ({"eps_hat": True, "eps_inside_sqrt": True},
                                r"^invalid eps_hat=True with eps_inside_sqrt=True: choose where eps goes"))),
        OptimizerEntry("adamw", AdamW, lr=3e-3, lab_lr=0.1, torch_twin=o.AdamW,
                       configs=(("default", {}), ("amsgrad", {"amsgrad": True}),
                                ("almost", {"bias_correction": False})),
                       errors=(*_FIRST_ORDER_ERRORS, _BAD_WD, *_BAD_BETAS, _TENSOR_BETAS,
                               ({"decoupled_weight_decay": False},
                                r"^invalid decoupled_weight_decay=False for AdamW: its weight decay is decoupled"),
                               ({"convention": "cs231n"}, r"^invalid convention='cs231n': must be one of torch, "
                                                          r"keras, optax for adamw"))),
        # ---- second-order, full batch (closure) ----
        *_second_order_entries(),
    ]


def _second_order_entries() -> list[OptimizerEntry]:
    from .lbfgs import LBFGS
    from .newton import Newton

    return [
        OptimizerEntry(
            "lbfgs", LBFGS, lr=1.0, lab_lr=1.0, closure=True,
            defaults={"line_search_fn": "strong_wolfe"},
            # line_search_fn=None gives torch.optim.LBFGS's iterates (tests/optim/test_lbfgs.py checks it);
            # the registry default is the strong-Wolfe search, which a network's loss needs.
            configs=(("fixed step", {"line_search_fn": None}), ("history 5", {"history_size": 5})),
            errors=(*_BAD_LR, ({"history_size": 0}, r"^invalid history_size=0: must be a positive integer$"),
                    ({"max_iter": 2.5}, r"^invalid max_iter=2\.5: must be a positive integer$"),
                    ({"tolerance_grad": -1}, rf"^invalid tolerance_grad=-1: {_NONNEGATIVE}$"),
                    ({"line_search_fn": "armijo"},
                     r"^invalid line_search_fn='armijo': must be one of None, strong_wolfe$")),
        ),
        OptimizerEntry(
            "newton", Newton, lr=1.0, lab_lr=1.0, closure=True,
            configs=(("exact", {"mode": "exact"}), ("cg", {"mode": "cg"}), ("damped", {"damping": 1e-2})),
            errors=(*_BAD_LR, ({"mode": "bfgs"}, r"^invalid mode='bfgs': must be one of auto, exact, cg$"),
                    ({"damping": -1.0}, rf"^invalid damping=-1\.0: {_NONNEGATIVE}$"),
                    ({"shrink": 1.0}, r"^invalid shrink=1\.0: must be in \(0, 1\)$"),
                    ({"cg_max_iter": 0}, r"^invalid cg_max_iter=0: must be a positive integer$")),
        ),
    ]


OPTIMIZERS: dict[str, OptimizerEntry] = {e.name: e for e in _entries()}

# The first-order optimizers `descent compare` runs by default, in the lecture's order.
LECTURE_ORDER = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam")


def get(name: str) -> OptimizerEntry:
    """Look an optimizer up by name (any case, ``-`` or ``_``); a ValueError lists the known names.

    >>> entry = get("AdamW")
    >>> entry.name, entry.factory.__name__, entry.lr, class_defaults(entry.factory)["weight_decay"]
    ('adamw', 'AdamW', 0.003, 0.01)
    >>> get("adamax")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown optimizer 'adamax'; choose from sgd, momentum, nesterov, ..., lbfgs, newton
    """
    key = name.lower().replace("_", "-")
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[key]


def build(name: str, params: Any, lr: float | None = None, **hyper: Any) -> torch.optim.Optimizer:
    """Build optimizer ``name`` over ``params`` with its registry defaults, overridden by ``hyper``
    (a ``None`` value keeps the default; ``lr=None`` is the entry's ``lr``).

    >>> import torch
    >>> w = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = build("momentum", [w], weight_decay=None)
    >>> type(opt).__name__, opt.defaults["lr"], opt.defaults["momentum"], opt.defaults["weight_decay"]
    ('Momentum', 0.05, 0.9, 0.0)
    >>> (w**2).sum().backward()
    >>> opt.step()
    >>> w.detach()  # w - 0.05 * 2w
    tensor([ 0.9000, -1.8000])
    """
    entry = get(name)
    kwargs = {**entry.defaults, **{k: v for k, v in hyper.items() if v is not None}}
    return entry.factory(params, lr=entry.lr if lr is None else lr, **kwargs)
