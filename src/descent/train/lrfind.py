r"""The learning-rate range test (Smith, "Cyclical learning rates for training neural networks", 2017).

From the run's own initialization, train ``steps`` minibatch steps with an exponentially increasing rate,

.. math::

    \eta_i = \eta_{\min} (\eta_{\max} / \eta_{\min})^{i / (N - 1)}, \qquad i = 0, \dots, N - 1,

recording the batch loss of each step; stop early once the loss is not finite or its running average
exceeds ``stop_factor`` times the lowest so far (the run has diverged: larger rates teach nothing).

**The suggestion**, robust to spikes and to the lag of running averages:

1. smooth the recorded losses without lag: a centred running median over ``w`` points (an isolated
   spike, however tall, cannot move a median of 5 or more) then a centred running mean over ``w`` points,
   ``w = max(5, N / 20)`` (odd);
2. cut the curve where the smoothed loss first exceeds ``stop_factor`` times its minimum so far;
3. find the minimum of the smoothed loss, at :math:`\eta_{\mathrm{min\,loss}}`, and the steepest descent
   before it, :math:`\eta_{\mathrm{steep}} = \arg\min_\eta \mathrm{d} \tilde L / \mathrm{d} \ln \eta`
   (central differences over ``w`` points);
4. suggest :math:`\eta^\star = \max(\eta_{\mathrm{steep}}, \eta_{\mathrm{min\,loss}} / d)` with
   :math:`d = 3` for SGD, momentum and Nesterov and :math:`d = 10` for the adaptive methods. The rate at
   the minimum is the largest that still makes progress: the ceiling (Smith's "maximum bound"). For
   gradient descent a constant rate a factor 3 to 4 below it trains well (Smith 2017, section 3.3). An
   adaptive method's step is normalized per weight, so its rate at the minimum is already an aggressive
   step size for every weight, and a tenth of it (fastai's ``minimum / 10``) is the safe choice. The
   steepest point is a floor: with so few steps per rate the curve lags behind the rate, and the
   steepest point comes out too low to train well in a few epochs (on MNIST-1D, 25x below the registry's
   SGD rate). The divisors were checked on MNIST-1D only (see ``docs/curvature.md``).

**Warnings**: the curve is *too flat to decide* (no suggestion) when the smoothed loss never falls by
``flat_drop`` (10%) of its starting value before the cut; *still falling at lr_max* when the minimum is at
the end of the range (raise ``lr_max``).

**The SGD cross-check**: for plain SGD, gradient descent on the local quadratic model is stable only for
:math:`\eta < 2 / \lambda_{\max}` (heavy-ball momentum :math:`\mu`: :math:`2 (1 + \mu) / \lambda_{\max}`;
Nesterov: :math:`(2 + 2 \mu) / ((1 + 2 \mu) \lambda_{\max})`). :math:`\lambda_{\max}` is the top Hessian
eigenvalue of the initial weights' loss on a fixed batch (:mod:`descent.hessian`), reported beside the
suggestion. Rates beyond it are possible after the first steps reduce the sharpness (the "catapult"), so it
is a check, not a cap.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

import torch

from .. import checks
from ..config import TrainConfig
from ..hessian import top_eigenvalues
from .job import build
from .resolve import resolve
from .sharpness import preserved

GD_FAMILY = ("sgd", "momentum", "nesterov")


def smooth(values: list[float], window: int) -> list[float]:
    """Centred running median, then centred running mean, both over ``window`` points (shrunk at the ends).

    >>> smooth([1.0, 1.0, 50.0, 1.0, 1.0, 1.0], 3)  # the spike is gone
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    """
    half = window // 2
    n = len(values)
    finite = [v if math.isfinite(v) else math.inf for v in values]
    median = [statistics.median(finite[max(0, i - half): i + half + 1]) for i in range(n)]
    return [sum(median[max(0, i - half): i + half + 1]) / len(median[max(0, i - half): i + half + 1])
            for i in range(n)]


def suggest(lrs: list[float], losses: list[float], stop_factor: float = 4.0, flat_drop: float = 0.1,
            divisor: float = 3.0) -> dict[str, Any]:
    """The rule of the module docstring applied to a recorded curve.

    >>> lrs = [10 ** (-5 + 6 * i / 99) for i in range(100)]  # falls fastest at 1e-3, blows up past 0.3
    >>> losses = [0.3 + 2 / (1 + (lr / 1e-3) ** 1.5) + max(lr - 0.3, 0) * 50 for lr in lrs]
    >>> result = suggest(lrs, losses)
    >>> [round(result[key], 3) for key in ("lr_steepest", "lr_min_loss", "suggested_lr")], result["warnings"]
    ([0.001, 0.201, 0.067], [])
    """
    window = max(5, len(losses) // 20) | 1
    s = smooth(losses, window)
    end, best = len(s), math.inf
    for i, v in enumerate(s):
        if not math.isfinite(v) or v > stop_factor * best:
            end = i
            break
        best = min(best, v)
    i_min = min(range(end), key=lambda i: s[i]) if end else 0
    half = window // 2
    slopes = {i: (s[i + half] - s[i - half]) / (math.log(lrs[i + half]) - math.log(lrs[i - half]))
              for i in range(half, min(i_min, end - half - 1) + 1) if i + half < len(s)}
    i_steep = min(slopes, key=slopes.get) if slopes else i_min
    warnings = []
    drop = (s[0] - s[i_min]) / abs(s[0]) if end and s[0] else 0.0
    flat = drop < flat_drop
    if flat:
        warnings.append(f"the loss curve is too flat to decide: it fell by {100 * drop:.1f}% before the cut "
                        f"(less than {100 * flat_drop:.0f}%); widen [lr_min, lr_max] or train from a fresh "
                        "initialization")
    if end == len(s) and i_min >= len(s) - half - 1:
        warnings.append("the loss was still falling at lr_max: raise --lr-max")
    suggested = None if flat else max(lrs[i_steep], lrs[i_min] / divisor)
    return {"suggested_lr": suggested, "divisor": divisor, "lr_min_loss": lrs[i_min], "lr_steepest": lrs[i_steep],
            "min_smoothed_loss": s[i_min], "steepest_slope": slopes.get(i_steep), "relative_drop": drop,
            "window": window, "cut_at": lrs[end - 1] if end else None, "smoothed": s, "warnings": warnings}


def stability_limit(name: str, hyper: dict[str, Any], lambda_max: float) -> float | None:
    """The largest stable rate of gradient descent (with momentum) on a quadratic of curvature ``lambda_max``."""
    if lambda_max <= 0 or name not in GD_FAMILY:
        return None
    mu = float(hyper.get("momentum", 0.0)) if name != "sgd" else 0.0
    if name == "nesterov":
        return (2 + 2 * mu) / ((1 + 2 * mu) * lambda_max)
    return 2 * (1 + mu) / lambda_max


def range_test(cfg: TrainConfig, lr_min: float = 1e-6, lr_max: float = 10.0, steps: int = 100,
               stop_factor: float = 4.0, out: str | Path | None = None) -> dict[str, Any]:
    """Run the range test for ``cfg`` (its data, model, optimizer, batch size, seed); returns the curve, the
    suggestion, its warnings and, for the gradient-descent family, the cross-check against 2/lambda_max."""
    lr_min, lr_max = checks.positive("lr_min", lr_min), checks.positive("lr_max", lr_max)
    if lr_max <= lr_min:
        raise checks.invalid("lr_max", lr_max, f"larger than lr_min={lr_min!r}")
    steps = checks.positive_int("steps", steps)
    if steps < 10:
        raise checks.invalid("steps", steps, "at least 10")
    checks.at_least("stop_factor", stop_factor, 1.0)
    cfg = cfg.replace(checkpoint_every=0, monitor=False, sharpness_every=0, tensorboard=False, progress=False,
                      threads=cfg.run.threads or torch.get_num_threads())
    job = resolve(cfg)
    if job.entry.closure:
        raise checks.invalid("optimizer", job.entry.name, "a first-order optimizer: the range test steps on "
                             "minibatches, and line-search or Newton steps ignore the rate's scale")
    trainer, _ = build(job, Path(out) if out is not None else Path("."))
    x_train, y_train = (t.to(trainer.device) for t in trainer.splits.train)
    cross = _cross_check(trainer, job, x_train, y_train)
    generator = torch.Generator().manual_seed(cfg.run.seed)
    order, position = torch.randperm(len(x_train), generator=generator), 0
    lrs, losses, ema, best = [], [], 0.0, math.inf
    trainer.model.train()
    for i in range(steps):
        lr = lr_min * (lr_max / lr_min) ** (i / (steps - 1))
        for group in trainer.optimizer.param_groups:
            group["lr"] = lr
        if position + trainer.batch_size > len(order):
            order, position = torch.randperm(len(x_train), generator=generator), 0
        idx = order[position: position + trainer.batch_size].to(trainer.device)
        position += trainer.batch_size
        loss = float(trainer.train_step(x_train[idx], y_train[idx])[0])
        lrs.append(lr)
        losses.append(loss)
        ema = 0.9 * ema + 0.1 * loss
        smoothed = ema / (1 - 0.9 ** (i + 1))  # bias-corrected running average, only to stop early
        if not math.isfinite(loss) or (i >= 10 and smoothed > stop_factor * best):
            break
        best = min(best, smoothed)
    found = suggest(lrs, losses, stop_factor, divisor=3.0 if job.entry.name in GD_FAMILY else 10.0)
    rows = [{"lr": lr, "loss": loss, "smoothed_loss": s} for lr, loss, s in zip(lrs, losses, found.pop("smoothed"))]
    registry_lr = job.entry.lr
    if cross.get("stability_limit") and found["suggested_lr"]:
        cross["suggested_over_limit"] = found["suggested_lr"] / cross["stability_limit"]
        if cross["suggested_over_limit"] > 1:
            found["warnings"].append(f"the suggestion is {cross['suggested_over_limit']:.2g}x the stability limit "
                                     "2/lambda_max at initialization: expect a bumpy start (or lower it)")
    return {"optimizer": job.entry.name, "data": cfg.data.name, "registry_lr": registry_lr, "lr_min": lr_min,
            "lr_max": lr_max, "steps_run": len(lrs), "stop_factor": stop_factor, **found, **cross, "rows": rows}


def _cross_check(trainer: Any, job: Any, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """lambda_max of the initial weights' loss on a fixed batch, and the stability limit it implies."""
    if job.entry.name not in GD_FAMILY:
        return {}
    keep = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[: min(len(x), 1000)]
    xb, yb = x[keep.to(x.device)], y[keep.to(y.device)]
    with preserved(trainer.model):
        trainer.model.train()
        values, _ = result = top_eigenvalues(lambda: trainer.objective(xb, yb)[0], trainer.model.parameters(),
                                             tol=1e-3, max_iter=100)
    lam = float(values[0])
    return {"lambda_max_at_init": lam, "lambda_max_hvps": result.hvps, "lambda_max_examples": len(keep),
            "stability_limit": stability_limit(job.entry.name, job.hyper, lam)}
