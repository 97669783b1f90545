"""Training: the minibatch trainer, its callbacks, checkpoints and the whole `descent train` job."""

from .callbacks import Callback, StopTraining
from .config import TrainConfig
from .run import run_training
from .trainer import Trainer

__all__ = ["Callback", "StopTraining", "TrainConfig", "Trainer", "run_training"]
