"""The tuning space of a comparison: which hyperparameters ``--tune`` may name, over which ranges, and the
points a budget of ``N`` trials tries.

Ranges (in the spirit of Schmidt et al., "Descending through a Crowded Valley", ICML 2021, which tunes on
log scales, the betas through ``1 - beta``):

    lr             log-uniform in [lr0 / 10, 10 lr0]   lr0: the registry's lr of the optimizer (or --lr)
    weight_decay   log-uniform in [1e-6, 1e-2]
    eps            log-uniform in [1e-10, 1e-4]
    momentum       1 - momentum log-uniform in [0.01, 0.5]   (optimizers whose default has momentum)
    beta1, beta2   1 - beta log-uniform in [0.01, 0.5], [0.001, 0.1]   (Adam's betas)
    rho, alpha     1 - rho log-uniform in [0.01, 0.5], 1 - alpha in [0.001, 0.1]   (AdaDelta, RMSProp)

An optimizer is tuned over the named hyperparameters it has (``lr`` always). Trial 0 is the registry's
setting, so ``--budget 1`` is the untuned comparison and tuning can only improve on the default's validation
accuracy; trials ``1 .. N-1`` are the first points of a scrambled Sobol sequence drawn by Optuna's
``QMCSampler`` (seeded, so every worker and every re-run draws the same points, and a larger budget extends
the sequence instead of redrawing it).

>>> from descent.optim.registry import get
>>> dims = tuning_dimensions(get("momentum"), ("lr", "momentum"), lr0=0.05)
>>> [(d.name, round(d.low, 4), round(d.high, 4)) for d in dims]
[('lr', 0.005, 0.5), ('momentum', 0.5, 0.99)]
>>> [round(s["lr"], 4) for s in tuning_points(get("sgd"), ("lr",), lr0=0.1, budget=3)]
[0.1, 0.5025, 0.0126]
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

from .. import checks
from ..optim import registry
from ..optim.registry import OptimizerEntry

LR_FACTOR = 10.0  # the lr range: registry lr divided and multiplied by this


@dataclass(frozen=True)
class Dimension:
    """One tuned hyperparameter: ``value = coordinate`` (``one_minus``: ``1 - coordinate``), the coordinate
    log-uniform in ``[low_coordinate, high_coordinate]``."""

    name: str
    low_coordinate: float
    high_coordinate: float
    one_minus: bool = False

    @property
    def coordinate(self) -> str:
        return f"1-{self.name}" if self.one_minus else self.name

    def value(self, coordinate: float) -> float:
        """The hyperparameter's value at ``coordinate``."""
        return 1.0 - coordinate if self.one_minus else coordinate

    @property
    def low(self) -> float:
        return self.value(self.high_coordinate if self.one_minus else self.low_coordinate)

    @property
    def high(self) -> float:
        return self.value(self.low_coordinate if self.one_minus else self.high_coordinate)


# name -> (coordinate range, one_minus, the keyword of the optimizer that must exist for it to apply)
_RANGES: dict[str, tuple[float, float, bool, str]] = {
    "weight_decay": (1e-6, 1e-2, False, "weight_decay"),
    "eps": (1e-10, 1e-4, False, "eps"),
    "momentum": (0.01, 0.5, True, "momentum"),
    "beta1": (0.01, 0.5, True, "betas"),
    "beta2": (0.001, 0.1, True, "betas"),
    "rho": (0.01, 0.5, True, "rho"),
    "alpha": (0.001, 0.1, True, "alpha"),
}
TUNABLE = ("lr", *_RANGES)


def parse_tune(text: str | None) -> tuple[str, ...]:
    """``--tune lr,momentum`` as names (lr always first); an unknown name is refused."""
    names = [n.strip() for n in (text or "lr").split(",") if n.strip()]
    for name in names:
        checks.one_of("tune", name, TUNABLE)
    return tuple(dict.fromkeys(["lr", *names]))


def applies(entry: OptimizerEntry, name: str) -> bool:
    """Whether ``entry`` is tuned over ``name``: momentum only where the registry's default has it (tuning
    RMSProp's momentum up from 0 would compare another algorithm)."""
    if name == "lr":
        return True
    keyword = _RANGES[name][3]
    if keyword == "momentum":
        return bool(entry.defaults.get("momentum"))
    return keyword in entry.hyperparameters


def tuning_dimensions(entry: OptimizerEntry, tune: tuple[str, ...], lr0: float) -> list[Dimension]:
    """The dimensions of ``entry``'s search: ``lr`` around ``lr0`` first, then each name of ``tune`` that
    the optimizer has, over its range above."""
    dims = [Dimension("lr", lr0 / LR_FACTOR, lr0 * LR_FACTOR)]
    for name in tune:
        if name != "lr" and applies(entry, name):
            low, high, one_minus, _ = _RANGES[name]
            dims.append(Dimension(name, low, high, one_minus))
    return dims


def default_setting(entry: OptimizerEntry, tune: tuple[str, ...], lr0: float,
                    hyper: dict[str, Any]) -> dict[str, Any]:
    """Trial 0: the registry's (or the base configuration's) value of each tuned hyperparameter."""
    setting: dict[str, Any] = {"lr": lr0}
    known = {**_class_defaults(entry), **entry.defaults, **hyper}
    for dim in tuning_dimensions(entry, tune, lr0)[1:]:
        if dim.name in ("beta1", "beta2"):
            betas = known.get("betas")
            setting[dim.name] = None if betas is None else float(betas[dim.name == "beta2"])
        else:
            setting[dim.name] = known.get(dim.name)
    return setting


def _class_defaults(entry: OptimizerEntry) -> dict[str, Any]:
    return registry.class_defaults(entry.factory)


def tuning_points(entry: OptimizerEntry, tune: tuple[str, ...], lr0: float, budget: int, seed: int = 0,
                  hyper: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The ``budget`` settings of the tuning phase: the default, then ``budget - 1`` Sobol points."""
    checks.positive_int("budget", budget)
    points = [default_setting(entry, tune, lr0, hyper or {})]
    if budget == 1:
        return points
    import optuna

    dims = tuning_dimensions(entry, tune, lr0)
    distributions = {d.coordinate: optuna.distributions.FloatDistribution(d.low_coordinate, d.high_coordinate,
                                                                            log=True) for d in dims}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():  # Sobol's balance warning for budgets that are not powers of two
        warnings.simplefilter("ignore")
        sampler = optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=seed)
        study = optuna.create_study(sampler=sampler)
        # a first trial fixes the search space, so that every later trial is a QMC point
        centre = {name: math.sqrt(d.low * d.high) for name, d in distributions.items()}
        study.add_trial(optuna.trial.create_trial(params=centre, distributions=distributions, value=0.0))
        for _ in range(budget - 1):
            trial = study.ask(distributions)
            points.append({d.name: d.value(trial.params[d.coordinate]) for d in dims})
            study.tell(trial, 0.0)
    return points


def to_flat(setting: dict[str, Any], hyper: dict[str, Any]) -> dict[str, Any]:
    """A setting as :meth:`descent.config.TrainConfig.replace` takes it (beta1/beta2 into ``betas``; a value
    ``None`` keeps the optimizer's default)."""
    flat = {k: v for k, v in setting.items() if k not in ("beta1", "beta2") and v is not None}
    if setting.get("beta1") is not None or setting.get("beta2") is not None:
        b1, b2 = hyper.get("betas", (0.9, 0.999))
        betas = (setting.get("beta1") or b1, setting.get("beta2") or b2)
        flat["hyper"] = {"betas": betas}
    extra = {k: flat.pop(k) for k in list(flat) if k not in ("lr", "momentum", "weight_decay", "hyper")}
    if extra:
        flat["hyper"] = {**flat.get("hyper", {}), **extra}
    return flat
