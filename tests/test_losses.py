"""descent.losses against independent truth: torch's multi_margin_loss and cross_entropy, autograd through a
plain formula, and a NumPy transcription of the notes' SVM gradient with respect to W."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from descent import losses


def _data(seed=0, n=7, classes=5):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(n, classes, generator=g, dtype=torch.float64)
    return scores, torch.randint(0, classes, (n,), generator=g)


@pytest.mark.parametrize("margin", [0.0, 0.5, 1.0, 3.0])
def test_svm_loss_equals_torch_multi_margin_times_classes(margin):
    scores, y = _data()
    expected = F.multi_margin_loss(scores, y, p=1, margin=margin) * scores.shape[1]
    torch.testing.assert_close(losses.svm_loss(scores, y, margin=margin), expected)


def test_svm_hand_backward_equals_autograd_of_plain_formula():
    scores, y = _data(seed=1)
    s1 = scores.clone().requires_grad_(True)
    losses.svm_loss(s1, y).backward()
    s2 = scores.clone().requires_grad_(True)
    margins = (s2 - s2[torch.arange(len(y)), y].unsqueeze(1) + 1.0).clamp_min(0)
    plain = (margins.sum() - margins[torch.arange(len(y)), y].sum()) / len(y)
    plain.backward()
    torch.testing.assert_close(s1.grad, s2.grad)


def test_svm_gradient_wrt_W_matches_numpy_transcription_of_the_notes():
    rng = np.random.default_rng(0)
    N, D, C = 9, 4, 3
    X, W = rng.normal(size=(N, D)), rng.normal(size=(C, D))
    y = rng.integers(0, C, size=N)
    # The notes, per example: grad w_j += 1(w_j x - w_y x + 1 > 0) x (j != y); grad w_y -= (count) x.
    dW = np.zeros_like(W)
    for i in range(N):
        s = W @ X[i]
        for j in range(C):
            if j != y[i] and s[j] - s[y[i]] + 1 > 0:
                dW[j] += X[i]
                dW[y[i]] -= X[i]
    dW /= N
    Wt = torch.tensor(W, requires_grad=True)
    losses.svm_loss(torch.tensor(X) @ Wt.T, torch.tensor(y)).backward()
    np.testing.assert_allclose(Wt.grad.numpy(), dW, rtol=1e-12, atol=1e-12)


def test_svm_passes_torch_gradcheck_and_scales_with_upstream_gradient():
    scores, y = _data(seed=2)
    assert torch.autograd.gradcheck(lambda s: losses.svm_loss(s, y), (scores.clone().requires_grad_(True),))
    s = scores.clone().requires_grad_(True)
    (3.0 * losses.svm_loss(s, y)).backward()
    s0 = scores.clone().requires_grad_(True)
    losses.svm_loss(s0, y).backward()
    torch.testing.assert_close(s.grad, 3.0 * s0.grad)


def test_softmax_loss_equals_numpy_log_softmax():
    scores, y = _data(seed=3)
    s = scores.numpy()
    log_p = s - s.max(1, keepdims=True) - np.log(np.exp(s - s.max(1, keepdims=True)).sum(1, keepdims=True))
    expected = -log_p[np.arange(len(y)), y.numpy()].mean()
    assert float(losses.softmax_loss(scores, y)) == pytest.approx(expected, rel=1e-12)


def test_get_returns_the_losses_and_rejects_unknown_names():
    assert losses.get("svm") is losses.svm_loss
    assert losses.get("SoftMax") is losses.softmax_loss
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        losses.get("hinge")


@pytest.mark.parametrize("scores, y, message", [
    (torch.zeros(3), torch.zeros(3, dtype=torch.long), "scores must be"),
    (torch.zeros(3, 4), torch.zeros(2, dtype=torch.long), "y must be 3 integer labels"),
    (torch.zeros(3, 4), torch.zeros(3), "y must be"),
    (torch.zeros(3, 4), torch.tensor([0, 1, 4]), r"labels must lie in \[0, 4\)"),
])
def test_bad_input_raises_value_error(scores, y, message):
    for loss in (losses.svm_loss, losses.softmax_loss):
        with pytest.raises(ValueError, match=message):
            loss(scores, y)


def test_negative_margin_is_rejected():
    scores, y = _data()
    with pytest.raises(ValueError, match="margin=-1"):
        losses.svm_loss(scores, y, margin=-1)
