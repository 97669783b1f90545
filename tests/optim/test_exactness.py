"""Every path of every optimizer against torch.optim (its twin) and against the NumPy transcription."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from optim_problems import CONFIGS, TWIN_CONFIGS, make_params, numpy_grad, rel_diff, run

from descent.optim import OPTIMIZERS, _fused_cpu, reference

PATHS = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
DEFAULT_CONFIGS = [c for c in TWIN_CONFIGS if c[1] == "default"]


def _hyper(name: str, kw: dict) -> dict:
    e = OPTIMIZERS[name]
    return {"lr": e.lr, **e.defaults, **kw}


@pytest.mark.parametrize("path", ["loop", "foreach", "fused"])
@pytest.mark.parametrize(("name", "label", "kw"), TWIN_CONFIGS, ids=[f"{n}-{c}" for n, c, _ in TWIN_CONFIGS])
def test_matches_torch_twin(name, label, kw, path):
    """float64, after 1 and after 50 steps, relative difference <= 1e-12; on CPU ``fused`` is the C++
    kernel (the torch.compile path has its own tests below)."""
    hyper, entry = _hyper(name, kw), OPTIMIZERS[name]
    ours_p, twin_p = make_params(), make_params()
    ours = entry.factory(ours_p, **hyper, **PATHS[path])
    twin = entry.torch_twin(twin_p, **hyper)
    assert rel_diff(run(ours, ours_p, 1), run(twin, twin_p, 1)) <= 1e-12
    assert rel_diff(run(ours, ours_p, 49), run(twin, twin_p, 49)) <= 1e-12


@pytest.mark.parametrize(("name", "label", "kw"), CONFIGS, ids=[f"{n}-{c}" for n, c, _ in CONFIGS])
def test_matches_numpy_reference(name, label, kw):
    """The class (loop and foreach) equals the notes' rule transcribed in NumPy, for every config,
    with a learning rate that changes every step."""
    hyper = _hyper(name, kw)
    lr0 = hyper.pop("lr")
    lrs = lambda t: lr0 / (1 + 0.05 * t)  # noqa: E731
    x0 = torch.cat([p.detach().reshape(-1) for p in make_params()]).numpy()
    expected = reference.run(name, x0, numpy_grad, 30, lrs, **hyper)
    for path in ("loop", "foreach"):
        params = make_params()
        got = run(OPTIMIZERS[name].factory(params, lr=lr0, **hyper, **PATHS[path]), params, 30, lrs)
        got = torch.cat([p.reshape(-1) for p in got]).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["momentum", "nesterov"])
def test_lr_in_velocity_differs_only_when_lr_changes(name):
    """CS231n's v <- rho v - lr g and the notes' v <- rho v + g; w -= lr v agree at constant lr."""
    factory = OPTIMIZERS[name].factory
    outside, inside = make_params(), make_params()
    a = run(factory(outside, lr=0.05), outside, 20)
    b = run(factory(inside, lr=0.05, lr_in_velocity=True), inside, 20)
    assert rel_diff(b, a) <= 1e-12
    decay = lambda t: 0.05 * 0.8**t  # noqa: E731
    outside, inside = make_params(), make_params()
    a = run(factory(outside, lr=0.05), outside, 20, decay)
    b = run(factory(inside, lr=0.05, lr_in_velocity=True), inside, 20, decay)
    assert rel_diff(b, a) > 1e-3


def _fused_vs_loop(name, kw, dtype, steps, shapes=None):
    """Parameters after ``steps`` steps on the fused path and on the reference loop, random gradients."""
    hyper = _hyper(name, kw)
    gen = torch.Generator().manual_seed(3)
    shapes = shapes or [(6,), (2, 6), (6, 1)]
    start = [torch.randn(s, generator=gen, dtype=torch.float64).to(dtype) for s in shapes]
    grads = [[torch.randn(s, generator=gen, dtype=torch.float64).to(dtype) for s in shapes] for _ in range(steps)]
    out = []
    for path in ("fused", "loop"):
        params = [w.clone().requires_grad_() for w in start]
        opt = OPTIMIZERS[name].factory(params, **hyper, **PATHS[path])
        for gs in grads:
            for p, g in zip(params, gs, strict=True):
                p.grad = g.clone()
            opt.step()
        out.append([p.detach() for p in params])
    return out


@pytest.mark.parametrize(("name", "label", "kw"), CONFIGS, ids=[f"{n}-{c}" for n, c, _ in CONFIGS])
def test_cpp_kernel_matches_loop(name, label, kw):
    """Every config, including descent-only options, through the C++ kernel: float64 to 1e-12 relative,
    float32 to 1e-6 (-ffp-contract=off here, fused multiply-adds in torch's vectorised ``add``), on tensors
    spanning several work chunks (so several threads) beside one-element-short and tiny ones."""
    if not _fused_cpu.LIBRARY.load():
        pytest.fail(f"the C++ kernel cannot be built here: {_fused_cpu.LIBRARY.error}")
    n = _fused_cpu.MIN_CHUNK
    fused, loop = _fused_vs_loop(name, kw, torch.float64, 3, [(2 * n + 3,), (5,), (n - 1, 1)])
    assert rel_diff(fused, loop) <= 1e-12
    fused, loop = _fused_vs_loop(name, kw, torch.float32, 3)
    assert rel_diff(fused, loop) <= 1e-6


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("name", ["adam", "momentum"])
def test_cpp_kernel_threads_cover_every_element_once(name, threads):
    """The work split among threads (chunks of MIN_CHUNK..MAX_CHUNK elements over tensors of uneven sizes):
    every element updated exactly once, as the single-threaded reference loop does."""
    if not _fused_cpu.LIBRARY.load():
        pytest.fail(f"the C++ kernel cannot be built here: {_fused_cpu.LIBRARY.error}")
    n, before = _fused_cpu.MIN_CHUNK, torch.get_num_threads()
    shapes = [(4 * n + 17,), (n - 1,), (3,), (2 * n, 3), (n + 1,)]
    torch.set_num_threads(threads)
    try:
        fused, loop = _fused_vs_loop(name, {}, torch.float64, 2, shapes)
    finally:
        torch.set_num_threads(before)
    assert rel_diff(fused, loop) <= 1e-12


@pytest.mark.parametrize(("name", "label", "kw"), DEFAULT_CONFIGS, ids=[n for n, _, _ in DEFAULT_CONFIGS])
def test_compiled_rule_matches_loop(name, label, kw, monkeypatch):
    """The torch.compile path (CUDA, bfloat16, no C++ kernel) on each default config."""
    monkeypatch.setattr(_fused_cpu.LIBRARY, "supports", lambda kernel, t: False)
    fused, loop = _fused_vs_loop(name, kw, torch.float64, 5)
    assert rel_diff(fused, loop) <= 1e-12


def test_compiled_rule_options_match_loop(monkeypatch):
    """The torch.compile path with descent-only options (one compilation each) equals the reference loop."""
    monkeypatch.setattr(_fused_cpu.LIBRARY, "supports", lambda kernel, t: False)
    cases = (("adam", {"bias_correction": False, "eps_inside_sqrt": True, "amsgrad": True}),
             ("nesterov", {"lr_in_velocity": True}), ("rmsprop", {"centered": True, "momentum": 0.5}))
    for name, kw in cases:
        fused, loop = _fused_vs_loop(name, kw, torch.float64, 5)
        assert rel_diff(fused, loop) <= 1e-12, name
