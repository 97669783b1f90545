"""Random and grid search over hyperparameters through Optuna: :mod:`.space` parses and narrows search
spaces, :mod:`.study` runs the trials in a study on disk that loses nothing when a worker dies."""

from .space import Dimension, grid_points, narrow, parse_space
from .study import (
    HEARTBEAT,
    METHODS,
    STUDY_NAME,
    best_row,
    collect_rows,
    default_storage,
    open_storage,
    run_search,
    study_rows,
)

__all__ = ["HEARTBEAT", "METHODS", "STUDY_NAME", "Dimension", "best_row", "collect_rows", "default_storage",
           "grid_points", "narrow", "open_storage", "parse_space", "run_search", "study_rows"]
