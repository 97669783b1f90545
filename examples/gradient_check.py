"""The lecture's gradient check: the multiclass SVM loss's hand-derived gradient against the numerical one.

    python examples/gradient_check.py
"""

import torch

from descent import gradcheck
from descent.losses import svm_loss

torch.manual_seed(0)
x = torch.randn(5, 20, dtype=torch.float64)          # 5 examples, 20 features
y = torch.randint(0, 10, (5,))
W = 0.01 * torch.randn(20, 10, dtype=torch.float64)  # linear classifier s = x W

error = gradcheck.check(lambda w: svm_loss(x @ w, y), W)
print(f"SVM loss: largest relative error {error:.2e} -> {gradcheck.verdict(error)}")

numerical = gradcheck.numerical_gradient(lambda w: svm_loss(x @ w, y), W)
print(f"numerical gradient (centered, h=1e-5), first row: {numerical[0, :4].tolist()}")
