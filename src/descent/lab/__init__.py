"""descent.lab: 2-D loss surfaces, optimizer trajectories on them and the lecture's scenes."""

from .functions import FUNCTIONS, Surface
from .functions import get as get_function
from .scenes import SCENES, Panel, Run, Scene, render, run_scene
from .trajectories import Trajectory, iterate, run, steps_to_minimum

__all__ = [
    "FUNCTIONS",
    "SCENES",
    "Panel",
    "Run",
    "Scene",
    "Surface",
    "Trajectory",
    "get_function",
    "iterate",
    "render",
    "run",
    "run_scene",
    "steps_to_minimum",
]
