r"""The edge of stability (Cohen, Kaur, Li, Kolter & Talwalkar, "Gradient descent on neural networks
typically occurs at the edge of stability", ICLR 2021), on an MNIST-1D subset.

Full-batch gradient descent :math:`\theta_{t+1} = \theta_t - \eta \nabla L(\theta_t)` is stable on a quadratic
only if the sharpness :math:`\lambda_{\max}(\nabla^2 L) < 2 / \eta`. On a network the sharpness is not fixed:
it first rises ("progressive sharpening") until it reaches :math:`2 / \eta`, then hovers just above it while
the loss keeps falling, non-monotonically. The run is therefore at the edge of the classical stability
limit, whatever :math:`\eta` is.

The experiment (defaults chosen so that it shows on two CPU cores within a minute or so): ``examples``
MNIST-1D training signals (standardized), a tanh MLP (``depth`` hidden layers of ``width`` units, PyTorch's
default initialization, float64), the squared loss :math:`L = \frac{1}{n} \sum_i \tfrac12 \lVert f(x_i) -
e_{y_i} \rVert^2` on one-hot targets, as in the paper, and plain gradient descent at each rate in ``lrs``
from the same initialization. Every ``every`` steps the sharpness is computed by Lanczos
(:func:`descent.hessian.top_eigenvalues`) on the full training set. :func:`verdict` checks the paper's two
observations: the sharpness reaches :math:`0.8 \times 2/\eta` and, in the second half of the run, stays below
:math:`1.3 \times 2/\eta`. ``docs/curvature.md`` says what changes with the model, the loss and the subset.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .. import checks
from .. import data as data_module
from ..hessian import top_eigenvalues
from ..models import ACTIVATIONS
from ..report.curves import finish, pyplot

LOSSES = ("mse", "cross_entropy")


@dataclass(frozen=True)
class Experiment:
    """One edge-of-stability experiment: the rates, the run length and the problem."""

    lrs: tuple[float, ...] = (0.1, 0.15, 0.2)
    steps: int = 1500
    every: int = 25
    examples: int = 500
    width: int = 100
    depth: int = 2
    activation: str = "tanh"
    loss: str = "mse"
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.lrs:
            raise checks.invalid("lrs", self.lrs, "at least one learning rate")
        for lr in self.lrs:
            checks.positive("lr", lr)
        checks.positive_int("steps", self.steps)
        checks.positive_int("every", self.every)
        checks.positive_int("examples", self.examples)
        checks.positive_int("width", self.width)
        checks.positive_int("depth", self.depth)
        checks.one_of("activation", self.activation, ACTIVATIONS)
        checks.one_of("loss", self.loss, LOSSES)


def problem(exp: Experiment) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``examples`` MNIST-1D training signals of the seeded split (float64) and their labels."""
    splits = data_module.load("mnist1d", seed=exp.seed, val_fraction=0.1, train_subset=exp.examples)
    x, y = splits.train
    return x.double(), y


def network(exp: Experiment, in_features: int, classes: int) -> nn.Module:
    """The MLP, initialized from ``exp.seed`` (the same weights for every rate)."""
    torch.manual_seed(exp.seed)
    layers: list[nn.Module] = []
    n = in_features
    for _ in range(exp.depth):
        layers += [nn.Linear(n, exp.width), ACTIVATIONS[exp.activation]()]
        n = exp.width
    return nn.Sequential(*layers, nn.Linear(n, classes)).double()


def gradient_descent(exp: Experiment, lr: float, x: torch.Tensor, y: torch.Tensor) -> list[dict[str, Any]]:
    """Full-batch GD at rate ``lr`` for ``exp.steps`` steps; a row (lr, step, loss, sharpness) every
    ``exp.every`` steps and at the last. Stops early if the loss stops being finite."""
    classes = int(y.max()) + 1
    model = network(exp, x.shape[1], classes)
    params = list(model.parameters())
    targets = nn.functional.one_hot(y, classes).double()

    def loss_fn() -> torch.Tensor:
        scores = model(x)
        if exp.loss == "mse":
            return 0.5 * ((scores - targets) ** 2).sum(dim=1).mean()
        return nn.functional.cross_entropy(scores, y)

    rows = []
    for step in range(exp.steps + 1):
        loss = loss_fn()
        if step % exp.every == 0 or step == exp.steps:
            values, _ = top_eigenvalues(loss_fn, params, k=1, tol=1e-4, max_iter=100, seed=step)
            rows.append({"lr": lr, "step": step, "loss": float(loss.detach()), "sharpness": float(values[0])})
        if not torch.isfinite(loss) or step == exp.steps:
            break
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p -= lr * g
    return rows


def verdict(rows: Sequence[dict[str, Any]], lr: float, reach: float = 0.8, bound: float = 1.3) -> dict[str, Any]:
    """Did the sharpness reach ``reach x 2/lr``, and stay below ``bound x 2/lr`` in the second half?

    >>> rows = [{"step": s, "sharpness": v} for s, v in [(0, 2.0), (50, 9.5), (100, 10.4), (150, 9.9)]]
    >>> v = verdict(rows, lr=0.2)
    >>> v["peak_ratio"], v["second_half_max_ratio"], v["edge_of_stability"]
    (1.04, 1.04, True)
    """
    limit = 2.0 / lr
    last = max(r["step"] for r in rows)
    second = [r["sharpness"] for r in rows if r["step"] >= last / 2]
    peak = max(r["sharpness"] for r in rows) / limit
    tail = max(second) / limit
    first_reach = next((r["step"] for r in rows if r["sharpness"] >= reach * limit), None)
    return {"lr": lr, "two_over_lr": limit, "initial_ratio": rows[0]["sharpness"] / limit,
            "peak_ratio": round(peak, 4), "second_half_max_ratio": round(tail, 4),
            "second_half_min_ratio": round(min(second) / limit, 4), "first_step_at_reach": first_reach,
            "reaches": first_reach is not None, "stays": tail <= bound,
            "edge_of_stability": first_reach is not None and tail <= bound}


def run(exp: Experiment) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every rate's rows (concatenated) and verdicts."""
    x, y = problem(exp)
    rows, verdicts = [], []
    for lr in exp.lrs:
        start = time.perf_counter()
        these = gradient_descent(exp, lr, x, y)
        rows += these
        verdicts.append({**verdict(these, lr), "final_loss": these[-1]["loss"],
                         "seconds": time.perf_counter() - start})
    return rows, verdicts


def plot(rows: Sequence[dict[str, Any]], path: Any, title: str = "") -> None:
    """sharpness.png: the sharpness of each rate against the step, with its 2/lr; the loss beside it."""
    plt = pyplot()
    fig, (ax_s, ax_l) = plt.subplots(1, 2, figsize=(11, 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, lr in enumerate(sorted({r["lr"] for r in rows})):
        these = [r for r in rows if r["lr"] == lr]
        color = colors[i % len(colors)]
        ax_s.plot([r["step"] for r in these], [r["sharpness"] for r in these], color=color, lw=1.2,
                  label=f"lr {lr:g}")
        ax_s.axhline(2.0 / lr, color=color, ls="--", lw=0.9)
        ax_l.plot([r["step"] for r in these], [r["loss"] for r in these], color=color, lw=1.2, label=f"lr {lr:g}")
    ax_s.set(xlabel="step", ylabel="sharpness (top Hessian eigenvalue)",
             title="sharpness rises to 2/lr (dashed) and hovers there")
    ax_l.set(xlabel="step", ylabel="training loss", yscale="log", title="the loss keeps falling, not monotonically")
    finish(fig, [ax_s, ax_l], path, title)
