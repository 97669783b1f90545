"""`descent gradcheck`: check the gradients of descent's own losses, networks, layers and penalties.

Every checked thing is one :class:`Target` in :data:`TARGETS`: a name and a function ``run(seed)`` returning
:class:`descent.gradcheck.ParamReport` rows (float64, fixed randomness). A target whose module has not landed
raises :class:`Unavailable` and is listed as skipped. The command prints a table and exits 1 if any row is
'wrong' (relative error > 1e-2).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import torch

from ..errors import DescentError
from ..gradcheck import ParamReport, check, check_module


class Unavailable(Exception):
    """The module a target needs is not part of this installation (yet)."""


@dataclass(frozen=True)
class Target:
    name: str
    what: str
    run: Callable[[int], list[ParamReport]]


def _scores(seed: int, n: int = 6, classes: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, classes, generator=g, dtype=torch.float64),
            torch.randint(0, classes, (n,), generator=g))


def _loss_target(name: str) -> Callable[[int], list[ParamReport]]:
    def run(seed: int) -> list[ParamReport]:
        from .. import losses

        scores, y = _scores(seed)
        loss = losses.get(name)
        return [ParamReport("scores", tuple(scores.shape), check(lambda s: loss(s, y), scores))]

    return run


def _module(path: str):
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as e:
        if e.name != path:  # the module is there but broken: a real error, not a skip
            raise
        raise Unavailable(f"{path} is not part of this installation") from None


def _model_target(model: str, kind: str, input_shape: tuple[int, ...]) -> Callable[[int], list[ParamReport]]:
    def run(seed: int) -> list[ParamReport]:
        models = _module("descent.models")
        from ..config import ModelConfig
        from ..losses import softmax_loss

        torch.manual_seed(seed)
        splits = SimpleNamespace(num_classes=3, input_shape=input_shape, kind=kind,
                                 train=None, val=None, test=None)
        cfg = ModelConfig(arch=model, width=4, depth=1, activation="tanh")
        try:
            net = models.build_model(cfg, splits).to(torch.float64).eval()
        except (AttributeError, TypeError, ValueError) as e:
            raise Unavailable(f"descent.models.build_model could not build a small {model}: {e}") from None
        x = torch.randn(5, *input_shape, dtype=torch.float64)
        y = torch.randint(0, 3, (5,))
        return check_module(net, softmax_loss, x, y)

    return run


def _dropconnect(seed: int) -> list[ParamReport]:
    layers = _module("descent.layers")
    if not hasattr(layers, "DropConnectLinear"):
        raise Unavailable("descent.layers has no DropConnectLinear")
    from ..losses import softmax_loss

    torch.manual_seed(seed)
    layer = layers.DropConnectLinear(6, 3).to(torch.float64).eval()  # eval: the expected weights, no mask
    x, y = torch.randn(5, 6, dtype=torch.float64), torch.randint(0, 3, (5,))
    return check_module(layer, softmax_loss, x, y)


def _penalty_target(name: str) -> Callable[[int], list[ParamReport]]:
    def run(seed: int) -> list[ParamReport]:
        penalties = _module("descent.regularization")
        fn = getattr(penalties, name, None)
        if fn is None:
            raise Unavailable(f"descent.regularization has no {name}")
        g = torch.Generator().manual_seed(seed)
        w = torch.randn(4, 5, generator=g, dtype=torch.float64)
        w = w.sign() * (0.1 + w.abs())  # |w| >= 0.1: away from the kink of |w| at 0
        return [ParamReport("W", tuple(w.shape), check(lambda v: _penalty_value(fn, v), w))]

    return run


def _penalty_value(fn, w: torch.Tensor) -> torch.Tensor:
    """The penalty of one weight matrix, whether fn takes a tensor or an iterable of tensors."""
    try:
        return fn(w)
    except TypeError:
        return fn([w])


TARGETS: tuple[Target, ...] = (
    Target("svm", "descent.losses.svm_loss (hand-written backward)", _loss_target("svm")),
    Target("softmax", "descent.losses.softmax_loss", _loss_target("softmax")),
    Target("mlp", "descent.models MLP, tanh, float64", _model_target("mlp", "vector", (8,))),
    Target("cnn1d", "descent.models CNN on 1-D signals", _model_target("cnn", "signal1d", (40,))),
    Target("cnn2d", "descent.models CNN on images", _model_target("cnn", "image", (1, 8, 8))),
    Target("dropconnect", "descent.layers.DropConnectLinear in eval mode", _dropconnect),
    Target("l1", "descent.regularization.l1, weights away from 0", _penalty_target("l1")),
    Target("l2", "descent.regularization.l2", _penalty_target("l2")),
    Target("elastic_net", "descent.regularization.elastic_net", _penalty_target("elastic_net")),
)


def register(sub) -> None:
    p = sub.add_parser("gradcheck", help="compare analytic and numerical gradients of descent's own parts",
                       description=__doc__.splitlines()[0])
    p.add_argument("--only", default=None, metavar="NAMES",
                   help="comma-separated targets to check (default: all): "
                   + ", ".join(t.name for t in TARGETS))
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs and weights (default 0)")
    p.set_defaults(func=run)


def select(only: str | None) -> list[Target]:
    if only is None:
        return list(TARGETS)
    by_name = {t.name: t for t in TARGETS}
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in by_name]
    if unknown or not names:
        raise DescentError(f"unknown gradcheck target {', '.join(unknown) or repr(only)}; "
                           f"choose from {', '.join(by_name)}")
    return [by_name[n] for n in names]


def run(args) -> int:
    rows = []
    for target in select(args.only):
        try:
            rows += [(target.name, r.name, "x".join(map(str, r.shape)) or "()", f"{r.error:.2e}", r.verdict)
                     for r in target.run(args.seed)]
        except Unavailable as e:
            rows.append((target.name, "-", "-", "-", f"skipped: {e}"))
    header = ("target", "parameter", "shape", "max rel. error", "verdict")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row[:4], widths, strict=True)) + "  " + row[4])
    print("thresholds: good < 1e-7 <= check <= 1e-2 < wrong")
    wrong = [f"{r[0]}/{r[1]}" for r in rows if r[4] == "wrong"]
    if wrong:
        print(f"wrong gradients: {', '.join(wrong)}")
        return 1
    return 0
