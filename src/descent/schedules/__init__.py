"""Learning-rate decay: pure functions of the step count t, composed with `warmup` and `join`.

Every constructor returns a :class:`Schedule`, a callable ``t -> lr`` for t = 0, 1, 2, ... that also carries
``base_lr`` (the rate the schedule is scaled from) and ``spec`` (its compact spelling, so that
``parse(s.spec, s.base_lr)`` rebuilds it). :class:`LRSchedule` is the thin adapter that writes
``schedule(t)`` into a torch optimizer's param groups; since the lr is a pure function of t, resuming from a
``state_dict`` is exact by construction. The unit of t (optimizer steps or epochs) is the caller's choice.

The lecture's decays (CS231n lecture 7): step decay, exponential ``a = a0 exp(-k t)``,
1/t ``a = a0 / (1 + k t)``, plus cosine annealing and warm restarts (Loshchilov & Hutter, "SGDR: Stochastic
Gradient Descent with Warm Restarts", 2017), the cyclic schedule snapshot ensembles use (Huang et al.,
"Snapshot Ensembles: Train 1, Get M for Free", 2017).

The package: :mod:`.functions` (the closed forms and their composition), :mod:`.parse` (the compact
spelling of ``--schedule``), :mod:`.adapter` (:class:`LRSchedule`). Import from here: the name ``parse`` is
the function, which hides the submodule of the same name (use ``importlib.import_module`` to reach it).
"""

from .adapter import LRSchedule
from .functions import (
    Schedule,
    constant,
    cosine_decay,
    cosine_restarts,
    cycle_ends,
    exponential_decay,
    inverse_time_decay,
    join,
    multistep_decay,
    step_decay,
    warmup,
)
from .parse import SPEC_HELP, ScheduleSpec, parse, parse_spec

__all__ = [
    "Schedule", "constant", "step_decay", "multistep_decay", "exponential_decay", "inverse_time_decay",
    "cosine_decay", "cosine_restarts", "cycle_ends", "warmup", "join", "LRSchedule", "parse", "SPEC_HELP",
    "parse_spec", "ScheduleSpec",
]
