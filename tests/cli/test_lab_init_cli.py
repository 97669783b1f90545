"""`descent lab init`: the per-layer statistics against closed forms, and the files the command writes."""

import argparse
import csv
import math

import pytest
from scipy import integrate, stats

from descent.cli import lab_init


def _gaussian_std(f):
    """std of f(z) for z ~ N(0, 1), by quadrature (independent of torch)."""
    m1 = integrate.quad(lambda z: f(z) * stats.norm.pdf(z), -12, 12)[0]
    m2 = integrate.quad(lambda z: f(z) ** 2 * stats.norm.pdf(z), -12, 12)[0]
    return math.sqrt(m2 - m1**2)


@pytest.mark.parametrize("activation, f", [("tanh", math.tanh), ("relu", lambda z: max(z, 0.0))])
@pytest.mark.parametrize("init", lab_init.INITS)
def test_batchnorm_gives_every_layer_the_statistics_of_a_unit_gaussian(activation, f, init):
    rows = lab_init.activation_statistics(activation, init, True, depth=4, width=64, batch=2000)
    expected = _gaussian_std(f)
    for row in rows:
        assert row["std"] == pytest.approx(expected, rel=0.03)


def test_small_init_shrinks_by_sqrt_width_times_std_per_tanh_layer():
    # tanh(h) ~ h for tiny h, so each layer multiplies the std by sqrt(width) * 0.01 (here 0.08).
    width = 64
    rows = lab_init.activation_statistics("tanh", "small", False, depth=5, width=width, batch=1000)
    for a, b in zip(rows[:-1], rows[1:], strict=True):
        assert b["std"] / a["std"] == pytest.approx(math.sqrt(width) * 0.01, rel=0.1)


def test_large_init_saturates_tanh_and_explodes_relu():
    tanh = lab_init.activation_statistics("tanh", "large", False, depth=4, width=64, batch=500)
    # layer 1 sees z ~ N(0, width): P(|tanh z| > 0.99) = 2 * P(z > atanh(0.99))
    assert tanh[0]["saturated_or_dead"] == pytest.approx(2 * stats.norm.sf(math.atanh(0.99) / 8), rel=0.05)
    assert all(row["saturated_or_dead"] > 0.7 for row in tanh)
    relu = lab_init.activation_statistics("relu", "large", False, depth=4, width=64, batch=500)
    # E[h^2] grows by width / 2 per ReLU layer with std-1 weights
    for a, b in zip(relu[:-1], relu[1:], strict=True):
        assert b["std"] / a["std"] == pytest.approx(math.sqrt(64 / 2), rel=0.2)


def test_he_keeps_relu_activations_at_scale():
    rows = lab_init.activation_statistics("relu", "good", False, depth=8, width=128, batch=500)
    assert 0.5 < rows[-1]["std"] / rows[0]["std"] < 2.0


def test_bad_names():
    with pytest.raises(ValueError, match="init must be one of small, good, large, got 'huge'"):
        lab_init.init_std("huge", "tanh", 10)
    with pytest.raises(ValueError, match="activation must be one of tanh, relu, got 'gelu'"):
        lab_init.deep_mlp("gelu", "good", False, 2, 4)


def _parse(argv):
    parser = argparse.ArgumentParser()
    lab_init.register(parser.add_subparsers())
    return parser.parse_args(argv)


def test_command_writes_pictures_and_table(tmp_path, capsys):
    args = _parse(["init", "--out", str(tmp_path / "out"), "--depth", "3", "--width", "16", "--batch", "64"])
    assert args.func(args) == 0
    out = tmp_path / "out"
    for name in ("init_std.png", "init_histograms_tanh.png", "init_histograms_relu.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(out / "init_stats.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 2 * 3 * 2 * 3  # activations x inits x batchnorm x layers
    assert "tanh Xavier +BN" in capsys.readouterr().out


def test_command_rejects_bad_values(tmp_path):
    with pytest.raises(SystemExit):
        _parse(["init", "--out", str(tmp_path), "--depth", "0"])
    args = _parse(["init", "--out", str(tmp_path), "--batch", "1"])
    with pytest.raises(ValueError, match="--batch must be at least 2 for batch statistics, got 1"):
        args.func(args)
