"""The one place a schedule meets torch: :class:`LRSchedule` writes ``schedule(t)`` into an optimizer."""

from __future__ import annotations

from collections.abc import Callable

from torch.optim.lr_scheduler import LRScheduler

from .. import checks


class LRSchedule(LRScheduler):
    """Set every param group's lr from a schedule: ``lr_group(t) = initial_lr_group * schedule(t) / base_lr``.

    ``base_lr`` defaults to ``schedule.base_lr``, so a one-group optimizer follows ``schedule(t)`` exactly
    and other groups keep their ratio to it. t is ``last_epoch``: the number of ``step()`` calls so far.
    ``state_dict`` holds only counters and rates (no callable; loads with ``torch.load(weights_only=True)``);
    ``load_state_dict`` rewrites the groups' lr from ``schedule(t)``, so a resumed run continues with the
    identical sequence whichever of optimizer and scheduler is restored first.

    >>> import torch
    >>> from descent.schedules import step_decay
    >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    >>> sched = LRSchedule(opt, step_decay(0.1, every=2, factor=0.5))
    >>> rates = []
    >>> for t in range(5):
    ...     rates.append(round(opt.param_groups[0]["lr"], 6))
    ...     opt.step()
    ...     sched.step()
    >>> rates
    [0.1, 0.1, 0.05, 0.05, 0.025]
    """

    def __init__(self, optimizer, schedule: Callable[[int], float], base_lr: float | None = None,
                 last_epoch: int = -1) -> None:
        base_lr = getattr(schedule, "base_lr", None) if base_lr is None else base_lr
        if base_lr is None:
            raise checks.invalid("base_lr", base_lr, "given for a schedule without a base_lr attribute")
        self.schedule, self.schedule_base_lr = schedule, checks.positive("base_lr", base_lr)
        self.schedule_spec = getattr(schedule, "spec", None)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        scale = self.schedule(self.last_epoch) / self.schedule_base_lr
        return [base * scale for base in self.base_lrs]

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "schedule")}

    def load_state_dict(self, state_dict: dict) -> None:
        saved, ours = state_dict.get("schedule_spec"), self.schedule_spec
        if saved is not None and ours is not None and saved != ours:
            raise ValueError(f"scheduler state was saved for schedule {saved!r}, not {ours!r} (a schedule "
                             f"spanning the whole run changes when the run's length does)")
        self.__dict__.update({k: v for k, v in state_dict.items() if k != "schedule_spec"})
        for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
