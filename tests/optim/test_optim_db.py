"""torch's own optimizer database (``torch.testing._internal.common_optimizers.optim_db``): every CPU
configuration of the first-order optimizers descent has, on every path, and every error input."""

from __future__ import annotations

import re
import warnings

import pytest
import torch
from optim_problems import make_params, rel_diff, run
from torch.testing._internal.common_optimizers import OptimizerErrorEnum, optim_db

from descent.optim import SGD, AdaDelta, AdaGrad, Adam, AdamW, Momentum, RMSProp

DESCENT = {"SGD": SGD, "Adagrad": AdaGrad, "RMSprop": RMSProp, "Adadelta": AdaDelta, "Adam": Adam, "AdamW": AdamW}
INFOS = [info for info in optim_db if info.optim_cls.__name__ in DESCENT]
CONFIGS = [(info.optim_cls, i.desc, i.kwargs) for info in INFOS
           for i in info.optim_inputs_func(device="cpu", dtype=torch.float64)]
ERRORS = [(info.optim_cls, e) for info in INFOS for e in info.optim_error_inputs_func(device="cpu",
                                                                                     dtype=torch.float64)]
PATHS = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
# torch refuses a tensor lr on its foreach path unless capturable; descent reads the tensor once per step on
# every path, so these inputs build an optimizer that steps as with the float (checked below)
ACCEPTED = {"lr as Tensor doesn't work with foreach & not capturable"}


def descent_class(torch_cls: type, kwargs: dict) -> type:
    """descent's class for torch's: SGD with momentum is descent's Momentum (its plain SGD has none)."""
    name = torch_cls.__name__
    return Momentum if name == "SGD" and kwargs.get("momentum", 0) else DESCENT[name]


def test_the_database_holds_forty_configurations():
    assert len(CONFIGS) == 40 and {c.__name__ for c, _, _ in CONFIGS} == set(DESCENT)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("torch_cls", "desc", "kwargs"), CONFIGS,
                         ids=[f"{c.__name__}-{d}" for c, d, _ in CONFIGS])
def test_matches_torch_on_its_own_configurations(torch_cls, desc, kwargs, path):
    """float64, 20 steps, torch's default (for-loop) path against each of descent's, relative difference
    <= 1e-12; the rate given as a tensor stays one on both sides."""
    theirs, ours = make_params(), make_params()
    twin = torch_cls(theirs, **kwargs, foreach=False)
    mine = descent_class(torch_cls, kwargs)(ours, **kwargs, **PATHS[path])
    assert rel_diff(run(mine, ours, 20), run(twin, theirs, 20)) <= 1e-12


@pytest.mark.parametrize(("torch_cls", "error"), ERRORS,
                         ids=[f"{c.__name__}-{e.optimizer_error_input.desc}" for c, e in ERRORS])
def test_error_inputs(torch_cls, error):
    """The same inputs fail the same way: torch's exception type (or warning), and a message that names the
    argument; the base class's checks (parameters, groups, names) come with torch's own wording."""
    assert error.error_on == OptimizerErrorEnum.CONSTRUCTION_ERROR
    inp = error.optimizer_error_input
    params = inp.params if inp.params is not None else make_params()
    cls = descent_class(torch_cls, inp.kwargs)
    if inp.desc in ACCEPTED:
        mine, theirs = make_params(), make_params()
        kwargs = {**inp.kwargs, "lr": float(inp.kwargs["lr"])}
        opt = cls(mine, **inp.kwargs)
        assert rel_diff(run(opt, mine, 5), run(torch_cls(theirs, **kwargs), theirs, 5)) <= 1e-12
        return
    if issubclass(error.error_type, Warning):
        with pytest.warns(error.error_type, match=error.error_regex):
            cls(params, **inp.kwargs)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(error.error_type) as raised:
            cls(params, **inp.kwargs)
    message = str(raised.value)
    if inp.kwargs and inp.params is None:  # a bad hyperparameter: descent's wording names it
        named = [k for k in inp.kwargs if f"invalid {k}" in message or f"invalid {k}[" in message]
        assert named and message.startswith("invalid "), message
    else:
        assert re.search(error.error_regex, message), message
