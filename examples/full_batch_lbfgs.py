"""Full-batch second-order training: L-BFGS and Newton on L2-regularised softmax regression (digits).

    python examples/full_batch_lbfgs.py
"""

import torch

from descent import data
from descent.optim import LBFGS, Newton

splits = data.load("digits", seed=0, val_fraction=0.0)
x, y = splits.train[0].flatten(1).double(), splits.train[1]

for Optimizer, kwargs in ((LBFGS, {"line_search_fn": "strong_wolfe", "max_iter": 200}), (Newton, {"max_iter": 10})):
    W = torch.zeros(64, 10, dtype=torch.float64, requires_grad=True)
    optimizer = Optimizer([W], **kwargs)
    evaluations = 0

    def closure():
        global evaluations
        evaluations += 1
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ W, y) + 1e-3 * (W**2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)      # returns the loss at the start, as torch.optim.LBFGS does
    loss = closure()             # the loss where it stopped
    print(f"{Optimizer.__name__:6s} loss {loss.item():.6f}  max |grad| {W.grad.abs().max():.1e}  "
          f"function evaluations {evaluations}")
