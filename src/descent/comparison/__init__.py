"""descent.comparison: the protocol behind ``descent compare`` and :func:`descent.compare` (tuning budget per
optimizer, seeds with confidence intervals, time to target, performance profiles, the user's own model and
data). :mod:`.protocol` runs it; :mod:`.space` the tuning space, :mod:`.studies` the Optuna studies,
:mod:`.runner` one run, :mod:`.workload` data and models, :mod:`.results` the tables, :mod:`.stats` the t
intervals and Welch's test, :mod:`.profile` the Dolan-Moré profiles."""

from .protocol import BASE, compare, write_outputs
from .stats import summarize, t_quantile, welch_p_value

__all__ = ["BASE", "compare", "summarize", "t_quantile", "welch_p_value", "write_outputs"]
