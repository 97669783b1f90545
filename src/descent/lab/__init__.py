"""descent.lab: 2-D loss surfaces, optimizer trajectories on them and the lecture's scenes."""

from .functions import FUNCTIONS, Surface
from .functions import get as get_function
from .trajectories import Trajectory, iterate, run, steps_to_minimum

__all__ = ["FUNCTIONS", "Surface", "Trajectory", "get_function", "iterate", "run", "steps_to_minimum"]
