"""What each sub-command needs beyond the core (torch, numpy), checked before it does any work.

``pip install descent`` gives the library; the ``descent`` command draws pictures, reads the shipped datasets,
searches with Optuna..., which the ``lab`` extra installs (``pip install 'descent[lab]'``). A command started
without one of the packages it will use stops at once with one line naming the command, the missing packages
and the install line that brings them, instead of failing after its work (a ``curves.png`` that cannot be
drawn after the whole training run).

:data:`NEEDS` maps each command (``"lab trajectories"`` for a lab topic) to a function of its parsed
arguments that returns the modules it will import; :data:`PACKAGES` names the distribution and the extra of
each. Packages a command only uses when present (tqdm's progress bar) are not needs.

>>> import argparse
>>> sorted(NEEDS["train"](argparse.Namespace(data="digits", tensorboard=True)))
['matplotlib', 'sklearn', 'tensorboard']
>>> install_line({"matplotlib", "optuna"})
"pip install 'descent[lab]'"
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path

from ..config import TrainConfig
from ..data import KINDS
from ..errors import DescentError
from ..train import checkpoint
from ._config import config_from_args

# importable module -> (distribution on PyPI, the extra of pyproject.toml that installs it)
PACKAGES = {
    "matplotlib": ("matplotlib", "plot"),
    "PIL": ("pillow", "plot"),
    "mnist1d": ("mnist1d", "data"),
    "sklearn": ("scikit-learn", "data"),
    "optuna": ("optuna", "search"),
    "scipy": ("scipy", "compare"),
    "kornia": ("kornia", "augment"),
    "tensorboard": ("tensorboard", "tensorboard"),
    "psycopg": ("psycopg", "postgres"),
}
LAB = ("plot", "data", "search", "compare", "augment", "progress")  # what the `lab` extra gathers (pyproject.toml)
DATASETS = {"mnist1d": {"mnist1d"}, "digits": {"sklearn"}}  # the others are generated or read from files
PICTURES = {"matplotlib"}


def training_config(args: argparse.Namespace) -> TrainConfig | None:
    """The configuration a training command's flags describe (on ``--resume``, its checkpoint's); None if it
    cannot be read, in which case the command itself reports why."""
    try:
        if getattr(args, "config_json", None):
            return TrainConfig.from_dict(json.loads(args.config_json))
        if getattr(args, "resume", False):
            return TrainConfig.from_dict(checkpoint.load(Path(args.out) / "checkpoint.pt")["config"])
        return config_from_args(args, TrainConfig())
    except (DescentError, ValueError, OSError, KeyError, TypeError):
        return None


def training(args: argparse.Namespace) -> set[str]:
    """train, compare, search: pictures, the dataset's package, kornia for image augmentation, TensorBoard."""
    cfg = training_config(args)
    if cfg is None:
        return set(PICTURES)
    d = cfg.data
    image_augment = d.augment not in (None, "none") and KINDS.get(d.name) == "image"
    return (PICTURES | DATASETS.get(d.name, set()) | ({"kornia"} if image_augment else set())
            | ({"tensorboard"} if cfg.run.tensorboard else set()))


def _storage(args: argparse.Namespace) -> set[str]:
    """Optuna, and the PostgreSQL driver for a ``--storage postgresql://...`` study."""
    url = str(getattr(args, "storage", None) or "")
    return {"optuna"} | ({"psycopg"} if url.startswith("postgresql") else set())


def _pictures(args: argparse.Namespace) -> set[str]:
    return set(PICTURES)


def _nothing(args: argparse.Namespace) -> set[str]:
    return set()


NEEDS: dict[str, Callable[[argparse.Namespace], set[str]]] = {
    "train": training,
    "compare": lambda args: training(args) | _storage(args) | {"scipy"},
    "search": lambda args: training(args) | _storage(args),
    "ensemble": _nothing,  # each run's dataset is loaded first thing; its package is named then
    "gradcheck": _nothing,
    "lr-find": training,  # a short training run per rate, and its plot
    "lab trajectories": lambda args: PICTURES | ({"PIL"} if getattr(args, "gif", False) else set()),
    "lab schedules": _pictures,
    "lab init": _pictures,
    "lab explore": _pictures,
    "lab sharpness": lambda args: PICTURES | DATASETS["mnist1d"],
    "lab landscape": _pictures,
}


def command_name(args: argparse.Namespace) -> str:
    """``train``, or ``lab trajectories`` for a lab topic: the key of :data:`NEEDS`."""
    topic = getattr(args, "topic", None)
    return f"{args.command} {topic}" if topic else args.command


def missing(args: argparse.Namespace) -> list[str]:
    """The modules the parsed command needs that cannot be imported here, sorted."""
    needs = NEEDS.get(command_name(args), _nothing)(args)
    return sorted(m for m in needs if importlib.util.find_spec(m) is None)


def install_line(modules: set[str] | list[str]) -> str:
    """The one pip line that installs ``modules``: the ``lab`` extra, plus any extra outside it."""
    extras = ["lab", *sorted({PACKAGES[m][1] for m in modules} - set(LAB))]
    return f"pip install 'descent[{','.join(extras)}]'"


def message(absent: list[str]) -> str:
    """One line: the missing distributions and the pip line that installs them."""
    return f"needs {', '.join(PACKAGES[m][0] for m in absent)}, not installed here: {install_line(absent)}"
