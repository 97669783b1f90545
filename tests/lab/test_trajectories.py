"""Trajectories against closed-form iterations and NumPy transcriptions of the notes; the scenes' outcomes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from descent.errors import DescentError
from descent.lab import run, scenes, steps_to_minimum

# x^2/20 + y^2 = (a_x x^2 + a_y y^2) / 2 with curvatures a_x = 1/10, a_y = 2.
CURVATURE = np.array([0.1, 2.0])
START = np.array([-7.0, 2.0])


def test_sgd_on_the_quadratic_is_the_closed_form_iteration():
    lr, steps = 0.3, 25
    path = run("quadratic", "sgd", lr=lr, steps=steps)
    t = np.arange(steps + 1)[:, None]
    expected = START * (1 - lr * CURVATURE) ** t  # x_{t+1} = (1 - lr a) x_t per coordinate
    np.testing.assert_allclose(path.points.numpy(), expected, rtol=1e-12, atol=1e-14)
    f = expected[:, 0] ** 2 / 20 + expected[:, 1] ** 2
    np.testing.assert_allclose(path.values.numpy(), f, rtol=1e-12)


def test_momentum_matches_the_notes_heavy_ball_loop():
    # The notes' loop: v = rho v + dx; x -= lr v  (rho = 0.9, the registry's default for "momentum").
    lr, steps, rho = 0.05, 40, 0.9
    x, v, expected = START.copy(), np.zeros(2), [START.copy()]
    for _ in range(steps):
        v = rho * v + CURVATURE * x
        x = x - lr * v
        expected.append(x.copy())
    path = run("quadratic", "momentum", lr=lr, steps=steps)
    np.testing.assert_allclose(path.points.numpy(), np.array(expected), rtol=1e-10, atol=1e-12)


def test_steps_to_minimum_matches_the_closed_form_count():
    lr = 0.3
    t = np.arange(2000)[:, None]
    distance = np.linalg.norm(START * (1 - lr * CURVATURE) ** t, axis=1)
    assert steps_to_minimum("quadratic", "sgd", lr=lr) == int(np.argmax(distance <= 1e-3))
    path = run("quadratic", "sgd", lr=lr, steps=300)
    assert path.steps_to(1e-3) == int(np.argmax(distance <= 1e-3))


def test_steps_to_minimum_gives_none_when_stuck_capped_or_diverged():
    assert steps_to_minimum("double-well", "sgd", lr=0.01) is None  # stalls in the local minimum
    assert steps_to_minimum("quadratic", "sgd", lr=0.01, max_steps=50) is None
    assert steps_to_minimum("quadratic", "sgd", lr=1.5) is None
    assert steps_to_minimum("saddle", "sgd", max_steps=50) is None  # no minimum at all


def test_a_diverging_path_ends_at_its_last_finite_point():
    path = run("quadratic", "sgd", lr=3.0, steps=2000)  # y_{t+1} = -5 y_t: overflows after ~440 steps
    assert path.diverged and 0 < path.steps < 2000
    assert torch.isfinite(path.points).all() and torch.isfinite(path.values).all()
    assert not run("quadratic", "sgd", lr=0.3, steps=20).diverged


def test_noise_is_seeded_and_gaussian():
    a = run("quadratic", "sgd", lr=0.1, steps=30, noise=0.5, seed=3)
    b = run("quadratic", "sgd", lr=0.1, steps=30, noise=0.5, seed=3)
    c = run("quadratic", "sgd", lr=0.1, steps=30, noise=0.5, seed=4)
    assert torch.equal(a.points, b.points)
    assert not torch.allclose(a.points, c.points)
    assert torch.equal(run("quadratic", "sgd", steps=10, noise=0.0, seed=1).points,
                       run("quadratic", "sgd", steps=10, noise=0.0, seed=2).points)
    # theta_1 = theta_0 - lr (grad + sigma xi), so (theta_1 - exact_1) / (-lr sigma) are the xi ~ N(0, I).
    lr, sigma = 0.1, 2.0
    xi = np.array([(run("quadratic", "sgd", lr=lr, steps=1, noise=sigma, seed=s).points[1].numpy()
                    - START * (1 - lr * CURVATURE)) / (-lr * sigma) for s in range(400)])
    assert abs(xi.mean()) < 0.15 and abs(xi.std() - 1) < 0.1


def test_closure_optimizers_take_closures():
    path = run("quadratic", "lbfgs", steps=3)
    assert path.steps == 3 and path.steps_to(1e-3) is not None


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"steps": -1}, "steps must be a non-negative integer"),
    ({"noise": -0.1}, "noise must be a non-negative finite number"),
    ({"start": (1.0, 2.0, 3.0)}, "start must be two finite numbers"),
])
def test_bad_arguments_raise_value_error_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        run("quadratic", "sgd", **kwargs)


def test_unknown_names_list_the_choices():
    with pytest.raises(ValueError, match="unknown optimizer 'nope'; choose from sgd"):
        run("quadratic", "nope")
    with pytest.raises(DescentError, match="unknown function"):
        run("nope", "sgd")
    with pytest.raises(DescentError, match="unknown scene 'nope'; choose from zigzag, .*all"):
        scenes.get("nope")


# ---- the scenes do show the notes' points ----


def _by_label(panel):
    return {label.split()[0]: path for label, path in panel}


def test_zigzag_sgd_flips_sign_across_the_valley_every_step_and_momentum_does_not():
    (panel,) = scenes.run_scene("zigzag")
    paths = _by_label(panel)
    y_sgd, y_momentum = paths["sgd"].points[:, 1], paths["momentum"].points[:, 1]
    assert (torch.sign(y_sgd[1:]) == -torch.sign(y_sgd[:-1])).all()  # 1 - 0.9 * 2 = -0.8 < 0
    assert (torch.sign(y_momentum[1:]) != torch.sign(y_momentum[:-1])).sum() < len(y_momentum) // 4


def test_saddle_on_the_exact_ridge_y_stays_exactly_zero():
    ridge, nudged = scenes.run_scene("saddle")
    for _, path in ridge:  # sgd, momentum and adam alike: dy = -2y = 0 on the ridge
        assert torch.equal(path.points[:, 1], torch.zeros(len(path.points), dtype=torch.float64))
    paths = _by_label(nudged)
    lr, t = 0.02, np.arange(len(paths["sgd"].points))
    np.testing.assert_allclose(paths["sgd"].points[:, 1].numpy(), 1e-3 * (1 + 2 * lr) ** t, rtol=1e-10)
    assert abs(paths["sgd"].final[1]) < 0.1  # still at the saddle after 100 steps
    assert abs(paths["momentum"].final[1]) > 1 and abs(paths["adam"].final[1]) > 1  # passed it


def test_momentum_escapes_the_local_minimum_where_sgd_does_not():
    (panel,) = scenes.run_scene("local-minimum")
    paths = _by_label(panel)
    np.testing.assert_allclose(paths["sgd"].final, (1.0, 0.0), atol=0.1)  # the local minimum
    np.testing.assert_allclose(paths["momentum"].final, (-2.0, 0.0), atol=0.1)  # the global one


def test_learning_rate_scene_crawls_converges_and_diverges():
    (panel,) = scenes.run_scene("learning-rate")
    small, good, large = (path for _, path in panel)
    f_start = float(small.values[0])
    assert float(good.values[-1]) < float(small.values[-1]) < f_start < float(large.values[-1])
    assert (large.points[1:, 1].abs() > large.points[:-1, 1].abs()).all()  # |1 - 2 lr| > 1 for lr > 1


def test_initial_point_scene_ends_in_four_different_minima():
    (panel,) = scenes.run_scene("initial-point")
    ends = {min(range(4), key=lambda i, p=path: np.hypot(*(np.array(p.final) - scenes.get_function(
        "himmelblau").minima[i]))) for _, path in panel}
    assert ends == {0, 1, 2, 3}
    assert all(path.distances()[-1] < 1e-3 for _, path in panel)


def test_noise_scene_jitters_around_the_noiseless_path():
    (panel,) = scenes.run_scene("noise")
    exact, noisy = (path for _, path in panel[:2])
    gap = torch.linalg.vector_norm(noisy.points - exact.points, dim=1)
    assert gap[0] == 0 and gap[1:].mean() > 0.1
