"""Choose torch's intra-op thread count while training, by timing the steps themselves.

On a quiet machine every core helps a little; beside one busy process, torch's OpenMP threads wait for a core
the other process holds, spinning, and a run takes several times as long (the default recipe on 2 cores: 44 s
instead of 16 s with 2 threads, 24 s with 1). No fixed count is right for both, and a user's machine goes from
one to the other mid-run. So, every ``every`` steps, :class:`Threads` runs ``probe`` steps with each candidate
count, interleaved (``1, n, 1, n, ...``, so a change of load hits both alike), and keeps the count whose
median step time is lower until the next probe, switching only for a gain of more than ``margin``:

    m_k = median{ t_s : step s of the probe ran with k threads }
    k  <-  argmin_j m_j   if  min_j m_j < (1 - margin) m_k,   else k

Each step's time is the wall time from one ``on_batch_end`` to the next (the whole step and its callbacks);
the first step of an epoch, which follows the evaluation, is not timed. Numerics depend on the count a
little (a convolution's weight gradient is a sum over the batch that the threads split), so a run whose
count changed with the load matches a quiet run only to rounding; ``--threads N`` fixes the count for
bit-for-bit repeatable runs.

>>> governor = Threads(most=2)
>>> governor.candidates
(1, 2)
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import torch

from .callbacks import Callback


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and ``taskset`` restrict)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Threads(Callback):
    """Keep torch's thread count at whichever of ``1`` and ``most`` runs the current steps faster."""

    name = "threads"

    def __init__(self, most: int | None = None, probe: int = 4, every: int = 150, margin: float = 0.05) -> None:
        self.most = most if most is not None else available_cores()
        self.candidates = (1, self.most) if self.most > 1 else (1,)
        self.probe, self.every, self.margin = probe, every, margin
        self.times: dict[int, list[float]] = {}
        self.steps: dict[int, int] = dict.fromkeys(self.candidates, 0)
        self.chosen = self.candidates[-1]
        self.probes = 0
        self._until_probe = 0  # steps left before the next probe; a probe starts the run
        self._last: float | None = None
        self._before = torch.get_num_threads()

    def on_train_begin(self, trainer: Any) -> None:
        self._before = torch.get_num_threads()
        self._start_probe()

    def on_batch_end(self, trainer: Any, step: int, loss: float) -> None:
        now = time.perf_counter()
        current = torch.get_num_threads()
        self.steps[current] = self.steps.get(current, 0) + 1
        if self._last is not None and self.times:
            self.times.setdefault(current, []).append(now - self._last)
        if self.times:  # probing: next candidate, or decide once every candidate has its steps
            if all(len(self.times.get(k, ())) >= self.probe for k in self.candidates):
                self.chosen = self._decide({k: statistics.median(t) for k, t in self.times.items()})
                self.times, self._until_probe = {}, self.every
                torch.set_num_threads(self.chosen)
            else:
                torch.set_num_threads(self.candidates[(self.candidates.index(current) + 1) % len(self.candidates)])
        else:
            self._until_probe -= 1
            if self._until_probe <= 0:
                self._start_probe()
        self._last = time.perf_counter()

    def _decide(self, medians: dict[int, float]) -> int:
        """The fastest count; the current one stays unless another is ``margin`` faster (no flapping on noise,
        and a quiet machine keeps one thread count, so its runs repeat bit for bit)."""
        fastest = min(medians, key=medians.__getitem__)
        return fastest if medians[fastest] < (1 - self.margin) * medians[self.chosen] else self.chosen

    def on_epoch_end(self, trainer: Any, epoch: int, record: dict[str, Any]) -> None:
        self._last = None  # the evaluation is not a step

    def on_train_end(self, trainer: Any) -> None:
        torch.set_num_threads(self._before)

    def _start_probe(self) -> None:
        if len(self.candidates) == 1:
            self._until_probe = 1 << 62
            torch.set_num_threads(1)
            return
        self.times = {k: [] for k in self.candidates}
        self.probes += 1
        self._last = None
        torch.set_num_threads(self.candidates[0])

    def summary(self) -> dict[str, Any]:
        return {"chosen": self.chosen, "probes": self.probes,
                "steps_by_threads": {str(k): n for k, n in sorted(self.steps.items())}}
