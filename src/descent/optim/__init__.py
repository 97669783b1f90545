"""descent.optim: the lecture's optimizers as torch.optim.Optimizer subclasses, and their registry."""

from .registry import LECTURE_ORDER, OPTIMIZERS, OptimizerEntry, build, get

__all__ = ["LECTURE_ORDER", "OPTIMIZERS", "OptimizerEntry", "build", "get"]
