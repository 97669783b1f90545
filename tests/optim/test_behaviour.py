"""Generic behaviour of every first-order optimizer in the registry: the torch.optim.Optimizer contract."""

from __future__ import annotations

import io
import math

import pytest
import torch
from optim_problems import FIRST_ORDER, make_params, rel_diff, run
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

from descent.optim import OPTIMIZERS, _base, _compiled, _fused_cpu

# every registry entry's error inputs, the full-batch ones included
ERRORS = [(name, kw, msg) for name, entry in OPTIMIZERS.items() for kw, msg in entry.errors]


def build(name, params, **kw):
    e = OPTIMIZERS[name]
    return e.factory(params, **{"lr": e.lr, **e.defaults, **kw})


@pytest.mark.parametrize(("name", "kw", "msg"), ERRORS, ids=[f"{n}-{m}" for n, _, m in ERRORS])
def test_invalid_hyperparameters_raise_naming_the_argument(name, kw, msg):
    with pytest.raises(ValueError, match=msg) as raised:
        build(name, make_params(), **kw)
    assert str(raised.value).startswith("invalid ")  # descent.checks' one wording


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_rejects_a_zero_learning_rate(name):
    """lr > 0 and finite everywhere, as the command line and the training job require (torch allows 0)."""
    assert any(kw == {"lr": 0.0} for kw, _ in OPTIMIZERS[name].errors)
    for lr in (0.0, -1.0, float("inf"), float("nan"), True):
        with pytest.raises(ValueError, match=r"^invalid lr=.*: must be a positive finite number$"):
            build(name, make_params(), lr=lr)


@pytest.mark.parametrize("name", FIRST_ORDER)
@pytest.mark.parametrize("foreach", [False, True])
def test_none_gradient_leaves_parameter_and_state_untouched(name, foreach):
    params = make_params()
    frozen = params[1].detach().clone()
    opt = build(name, params, foreach=foreach)
    for _ in range(3):
        opt.zero_grad()
        (params[0].sum() + params[2].pow(2).sum()).backward()
        opt.step()
    assert params[1].grad is None and torch.equal(params[1], frozen)
    assert params[1] not in opt.state and not torch.equal(params[0], make_params()[0])


@pytest.mark.parametrize("name", FIRST_ORDER)
def test_per_group_hyperparameters(name):
    """Two groups with their own lr equal two separate optimizers."""
    e = OPTIMIZERS[name]
    together, apart = make_params(), make_params()
    opt = e.factory([{"params": together[:1], "lr": e.lr / 4}, {"params": together[1:]}],
                    **{"lr": e.lr, **e.defaults})
    first = build(name, apart[:1], lr=e.lr / 4)
    second = build(name, apart[1:])
    for _ in range(5):
        for o in (opt, first, second):
            o.zero_grad()
        from optim_problems import loss_of

        loss_of(together).backward()
        loss_of(apart).backward()
        for o in (opt, first, second):
            o.step()
    assert all(torch.equal(a, b) for a, b in zip(together, apart, strict=True))


@pytest.mark.parametrize("name", FIRST_ORDER)
def test_state_dict_round_trip_continues_bit_identically(name):
    params = make_params()
    opt = build(name, params)
    run(opt, params, 5)
    buffer = io.BytesIO()
    torch.save({"params": [p.detach() for p in params], "optim": opt.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    resumed = [p.clone().requires_grad_() for p in saved["params"]]
    fresh = build(name, resumed)
    fresh.load_state_dict(saved["optim"])
    assert torch.equal(torch.cat([t.reshape(-1) for t in run(opt, params, 5)]),
                       torch.cat([t.reshape(-1) for t in run(fresh, resumed, 5)]))


@pytest.mark.parametrize("name", FIRST_ORDER)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dtypes_preserved(name, dtype):
    params = make_params(dtype)
    opt = build(name, params)
    run(opt, params, 2)
    assert all(p.dtype == dtype for p in params)
    buffers = [t for s in opt.state.values() for t in s.values() if isinstance(t, torch.Tensor)]
    assert all(t.dtype == dtype for t in buffers)
    assert all(torch.isfinite(p.float()).all() for p in params)


@pytest.mark.parametrize("name", FIRST_ORDER)
def test_sparse_gradient_rejected(name):
    emb = torch.nn.Embedding(5, 3, sparse=True)
    opt = build(name, emb.parameters())
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(ValueError, match="sparse gradients"):
        opt.step()


def test_fused_with_foreach_rejected():
    with pytest.raises(ValueError, match=r"^invalid fused=True with foreach=True"):
        build("adam", make_params(), fused=True, foreach=True)


def rosenbrock_grad(w: torch.Tensor) -> torch.Tensor:
    """Gradient of (1 - x)^2 + 100 (y - x^2)^2, in closed form (autograd would triple the test time)."""
    x, y = w[0], w[1]
    return torch.stack([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


def ill_conditioned_grad(w: torch.Tensor) -> torch.Tensor:
    """Gradient of 0.5 (x^2 + 100 y^2): condition number 100."""
    return w * torch.tensor([1.0, 100.0], dtype=w.dtype)


# (lr on the quadratic, lr on Rosenbrock, distance to the minimum reached in 3000 steps): chosen per
# method as anyone tuning them would; plain SGD, AdaGrad and AdaDelta crawl along Rosenbrock's valley.
SETTINGS = {"sgd": (0.019, 2e-3, 0.1), "momentum": (2e-3, 1e-3, 0.01), "nesterov": (2e-3, 1e-3, 0.01),
            "adagrad": (0.5, 0.3, 0.1), "rmsprop": (0.01, 3e-3, 0.05), "adadelta": (1.0, 0.3, 0.2),
            "adam": (0.05, 0.01, 0.01), "adamw": (0.05, 0.01, 0.01)}


@pytest.mark.parametrize("name", FIRST_ORDER)
def test_converges_on_ill_conditioned_quadratic_and_rosenbrock(name):
    lr_quadratic, lr_rosenbrock, tolerance = SETTINGS[name]
    extra = {"weight_decay": 0.0} if name == "adamw" else {}
    for grad, lr, start, minimum in ((ill_conditioned_grad, lr_quadratic, [1.0, 1.0], [0.0, 0.0]),
                                     (rosenbrock_grad, lr_rosenbrock, [-1.0, 1.0], [1.0, 1.0])):
        w = torch.tensor(start, dtype=torch.float64, requires_grad=True)
        opt = build(name, [w], lr=lr, **extra)
        for _ in range(3000):
            w.grad = grad(w.detach())
            opt.step()
        assert math.dist(w.tolist(), minimum) < tolerance, (grad.__name__, w.tolist())


def test_lr_scheduler_and_hooks_drive_the_update():
    params = make_params()
    opt = build("adam", params)
    calls = []
    opt.register_step_post_hook(lambda o, args, kwargs: calls.append(o.param_groups[0]["lr"]))
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        run(opt, params, 1)
        scheduler.step()
    assert calls == [OPTIMIZERS["adam"].lr * 0.5**k for k in range(3)]



def _hook_log(opt, log, tag):
    """Register every kind of step hook on ``opt`` (and globally), logging the order they run in."""
    def pre(o, args, kwargs):
        log.append(f"{tag}pre")
        return args, kwargs  # a replacement (args, kwargs) pair, here the same

    handles = [opt.register_step_pre_hook(pre),
               opt.register_step_post_hook(lambda o, a, k: log.append(f"{tag}post")),
               register_optimizer_step_pre_hook(lambda o, a, k: log.append("global pre")),
               register_optimizer_step_post_hook(lambda o, a, k: log.append("global post"))]
    return handles


@pytest.mark.parametrize("name", FIRST_ORDER)
def test_step_hooks_run_in_torch_optims_order(name):
    """descent's lean step wrapper calls the global and per-optimizer hooks exactly as torch.optim's does."""
    logs = []
    for opt in (build(name, make_params()), torch.optim.SGD(make_params(), lr=0.1)):
        log, handles = [], []
        handles = _hook_log(opt, log, "own ")
        try:
            opt.step()
        finally:
            for h in handles:
                h.remove()
        opt.step()  # removed hooks no longer run
        logs.append(log)
    assert logs[0] == logs[1] == ["global pre", "own pre", "own post", "global post"]


def test_pre_hook_may_replace_the_arguments():
    params = make_params()
    opt = build("sgd", params)
    opt.register_step_pre_hook(lambda o, args, kwargs: "not a pair")
    with pytest.raises(RuntimeError, match="must return None or a tuple"):
        opt.step()
    opt = build("sgd", params)
    seen = []
    opt.register_step_pre_hook(lambda o, args, kwargs: (args, {"closure": lambda: seen.append(1) or 7.0}))
    assert opt.step() == 7.0 and seen == [1]


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_step_shows_in_the_profiler_like_torch_optim(name):
    params = make_params()
    ours = build(name, params)
    run(ours, params, 1)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        run(ours, params, 1)
    names = {e.key for e in prof.key_averages()}
    assert f"Optimizer.step#{type(ours).__name__}.step" in names, sorted(names)


def test_step_disables_grad_and_restores_the_mode(monkeypatch):
    params = make_params()
    opt = build("adam", params)
    seen = []
    opt.register_step_post_hook(lambda o, a, k: seen.append(torch.is_grad_enabled()))
    opt.step(lambda: seen.append(torch.is_grad_enabled()))
    assert seen == [True, True] and torch.is_grad_enabled()  # the closure runs with grad, and it is back
    with torch.no_grad():
        opt.step()
        assert not torch.is_grad_enabled()  # a caller's no_grad is kept

    def failing_group(group):
        assert not torch.is_grad_enabled()  # the update itself runs without autograd
        raise KeyError("boom")

    monkeypatch.setattr(opt, "_step_group", failing_group)
    with pytest.raises(KeyError, match="boom"):
        opt.step()
    assert torch.is_grad_enabled()  # restored after an exception inside the step

def test_explicit_path_choice():
    assert _base._path(None, False) == "loop" and _base._path(False, None) == "foreach"
    assert _base._path(True, None) == "fused" and _base._path(None, True) == "foreach"
    assert _base._path(None, None) == "auto"


def _count_kernel_calls(monkeypatch) -> list:
    calls = []
    real = _fused_cpu.LIBRARY.step

    def counted(kernel, arguments, ps, gs, bufs):
        calls.append(len(ps))
        return real(kernel, arguments, ps, gs, bufs)

    monkeypatch.setattr(_fused_cpu.LIBRARY, "step", counted)
    return calls


def test_small_model_never_compiles(monkeypatch):
    """Below FUSED_MIN_NUMEL parameters the automatic path neither builds nor loads the C++ kernel."""
    monkeypatch.setattr(_compiled.COMPILER, "compiled", lambda rule: pytest.fail("compiled a small model"))
    monkeypatch.setattr(_fused_cpu.LIBRARY, "load", lambda: pytest.fail("built the C++ kernel for a small model"))
    monkeypatch.setattr(_fused_cpu.LIBRARY, "supports", lambda kernel, t: pytest.fail("asked for the C++ kernel"))
    params = make_params()
    run(build("adam", params), params, 2)


def test_big_model_takes_one_kernel_call_per_step(monkeypatch):
    """Automatic path: many small tensors adding up to FUSED_MIN_NUMEL go to the C++ kernel together."""
    calls = _count_kernel_calls(monkeypatch)
    n = _base.FUSED_MIN_NUMEL // 8
    params = [torch.zeros(n, requires_grad=True) for _ in range(8)]
    opt = build("adam", params)
    for p in params:
        p.grad = torch.ones(n)
    opt.step()
    opt.step()
    assert calls == [8, 8]


def test_without_a_compiler_the_automatic_path_uses_foreach(monkeypatch, tmp_path):
    fresh = _fused_cpu.KernelLibrary(_fused_cpu.LIBRARY.kernels)  # nothing built or loaded yet
    monkeypatch.setattr(_fused_cpu, "LIBRARY", fresh)
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    monkeypatch.setattr(_compiled.COMPILER, "compiled", lambda rule: pytest.fail("compiled without a compiler"))
    n = _base.FUSED_MIN_NUMEL
    a, b = torch.ones(n, requires_grad=True), torch.ones(n, requires_grad=True)
    opts = build("adam", [a]), torch.optim.Adam([b], lr=OPTIMIZERS["adam"].lr)
    for opt, w in zip(opts, (a, b), strict=True):
        w.grad = torch.linspace(-1, 1, n)
        opt.step()
    assert fresh.error is not None and fresh.functions is None and torch.equal(a, b)


def test_fused_falls_back_to_loop_for_non_contiguous_parameters():
    base, twin_base = torch.randn(6, 4, dtype=torch.float64), None
    twin_base = base.clone()
    p = base.t().contiguous().t().requires_grad_()  # non-contiguous view layout
    q = twin_base.clone().requires_grad_()
    a, b = build("adam", [p], fused=True), torch.optim.Adam([q], lr=OPTIMIZERS["adam"].lr)
    for opt, w in ((a, p), (b, q)):
        for _ in range(3):
            opt.zero_grad()
            (w**2).sum().backward()
            opt.step()
    assert rel_diff([p.detach()], [q.detach()]) <= 1e-12


def test_plain_sgd_keeps_no_state_like_torch_and_momentum_can_start_later():
    """torch.optim.SGD without momentum keeps no per-parameter state; neither does descent's SGD. Turning
    momentum on later starts a velocity as a fresh Momentum would (v_1 = g_1)."""
    from descent.optim import SGD

    torch.manual_seed(0)
    w = torch.randn(5, dtype=torch.float64, requires_grad=True)
    w_ref = w.detach().clone().requires_grad_(True)
    ours, ref = SGD([w], lr=0.1), torch.optim.SGD([w_ref], lr=0.1)
    for _ in range(3):
        for p, opt in ((w, ours), (w_ref, ref)):
            p.grad = torch.sin(p.detach()) + 1.0
            opt.step()
    assert ours.state_dict()["state"] == ref.state_dict()["state"] == {}
    assert torch.equal(w, w_ref)
    for opt in (ours, ref):
        opt.param_groups[0]["momentum"] = 0.9
    for _ in range(3):
        for p, opt in ((w, ours), (w_ref, ref)):
            p.grad = torch.sin(p.detach()) + 1.0
            opt.step()
    assert torch.allclose(w, w_ref, rtol=1e-12, atol=0)
