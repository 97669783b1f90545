"""`descent lab sharpness`: the edge of stability (Cohen et al. 2021) on a shorter run than the default, the
verdict rule on hand-made rows, and bad input."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from descent.lab.sharpness import Experiment, gradient_descent, network, problem, verdict


def test_the_verdict_reads_the_paper_s_two_observations():
    limit_rows = [{"step": 0, "sharpness": 2.0}, {"step": 100, "sharpness": 8.5}, {"step": 200, "sharpness": 10.9},
                  {"step": 300, "sharpness": 12.5}, {"step": 400, "sharpness": 10.2}]
    v = verdict(limit_rows, lr=0.2)  # 2/lr = 10
    assert (v["peak_ratio"], v["second_half_max_ratio"], v["first_step_at_reach"]) == (1.25, 1.25, 100)
    assert v["edge_of_stability"]
    assert not verdict([*limit_rows, {"step": 500, "sharpness": 14.0}], lr=0.2)["stays"]
    assert not verdict([{"step": s, "sharpness": 5.0} for s in range(0, 500, 100)], lr=0.2)["reaches"]


def test_the_first_estimate_is_the_initial_sharpness_of_the_full_loss():
    exp = Experiment(lrs=(0.1,), steps=1, every=1, examples=60, width=6, depth=1)
    x, y = problem(exp)
    rows = gradient_descent(exp, 0.1, x, y)
    model = network(exp, x.shape[1], int(y.max()) + 1)
    targets = torch.nn.functional.one_hot(y, 10).double()
    params = list(model.parameters())
    sizes = [p.numel() for p in params]

    def loss(w):
        chunks = torch.split(w, sizes)
        W1, b1, W2, b2 = (c.view_as(p) for c, p in zip(chunks, params))
        scores = torch.tanh(x @ W1.T + b1) @ W2.T + b2
        return 0.5 * ((scores - targets) ** 2).sum(dim=1).mean()

    dense = torch.autograd.functional.hessian(loss, torch.cat([p.detach().reshape(-1) for p in params]))
    assert rows[0]["sharpness"] == pytest.approx(float(torch.linalg.eigvalsh(dense)[-1]), rel=1e-6)


@pytest.mark.slow
def test_full_batch_gradient_descent_reaches_the_edge_of_stability(tmp_path, run_cli):
    code, out, err = run_cli("lab", "sharpness", "--out", tmp_path, "--lrs", "0.25,0.3", "--steps", "600",
                             "--every", "50")
    assert code == 0, err
    summary = json.loads((tmp_path / "sharpness.json").read_text())
    for rate in summary["rates"]:  # rises to >= 0.8 x 2/lr, and the second half stays <= 1.3 x 2/lr
        assert rate["initial_ratio"] < 0.8 <= rate["peak_ratio"], rate
        assert rate["second_half_max_ratio"] <= 1.3, rate
    assert summary["edge_of_stability"]
    with open(tmp_path / "sharpness.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["lr", "step", "loss", "sharpness"] and len(rows) == 2 * 13
    assert (tmp_path / "sharpness.png").is_file()


def test_bad_rates_are_refused_without_a_folder(tmp_path, run_cli):
    code, _, err = run_cli("lab", "sharpness", "--out", tmp_path / "eos", "--lrs", "0.1,-2")
    assert code == 2 and err.count("\n") == 1 and "invalid --lrs" in err
    assert not (tmp_path / "eos").exists()
