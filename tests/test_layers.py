"""DropConnect and inverted dropout: exact outputs for a known mask, expectations and variances over masks."""

import numpy as np
import pytest
import torch
from torch import nn

from descent.layers import DropConnectLinear, inverted_dropout


def _layer(p=0.4, bias=True):
    torch.manual_seed(0)
    return DropConnectLinear(6, 3, p=p, bias=bias).double()


def test_eval_mode_is_the_plain_linear_map_and_deterministic():
    layer = _layer().eval()
    x = torch.randn(5, 6, dtype=torch.float64)
    expected = x.numpy() @ layer.weight.detach().numpy().T + layer.bias.detach().numpy()
    np.testing.assert_allclose(layer(x).detach().numpy(), expected, rtol=1e-12)
    assert torch.equal(layer(x), layer(x))


def test_training_output_uses_the_scaled_masked_weights():
    # The gradient of sum(y) w.r.t. W is (M / (1 - p)) * sum_n x_n, which reveals the mask M that was used.
    p = 0.4
    layer = _layer(p).train()
    x = torch.randn(4, 6, dtype=torch.float64)
    y = layer(x)
    y.sum().backward()
    colsum = x.sum(0).numpy()
    scaled_mask = layer.weight.grad.numpy() / colsum
    mask = np.round(scaled_mask * (1 - p))
    assert set(np.unique(mask)) <= {0.0, 1.0}
    np.testing.assert_allclose(scaled_mask, mask / (1 - p), rtol=1e-10)
    W = layer.weight.detach().numpy()
    expected = x.numpy() @ (W * mask / (1 - p)).T + layer.bias.detach().numpy()
    np.testing.assert_allclose(y.detach().numpy(), expected, rtol=1e-10)
    # one mask for the whole batch: every row of the batch saw the same weights (checked above), and the bias
    # is never dropped
    np.testing.assert_allclose(layer.bias.grad.numpy(), np.full(3, 4.0))


def test_fresh_mask_each_forward_pass():
    layer = _layer(0.5).train()
    x = torch.randn(1, 6, dtype=torch.float64)
    outs = {tuple(layer(x).detach().numpy().ravel().round(12)) for _ in range(20)}
    assert len(outs) > 10


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_training_mean_equals_eval_output_within_its_standard_error(p):
    torch.manual_seed(3)
    layer = DropConnectLinear(10, 4, p=p).double()
    x = torch.randn(1, 10, dtype=torch.float64)
    y_eval = layer.eval()(x)[0].detach()
    layer.train()
    n = 4000
    with torch.no_grad():
        ys = torch.cat([layer(x) for _ in range(n)])
    # Independent Bernoulli masks: Var[y_i] = p / (1 - p) * sum_j (W_ij x_j)^2.
    var = p / (1 - p) * (layer.weight.detach() * x).square().sum(1)
    torch.testing.assert_close(layer.output_variance(x[0]).detach(), var)
    standard_error = (var / n).sqrt()
    assert ((ys.mean(0) - y_eval).abs() < 5 * standard_error).all()
    # the sample variance agrees with the formula (its relative std is ~ sqrt(2/n) ~ 2%; allow 15%)
    np.testing.assert_allclose(ys.var(0).numpy(), var.numpy(), rtol=0.15)


def test_p_zero_is_nn_linear_in_training_mode():
    layer = _layer(0.0).train()
    ref = nn.Linear(6, 3).double()
    ref.load_state_dict(layer.state_dict())
    x = torch.randn(3, 6, dtype=torch.float64)
    torch.testing.assert_close(layer(x), ref(x))


def test_no_bias():
    layer = _layer(0.3, bias=False)
    assert layer.bias is None
    assert "p=0.3" in repr(layer)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, float("nan")])
def test_bad_p(p):
    with pytest.raises(ValueError, match=rf"p must be a drop probability in \[0, 1\), got {p}"):
        DropConnectLinear(3, 2, p=p)
    with pytest.raises(ValueError, match=r"p must be a drop probability in \[0, 1\)"):
        inverted_dropout(torch.ones(3), p)


@pytest.mark.parametrize("dropout", [inverted_dropout, nn.functional.dropout])
def test_dropout_p_is_the_drop_probability_and_survivors_are_scaled(dropout):
    # torch's dropout (what the models use) and the reference: zero with probability p, else x / (1 - p).
    torch.manual_seed(4)
    p, n = 0.3, 200_000
    x = torch.full((n,), 2.0, dtype=torch.float64)
    y = dropout(x, p, training=True)
    dropped = (y == 0).double()
    assert abs(dropped.mean().item() - p) < 5 * np.sqrt(p * (1 - p) / n)
    torch.testing.assert_close(y[y != 0], torch.full_like(y[y != 0], 2.0 / (1 - p)))
    assert abs(y.mean().item() - 2.0) < 5 * 2.0 / (1 - p) * np.sqrt(p * (1 - p) / n)
    assert torch.equal(dropout(x, p, training=False), x)
