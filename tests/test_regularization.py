"""Penalties against NumPy formulas, and L2-in-the-loss against torch.optim's coupled weight decay."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from descent import regularization as reg
from descent.layers import DropConnectLinear


def _model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv1d(1, 3, 5), nn.BatchNorm1d(3), nn.ReLU(), nn.Flatten(),
        nn.Linear(3 * 8, 6), nn.LayerNorm(6), DropConnectLinear(6, 4, p=0.3), nn.Embedding(5, 2),
    ).double()


def _np(ts):
    return [t.detach().numpy() for t in ts]


def test_penalized_parameters_are_linear_and_conv_weights_only():
    m = _model()
    got = reg.penalized_parameters(m)
    assert [tuple(W.shape) for W in got] == [(3, 1, 5), (6, 24), (4, 6)]
    assert all(W is m[i].weight for W, i in zip(got, (0, 4, 6), strict=True))


def test_shared_weight_counted_once():
    lin = nn.Linear(3, 3)
    m = nn.Sequential(lin, nn.Tanh(), lin)
    assert len(reg.penalized_parameters(m)) == 1


@pytest.mark.parametrize("beta", [0.0, 0.5, 2.0])
def test_penalties_match_numpy(beta):
    Ws = reg.penalized_parameters(_model())
    arrays = _np(Ws)
    np.testing.assert_allclose(reg.l2(Ws).item(), sum((a**2).sum() for a in arrays), rtol=1e-12)
    np.testing.assert_allclose(reg.l1(Ws).item(), sum(np.abs(a).sum() for a in arrays), rtol=1e-12)
    np.testing.assert_allclose(
        reg.elastic_net(Ws, beta).item(), sum((beta * a**2 + np.abs(a)).sum() for a in arrays), rtol=1e-12
    )


def test_penalty_combines_lambdas_and_has_the_closed_form_gradient():
    m = _model()
    total = reg.penalty(m, l1=0.1, l2=0.01, elastic_net=0.2, beta=0.5)
    total.backward()
    for W in reg.penalized_parameters(m):
        w = W.detach().numpy()
        expected = 0.1 * np.sign(w) + 0.01 * 2 * w + 0.2 * (0.5 * 2 * w + np.sign(w))
        np.testing.assert_allclose(W.grad.numpy(), expected, rtol=1e-12, atol=1e-15)
    assert m[1].weight.grad is None and m[4].bias.grad is None and m[7].weight.grad is None


def test_penalty_zero_by_default_and_no_weights():
    assert reg.penalty(_model()).item() == 0.0
    assert reg.penalty(nn.ReLU(), l2=1.0).item() == 0.0


def test_l2_in_the_loss_equals_sgd_weight_decay():
    # d/dW lambda * sum W^2 = 2 lambda W, which is torch.optim.SGD(weight_decay=2 lambda).
    torch.manual_seed(1)
    x, y = torch.randn(32, 5), torch.randint(0, 3, (32,))
    net = nn.Sequential(nn.Linear(5, 8, bias=False), nn.Tanh(), nn.Linear(8, 3, bias=False))
    ref = copy.deepcopy(net)
    lam = 0.05
    ours = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    theirs = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9, weight_decay=2 * lam)
    for _ in range(5):
        ours.zero_grad()
        (nn.functional.cross_entropy(net(x), y) + reg.penalty(net, l2=lam)).backward()
        ours.step()
        theirs.zero_grad()
        nn.functional.cross_entropy(ref(x), y).backward()
        theirs.step()
    for a, b in zip(net.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_l2_in_the_loss_is_adams_coupled_decay_not_adamw():
    torch.manual_seed(2)
    x, y = torch.randn(32, 5), torch.randint(0, 3, (32,))
    net = nn.Sequential(nn.Linear(5, 8, bias=False), nn.Tanh(), nn.Linear(8, 3, bias=False))
    coupled, decoupled = copy.deepcopy(net), copy.deepcopy(net)
    lam = 0.05
    opts = [torch.optim.Adam(net.parameters(), lr=0.01),
            torch.optim.Adam(coupled.parameters(), lr=0.01, weight_decay=2 * lam),
            torch.optim.AdamW(decoupled.parameters(), lr=0.01, weight_decay=2 * lam)]
    for _ in range(5):
        for model, opt in zip((net, coupled, decoupled), opts, strict=True):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            if model is net:
                loss = loss + reg.penalty(net, l2=lam)
            loss.backward()
            opt.step()
    for a, b, c in zip(net.parameters(), coupled.parameters(), decoupled.parameters(), strict=True):
        torch.testing.assert_close(a, b)
        assert (a - c).abs().max() > 1e-4


@pytest.mark.parametrize("kwargs, match", [
    ({"l2": -0.1}, r"invalid l2=-0\.1: must be a non-negative finite number"),
    ({"l1": -1}, r"invalid l1=-1: must be a non-negative"),
    ({"elastic_net": float("nan")}, r"invalid elastic_net=nan: must be"),
    ({"l2": float("inf")}, r"invalid l2=inf: must be"),
    ({"elastic_net": 0.1, "beta": -0.5}, r"invalid beta=-0\.5: must be"),
])
def test_bad_lambdas(kwargs, match):
    with pytest.raises(ValueError, match=match):
        reg.penalty(_model(), **kwargs)


def test_bad_beta_in_elastic_net():
    with pytest.raises(ValueError, match=r"invalid beta=-1: must be a non-negative finite number"):
        reg.elastic_net([torch.ones(2)], beta=-1)
