"""Training: the minibatch trainer, its callbacks (learning rate, checkpoints, monitor, ensembles), and the
whole `descent train` job."""

from .callbacks import Callback, Checkpointing, StopTraining
from .job import run_training
from .lr import LearningRate
from .plan import BatchPlan
from .resolve import Job, resolve
from .sanity import overfit_check
from .trainer import Trainer

__all__ = ["BatchPlan", "Callback", "Checkpointing", "Job", "LearningRate", "StopTraining", "Trainer",
           "overfit_check", "resolve", "run_training"]
