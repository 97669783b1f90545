"""`descent lab init`: the lecture's weight-initialization picture, with and without batch norm.

A deep MLP (``depth`` hidden layers of ``width`` units, tanh or ReLU) gets a batch of N(0, 1) inputs; for
each layer we record the activations' mean, std and histogram, and the std of the gradient of a random linear
read-out with respect to the layer's weights. Three weight scales, ``W ~ N(0, std^2)``:

* ``small``: std = 0.01: activations shrink by ``sqrt(width) * 0.01`` per layer and vanish, so do gradients;
* ``good``:  Xavier ``std = 1 / sqrt(fan_in)`` for tanh (Glorot & Bengio, "Understanding the difficulty of
  training deep feedforward neural networks", 2010), He ``std = sqrt(2 / fan_in)`` for ReLU (He et al.,
  "Delving Deep into Rectifiers", 2015): the activation scale is kept from layer to layer;
* ``large``: std = 1.0: tanh saturates at +-1 (zero local gradient), ReLU activations explode.

With batch norm (Ioffe & Szegedy, 2015) between each Linear and its nonlinearity, every pre-activation is
normalized over the batch, so all three scales give the same healthy statistics: a tanh layer's output std
is that of ``tanh(z), z ~ N(0, 1)`` (about 0.63), a ReLU's that of ``max(z, 0)`` (about 0.58).
In torch: ``nn.init.xavier_normal_`` / ``kaiming_normal_``; Keras: ``glorot_normal`` / ``he_normal``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._io import ensure_dir, save_figure, write_csv, write_json
from ..train.resolve import available_memory
from ._common import positive_int

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}
INITS = ("small", "good", "large")


def init_std(init: str, activation: str, fan_in: int) -> float:
    """The weight std of ``init`` ('small' | 'good' | 'large') for a layer with ``fan_in`` inputs."""
    if init == "small":
        return 0.01
    if init == "large":
        return 1.0
    if init == "good":
        return math.sqrt((2.0 if activation == "relu" else 1.0) / fan_in)
    raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")


def deep_mlp(activation: str, init: str, batchnorm: bool, depth: int, width: int) -> nn.Sequential:
    """``depth`` blocks Linear(width, width, no bias) [-> BatchNorm1d] -> activation; weights N(0, std^2)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    layers: list[nn.Module] = []
    for _ in range(depth):
        linear = nn.Linear(width, width, bias=False)
        nn.init.normal_(linear.weight, 0.0, init_std(init, activation, width))
        layers += [linear, nn.BatchNorm1d(width)] if batchnorm else [linear]
        layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def activation_statistics(activation: str, init: str, batchnorm: bool, depth: int = 10, width: int = 256,
                          batch: int = 1000, seed: int = 0) -> list[dict[str, Any]]:
    """Forward and backward a batch through :func:`deep_mlp`; per layer (1..depth): activation mean, std,
    the saturated (tanh, ``|h| > 0.99``) or dead (ReLU, ``h == 0``) fraction, the gradient std of the layer's
    weights, and the activations themselves (key ``values``, a 1-D tensor)."""
    torch.manual_seed(seed)
    net = deep_mlp(activation, init, batchnorm, depth, width).train()
    x = torch.randn(batch, width)
    readout = torch.randn(width, 1) / math.sqrt(width)
    outputs: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: outputs.append(out.detach()))
             for m in net if isinstance(m, tuple(ACTIVATIONS.values()))]
    (net(x) @ readout).mean().backward()
    for h in hooks:
        h.remove()
    linears = [m for m in net if isinstance(m, nn.Linear)]
    rows = []
    for layer, (h, linear) in enumerate(zip(outputs, linears, strict=True), start=1):
        extreme = (h.abs() > 0.99) if activation == "tanh" else (h == 0)
        rows.append({"activation": activation, "init": init, "weight_std": init_std(init, activation, width),
                     "batchnorm": batchnorm, "layer": layer, "mean": h.mean().item(), "std": h.std().item(),
                     "saturated_or_dead": extreme.float().mean().item(),
                     "grad_std": linear.weight.grad.std().item(), "values": h.flatten()})
    return rows


def _label(init: str, activation: str) -> str:
    good = "He" if activation == "relu" else "Xavier"
    return {"small": "std 0.01", "good": good, "large": "std 1.0"}[init]


def _plot_std(stats: dict[tuple, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    colors = {"small": "tab:blue", "good": "tab:green", "large": "tab:red"}
    for col, activation in enumerate(ACTIVATIONS):
        for (act, init, bn), rows in stats.items():
            if act != activation:
                continue
            layers = [r["layer"] for r in rows]
            style = dict(color=colors[init], linestyle="--" if bn else "-", marker="o", markersize=3,
                         label=f"{_label(init, act)}{' + BN' if bn else ''}")
            axes[0, col].plot(layers, [max(r["std"], 1e-30) for r in rows], **style)
            axes[1, col].plot(layers, [max(r["grad_std"], 1e-30) for r in rows], **style)
        axes[0, col].set_title(f"{activation}: activation std per layer")
        axes[1, col].set_title(f"{activation}: std of dL/dW per layer")
        axes[1, col].set_xlabel("layer")
        for ax in axes[:, col]:
            ax.set_yscale("log")
            ax.grid(alpha=0.3)
    axes[0, 1].legend(fontsize=8)
    fig.suptitle("Weight init scale: too small vanishes, too large saturates/explodes; batch norm fixes both")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def _plot_histograms(stats: dict[tuple, list[dict]], activation: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = [key for key in stats if key[0] == activation]
    depth = len(stats[configs[0]])
    fig, axes = plt.subplots(len(configs), depth, figsize=(1.6 * depth, 1.4 * len(configs)), squeeze=False)
    for i, key in enumerate(configs):
        for j, row in enumerate(stats[key]):
            ax = axes[i, j]
            values = row["values"].numpy()
            ax.hist(values, bins=40, color="tab:green" if key[2] else "tab:blue")
            ax.set_yticks([])
            ax.tick_params(labelsize=6)
            if i == 0:
                ax.set_title(f"layer {row['layer']}", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"{_label(key[1], activation)}{' +BN' if key[2] else ''}", fontsize=8)
            ax.text(0.98, 0.9, f"std {row['std']:.2g}", transform=ax.transAxes, ha="right", fontsize=6)
    fig.suptitle(f"{activation} activations per layer (x axes differ)")
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    plt.close(fig)


def register(sub) -> None:
    p = sub.add_parser("init", help="per-layer activation statistics for weight-init scales, with/without BN",
                       description="Weight-init picture: per-layer activation histograms and std of a deep "
                       "tanh and ReLU MLP for init std 0.01, Xavier/He and 1.0, with and without batch norm.")
    p.add_argument("--out", required=True, help="output folder (PNG, CSV, JSON)")
    p.add_argument("--depth", type=positive_int, default=10, help="hidden layers (default 10)")
    p.add_argument("--width", type=positive_int, default=256, help="units per layer (default 256)")
    p.add_argument("--batch", type=positive_int, default=1000, help="examples in the batch (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args) -> int:
    if args.batch < 2:
        raise ValueError(f"--batch must be at least 2 for batch statistics, got {args.batch}")
    # weights and their gradients, and a few activation tensors per layer, float32: refused before allocating
    need = 4 * args.depth * (2 * args.width * args.width + 4 * args.batch * args.width)
    have = available_memory(torch.device("cpu"))
    if have is not None and need > have:
        raise ValueError(f"invalid --width={args.width}: must be smaller: {args.depth} layers of {args.width} "
                         f"units need about {need / 2**30:,.1f} GiB, and {have / 2**30:,.1f} GiB are available")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    out = ensure_dir(args.out)
    sizes = (args.depth, args.width, args.batch, args.seed)
    stats = {(act, init, bn): activation_statistics(act, init, bn, *sizes)
             for act in ACTIVATIONS for bn in (False, True) for init in INITS}
    table = [{k: v for k, v in row.items() if k != "values"} for rows in stats.values() for row in rows]
    write_csv(out / "init_stats.csv", table)
    write_json(out / "init_summary.json", {
        "depth": args.depth, "width": args.width, "batch": args.batch, "seed": args.seed,
        "last_layer_std": {f"{a}/{_label(i, a)}{'+BN' if bn else ''}": rows[-1]["std"]
                           for (a, i, bn), rows in stats.items()}})
    _plot_std(stats, out / "init_std.png")
    for activation in ACTIVATIONS:
        _plot_histograms(stats, activation, out / f"init_histograms_{activation}.png")
    print(f"{'config':<22}{'layer 1 std':>12}{'last std':>12}{'last grad std':>15}")
    for (a, i, bn), rows in stats.items():
        name = f"{a} {_label(i, a)}{' +BN' if bn else ''}"
        print(f"{name:<22}{rows[0]['std']:>12.3g}{rows[-1]['std']:>12.3g}{rows[-1]['grad_std']:>15.3g}")
    print(f"wrote {out}/init_std.png, init_histograms_tanh.png, init_histograms_relu.png, init_stats.csv")
    return 0
