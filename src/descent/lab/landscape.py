r"""Loss landscapes of a trained network: slices along filter-normalized random directions (Li, Xu, Taylor,
Studer & Goldstein, "Visualizing the loss landscape of neural nets", NeurIPS 2018) and the run's own
trajectory in the plane of its top two principal directions.

**Slices.** Around the final weights :math:`\theta^*`, for random directions :math:`\delta, \eta`,

.. math::

    f(\alpha) = L(\theta^* + \alpha \delta), \qquad f(\alpha, \beta) = L(\theta^* + \alpha \delta + \beta \eta).

A raw Gaussian direction is meaningless for networks with scale invariance (a ReLU or batch-normalized
filter computes the same function at any scale), so each *filter* of :math:`\delta` (a row of a Linear
weight, an output channel of a Conv weight: index 0 of a tensor of two or more dimensions) is rescaled to
the norm of the same filter of :math:`\theta^*`:
:math:`\delta_{i} \leftarrow \delta_{i} \, \lVert \theta^*_{i} \rVert / \lVert \delta_{i} \rVert`.
One-dimensional tensors (biases, batch-norm scales and shifts) are not filters. ``bias_bn="zero"`` (the
default, as Li et al. recommend) gives them a zero direction: the slice moves the filters only.
``bias_bn="whole"`` treats each such tensor as one filter, rescaled to the tensor's norm. Rescaling each
*entry* to its own size, a common mistake, would give a zero direction to every zero-initialized bias and
move each batch-norm scale by exactly its own magnitude; it is not offered.

**Trajectory.** With per-epoch weights :math:`\theta_0, \dots, \theta_E` (``weights.pt``), the rows
:math:`m_e = \theta_e - \theta^*` are decomposed by SVD, :math:`M = U S V^\top`; the top two right singular
vectors :math:`v_1, v_2` span the plane that best fits the path (uncentred PCA about :math:`\theta^*`, as in
Li et al.), with explained variance :math:`s_k^2 / \sum_j s_j^2`. Each epoch projects to
:math:`(a_e, b_e) = (m_e^\top v_1, m_e^\top v_2)`. The contour beneath the path is
:math:`L(\theta^* + a v_1 + b v_2)`, which is *not* the loss the path went through: the path leaves the plane
by :math:`\lVert m_e - a_e v_1 - b_e v_2 \rVert` (reported as a fraction of :math:`\max_e \lVert m_e \rVert`).
So the true loss :math:`L(\theta_e)` is evaluated beside the plane's :math:`L(\theta^* + a_e v_1 + b_e v_2)` at
every epoch, and their difference is reported.

**The loss** is the run's data loss (no penalty) on a fixed subset of the training examples (one batch),
evaluated with batch norm using that batch's statistics (as in training; the running averages are left
untouched) and dropout switched off, so it is a deterministic function of the weights.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import checks, losses
from .. import data as data_module
from ..config import TrainConfig
from ..errors import DescentError
from ..models import build_model
from ..train import checkpoint
from ..train import weights as epoch_weights
from ..train.sharpness import preserved

BIAS_BN = ("zero", "whole")


def load_run(run_dir: str | Path, examples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The run's config, model (final weights), per-epoch weights (float32) and evaluation batch."""
    run = Path(run_dir)
    if not run.is_dir():
        raise DescentError(f"no run folder at {str(run)!r}")
    saved = checkpoint.load(run / "checkpoint.pt")
    kept = epoch_weights.load(run / "weights.pt")
    cfg = TrainConfig.from_dict(saved["config"])
    d = cfg.data
    splits = data_module.load(d.name, d.data_dir, seed=cfg.run.seed, val_fraction=d.val_fraction,
                              standardize=d.standardize, train_subset=d.train_subset)
    model = build_model(cfg.model, splits)
    model.load_state_dict(saved["model"])
    path = kept["weights"].float()
    if path.shape[1] != sum(p.numel() for p in model.parameters()):
        raise DescentError(f"{str(run / 'weights.pt')!r} does not match the checkpoint's model")
    if len(path) < 3:
        raise DescentError(f"run {str(run)!r} has {len(path) - 1} epoch(s): the trajectory needs at least 2")
    x, y = splits.train
    keep = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:examples]
    return {"config": cfg, "model": model, "path": path, "x": x[keep], "y": y[keep],
            "loss_name": cfg.run.loss}


def loss_at(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_name: str = "softmax"
            ) -> Callable[[torch.Tensor], float]:
    """``theta -> L(theta)`` for flat weight vectors (see the module docstring for the mode)."""
    loss_fn = losses.get(loss_name)
    params = list(model.parameters())

    @torch.no_grad()
    def evaluate(theta: torch.Tensor) -> float:
        with preserved(model):
            nn.utils.vector_to_parameters(theta.to(params[0].dtype), params)
            model.eval()
            for m in model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.train()
            return float(loss_fn(model(x), y))

    return evaluate


def filter_normalized(model: nn.Module, generator: torch.Generator, bias_bn: str = "zero") -> torch.Tensor:
    """A random direction, flat, each filter rescaled to the norm of the model's filter (Li et al., 2018).

    >>> import torch
    >>> net = torch.nn.Linear(3, 2)
    >>> d = filter_normalized(net, torch.Generator().manual_seed(0))
    >>> torch.allclose(d[:6].view(2, 3).norm(dim=1), net.weight.norm(dim=1)), d[6:].tolist()
    (True, [0.0, 0.0])
    """
    checks.one_of("bias_bn", bias_bn, BIAS_BN)
    parts = []
    for p in model.parameters():
        d = torch.randn(p.shape, generator=generator, dtype=torch.float32).to(p.dtype)
        w = p.detach()
        if p.dim() <= 1:
            d = torch.zeros_like(d) if bias_bn == "zero" else d * (w.norm() / d.norm().clamp_min(1e-12))
        else:
            shape = (len(w),) + (1,) * (w.dim() - 1)
            d_norm = d.reshape(len(d), -1).norm(dim=1).clamp_min(1e-12).view(shape)
            d = d * w.reshape(len(w), -1).norm(dim=1).view(shape) / d_norm
        parts.append(d.reshape(-1))
    return torch.cat(parts)


def slices(evaluate: Callable[[torch.Tensor], float], center: torch.Tensor, d1: torch.Tensor, d2: torch.Tensor,
           span: float = 1.0, grid: int = 21, points: int = 51) -> dict[str, Any]:
    """The 1-D slice along ``d1`` (``points`` alphas in [-span, span]) and the 2-D ``grid x grid`` slice."""
    line = [{"alpha": float(a), "loss": evaluate(center + a * d1)} for a in _symmetric(span, points)]
    ticks = _symmetric(span, grid)
    surface = [{"alpha": float(a), "beta": float(b), "loss": evaluate(center + a * d1 + b * d2)}
               for b in ticks for a in ticks]
    return {"line": line, "surface": surface}


def _symmetric(span: float, count: int) -> torch.Tensor:
    """``count`` evenly spaced points in [-span, span]; the middle one exactly 0 when ``count`` is odd."""
    steps = torch.arange(count, dtype=torch.float64) * 2 - (count - 1)
    return steps * (span / max(count - 1, 1))


def pca_directions(path: torch.Tensor, center: torch.Tensor) -> dict[str, Any]:
    """Top two principal directions of ``path - center`` (uncentred), their explained variance, the path's
    coordinates in their plane and each point's distance from the plane (``residual``, as a fraction of the
    path's largest distance from ``center``).

    >>> import torch
    >>> path = torch.tensor([[3.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    >>> pca = pca_directions(path, torch.zeros(3))
    >>> [round(v, 6) for v in pca["explained_variance"]], [round(r, 6) for r in pca["residual"]]
    ([0.872678, 0.127322], [0.0, 0.0, 0.0])
    """
    M = (path - center).double()
    _, S, Vt = torch.linalg.svd(M, full_matrices=False)
    if len(S) < 2 or float(S[1]) == 0.0:
        raise DescentError("the trajectory lies on a line: there is no second principal direction")
    directions = Vt[:2]
    coords = M @ directions.T
    scale = float(M.norm(dim=1).max())  # the path's largest distance from the centre
    residual = ((M - coords @ directions).norm(dim=1) / scale).tolist()
    variance = (S ** 2) / (S ** 2).sum()
    return {"directions": directions, "coords": coords, "explained_variance": variance[:2].tolist(),
            "explained_variance_all": variance.tolist(), "residual": residual}


def trajectory_surface(evaluate: Callable[[torch.Tensor], float], path: torch.Tensor, center: torch.Tensor,
                       grid: int = 21, margin: float = 0.25) -> dict[str, Any]:
    """The loss on the PCA plane around the path, and along the path: true loss beside the plane's."""
    pca = pca_directions(path, center)
    v1, v2 = pca["directions"].to(center.dtype)
    coords = pca["coords"]
    lows, highs = coords.min(dim=0).values, coords.max(dim=0).values
    pad = (highs - lows).clamp_min(1e-12) * margin
    a_ticks = torch.linspace(float(lows[0] - pad[0]), float(highs[0] + pad[0]), grid, dtype=torch.float64)
    b_ticks = torch.linspace(float(lows[1] - pad[1]), float(highs[1] + pad[1]), grid, dtype=torch.float64)
    surface = [{"a": float(a), "b": float(b), "loss": evaluate(center + a * v1 + b * v2)}
               for b in b_ticks for a in a_ticks]
    along = []
    for epoch, (theta, (a, b), outside) in enumerate(zip(path, coords, pca["residual"])):
        true, plane = evaluate(theta.to(center.dtype)), evaluate(center + float(a) * v1 + float(b) * v2)
        along.append({"epoch": epoch, "a": float(a), "b": float(b), "true_loss": true, "plane_loss": plane,
                      "difference": plane - true, "distance_outside_plane": outside})
    return {"surface": surface, "path": along, "explained_variance": pca["explained_variance"],
            "explained_variance_all": pca["explained_variance_all"]}


def landscape(run_dir: str | Path, grid: int = 21, span: float = 1.0, examples: int = 1000, points: int = 51,
              bias_bn: str = "zero", seed: int = 0) -> dict[str, Any]:
    """Everything ``descent lab landscape`` writes, computed from a finished run's folder."""
    grid = checks.positive_int("grid", grid)
    if grid < 3:
        raise checks.invalid("grid", grid, "at least 3")
    checks.positive("span", span)
    checks.positive_int("examples", examples)
    checks.positive_int("points", points)
    checks.one_of("bias_bn", bias_bn, BIAS_BN)
    run = load_run(run_dir, examples, seed)
    model = run["model"]
    evaluate = loss_at(model, run["x"], run["y"], run["loss_name"])
    center = nn.utils.parameters_to_vector(model.parameters()).detach().double()
    generator = torch.Generator().manual_seed(seed)
    d1 = filter_normalized(model, generator, bias_bn).double()
    d2 = filter_normalized(model, generator, bias_bn).double()
    random_slices = slices(evaluate, center, d1, d2, span, grid, points)
    trajectory = trajectory_surface(evaluate, run["path"].double(), center, grid)
    differences = [abs(r["difference"]) for r in trajectory["path"]]
    return {"run": str(run_dir), "examples": len(run["x"]), "loss": run["loss_name"], "bias_bn": bias_bn,
            "grid": grid, "span": span, "seed": seed, "center_loss": evaluate(center), **random_slices,
            "trajectory": trajectory,
            "path_error": {"max_abs_difference": max(differences),
                           "mean_abs_difference": sum(differences) / len(differences),
                           "max_distance_outside_plane": max(r["distance_outside_plane"]
                                                             for r in trajectory["path"])}}
