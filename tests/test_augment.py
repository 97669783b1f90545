"""Augmentations against NumPy transcriptions (roll, flip, pad + crop, affine intensity) and statistics."""

import numpy as np
import pytest
import torch

from descent import augment
from descent.augment import _shift_signals_reference, parse, shift_signals


@pytest.mark.parametrize("shape", [(6, 40), (6, 1, 40), (6, 2, 9)])
@pytest.mark.parametrize("circular", [True, False])
def test_shift_signals_matches_numpy_and_the_loop_reference(shape, circular):
    torch.manual_seed(0)
    x = torch.randn(shape, dtype=torch.float64)
    shifts = torch.tensor([0, 1, -1, 3, -4, 8])
    expected = []
    for row, s in zip(x.numpy(), shifts.tolist(), strict=True):
        y = np.roll(row, s, axis=-1)
        if not circular:
            t = np.arange(shape[-1])
            y = np.where((t - s >= 0) & (t - s < shape[-1]), y, 0.0)
        expected.append(y)
    np.testing.assert_array_equal(shift_signals(x, shifts, circular).numpy(), np.stack(expected))
    fast = shift_signals(x, shifts, circular)
    torch.testing.assert_close(_shift_signals_reference(x, shifts, circular), fast)


def _matching_shifts(x, y, max_shift):
    return [[k for k in range(-max_shift, max_shift + 1) if np.array_equal(np.roll(a, k, -1), b)]
            for a, b in zip(x.numpy(), y.numpy(), strict=True)]


def test_random_shift_stays_within_range_and_uses_all_shifts():
    torch.manual_seed(1)
    x = torch.randn(400, 1, 40)
    y = parse("shift=3", "signal1d").train()(x)
    found = _matching_shifts(x, y, 3)
    assert all(len(ks) == 1 for ks in found)
    assert sorted({ks[0] for ks in found}) == list(range(-3, 4))


def test_random_amplitude_is_one_factor_per_example_in_range():
    torch.manual_seed(2)
    x = torch.randn(500, 40, dtype=torch.float64)
    y = parse("scale=0.2", "signal1d")(x)
    ratio = (y / x).numpy()
    np.testing.assert_allclose(ratio, ratio[:, :1].repeat(40, 1), rtol=1e-12)
    assert ratio.min() >= 0.8 and ratio.max() <= 1.2
    # U(0.8, 1.2): mean 1, std 0.4 / sqrt(12)
    assert abs(ratio[:, 0].mean() - 1.0) < 5 * 0.4 / np.sqrt(12 * 500)


def test_gaussian_noise_has_the_given_std():
    torch.manual_seed(3)
    x = torch.randn(200, 40, dtype=torch.float64)
    noise = (parse("noise=0.05", "signal1d")(x) - x).numpy().ravel()
    n = noise.size
    assert abs(noise.mean()) < 5 * 0.05 / np.sqrt(n)
    assert abs(noise.std() / 0.05 - 1) < 5 * np.sqrt(1 / (2 * n))


def test_horizontal_flip_with_probability_one_is_numpy_fliplr():
    x = torch.randn(4, 3, 5, 7)
    np.testing.assert_array_equal(parse("flip=1", "image")(x).numpy(), x.numpy()[..., ::-1])
    torch.testing.assert_close(parse("flip=0", "image")(x), x)


@pytest.mark.parametrize("pad, size", [(2, 8), (None, 16)])
def test_crop_is_a_zero_padded_translation(pad, size):
    torch.manual_seed(4)
    x = torch.randn(50, 1, size, size)
    spec = "crop" if pad is None else f"crop={pad}"
    pad = size // 8 if pad is None else pad
    y = parse(spec, "image")(x).numpy()
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    offsets = set()
    for n in range(50):
        hits = [(i, j) for i in range(2 * pad + 1) for j in range(2 * pad + 1)
                if np.allclose(padded[n, :, i:i + size, j:j + size], y[n])]
        assert len(hits) == 1
        offsets.add(hits[0])
    assert len(offsets) > 3


def test_jitter_is_brightness_then_contrast_without_clipping():
    torch.manual_seed(5)
    j = 0.3
    x = torch.randn(100, 1, 6, 6, dtype=torch.float64) * 3  # far outside [0, 1]: nothing may be clipped
    y = parse(f"jitter={j}", "image")(x).numpy().reshape(100, -1)
    xs = x.numpy().reshape(100, -1)
    for a, b in zip(xs, y, strict=True):
        slope, intercept = np.polyfit(a, b, 1)  # y = c * (x + d)
        np.testing.assert_allclose(b, slope * a + intercept, atol=1e-9)
        assert 1 - j - 1e-9 <= slope <= 1 + j + 1e-9
        assert -j - 1e-9 <= intercept / slope <= j + 1e-9


def test_scale_keeps_shape_dtype_and_a_constant_centre():
    torch.manual_seed(6)
    x = torch.ones(8, 1, 16, 16, dtype=torch.float64)
    y = parse("scale=0.1", "image")(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    torch.testing.assert_close(y[..., 4:12, 4:12], x[..., 4:12, 4:12])
    assert (y < 0.999).any()  # zooming out brings the zero padding in at the border


@pytest.mark.parametrize("spec, kind, shape", [
    ("flip,crop=4,scale=0.1,jitter=0.2", "image", (5, 3, 12, 12)),
    ("default", "image", (5, 1, 8, 8)),
    ("shift=3:zeros,scale=0.1,noise=0.05", "signal1d", (5, 40)),
    ("default", "signal1d", (5, 1, 40)),
])
def test_seeded_evaluation_identity_and_shapes(spec, kind, shape):
    module = parse(spec, kind)
    x = torch.randn(shape)
    outs = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        outs.append(module(x))
    assert outs[0].shape == x.shape
    assert torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])
    assert module.eval()(x) is x


def test_none_is_the_identity_for_every_kind():
    x = torch.randn(3, 2)
    for kind in augment.KINDS:
        assert parse("none", kind)(x) is x


def test_wrong_batch_shape():
    match = r"image augmentation needs batches of shape \(N, C, H, W\), got \(4, 64\)"
    with pytest.raises(ValueError, match=match):
        parse("flip", "image")(torch.randn(4, 64))


@pytest.mark.parametrize("spec, kind, match", [
    ("flip", "signal1d", r"augmentation 'flip' does not fit signal1d data"),
    ("shift=2", "image", r"augmentation 'shift' does not fit image data"),
    ("noise=0.1", "vector", r"augmentation 'noise=0.1' does not fit vector data"),
    ("default", "vector", r"augmentation 'default' does not fit vector data"),
    ("rotate=10", "image", r"unknown augmentation 'rotate'"),
    ("scale=1.5", "image", r"scale must be a number in \(0, 1\), got '1.5'"),
    ("jitter=-1", "image", r"jitter must be a number in \(0, 1\), got '-1'"),
    ("flip=2", "image", r"flip must be a number in \[0, 1\], got '2'"),
    ("crop=-1", "image", r"crop must be an integer >= 0, got '-1'"),
    ("shift=0", "signal1d", r"shift must be an integer >= 1, got '0'"),
    ("shift=2.5", "signal1d", r"shift must be an integer >= 1, got '2.5'"),
    ("shift=2:wrap", "signal1d", r"shift mode must be 'circular' or 'zeros', got 'wrap'"),
    ("noise=abc", "signal1d", r"noise must be a number in \(0, inf\), got 'abc'"),
    ("noise", "signal1d", r"augmentation 'noise' needs a value"),
    ("scale=", "signal1d", r"augmentation 'scale' needs a value after '='"),
    ("shift=1,shift=2", "signal1d", r"augmentation 'shift' given twice"),
    ("", "image", r"augmentation spec must be a non-empty string, got ''"),
    ("flip", "audio", r"kind must be one of image, signal1d, vector, got 'audio'"),
])
def test_bad_specs(spec, kind, match):
    with pytest.raises(ValueError, match=match):
        parse(spec, kind)
