"""Data-parallel training over N processes: torch's DistributedDataParallel, gloo on CPU, NCCL on CUDA.

Every rank draws the same seeded permutation, so batch k holds the same B examples as in the 1-process run;
rank r takes its share of it (``tensor_split``: sizes ``b_r`` differ by at most one). The loss of the batch is

    J = (1/B) sum_i l_i = sum_r (b_r / B) J_r,            J_r = (1/b_r) sum_{i in share r} l_i

Rank r back-propagates ``(N b_r / B) J_r`` and DDP averages the gradients over the N ranks:

    (1/N) sum_r (N b_r / B) grad J_r = grad J

so the N-rank step is the 1-process step up to float rounding, whatever ``B mod N``. The recorded loss is
all-reduced, ``J = sum_r b_r J_r / B``, and so are the epoch's correct counts. A penalty ``lambda R(W)`` added
on every rank is weighted the same way and sums to itself (``sum_r b_r / B = 1``).

Batch norm: plain DDP normalizes each share by its own moments (per-rank statistics over ``b_r`` examples,
running averages broadcast from rank 0), which is not the 1-process computation. ``--sync-batchnorm`` uses
``torch.nn.SyncBatchNorm`` on CUDA; on CPU (where torch's has no kernel) :class:`~.syncbn.MomentBatchNorm`
all-reduces the batch moments. Collectives time out after ``COLLECTIVE_TIMEOUT`` seconds
(``DESCENT_COLLECTIVE_TIMEOUT``), so a rank that stops answering fails the job instead of hanging it.

Processes are started by torch's elastic launcher (``torchrun``, or :func:`launch` for ``--nproc N``), which
sets RANK, WORLD_SIZE and LOCAL_RANK; this module writes no launcher of its own.

>>> plan_shares(examples=10, batch_size=4, world_size=2)  # batches of 4, 4, 2: every rank gets 1 or 2
[2, 1]
>>> Parallel(rank=1, world_size=2, local_rank=1, device=torch.device("cpu")).share(torch.arange(5))
tensor([3, 4])
"""

from __future__ import annotations

import os
import signal
import sys
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..errors import DescentError
from . import syncbn
from .plan import BatchPlan

COLLECTIVE_TIMEOUT = 120.0  # seconds; DESCENT_COLLECTIVE_TIMEOUT overrides it
EXIT_RANK_FAILED = 1
QUIET_RANKS = "DESCENT_QUIET_RANKS"  # set by launch(): the ranks leave the one error line to the launcher


def launched() -> bool:
    """True in a process started by torchrun or :func:`launch` (the launcher set WORLD_SIZE and RANK)."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def world_config(cfg: Any, parallel: Parallel | None, resume: bool) -> Any:
    """The run's configuration with its process count; a resumed run must keep the checkpoint's."""
    world = 1 if parallel is None else parallel.world_size
    if resume and cfg.run.world_size != world:
        raise DescentError(f"--resume: the checkpoint was written by {cfg.run.world_size} process(es) and this "
                           f"run has {world}; continue it with --nproc {cfg.run.world_size} (each process's "
                           "share of the batches and its batch-norm statistics depend on the count)")
    return cfg.replace(world_size=world)


def check_devices(device: torch.device, nproc: int) -> None:
    """NCCL needs one GPU per rank: refuse more local processes than CUDA devices."""
    if device.type == "cuda" and nproc > torch.cuda.device_count():
        raise ValueError(f"invalid nproc={nproc}: must be at most the {torch.cuda.device_count()} CUDA devices of "
                         "this host (NCCL needs one GPU per process); use --device cpu for gloo")


def check_config(closure: bool, optimizer: str, refused: dict[str, Any]) -> None:
    """Refuse by name what data parallelism cannot run: optimizers whose step re-evaluates the loss (a
    closure: L-BFGS, Newton) and the ``refused`` flags that are set (they evaluate the model on one rank
    between steps, outside the ranks' lockstep)."""
    for flag, value in refused.items():
        if value:
            raise DescentError(f"{flag} does not run with --nproc (it evaluates the model on one rank between "
                               "steps); drop one of the two")
    if closure:
        raise DescentError(f"--optimizer {optimizer} re-evaluates the full-batch loss inside its step (a closure) "
                           "and runs in one process; drop --nproc or pick a first-order optimizer")


def plan_shares(examples: int, batch_size: int, world_size: int) -> list[int]:
    """The largest and smallest share of any batch of an epoch (the last batch may be smaller)."""
    last = examples - (BatchPlan.make(examples, batch_size, 1, 0).steps_per_epoch - 1) * batch_size
    return [-(-min(batch_size, examples) // world_size), min(batch_size, last) // world_size]


@dataclass
class Parallel:
    """This process's place among the ranks, and the collectives the trainer needs."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    moments_group: Any = field(default=None, repr=False)  # the group the batch-norm moments go through

    @classmethod
    def start(cls, device: torch.device) -> Parallel:
        """Join the process group the launcher described (CUDA: this rank's own device, NCCL)."""
        rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
        if device.type == "cuda":
            device = torch.device("cuda", local_rank % torch.cuda.device_count())
            torch.cuda.set_device(device)
        timeout = timedelta(seconds=float(os.environ.get("DESCENT_COLLECTIVE_TIMEOUT", COLLECTIVE_TIMEOUT)))
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timeout)
        moments = dist.new_group(backend="gloo", timeout=timeout) if device.type == "cpu" else None
        return cls(rank, world_size, local_rank, device, moments)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def check(self, plan: BatchPlan, closure: bool, optimizer: str, refused: dict[str, Any]) -> None:
        """Refuse what data parallelism cannot run (:func:`check_config`) and shares without an example."""
        check_config(closure, optimizer, refused)
        smallest = plan_shares(plan.examples, plan.batch_size, self.world_size)[1]
        if smallest < 1:
            raise ValueError(f"invalid batch_size={plan.batch_size}: must give each of the {self.world_size} "
                             f"ranks at least one example of every batch ({plan.examples} training examples "
                             "leave a smaller last batch); pick another --batch-size or fewer processes")

    def share(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's share of a global batch of indices."""
        return batch.tensor_split(self.world_size)[self.rank]

    def weight(self, local: int, total: int) -> float:
        """The factor ``N b_r / B`` of this rank's loss before DDP averages the gradients."""
        return self.world_size * local / total

    def mean(self, value: torch.Tensor, local: int, total: int) -> torch.Tensor:
        """The global batch's mean from this rank's mean over ``local`` of ``total`` examples."""
        weighted = value.detach() * local
        dist.all_reduce(weighted)
        return weighted / total

    def sum(self, value: torch.Tensor) -> torch.Tensor:
        """``value`` summed over the ranks (a copy; ``value`` itself is left as it is)."""
        summed = value.detach().clone()
        dist.all_reduce(summed)
        return summed

    def sync_batchnorm(self, model: nn.Module) -> nn.Module:
        """Batch norm over the global batch: torch's SyncBatchNorm on CUDA, the moments all-reduced on CPU."""
        if self.device.type == "cuda":
            return nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return syncbn.convert(model, self.moments_group)

    def wrap(self, model: nn.Module) -> nn.Module:
        """The DDP module that all-reduces gradients during backward (same parameters as ``model``)."""
        ids = [self.device] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def record(self, error: BaseException) -> None:
        """Leave ``error`` in the launcher's error file (TORCHELASTIC_ERROR_FILE), where it reads the cause."""
        from torch.distributed.elastic.multiprocessing.errors import ErrorHandler

        if os.environ.get("TORCHELASTIC_ERROR_FILE"):
            ErrorHandler().record_exception(error)

    def close(self) -> None:
        """Leave the process group, if one was joined."""
        if dist.is_initialized():
            dist.destroy_process_group()


# ------------------------------------------------------------------------------------------ the launcher


class RankFailed(DescentError):
    """A rank of a launched job ended badly; ``exit_status`` is the job's."""

    def __init__(self, message: str, exit_status: int, rank: int) -> None:
        super().__init__(message)
        self.exit_status, self.rank = exit_status, rank


def launch(nproc: int, argv: list[str], nnodes: int = 1, rdzv_endpoint: str = "localhost:0") -> None:
    """Run ``python -m descent *argv`` in ``nproc`` processes on this host through torch's elastic launcher
    (c10d rendezvous; no restarts: a failed rank ends the job). Raises :class:`RankFailed` naming the rank.
    """
    import logging

    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # the one line is ours
    os.environ[QUIET_RANKS] = "1"
    config = LaunchConfig(min_nodes=nnodes, max_nodes=nnodes, nproc_per_node=nproc, run_id=str(uuid.uuid4()),
                          rdzv_backend="c10d", rdzv_endpoint=rdzv_endpoint, max_restarts=0,
                          monitor_interval=0.2, start_method="spawn")
    try:
        elastic_launch(config, sys.executable)("-m", "descent", *argv)
    except ChildFailedError as e:
        raise RankFailed(*describe_failure(e.failures)) from None


def describe_failure(failures: dict[int, Any]) -> tuple[str, int, int]:
    """One line naming the rank that ended the job (a rank killed by a signal other than the launcher's
    SIGTERM first, then one that exited with an error), the job's exit status, and the rank."""
    def killed(f: Any) -> bool:
        return f.exitcode < 0 and -f.exitcode != signal.SIGTERM

    rank, f = min(failures.items(), key=lambda item: (not killed(item[1]), item[1].exitcode < 0, item[0]))
    if f.exitcode < 0:
        return (f"rank {rank} (pid {f.pid}) was killed by {f.signal_name()}; the job stopped its other ranks",
                EXIT_RANK_FAILED, rank)
    cause = f.message.get("message", "") if isinstance(f.message, dict) else ""  # written by Parallel.record
    because = f": {' '.join(str(cause).split())}" if cause else ""
    return f"rank {rank} (pid {f.pid}) exited with status {f.exitcode}{because}", f.exitcode, rank
