"""A learning rate given as a 1-element tensor, as torch.optim accepts it (its wrong shapes and tensor betas are
error inputs of the registry, tests/optim/test_behaviour.py)."""

import pytest
import torch
from optim_problems import FIRST_ORDER, make_params, rel_diff, run

from descent.optim import OPTIMIZERS

PATHS = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", FIRST_ORDER)
def test_a_one_element_tensor_lr_steps_as_the_float(name, path):
    """The tensor stays in the param group (a scheduler fills it in place) and its value is the rate."""
    e = OPTIMIZERS[name]
    with_tensor, with_float = make_params(), make_params()
    lr = torch.tensor([e.lr], dtype=torch.float64)
    a = e.factory(with_tensor, **{**e.defaults, "lr": lr}, **PATHS[path])
    b = e.factory(with_float, **{**e.defaults, "lr": e.lr}, **PATHS[path])
    assert a.param_groups[0]["lr"] is lr
    assert rel_diff(run(a, with_tensor, 5), run(b, with_float, 5)) == 0
    lr.fill_(e.lr / 10)  # in place, as torch's LRScheduler does for a tensor rate
    for group in b.param_groups:
        group["lr"] = e.lr / 10
    assert rel_diff(run(a, with_tensor, 5), run(b, with_float, 5)) == 0


def test_a_torch_scheduler_drives_a_tensor_lr():
    params, twin_params = make_params(), make_params()
    opt = OPTIMIZERS["adam"].factory(params, lr=torch.tensor(0.01, dtype=torch.float64))
    twin = torch.optim.Adam(twin_params, lr=torch.tensor(0.01, dtype=torch.float64))
    schedulers = [torch.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5) for o in (opt, twin)]
    for _ in range(6):
        a, b = run(opt, params, 1), run(twin, twin_params, 1)
        for s in schedulers:
            s.step()
    assert float(opt.param_groups[0]["lr"]) == pytest.approx(0.01 / 8)
    assert rel_diff(a, b) <= 1e-12
