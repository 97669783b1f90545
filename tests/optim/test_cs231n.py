"""``convention="cs231n"`` against the published arrays of CS231n assignment 2 (``FullyConnectedNets``): one
step of ``sgd_momentum``, ``rmsprop`` and ``adam`` from the notebook's inputs, with the preset's defaults
for everything the notebook does not set. The arrays are printed to 8 decimals, so each entry may be off
by half a unit in the last place, 5e-9."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from descent.optim import Adam, Momentum, RMSProp

N, D = 4, 5
ROUNDING = 5e-9 + 1e-15  # half a unit in the 8th decimal (plus float noise)


def lin(a: float, b: float) -> torch.Tensor:
    return torch.from_numpy(np.linspace(a, b, num=N * D).reshape(N, D))


def one_step(cls, lr: float, state: dict[str, torch.Tensor], step: int) -> tuple[torch.Tensor, dict]:
    """``w = linspace(-0.4, 0.6)``, ``dw = linspace(-0.6, 0.4)``, the notebook's state, one step."""
    w = lin(-0.4, 0.6).requires_grad_()
    opt = cls([w], lr=lr, convention="cs231n", foreach=False)
    opt.state[w] = {"step": step, **{k: v.clone() for k, v in state.items()}}
    w.grad = lin(-0.6, 0.4)
    opt.step()
    return w.detach(), opt.state[w]


def check(got: torch.Tensor, expected: list[list[float]]) -> None:
    assert np.abs(got.numpy() - np.asarray(expected)).max() <= ROUNDING


def test_sgd_momentum():
    # config = {'learning_rate': 1e-3, 'velocity': v}: momentum 0.9, v = momentum * v - lr * dw; w += v
    w, state = one_step(Momentum, 1e-3, {"momentum_buffer": lin(0.6, 0.9)}, step=1)
    check(w, [[0.1406, 0.20738947, 0.27417895, 0.34096842, 0.40775789],
              [0.47454737, 0.54133684, 0.60812632, 0.67491579, 0.74170526],
              [0.80849474, 0.87528421, 0.94207368, 1.00886316, 1.07565263],
              [1.14244211, 1.20923158, 1.27602105, 1.34281053, 1.4096]])
    check(state["momentum_buffer"], [[0.5406, 0.55475789, 0.56891579, 0.58307368, 0.59723158],
                                     [0.61138947, 0.62554737, 0.63970526, 0.65386316, 0.66802105],
                                     [0.68217895, 0.69633684, 0.71049474, 0.72465263, 0.73881053],
                                     [0.75296842, 0.76712632, 0.78128421, 0.79544211, 0.8096]])


def test_rmsprop():
    # config = {'learning_rate': 1e-2, 'cache': cache}: decay_rate 0.99, epsilon 1e-8 from the preset
    w, state = one_step(RMSProp, 1e-2, {"square_avg": lin(0.6, 0.9)}, step=1)
    check(w, [[-0.39223849, -0.34037513, -0.28849239, -0.23659121, -0.18467247],
              [-0.132737, -0.08078555, -0.02881884, 0.02316247, 0.07515774],
              [0.12716641, 0.17918792, 0.23122175, 0.28326742, 0.33532447],
              [0.38739248, 0.43947102, 0.49155973, 0.54365823, 0.59576619]])
    check(state["square_avg"], [[0.5976, 0.6126277, 0.6277108, 0.64284931, 0.65804321],
                                [0.67329252, 0.68859723, 0.70395734, 0.71937285, 0.73484377],
                                [0.75037008, 0.7659518, 0.78158892, 0.79728144, 0.81302936],
                                [0.82883269, 0.84469141, 0.86060554, 0.87657507, 0.8926]])


def test_adam():
    # config = {'learning_rate': 1e-2, 'm': m, 'v': v, 't': 5}: the update is step t = 6
    w, state = one_step(Adam, 1e-2, {"exp_avg": lin(0.6, 0.9), "exp_avg_sq": lin(0.7, 0.5)}, step=5)
    check(w, [[-0.40094747, -0.34836187, -0.29577703, -0.24319299, -0.19060977],
              [-0.1380274, -0.08544591, -0.03286534, 0.01971428, 0.0722929],
              [0.1248705, 0.17744702, 0.23002243, 0.28259667, 0.33516969],
              [0.38774145, 0.44031188, 0.49288093, 0.54544852, 0.59801459]])
    check(state["exp_avg_sq"], [[0.69966, 0.68908382, 0.67851319, 0.66794809, 0.65738853],
                                [0.64683452, 0.63628604, 0.6257431, 0.61520571, 0.60467385],
                                [0.59414753, 0.58362676, 0.57311152, 0.56260183, 0.55209767],
                                [0.54159906, 0.53110598, 0.52061845, 0.51013645, 0.49966]])
    check(state["exp_avg"], [[0.48, 0.49947368, 0.51894737, 0.53842105, 0.55789474],
                             [0.57736842, 0.59684211, 0.61631579, 0.63578947, 0.65526316],
                             [0.67473684, 0.69421053, 0.71368421, 0.73315789, 0.75263158],
                             [0.77210526, 0.79157895, 0.81105263, 0.83052632, 0.85]])


@pytest.mark.parametrize("convention", ["torch", "optax"])
def test_momentum_under_another_convention_misses_the_velocity(convention):
    """The arrays tell the conventions apart: torch's velocity does not carry the rate."""
    w = lin(-0.4, 0.6).requires_grad_()
    opt = Momentum([w], lr=1e-3, convention=convention)
    opt.state[w] = {"step": 1, "momentum_buffer": lin(0.6, 0.9)}
    w.grad = lin(-0.6, 0.4)
    opt.step()
    assert abs(float(w.detach()[0, 0]) - 0.1406) > 1e-2
