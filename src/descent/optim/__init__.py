"""descent.optim: the lecture's optimizers as torch.optim.Optimizer subclasses, and their registry."""

from .adadelta import AdaDelta
from .adagrad import AdaGrad
from .adam import Adam, AdamW
from .lbfgs import LBFGS
from .newton import Newton
from .registry import LECTURE_ORDER, OPTIMIZERS, OptimizerEntry, build, get
from .rmsprop import RMSProp
from .sgd import SGD, Momentum, Nesterov

__all__ = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam", "AdamW", "LBFGS", "Newton",
           "LECTURE_ORDER", "OPTIMIZERS", "OptimizerEntry", "build", "get"]
