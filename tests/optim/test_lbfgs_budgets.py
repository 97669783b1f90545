"""L-BFGS driven one iteration per call (``max_iter=1``, how a training loop calls it) against
torch.optim.LBFGS, and the other budgets against torch too."""

import pytest
import torch

from descent.optim.lbfgs import LBFGS

torch.manual_seed(0)
X, Y = torch.randn(40, 5, dtype=torch.float64), torch.randn(40, dtype=torch.float64)


def loss_of(w: torch.Tensor) -> torch.Tensor:
    return torch.log1p(torch.exp(-(X @ w) * Y.sign())).mean() + 0.01 * (w**2).sum() + 0.1 * torch.sin(w).sum()


def trajectory(cls, calls: int, **kw) -> tuple[list[torch.Tensor], list[float], int]:
    """The iterate after each ``step(closure)``, the losses it returned, and the closure evaluations."""
    w = torch.full((5,), 0.5, dtype=torch.float64, requires_grad=True)
    opt = cls([w], **kw)
    evals = []

    def closure():
        evals.append(1)
        opt.zero_grad()
        loss = loss_of(w)
        loss.backward()
        return loss

    points, losses = [], []
    for _ in range(calls):
        losses.append(float(opt.step(closure).detach()))
        points.append(w.detach().clone())
    return points, losses, len(evals)


def closure_for(opt: torch.optim.Optimizer, w: torch.Tensor):
    def closure():
        opt.zero_grad()
        loss = loss_of(w)
        loss.backward()
        return loss

    return closure


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("history_size", [100, 2])
def test_max_iter_one_moves_as_torch(history_size):
    """float64, 12 calls of one iteration each: every iterate and returned loss within 1e-10 of torch's."""
    kw = dict(lr=0.5, max_iter=1, history_size=history_size)
    ours, our_losses, our_evals = trajectory(LBFGS, 12, **kw)
    theirs, their_losses, their_evals = trajectory(torch.optim.LBFGS, 12, **kw)
    assert not torch.equal(ours[0], torch.full((5,), 0.5, dtype=torch.float64))  # it moved
    assert max(rel(a, b) for a, b in zip(ours, theirs)) <= 1e-10
    assert max(abs(a - b) / abs(b) for a, b in zip(our_losses, their_losses)) <= 1e-10
    assert our_evals == their_evals == 12  # one evaluation per call, as torch


@pytest.mark.parametrize("kw", [dict(max_iter=3), dict(max_iter=20), dict(max_iter=4, max_eval=2),
                                dict(max_iter=5, history_size=3)], ids=str)
def test_other_budgets_match_torch(kw):
    ours, _, our_evals = trajectory(LBFGS, 4, lr=0.5, **kw)
    theirs, _, their_evals = trajectory(torch.optim.LBFGS, 4, lr=0.5, **kw)
    assert max(rel(a, b) for a, b in zip(ours, theirs)) <= 1e-10
    assert our_evals == their_evals


def test_max_iter_one_state_survives_a_state_dict_round_trip(tmp_path):
    """The pending step (taken, not yet evaluated) travels in the state: a resumed optimizer continues as
    the original."""
    w = torch.full((5,), 0.5, dtype=torch.float64, requires_grad=True)
    opt = LBFGS([w], lr=0.5, max_iter=1)
    closure = closure_for(opt, w)
    for _ in range(3):
        opt.step(closure)
    torch.save(opt.state_dict(), tmp_path / "opt.pt")
    twin_w = w.detach().clone().requires_grad_()
    twin = LBFGS([twin_w], lr=0.5, max_iter=1)
    twin.load_state_dict(torch.load(tmp_path / "opt.pt", weights_only=True))
    twin_closure = closure_for(twin, twin_w)
    for _ in range(3):
        opt.step(closure)
        twin.step(twin_closure)
    assert torch.equal(w.detach(), twin_w.detach())


def test_a_pending_step_that_diverged_is_undone():
    """The last step of a call is checked at the next: a non-finite loss there restores the iterate."""
    w = torch.tensor([0.5, -0.5], dtype=torch.float64, requires_grad=True)
    opt = LBFGS([w], lr=1.0, max_iter=1)
    start = w.detach().clone()

    def closure():
        opt.zero_grad()
        loss = (w**2).sum() if torch.equal(w.detach(), start) else (w**2).sum() * float("inf")
        loss.backward()
        return loss

    opt.step(closure)
    assert not torch.equal(w.detach(), start)
    opt.step(closure)
    assert torch.equal(w.detach(), start)
