"""The networks of the lab: an MLP and small CNNs (1-D for MNIST-1D, 2-D for images).

Every model takes the lecture's knobs: activation (sigmoid, tanh, ReLU), weight initialization (Xavier,
He/MSRA, or a normal with a given std, so "too small" and "too large" can be shown), optional batch
normalization, dropout (inverted; ``p`` is the drop probability) and DropConnect in the classifier.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from . import checks
from .layers import DropConnectLinear

if TYPE_CHECKING:
    from .config import ModelConfig
    from .data import Splits

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
INITS = ("he", "xavier", "normal")
MODELS = ("auto", "mlp", "cnn")


def _check(activation: str, init: str, dropout: float, dropconnect: float) -> None:
    checks.one_of("activation", activation, ACTIVATIONS)
    checks.one_of("init", init, INITS)
    checks.in_unit_interval("dropout", dropout)
    checks.in_unit_interval("dropconnect", dropconnect)


def _linear(n_in: int, n_out: int, dropconnect: float) -> nn.Module:
    if dropconnect > 0:
        return DropConnectLinear(n_in, n_out, p=dropconnect)
    return nn.Linear(n_in, n_out)


class MLP(nn.Module):
    """Fully connected: ``depth`` hidden layers of ``width`` units, each Linear [-> BatchNorm] -> act [-> Dropout]."""

    def __init__(self, in_features: int, num_classes: int, width: int = 256, depth: int = 2,
                 activation: str = "relu", batchnorm: bool = False, dropout: float = 0.0,
                 dropconnect: float = 0.0) -> None:
        super().__init__()
        _check(activation, "he", dropout, dropconnect)
        layers: list[nn.Module] = [nn.Flatten()]
        n = in_features
        for _ in range(depth):
            layers.append(_linear(n, width, dropconnect))
            if batchnorm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            n = width
        layers.append(nn.Linear(n, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CNN1d(nn.Module):
    """1-D CNN for MNIST-1D: ``depth`` blocks of Conv1d(k=5) [-> BatchNorm] -> act, stride 2 after the first,
    then global average and max pooling concatenated, [Dropout], and a linear classifier."""

    def __init__(self, length: int, num_classes: int, width: int = 64, depth: int = 3,
                 activation: str = "relu", batchnorm: bool = True, dropout: float = 0.0,
                 dropconnect: float = 0.0, in_channels: int = 1) -> None:
        super().__init__()
        _check(activation, "he", dropout, dropconnect)
        blocks: list[nn.Module] = []
        c = in_channels
        for i in range(depth):
            blocks.append(nn.Conv1d(c, width, kernel_size=5, stride=1 if i == 0 else 2, padding=2,
                                    bias=not batchnorm))
            if batchnorm:
                blocks.append(nn.BatchNorm1d(width))
            blocks.append(ACTIVATIONS[activation]())
            c = width
        self.features = nn.Sequential(*blocks)
        head: list[nn.Module] = [nn.Dropout(dropout)] if dropout > 0 else []
        head += [_linear(2 * width, width, dropconnect), ACTIVATIONS[activation](), nn.Linear(width, num_classes)]
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(1)
        h = self.features(x)
        return self.classifier(torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1))


class CNN2d(nn.Module):
    """2-D CNN for images: ``depth`` blocks of Conv3x3 [-> BatchNorm] -> act -> pool (max 2x2, or fractional
    max pooling with ratio 1/sqrt(2) as in Graham 2014), then global average pooling and a classifier."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 32, depth: int = 2,
                 activation: str = "relu", batchnorm: bool = True, dropout: float = 0.0,
                 dropconnect: float = 0.0, fractional_pool: bool = False, image_size: int = 28) -> None:
        super().__init__()
        _check(activation, "he", dropout, dropconnect)
        blocks: list[nn.Module] = []
        c, size = in_channels, image_size
        for i in range(depth):
            out = width * 2**i
            blocks.append(nn.Conv2d(c, out, kernel_size=3, padding=1, bias=not batchnorm))
            if batchnorm:
                blocks.append(nn.BatchNorm2d(out))
            blocks.append(ACTIVATIONS[activation]())
            if size >= 4:
                if fractional_pool:
                    blocks.append(nn.FractionalMaxPool2d(2, output_ratio=1 / math.sqrt(2)))
                    size = int(size / math.sqrt(2))
                else:
                    blocks.append(nn.MaxPool2d(2))
                    size //= 2
            c = out
        self.features = nn.Sequential(*blocks)
        head: list[nn.Module] = [nn.Flatten()]
        head += [nn.Dropout(dropout)] if dropout > 0 else []
        head += [_linear(c, 2 * width, dropconnect), ACTIVATIONS[activation](), nn.Linear(2 * width, num_classes)]
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        return self.classifier(h.mean(dim=(2, 3)))


def initialize(model: nn.Module, init: str = "he", std: float = 0.01, activation: str = "relu") -> nn.Module:
    """Initialize every Linear/Conv weight; biases to zero.

    he:      W ~ N(0, 2 / fan_in)                       (He et al., 2015: keeps ReLU activations' scale)
    xavier:  W ~ N(0, gain^2 * 2 / (fan_in + fan_out))  (Glorot & Bengio, 2010), gain of the activation
    normal:  W ~ N(0, std^2)                            (the lecture's "too small" / "too large" demo)
    """
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose from {', '.join(INITS)}")
    if init == "normal" and not std > 0:
        raise ValueError(f"init_std must be positive, got {std!r}")
    gain = nn.init.calculate_gain({"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid"}[activation])
    for m in model.modules():
        weight = getattr(m, "weight", None)
        if not isinstance(weight, nn.Parameter) or weight.dim() < 2:
            continue  # norm layers keep weight=1, bias=0
        if init == "he":
            nn.init.kaiming_normal_(weight, nonlinearity="relu")
        elif init == "xavier":
            nn.init.xavier_normal_(weight, gain=gain)
        else:
            nn.init.normal_(weight, 0.0, std)
        bias = getattr(m, "bias", None)
        if isinstance(bias, nn.Parameter):
            nn.init.zeros_(bias)
    return model


def build_model(cfg: ModelConfig, splits: Splits) -> nn.Module:
    """The network a config asks for, sized for the data (``arch=auto``: CNN for signals and images)."""
    checks.one_of("model", cfg.arch, MODELS)
    kind = splits.kind if cfg.arch == "auto" else None
    arch = "cnn" if (cfg.arch == "cnn" or kind in ("signal1d", "image")) else "mlp"
    if arch == "cnn" and splits.kind == "vector":
        raise checks.invalid("model", "cnn", f"mlp for {splits.name!r}, whose examples are vectors")
    common = dict(activation=cfg.activation, dropout=cfg.dropout, dropconnect=cfg.dropconnect)
    if cfg.batchnorm is not None:
        common["batchnorm"] = cfg.batchnorm
    shape = splits.input_shape
    if arch == "mlp":
        model: nn.Module = MLP(math.prod(shape), splits.num_classes, width=cfg.width or 256,
                               depth=2 if cfg.depth is None else cfg.depth, **common)
    elif splits.kind == "signal1d":
        model = CNN1d(shape[-1], splits.num_classes, width=cfg.width or 64, depth=cfg.depth or 3,
                      in_channels=1 if len(shape) == 1 else shape[0], **common)
    else:
        model = CNN2d(shape[0], splits.num_classes, width=cfg.width or 32, depth=cfg.depth or 2,
                      fractional_pool=cfg.fractional_pool, image_size=shape[-1], **common)
    return initialize(model, cfg.init, cfg.init_std, cfg.activation)
