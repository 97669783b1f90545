"""Models: shapes, the knobs of the lecture, and initialization scales against their formulas."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from descent import data
from descent.config import ModelConfig
from descent.models import MLP, CNN1d, CNN2d, build_model, initialize


@pytest.mark.parametrize("name,kind_type", [("spiral", MLP), ("mnist1d", CNN1d), ("digits", CNN2d)])
def test_auto_model_per_dataset(name, kind_type):
    s = data.load(name, train_subset=16)
    model = build_model(ModelConfig(), s)
    assert isinstance(model, kind_type)
    assert model(s.train[0][:5]).shape == (5, s.num_classes)


def test_mlp_width_depth_activation_dropout_batchnorm():
    m = MLP(10, 3, width=7, depth=4, activation="tanh", batchnorm=True, dropout=0.5)
    linears = [l for l in m.modules() if isinstance(l, nn.Linear)]
    assert [l.out_features for l in linears] == [7, 7, 7, 7, 3]
    assert sum(isinstance(l, nn.Tanh) for l in m.modules()) == 4
    assert sum(isinstance(l, nn.BatchNorm1d) for l in m.modules()) == 4
    assert all(d.p == 0.5 for d in m.modules() if isinstance(d, nn.Dropout))


def test_fractional_pooling_in_the_2d_cnn():
    m = CNN2d(1, 10, fractional_pool=True, image_size=28)
    assert any(isinstance(l, nn.FractionalMaxPool2d) for l in m.modules())
    assert m(torch.randn(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("init,activation", [("he", "relu"), ("xavier", "tanh"), ("normal", "relu")])
def test_initialization_scale_matches_its_formula(init, activation):
    torch.manual_seed(0)
    m = initialize(MLP(400, 10, width=300, depth=1), init, std=0.05, activation=activation)
    w = m.net[1].weight.detach()  # 300 x 400
    fan_in, fan_out = 400, 300
    expected = {
        "he": math.sqrt(2.0 / fan_in),
        "xavier": (5 / 3) * math.sqrt(2.0 / (fan_in + fan_out)),  # tanh gain 5/3 (Glorot & Bengio)
        "normal": 0.05,
    }[init]
    assert float(w.std()) == pytest.approx(expected, rel=0.02)
    assert float(m.net[1].bias.detach().abs().max()) == 0.0


def test_bad_model_settings():
    s = data.load("spiral", train_subset=8)
    with pytest.raises(ValueError, match="invalid model='resnet': must be one of auto, mlp, cnn"):
        build_model(ModelConfig(arch="resnet"), s)
    with pytest.raises(ValueError, match="invalid model='cnn': must be mlp .* vectors"):
        build_model(ModelConfig(arch="cnn"), s)
    with pytest.raises(ValueError, match=r"invalid dropout=1.0: must be in \[0, 1\)"):
        MLP(2, 2, dropout=1.0)
    with pytest.raises(ValueError, match="invalid activation='gelu': must be one of relu"):
        MLP(2, 2, activation="gelu")
