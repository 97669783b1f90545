"""Data-parallel training with real torch.distributed processes (gloo, spawned by torch's elastic launcher or
torchrun), checked against the 1-process run of the same configuration: the per-iteration losses of the
global batches agree to float rounding (relative 1e-4), batch norm included with --sync-batchnorm."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from launched import descent, finish, free_port, rank_pid, wait_for

from descent.config import TrainConfig
from descent.errors import DescentError
from descent.train import run_training
from descent.train.checkpoint import load
from descent.train.distributed import Parallel, check_config, describe_failure, plan_shares

# spiral: 810 training examples; batches of 47 split 24/23 between 2 ranks, the last batch of 11 into 6/5
FLAGS = dict(data="spiral", model="mlp", batch_size=47, threads=1)


def _flags(**values: object) -> list[str]:
    argv = []
    for name, value in values.items():
        flag = "--" + name.replace("_", "-")
        argv += [flag] if value is True else [flag, str(value)]
    return argv


def _losses(folder: Path) -> list[float]:
    with open(folder / "losses.csv", newline="") as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


def _same_losses(got: list[float], want: list[float]) -> None:
    assert len(got) == len(want)
    worst = max(abs(a - b) / abs(b) for a, b in zip(got, want))
    assert worst <= 1e-4, f"largest relative difference {worst:.2e} over {len(want)} steps"


@pytest.mark.slow
def test_killed_rank_ends_the_job_and_resume_matches_one_process(tmp_path):
    """2 ranks vs 1 process (losses of every step), a rank killed mid-run: one line naming it, non-zero exit
    within seconds, and --resume --nproc 2 finishes the run on the same losses as the uninterrupted 1-process
    run. A resume with another process count is refused. A schedule, EMA and the monitor run along."""
    values = dict(FLAGS, epochs=8, schedule="cosine", ema=0.99)
    one = run_training(TrainConfig.of(**values), tmp_path / "one")
    out = tmp_path / "two"
    job = descent("train", "--nproc", 2, "--out", out, *_flags(**values))
    wait_for(lambda: (out / "checkpoint.pt").exists() or job.poll() is not None, what="the first checkpoint")
    pid = wait_for(lambda: rank_pid(1, str(out)), timeout=10, what="rank 1's process")
    os.kill(pid, signal.SIGKILL)
    code, _, err = finish(job, timeout=30)
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1, err
    assert f"rank 1 (pid {pid}) was killed by SIGKILL" in lines[0] and "--resume --nproc 2" in lines[0]
    assert not (out / "metrics.json").exists()  # it did not finish

    code, stdout, err = finish(descent("train", "--out", out, "--resume", "--nproc", 2))
    assert code == 0, err
    assert "test accuracy" in stdout
    _same_losses(_losses(out), _losses(tmp_path / "one"))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["epochs_run"] == 8 == one["epochs_run"]
    assert set(metrics["ema"]) == set(one["ema"]) and metrics["ema"]["decay"] == 0.99
    assert metrics["config"]["run"]["world_size"] == 2

    with pytest.raises(DescentError, match="written by 2 process.*--nproc 2"):
        run_training(None, out, resume=True)


@pytest.mark.slow
def test_sync_batchnorm_on_cpu_matches_one_process(tmp_path):
    """The all-reduced batch moments give the 1-process losses and running statistics (with the fused C++
    optimizer step and a snapshot ensemble)."""
    values = dict(FLAGS, batchnorm=True, optimizer="momentum", lr=0.05, epochs=2, snapshots=2)
    run_training(TrainConfig.of(**values, hyper={"fused": True}), tmp_path / "one")
    out = tmp_path / "two"
    code, _, err = finish(descent("train", "--nproc", 2, "--sync-batchnorm", "--out", out, "--hyper", "fused=true",
                                  *_flags(**values)))
    assert code == 0, err
    _same_losses(_losses(out), _losses(tmp_path / "one"))
    want, got = load(tmp_path / "one" / "checkpoint.pt")["model"], load(out / "checkpoint.pt")["model"]
    stats = [name for name in want if "running" in name]
    assert stats
    for name in stats:
        torch.testing.assert_close(got[name], want[name], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_two_nodes_through_torchrun_c10d_rendezvous(tmp_path):
    """`torchrun --nnodes 2` twice on localhost (one process per "node"), a c10d rendezvous between them."""
    epochs = 2
    run_training(TrainConfig.of(**FLAGS, epochs=epochs), tmp_path / "one")
    out, endpoint = tmp_path / "two", f"127.0.0.1:{free_port()}"
    nodes = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes", "2",
                               "--nproc-per-node", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint,
                               "--rdzv-id", "two-nodes", "--max-restarts", "0", "-m", "descent", "train",
                               "--out", out, *_flags(**FLAGS, epochs=epochs)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [finish(node) for node in nodes]
    assert all(code == 0 for code, _, _ in results), [err[-1500:] for _, _, err in results]
    assert sum("test accuracy" in stdout for _, stdout, _ in results) == 1  # rank 0 alone reports
    _same_losses(_losses(out), _losses(tmp_path / "one"))
    assert json.loads((out / "metrics.json").read_text())["world_size"] == 2


_STALLED = textwrap.dedent("""
    import os, sys, time, torch, torch.distributed as dist
    from descent.train.distributed import Parallel
    parallel = Parallel.start(torch.device("cpu"))
    if parallel.rank == 1:
        time.sleep(60)  # never joins the collective
    t0 = time.monotonic()
    try:
        dist.all_reduce(torch.ones(1))
    except Exception as e:
        print(f"failed after {time.monotonic() - t0:.1f}s: {type(e).__name__}", flush=True)
        os._exit(3)
""")


@pytest.mark.slow
def test_a_collective_that_no_peer_joins_times_out(tmp_path):
    """DESCENT_COLLECTIVE_TIMEOUT bounds every collective: a rank that never answers fails its peer."""
    script = tmp_path / "stalled.py"
    script.write_text(_STALLED)
    port = free_port()
    procs = [subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, "RANK": str(r), "WORLD_SIZE": "2", "LOCAL_RANK": str(r),
                                              "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                                              "DESCENT_COLLECTIVE_TIMEOUT": "3"}) for r in range(2)]
    code, out, err = finish(procs[0], timeout=60)
    procs[1].kill()
    procs[1].communicate()
    assert code == 3, err[-1500:]
    seconds = float(out.split("after ")[1].split("s")[0])
    assert 2.5 <= seconds <= 30


def test_refusals_name_what_cannot_run_in_parallel():
    with pytest.raises(DescentError, match="--optimizer lbfgs .* closure"):
        check_config(True, "lbfgs", {})
    with pytest.raises(DescentError, match="--sharpness-every does not run with --nproc"):
        check_config(False, "sgd", {"--sharpness-every": 5})
    parallel = Parallel(rank=0, world_size=4, local_rank=0, device=torch.device("cpu"))
    from descent.train.plan import BatchPlan

    with pytest.raises(ValueError, match="invalid batch_size=8: must give each of the 4 ranks"):
        parallel.check(BatchPlan.make(10, 8, 1, 0), False, "sgd", {})  # the last batch has 2 examples
    parallel.check(BatchPlan.make(12, 8, 1, 0), False, "sgd", {})  # 8 and 4: every rank has one


def test_shares_cover_the_global_batch_exactly():
    batch = torch.randperm(23)
    shares = [Parallel(r, 3, r, torch.device("cpu")).share(batch) for r in range(3)]
    assert torch.equal(torch.cat(shares), batch) and [len(s) for s in shares] == [8, 8, 7]
    assert plan_shares(810, 47, 2) == [24, 5]
    weights = [Parallel(r, 3, r, torch.device("cpu")).weight(len(s), 23) for r, s in enumerate(shares)]
    assert sum(weights) / 3 == pytest.approx(1.0)  # DDP's average of the weighted losses is the batch mean


def test_failure_names_the_killed_rank_not_the_ranks_stopped_after_it(tmp_path):
    from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

    missing = str(tmp_path / "none.json")  # a killed process leaves no error file
    stopped, killed = ProcessFailure(0, 10, -signal.SIGTERM, missing), ProcessFailure(1, 11, -signal.SIGKILL, missing)
    line, status, rank = describe_failure({0: stopped, 1: killed})
    assert (rank, status) == (1, 1) and line.startswith("rank 1 (pid 11) was killed by SIGKILL")
    error_file = tmp_path / "error.json"
    error_file.write_text(json.dumps({"message": {"message": "RuntimeError: gloo\nread error",
                                                  "extraInfo": {"timestamp": "1"}}}))
    line, status, rank = describe_failure({0: stopped, 1: ProcessFailure(1, 11, 1, str(error_file))})
    assert (rank, status) == (1, 1) and line == "rank 1 (pid 11) exited with status 1: RuntimeError: gloo read error"


def test_nproc_refuses_before_starting_any_process(run_cli, tmp_path):
    out = tmp_path / "never"
    code, _, err = run_cli("train", "--nproc", 2, "--optimizer", "lbfgs", "--data", "spiral", "--out", out)
    assert code == 2 and err.count("\n") == 1 and "--optimizer lbfgs re-evaluates" in err
    code, _, err = run_cli("train", "--nproc", 0, "--out", out)
    assert code == 2 and "invalid --nproc='0': must be a positive integer" in err
    assert not out.exists()
