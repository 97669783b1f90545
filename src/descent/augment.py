"""Data augmentation on training batches, on the model's device: a random transformation of each example that
keeps its label, so the model sees a fresh variant of the data every epoch (a regularizer).

Images ``(N, C, H, W)`` use kornia (Riba et al., "Kornia: an Open Source Differentiable Computer Vision
Library for PyTorch", 2020); MNIST-1D signals ``(N, L)`` or ``(N, 1, L)`` use the small 1-D analogues below.
Randomness comes from torch's global RNG, so seeding the trainer makes a run repeatable.

Compact spelling, parsed by :func:`parse`:

===========  ==========  ==================================================================================
kind         key         effect
===========  ==========  ==================================================================================
image        flip[=P]    horizontal flip with probability P (default 0.5)
image        crop[=PAD]  pad PAD pixels (default max(1, H // 8)) with zeros, crop back to H x W at random
image        scale=S     zoom by a factor drawn from U(1 - S, 1 + S)
image        jitter=J    brightness + b, contrast * c with b ~ U(-J, J), c ~ U(1 - J, 1 + J), unclipped
signal1d     shift=K     shift each signal by k ~ U{-K..K} samples, circularly (``shift=K:zeros`` pads zeros)
signal1d     scale=S     multiply each signal by a ~ U(1 - S, 1 + S)
signal1d     noise=SIG   add Gaussian noise N(0, SIG^2) to every sample
===========  ==========  ==================================================================================

``default`` is ``crop,scale=0.1`` for images (no flip: most of descent's image sets are digits, whose mirror
image is another symbol) and ``shift=3,scale=0.1,noise=0.05`` for 1-D signals. The data are standardized
(zero mean, unit variance), so padding with zeros pads with the mean, and the colour jitter is not clipped to
[0, 1]. Vector data (spiral, flattened digits) have no label-preserving transformation here.

torchvision.transforms.v2 / Keras preprocessing layers apply the same image ideas per example on the CPU;
kornia applies them to whole batches on the GPU.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["parse", "Augment", "RandomShift1d", "RandomAmplitude", "GaussianNoise", "shift_signals", "KINDS"]

KINDS = ("image", "signal1d", "vector")
DEFAULTS = {"image": "crop,scale=0.1", "signal1d": "shift=3,scale=0.1,noise=0.05"}


class Augment(nn.Module):
    """The steps of a parsed spec, applied in order in training mode; the identity in evaluation mode."""

    def __init__(self, steps: list[nn.Module], spec: str, kind: str) -> None:
        super().__init__()
        self.steps = nn.ModuleList(steps)
        self.spec, self.kind = spec, kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        ndims = (4,) if self.kind == "image" else (2, 3)
        if self.steps and x.dim() not in ndims:
            shape = "(N, C, H, W)" if self.kind == "image" else "(N, L) or (N, 1, L)"
            raise ValueError(f"{self.kind} augmentation needs batches of shape {shape}, got {tuple(x.shape)}")
        for step in self.steps:
            x = step(x)
        return x

    def check_input(self, shape: tuple[int, ...]) -> None:
        """Refuse steps that do not fit examples of ``shape`` (a crop padding or a shift as large as the image
        or the signal would leave examples made of padding). ValueError naming the value."""
        for step in self.steps:
            if hasattr(step, "check_input"):
                step.check_input(tuple(shape))

    def extra_repr(self) -> str:
        return f"spec={self.spec!r}, kind={self.kind!r}"


# ---------------------------------------------------------------------------------------------- 1-D signals


def shift_signals(x: torch.Tensor, shifts: torch.Tensor, circular: bool = True) -> torch.Tensor:
    """``y[n, ..., t] = x[n, ..., t - shifts[n]]``: indices mod L when circular, else 0 outside ``[0, L)``."""
    length = x.shape[-1]
    source = torch.arange(length, device=x.device) - shifts.to(x.device).view(-1, 1)  # (N, L)
    inside = (source >= 0) & (source < length)
    source = source % length
    index = source.view(source.shape[0], *([1] * (x.dim() - 2)), length).expand_as(x)
    y = torch.gather(x, -1, index)
    if not circular:
        y = y * inside.view(index.shape[0], *([1] * (x.dim() - 2)), length).to(x.dtype)
    return y


def _shift_signals_reference(x: torch.Tensor, shifts: torch.Tensor, circular: bool = True) -> torch.Tensor:
    """Slow, obvious version of :func:`shift_signals`: one ``torch.roll`` per example, then zero the wrap."""
    rows = []
    for row, s in zip(x, shifts.tolist(), strict=True):
        y = torch.roll(row, s, dims=-1)
        if not circular and s > 0:
            y[..., :s] = 0
        elif not circular and s < 0:
            y[..., s:] = 0
        rows.append(y)
    return torch.stack(rows)


class RandomShift1d(nn.Module):
    """Shift each signal by ``k ~ U{-max_shift..max_shift}`` samples (circular, or padded with zeros)."""

    def __init__(self, max_shift: int, circular: bool = True) -> None:
        super().__init__()
        self.max_shift, self.circular = max_shift, circular

    def check_input(self, shape: tuple[int, ...]) -> None:
        """Refuse a ``max_shift`` as long as the signals of ``shape`` (ValueError naming the value)."""
        if self.max_shift >= shape[-1]:
            raise ValueError(f"invalid shift={self.max_shift}: must be smaller than the signals ({shape[-1]} "
                             "samples)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shifts = torch.randint(-self.max_shift, self.max_shift + 1, (x.shape[0],)).to(x.device)
        return shift_signals(x, shifts, self.circular)


class RandomAmplitude(nn.Module):
    """``y_n = a_n * x_n`` with ``a_n ~ U(1 - scale, 1 + scale)`` per example."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = torch.rand(x.shape[0], *([1] * (x.dim() - 1))).to(x.device, x.dtype)
        return x * (1.0 + self.scale * (2.0 * u - 1.0))


class GaussianNoise(nn.Module):
    """``y = x + sigma * eps`` with ``eps ~ N(0, 1)`` per entry."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.sigma * torch.randn(x.shape).to(x.device, x.dtype)


# --------------------------------------------------------------------------------------------------- images


class _PadCrop(nn.Module):
    """kornia's RandomCrop back to the input's own size after zero padding (built for each new size)."""

    def __init__(self, padding: int | None) -> None:
        super().__init__()
        self.padding = padding
        self._crops: dict[tuple[int, int, int], nn.Module] = {}

    def check_input(self, shape: tuple[int, ...]) -> None:
        height, width = shape[-2:]
        if self.padding is not None and self.padding >= min(height, width):
            raise ValueError(f"invalid crop={self.padding}: must be smaller than the images ({height}x{width}), "
                             "or the crops are all padding")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import kornia.augmentation as K

        height, width = x.shape[-2:]
        pad = self.padding if self.padding is not None else max(1, height // 8)
        key = (height, width, pad)
        if key not in self._crops:
            self._crops[key] = K.RandomCrop((height, width), padding=pad, p=1.0)
        return self._crops[key](x)


def _image_step(key: str, value: str | None, text: str) -> list[nn.Module]:
    import kornia.augmentation as K

    if key == "flip":
        return [K.RandomHorizontalFlip(p=_number(key, value, text, 0.5, low=0.0, high=1.0, closed=True))]
    if key == "crop":
        return [_PadCrop(None if value is None else _integer(key, value, text, low=0))]
    if key == "scale":
        s = _number(key, value, text, None, low=0.0, high=1.0)
        return [K.RandomAffine(degrees=0.0, scale=(1.0 - s, 1.0 + s), p=1.0)]
    j = _number(key, value, text, None, low=0.0, high=1.0)  # jitter
    return [K.RandomBrightness((1.0 - j, 1.0 + j), clip_output=False, p=1.0),
            K.RandomContrast((1.0 - j, 1.0 + j), clip_output=False, p=1.0)]


def _signal_step(key: str, value: str | None, text: str) -> list[nn.Module]:
    if key == "shift":
        amount, _, mode = (value or "").partition(":")
        if mode not in ("", "circular", "zeros"):
            raise ValueError(f"shift mode must be 'circular' or 'zeros', got {mode!r} in {text!r}")
        return [RandomShift1d(_integer(key, amount or None, text, low=1), circular=mode != "zeros")]
    if key == "scale":
        return [RandomAmplitude(_number(key, value, text, None, low=0.0, high=1.0))]
    return [GaussianNoise(_number(key, value, text, None, low=0.0, high=float("inf")))]  # noise


_STEPS = {"image": ("flip", "crop", "scale", "jitter"), "signal1d": ("shift", "scale", "noise")}


def parse(spec: str, kind: str) -> Augment:
    """Build the augmentation module for data of ``kind`` ('image' | 'signal1d' | 'vector') from ``spec``.

    ``spec`` is a comma-separated list of ``key`` or ``key=value`` (see the module docstring), ``default``,
    or ``none`` (the identity). Raises ValueError naming the offending augmentation, key or value."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"augmentation spec must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    if spec == "none":
        return Augment([], spec, kind)
    if kind == "vector":
        raise ValueError(f"augmentation {spec!r} does not fit vector data: no augmentation is defined for it")
    text = DEFAULTS[kind] if spec == "default" else spec
    steps: list[nn.Module] = []
    seen: set[str] = set()
    for item in text.split(","):
        key, eq, value = (part.strip() for part in item.partition("="))
        if eq and not value:
            raise ValueError(f"augmentation {key!r} needs a value after '=', got {item.strip()!r}")
        other = [k for k, keys in _STEPS.items() if k != kind and key in keys]
        if key not in _STEPS[kind]:
            if other:
                raise ValueError(f"augmentation {key!r} does not fit {kind} data (it is for {other[0]} data; "
                                 f"{kind} takes {', '.join(_STEPS[kind])})")
            raise ValueError(f"unknown augmentation {key!r} in {spec!r} "
                             f"({kind} takes {', '.join(_STEPS[kind])})")
        if key in seen:
            raise ValueError(f"augmentation {key!r} given twice in {spec!r}")
        seen.add(key)
        make = _image_step if kind == "image" else _signal_step
        steps += make(key, value or None, item.strip())
    return Augment(steps, spec, kind)


def _number(key: str, value: str | None, text: str, default: float | None, *, low: float, high: float,
            closed: bool = False) -> float:
    """A float in (low, high) -- or [low, high] when ``closed`` -- from ``value``; ``default`` when absent."""
    if value is None:
        if default is None:
            raise ValueError(f"augmentation {key!r} needs a value, as in '{key}=0.1'")
        return default
    try:
        x = float(value)
    except ValueError:
        x = float("nan")
    inside = low <= x <= high if closed else low < x < high
    if not inside:
        bounds = f"[{low:g}, {high:g}]" if closed else f"({low:g}, {high:g})"
        raise ValueError(f"{key} must be a number in {bounds}, got {value!r} in {text!r}")
    return x


def _integer(key: str, value: str | None, text: str, *, low: int) -> int:
    if value is None:
        raise ValueError(f"augmentation {key!r} needs an integer value, as in '{key}=3'")
    try:
        n = int(value)
    except ValueError:
        n = low - 1
    if n < low:
        raise ValueError(f"{key} must be an integer >= {low}, got {value!r} in {text!r}")
    return n
