"""The explorer's data: the paths stored in explore.html equal closed forms and torch.optim's iterates; the page
is self-contained and bounded in size; the command line writes it or refuses with one line."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest
import torch

from descent.errors import DescentError
from descent.lab import explore

CURVATURE = np.array([0.1, 2.0])  # x^2/20 + y^2 = (0.1 x^2 + 2 y^2) / 2


def page_data(page: str) -> tuple[dict, np.ndarray]:
    """The JSON the page embeds and its float32 (x, y, f) triples, decoded independently of the page's code."""
    text = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S).group(1)
    data = json.loads(text.replace("<\\/", "</"))
    return data, np.frombuffer(base64.b64decode(data["points"]), dtype="<f4")


def stored_path(data: dict, points: np.ndarray, key: str) -> tuple[np.ndarray, int | None, int]:
    offset, n, reached, diverged = data["index"][key]
    return points[offset: offset + 3 * n].reshape(n, 3), reached, diverged


def first_within(xy: np.ndarray, tol: float = 1e-3) -> int | None:
    hits = np.nonzero(np.linalg.norm(xy, axis=1) <= tol)[0]
    return int(hits[0]) if len(hits) else None


@pytest.fixture(scope="module")
def quadratic_page() -> tuple[dict, np.ndarray]:
    grid = explore.Grid(functions=("quadratic",), optimizers=("sgd", "momentum", "adam"), lrs=(0.1, 0.9),
                        noises=(0.0, 1.0), steps=60)
    return page_data(explore.build_page(grid))


def test_sgd_paths_are_the_closed_form(quadratic_page):
    data, points = quadratic_page
    for lr in (0.1, 0.9):
        for start in [(-7.0, 2.0), (7.0, -0.5)]:
            key = f"quadratic|{start[0]:g},{start[1]:g}|sgd|{lr:g}||0"
            triples, reached, diverged = stored_path(data, points, key)
            expected = np.array(start) * (1 - lr * CURVATURE) ** np.arange(61)[:, None]
            np.testing.assert_allclose(triples[:, :2], expected, rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(triples[:, 2], expected[:, 0] ** 2 / 20 + expected[:, 1] ** 2,
                                       rtol=1e-5, atol=1e-7)
            assert reached == first_within(expected) and diverged == 0


def torch_path(lr: float, steps: int, start, make) -> np.ndarray:
    theta = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimizer = make([theta], lr)
    out = [theta.detach().clone()]
    for _ in range(steps):
        optimizer.zero_grad()
        (theta[0] ** 2 / 20 + theta[1] ** 2).backward()
        optimizer.step()
        out.append(theta.detach().clone())
    return torch.stack(out).numpy()


@pytest.mark.parametrize("optimizer, knob, make", [
    ("momentum", 0.5, lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.5)),
    ("momentum", 0.99, lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.99)),
    ("adam", 0.5, lambda p, lr: torch.optim.Adam(p, lr=lr, betas=(0.5, 0.999))),
    ("adam", 0.9, lambda p, lr: torch.optim.Adam(p, lr=lr, betas=(0.9, 0.999))),
])
def test_momentum_and_adam_paths_are_torch_optims(quadratic_page, optimizer, knob, make):
    data, points = quadratic_page
    key = f"quadratic|-7,2|{optimizer}|0.1|{knob:g}|0"
    triples, reached, _ = stored_path(data, points, key)
    expected = torch_path(0.1, 60, (-7.0, 2.0), make)
    np.testing.assert_allclose(triples[:, :2], expected, rtol=1e-5, atol=1e-5)
    assert reached == first_within(expected)


def test_noisy_paths_differ_and_the_grid_is_complete(quadratic_page):
    data, points = quadratic_page
    # sgd: 2 lrs; momentum, adam: 2 lrs x 3 knobs; all x 2 starts x 2 noise levels
    assert len(data["index"]) == (2 + 6 + 6) * 2 * 2
    clean, _, _ = stored_path(data, points, "quadratic|-7,2|sgd|0.1||0")
    noisy, _, _ = stored_path(data, points, "quadratic|-7,2|sgd|0.1||1")
    assert np.array_equal(clean[0], noisy[0]) and np.abs(clean[1:, :2] - noisy[1:, :2]).max() > 0.01
    assert data["lrs"] == ["0.1", "0.9"] and data["optimizers"]["adam"]["knob"] == "beta1"


def test_a_diverging_path_is_marked_and_stays_finite():
    grid = explore.Grid(functions=("quadratic",), optimizers=("sgd",), lrs=(1.5,), noises=(0.0,), steps=2000)
    data, points = page_data(explore.build_page(grid))
    triples, reached, diverged = stored_path(data, points, "quadratic|-7,2|sgd|1.5||0")
    # y_t = 2 (1 - 2 lr)^t = 2 (-2)^t, so f >= y_t^2 = 4^(t + 1) = 2^1024 overflows float64 at t = 511
    assert diverged == 1 and reached is None and len(triples) == 511
    assert np.isfinite(triples).all()


class _Loads(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.loaded += [v or "" for k, v in attrs if k == "src" or (k == "href" and tag == "link")]


def test_page_is_self_contained(tmp_path):
    grid = explore.Grid(functions=("saddle",), optimizers=("sgd",), lrs=(0.1,), noises=(0.0,), steps=5)
    path, count = explore.write(tmp_path / "out", grid)
    text = path.read_text(encoding="utf-8")
    parser = _Loads()
    parser.feed(text)
    assert parser.loaded == [] and count == 2
    assert not re.search(r"https?://|//cdn|@import", text)
    data, _ = page_data(text)
    assert data["surfaces"]["saddle"]["image"].startswith("data:image/png;base64,")
    assert data["surfaces"]["saddle"]["f_min"] is None


def test_oversized_grid_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(DescentError, match=r"more than 5 MB"):
        explore.write(tmp_path / "out", explore.Grid(steps=200))
    assert not (tmp_path / "out").exists()
    assert explore.Grid().size_bound() <= explore.MAX_BYTES  # the default page fits


def test_grid_values_are_checked():
    with pytest.raises(ValueError, match=r"^invalid optimizer='lbfgs': must be one of sgd, "):
        explore.Grid(optimizers=("lbfgs",))
    with pytest.raises(ValueError, match=r"^invalid lr=0: must be a positive finite number$"):
        explore.Grid(lrs=(0,))
    with pytest.raises(ValueError, match=r"^invalid steps=0: "):
        explore.Grid(steps=0)


def test_cli_writes_the_page(tmp_path, run_cli):
    code, out, err = run_cli("lab", "explore", "--out", tmp_path / "page", "--functions", "saddle",
                             "--optimizers", "sgd,adam", "--steps", "4")
    assert code == 0, err
    assert "wrote" in out and "(112 paths of 4 steps" in out  # 2 starts x (sgd 7 lrs + adam 7 x 3) x 2 noises
    assert (tmp_path / "page" / "explore.html").is_file()


@pytest.mark.parametrize("argv, message", [
    (["--functions", "quadratic,bogus"], "invalid --functions='quadratic,bogus': must be a comma-separated list"),
    (["--optimizers", ","], "invalid --optimizers=',': must be a comma-separated list"),
    (["--steps", "0"], "invalid --steps='0': must be a positive integer"),
    (["--steps", "1000"], "more than 5 MB"),
])
def test_cli_refuses_bad_input_without_a_folder(tmp_path, run_cli, argv, message):
    code, out, err = run_cli("lab", "explore", "--out", tmp_path / "page", *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "page").exists()
