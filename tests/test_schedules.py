"""descent.schedules against closed forms written out here, torch.optim.lr_scheduler, and Keras's formula."""

from __future__ import annotations

import dataclasses
import importlib
import io
import math
import pickle

import pytest
import torch
from torch.optim import lr_scheduler as tls

from descent import schedules as S
from descent.schedules import functions as F

# `schedules.parse` is the function; the submodule of the same name is reached by its full name.
P = importlib.import_module("descent.schedules.parse")

LR, N = 0.1, 200


def torch_lrs(make, n=N, lr=LR):
    """The lr torch's scheduler gives at t = 0..n-1 (one optimizer step per t)."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched, out = make(opt), []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def ours(schedule, n=N):
    return [schedule(t) for t in range(n)]


# ---- closed forms at t = 0, at a boundary, past the end ------------------------------------------------

@pytest.mark.parametrize("schedule, t, expected", [
    (S.constant(LR), 0, LR),
    (S.constant(LR), 10**6, LR),
    (S.step_decay(LR, 10, 0.5), 0, LR),
    (S.step_decay(LR, 10, 0.5), 9, LR),
    (S.step_decay(LR, 10, 0.5), 10, LR * 0.5),
    (S.step_decay(LR, 10, 0.5), 35, LR * 0.125),
    (S.multistep_decay(LR, [10, 20], 0.1), 9, LR),
    (S.multistep_decay(LR, [10, 20], 0.1), 10, LR * 0.1),
    (S.multistep_decay(LR, [10, 20], 0.1), 20, LR * 0.01),
    (S.multistep_decay(LR, [10, 20], 0.1), 500, LR * 0.01),
    (S.exponential_decay(LR, 0.05), 0, LR),
    (S.exponential_decay(LR, 0.05), 20, LR / math.e),
    (S.inverse_time_decay(LR, 0.1), 0, LR),
    (S.inverse_time_decay(LR, 0.1), 10, LR / 2),
    (S.inverse_time_decay(LR, 0.1), 90, LR / 10),
    (S.cosine_decay(LR, 100), 0, LR),
    (S.cosine_decay(LR, 100), 50, LR / 2),
    (S.cosine_decay(LR, 100), 100, 0.0),
    (S.cosine_decay(LR, 100, final_lr=1e-3), 100, 1e-3),
    (S.cosine_decay(LR, 100, final_lr=1e-3), 250, 1e-3),
    (S.cosine_decay(LR, 100, final_lr=1e-3), 50, (LR + 1e-3) / 2),
    (S.cosine_restarts(LR, 10), 5, LR / 2),
    (S.cosine_restarts(LR, 10), 10, LR),
    (S.cosine_restarts(LR, 10, mult=2), 10, LR),
    (S.cosine_restarts(LR, 10, mult=2), 20, LR / 2),        # middle of the 20-step second cycle
    (S.cosine_restarts(LR, 10, mult=2), 30, LR),            # third cycle starts at 10 + 20
    (S.cosine_restarts(LR, 10, mult=2, final_lr=0.02), 50, (LR + 0.02) / 2),
    (S.warmup(S.constant(LR), 4), 0, 0.0),
    (S.warmup(S.constant(LR), 4), 1, LR / 4),
    (S.warmup(S.constant(LR), 4), 4, LR),
    (S.warmup(S.step_decay(LR, 10, 0.5), 4), 14, LR / 2),
])
def test_closed_forms(schedule, t, expected):
    assert schedule(t) == pytest.approx(expected, rel=1e-12, abs=1e-15)


# ---- against torch.optim.lr_scheduler over 200 steps ---------------------------------------------------

@pytest.mark.parametrize("schedule, make", [
    (S.step_decay(LR, 7, 0.5), lambda o: tls.StepLR(o, step_size=7, gamma=0.5)),
    (S.step_decay(LR, 30, 1.0), lambda o: tls.StepLR(o, step_size=30, gamma=1.0)),
    (S.multistep_decay(LR, [10, 50, 120], 0.3), lambda o: tls.MultiStepLR(o, [10, 50, 120], gamma=0.3)),
    (S.exponential_decay(LR, 0.02), lambda o: tls.ExponentialLR(o, gamma=math.exp(-0.02))),
    (S.cosine_decay(LR, N), lambda o: tls.CosineAnnealingLR(o, T_max=N)),
    (S.cosine_decay(LR, N, 1e-3), lambda o: tls.CosineAnnealingLR(o, T_max=N, eta_min=1e-3)),
    (S.cosine_restarts(LR, 10), lambda o: tls.CosineAnnealingWarmRestarts(o, T_0=10)),
    (S.cosine_restarts(LR, 7, 2, 1e-3),
     lambda o: tls.CosineAnnealingWarmRestarts(o, T_0=7, T_mult=2, eta_min=1e-3)),
    (S.cosine_restarts(LR, 3, 3), lambda o: tls.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=3)),
], ids=["step", "step-factor1", "multistep", "exp", "cosine", "cosine-final", "sgdr", "sgdr-mult2",
        "sgdr-mult3"])
def test_against_torch(schedule, make):
    assert ours(schedule) == pytest.approx(torch_lrs(make), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("period, mult", [(10, 1), (7, 2), (3, 3), (1, 2)])
def test_cycle_ends_match_torch_restarts(period, mult):
    """A cycle ends at t when torch's T_cur is back to 0 at t + 1."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=LR)
    sched, t_cur = tls.CosineAnnealingWarmRestarts(opt, T_0=period, T_mult=mult), []
    for _ in range(N + 1):
        t_cur.append(sched.T_cur)
        opt.step()
        sched.step()
    expected = [t for t in range(N) if t_cur[t + 1] == 0]
    assert S.cycle_ends(period, mult, N) == expected


def test_cycle_ends_example_and_fractional_mult():
    assert S.cycle_ends(10, 2, 70) == [9, 29, 69]
    assert S.cycle_ends(10, 2, 69) == [9, 29]
    assert S.cycle_ends(10, 1.5, 100) == [9, 24, 47, 81]   # boundaries 10, 25, 47.5, 81.25


@pytest.mark.parametrize("period, mult", [(10, 1.0), (7, 2.0), (2.5, 1.5), (100 / 7, 2.0), (1, 3.0),
                                          (0.75, 1.1)])
def test_cycle_lookup_fast_agrees_with_loop(period, mult):
    for t in range(0, 3000, 7):
        assert F._locate_cycle(period, mult, t) == F._locate_cycle_loop(period, mult, t), t


# ---- Keras's documented InverseTimeDecay ---------------------------------------------------------------

def keras_inverse_time_decay(initial_learning_rate, decay_steps, decay_rate, staircase, step):
    """Keras docs: lr0 / (1 + decay_rate * step / decay_steps); floor(step / decay_steps) if staircase."""
    p = step / decay_steps
    if staircase:
        p = math.floor(p)
    return initial_learning_rate / (1 + decay_rate * p)


@pytest.mark.parametrize("decay_steps, decay_rate, staircase", [(1, 0.5, False), (10, 0.5, False),
                                                                (10, 0.5, True), (3, 2.0, True)])
def test_inverse_time_matches_keras(decay_steps, decay_rate, staircase):
    s = S.inverse_time_decay(LR, decay_rate, decay_steps=decay_steps, staircase=staircase)
    expected = [keras_inverse_time_decay(LR, decay_steps, decay_rate, staircase, t) for t in range(N)]
    assert ours(s) == pytest.approx(expected, rel=1e-12)


# ---- composition ---------------------------------------------------------------------------------------

def test_join_gives_later_schedules_relative_steps():
    a, b, c = S.constant(0.3), S.step_decay(0.2, 2, 0.5), S.exponential_decay(0.1, 0.1)
    j = S.join([a, b, c], [5, 9])
    expected = [0.3] * 5 + [0.2, 0.2, 0.1, 0.1] + [0.1 * math.exp(-0.1 * u) for u in range(11)]
    assert ours(j, 20) == pytest.approx(expected, rel=1e-12)
    assert j.base_lr == 0.3


def test_warmup_is_linear_then_the_schedule_shifted():
    inner = S.cosine_decay(LR, 50)
    w = S.warmup(inner, 10)
    assert ours(w, 11) == pytest.approx([LR * t / 10 for t in range(11)], rel=1e-12, abs=1e-15)
    assert ours(w, 80)[10:] == pytest.approx([inner(t) for t in range(70)], rel=1e-12)
    assert w.base_lr == LR and w.spec == "warmup=10+cosine:total=50,final=0.0"


# ---- LRSchedule: scaling and exact resume --------------------------------------------------------------

def two_group_sgd(lrs=(LR, LR / 10)):
    torch.manual_seed(0)
    w, b = torch.randn(3, requires_grad=True), torch.randn(1, requires_grad=True)
    return torch.optim.SGD([{"params": [w], "lr": lrs[0]}, {"params": [b], "lr": lrs[1]}], momentum=0.9)


def drive(opt, sched, steps):
    """Take `steps` optimizer + scheduler steps on a fixed quadratic; return the lr pairs used."""
    used = []
    for _ in range(steps):
        used.append([g["lr"] for g in opt.param_groups])
        opt.zero_grad()
        loss = sum((p**2).sum() for g in opt.param_groups for p in g["params"])
        loss.backward()
        opt.step()
        sched.step()
    return used


def test_lrschedule_scales_every_group_by_the_schedule():
    s = S.warmup(S.cosine_restarts(LR, 8, 2), 3)
    opt = two_group_sgd()
    used = drive(opt, S.LRSchedule(opt, s), 40)
    assert [u[0] for u in used] == pytest.approx(ours(s, 40), rel=1e-12, abs=1e-15)
    assert [u[1] for u in used] == pytest.approx([x / 10 for x in ours(s, 40)], rel=1e-12, abs=1e-15)


def test_lrschedule_agrees_with_torch_steplr_on_the_parameters():
    opt_a, opt_b = two_group_sgd(), two_group_sgd()
    drive(opt_a, S.LRSchedule(opt_a, S.step_decay(LR, 5, 0.5)), 23)
    drive(opt_b, tls.StepLR(opt_b, step_size=5, gamma=0.5), 23)
    for ga, gb in zip(opt_a.param_groups, opt_b.param_groups, strict=True):
        torch.testing.assert_close(ga["params"][0], gb["params"][0], rtol=0, atol=0)


def roundtrip(state):
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("scheduler_first", [True, False])
@pytest.mark.parametrize("stop", [0, 1, 9, 17])
def test_resume_gives_the_identical_lr_sequence(stop, scheduler_first):
    s = S.parse("warmup=4+restarts:period=6,mult=2", LR, 40)
    opt = two_group_sgd()
    full = drive(opt, S.LRSchedule(opt, s), 40)

    opt = two_group_sgd()
    sched = S.LRSchedule(opt, s)
    head = drive(opt, sched, stop)
    saved_opt, saved_sched = roundtrip(opt.state_dict()), roundtrip(sched.state_dict())

    opt = two_group_sgd()
    if scheduler_first:   # the order torch recommends
        sched = S.LRSchedule(opt, s)
        opt.load_state_dict(saved_opt)
    else:                 # the order that would leave schedule(0) in the groups without the rewrite
        opt.load_state_dict(saved_opt)
        sched = S.LRSchedule(opt, s)
    sched.load_state_dict(saved_sched)
    assert head + drive(opt, sched, 40 - stop) == full


def test_resume_with_a_different_schedule_is_refused():
    opt = two_group_sgd()
    state = S.LRSchedule(opt, S.cosine_decay(LR, 10)).state_dict()
    with pytest.raises(ValueError, match="saved for schedule 'cosine:total=10"):
        S.LRSchedule(two_group_sgd(), S.cosine_decay(LR, 20)).load_state_dict(state)


def test_plain_callable_needs_base_lr():
    with pytest.raises(ValueError, match="base_lr"):
        S.LRSchedule(two_group_sgd(), lambda t: 0.1)
    opt = two_group_sgd()
    used = drive(opt, S.LRSchedule(opt, lambda t: 0.2 / (t + 1), base_lr=0.2), 3)
    assert [u[0] for u in used] == pytest.approx([0.1, 0.05, 0.1 / 3])


# ---- the compact spelling ------------------------------------------------------------------------------

PARSED = [
    ("constant", S.constant(LR)),
    ("step:every=10,factor=0.5", S.step_decay(LR, 10, 0.5)),
    ("multistep:milestones=10/20,factor=0.1", S.multistep_decay(LR, [10, 20], 0.1)),
    ("exp:k=0.05", S.exponential_decay(LR, 0.05)),
    ("invtime:k=0.1", S.inverse_time_decay(LR, 0.1)),
    ("invtime:k=0.5,decay_steps=10,staircase=true", S.inverse_time_decay(LR, 0.5, 10, True)),
    ("cosine", S.cosine_decay(LR, N)),
    ("cosine:final=1e-5", S.cosine_decay(LR, N, 1e-5)),
    ("cosine:total=50", S.cosine_decay(LR, 50)),
    ("restarts:period=10,mult=2", S.cosine_restarts(LR, 10, 2)),
    ("restarts:cycles=4", S.cosine_restarts(LR, 50)),
    ("restarts:cycles=3,mult=3,final=0.001", S.cosine_restarts(LR, 200 * 2 / 26, 3, 0.001)),
    ("warmup=5+cosine", S.warmup(S.cosine_decay(LR, N - 5), 5)),
    ("warmup=5", S.warmup(S.constant(LR), 5)),
    (" Warmup=5 + Step:every=3, factor=0.9 ", S.warmup(S.step_decay(LR, 3, 0.9), 5)),
]


@pytest.mark.parametrize("spec, direct", PARSED)
def test_parse_matches_direct_construction_and_round_trips(spec, direct):
    parsed = S.parse(spec, LR, N)
    assert ours(parsed, 2 * N) == pytest.approx(ours(direct, 2 * N), rel=1e-12, abs=1e-15)
    again = S.parse(parsed.spec, parsed.base_lr, total_steps=7)   # the spec carries its own total
    assert again.spec == parsed.spec and ours(again, 2 * N) == ours(parsed, 2 * N)


@pytest.mark.parametrize("spec, direct", PARSED)
def test_parse_spec_then_build_is_parse(spec, direct):
    read = S.parse_spec(spec)
    assert read == S.parse_spec(read.text) and str(read) == read.text   # normalized: reading it again changes nothing
    assert ours(read.build(LR, N), 2 * N) == pytest.approx(ours(direct, 2 * N), rel=1e-12, abs=1e-15)
    for total in (N, 7 * N):                                         # one reading, built for runs of any length
        built, parsed = read.build(LR, total), S.parse(spec, LR, total)
        assert built.spec == parsed.spec and ours(built, 2 * N) == ours(parsed, 2 * N)


@pytest.mark.parametrize("spec, text, warmup, name, keywords", [
    ("constant", "constant", 0, "constant", ()),
    (" Warmup=5 + Step:every=3, factor=0.9 ", "warmup=5+step:every=3,factor=0.9", 5, "step",
     (("every", 3), ("factor", 0.9))),
    ("warmup=5", "warmup=5", 5, "constant", ()),
    ("multistep:milestones=10/20,factor=0.1", "multistep:milestones=10/20,factor=0.1", 0, "multistep",
     (("milestones", (10, 20)), ("factor", 0.1))),
    ("invtime:k=0.5,staircase=yes", "invtime:k=0.5,staircase=yes", 0, "invtime",
     (("k", 0.5), ("staircase", True))),
    ("restarts:cycles=4,final=1e-4", "restarts:cycles=4,final=1e-4", 0, "restarts",
     (("cycles", 4), ("final", 1e-4))),
])
def test_parse_spec_resolves_text_warmup_name_and_keywords(spec, text, warmup, name, keywords):
    assert S.parse_spec(spec) == S.ScheduleSpec(text, warmup, name, keywords)


def test_schedule_spec_is_a_frozen_hashable_picklable_value():
    read = S.parse_spec("warmup=2+multistep:milestones=3/6,factor=0.5")
    with pytest.raises(dataclasses.FrozenInstanceError):
        read.warmup = 3
    assert hash(read) == hash(S.parse_spec("Warmup=2 + multistep:milestones=3/6, factor=0.5"))
    assert pickle.loads(pickle.dumps(read)) == read


def test_spec_help_lists_every_name():
    for name in P._SPELLINGS:
        assert f"\n  {name}" in S.SPEC_HELP


# ---- bad input: ValueError naming the value ------------------------------------------------------------

@pytest.mark.parametrize("build, message", [
    (lambda: S.constant(0.0), r"invalid lr=0\.0: must be a positive finite number"),
    (lambda: S.constant(-0.1), r"invalid lr=-0\.1: must be a positive finite number"),
    (lambda: S.exponential_decay(float("nan"), 0.1), "invalid lr=nan: must be a positive"),
    (lambda: S.step_decay(LR, 0, 0.5), "invalid every=0: must be a positive integer"),
    (lambda: S.step_decay(LR, 2.5, 0.5), r"invalid every=2\.5: must be a positive integer"),
    (lambda: S.step_decay(LR, 10, 1.5), r"invalid factor=1\.5: must be in \(0, 1\]"),
    (lambda: S.step_decay(LR, 10, 0), r"invalid factor=0: must be in \(0, 1\]"),
    (lambda: S.multistep_decay(LR, [20, 10], 0.1),
     r"invalid milestones=\[20, 10\]: must be a non-empty strictly increasing list of positive integers"),
    (lambda: S.multistep_decay(LR, [], 0.1), r"invalid milestones=\[\]: must be a non-empty"),
    (lambda: S.multistep_decay(LR, [0, 10], 0.1), r"invalid milestones=\[0, 10\]: must be .* positive integers"),
    (lambda: S.exponential_decay(LR, -0.1), r"invalid k=-0\.1: must be a non-negative finite number"),
    (lambda: S.inverse_time_decay(LR, 0.1, decay_steps=0), "invalid decay_steps=0: must be a positive integer"),
    (lambda: S.inverse_time_decay(LR, 0.1, staircase="yes"), "invalid staircase='yes': must be True or False"),
    (lambda: S.cosine_decay(LR, 0), "invalid total_steps=0: must be a positive integer"),
    (lambda: S.cosine_decay(LR, 10, final_lr=0.2), r"invalid final_lr=0\.2: must be at most lr=0\.1"),
    (lambda: S.cosine_decay(LR, 10, final_lr=-0.1), r"invalid final_lr=-0\.1: must be a non-negative finite"),
    (lambda: S.cosine_restarts(LR, 0), "invalid period=0: must be a positive finite number"),
    (lambda: S.cosine_restarts(LR, -3), "invalid period=-3: must be a positive finite number"),
    (lambda: S.cosine_restarts(LR, 10, mult=0.5), r"invalid mult=0\.5: must be a finite number >= 1"),
    (lambda: S.cycle_ends(10, 1, 0), "invalid total=0: must be a positive integer"),
    (lambda: S.warmup(S.constant(LR), 0), "invalid steps=0: must be a positive integer"),
    (lambda: S.join([S.constant(LR)], [5]),
     r"invalid boundaries=\[5\]: must be one step between each pair of schedules \(0 for 1 schedules\)"),
    (lambda: S.join([S.constant(LR)] * 3, [5, 5]), r"invalid boundaries=\[5, 5\]: must be .*strictly increasing"),
    (lambda: S.constant(LR)(-1), "invalid t=-1: must be a non-negative integer"),
    (lambda: S.constant(LR)(1.5), r"invalid t=1\.5: must be a non-negative integer"),
    (lambda: S.LRSchedule(two_group_sgd(), S.constant(LR), base_lr=0), "invalid base_lr=0: must be a positive"),
])
def test_bad_hyperparameters(build, message):
    with pytest.raises(ValueError, match=message):
        build()


# (spec, message, where it is raised: "spec" by parse_spec alone, "build" once lr and total_steps are known)
BAD_SPECS = [
    ("linear", "unknown schedule 'linear'", "spec"),
    ("", "unknown schedule ''", "spec"),
    ("step:every=10,factor=0.5,gamma=0.1",
     "unknown key 'gamma' for schedule 'step' \\(known keys: every, factor", "spec"),
    ("constant:k=1", "unknown key 'k' for schedule 'constant'", "spec"),
    ("step:every=10", "schedule 'step' needs factor=...", "spec"),
    ("step:every=,factor=0.5", "key 'every' of schedule 'step' needs a value", "spec"),
    ("step:every=ten,factor=0.5", "invalid every='ten': must be an integer", "spec"),
    ("step:every=0,factor=0.5", "invalid every=0: must be a positive integer", "spec"),
    ("exp:k=fast", "invalid k='fast': must be a number", "spec"),
    ("exp:k=-1", r"invalid k=-1\.0: must be a non-negative finite number", "spec"),
    ("step:every=10,factor=2", r"invalid factor=2\.0: must be in \(0, 1\]", "spec"),
    ("multistep:milestones=20/10,factor=0.1", r"invalid milestones=\[20, 10\]: must be a non-empty strictly", "spec"),
    ("multistep:milestones=10/x,factor=0.1", "invalid milestones='x': must be an integer", "spec"),
    ("invtime:k=0.1,staircase=maybe", "invalid staircase='maybe': must be true or false", "spec"),
    ("cosine:total=0", "invalid total=0: must be a positive integer", "spec"),
    ("cosine:final=-1", r"invalid final=-1\.0: must be a non-negative finite number", "spec"),
    ("restarts", "exactly one of period=... or cycles=...", "spec"),
    ("restarts:period=5,cycles=2", "exactly one of period=... or cycles=...", "spec"),
    ("restarts:period=0", r"invalid period=0\.0: must be a positive finite number", "spec"),
    ("restarts:period=5,mult=0.5", r"invalid mult=0\.5: must be a finite number >= 1", "spec"),
    ("warmup=0+cosine", "invalid warmup=0: must be a positive integer", "spec"),
    ("warmup=x+cosine", "invalid warmup='x': must be an integer", "spec"),
    ("warmup=5+bogus", "unknown schedule 'bogus'", "spec"),
    ("restarts:cycles=6,mult=3",
     r"invalid cycles=6: must be few enough .* \(mult=3\.0 over total_steps=200 gives 0\.549\)", "build"),
    ("warmup=200+cosine", "invalid warmup=200: must be less than total_steps=200", "build"),
    ("cosine:final=0.5", r"invalid final=0\.5: must be at most lr=0\.1", "build"),
    ("restarts:period=5,final=0.5", r"invalid final=0\.5: must be at most lr=0\.1", "build"),
]


@pytest.mark.parametrize("spec, message, where", BAD_SPECS)
def test_bad_specs(spec, message, where):
    with pytest.raises(ValueError, match=message):
        S.parse(spec, LR, N)


@pytest.mark.parametrize("spec, message, where", BAD_SPECS)
def test_parse_spec_raises_what_does_not_need_the_run_and_build_the_rest(spec, message, where):
    if where == "spec":
        with pytest.raises(ValueError, match=message):
            S.parse_spec(spec)
    else:
        read = S.parse_spec(spec)
        with pytest.raises(ValueError, match=message):
            read.build(LR, N)


def test_cosine_without_any_total():
    with pytest.raises(ValueError, match="invalid total_steps=None: must be a positive integer for 'cosine' "
                                         "without total="):
        S.parse("cosine", LR)
    with pytest.raises(ValueError, match="invalid total_steps=None: must be a positive integer"):
        S.parse("restarts:cycles=2", LR)
    with pytest.raises(ValueError, match="invalid total_steps=0: must be a positive integer"):
        S.parse("constant", LR, 0)
    with pytest.raises(ValueError, match="invalid total_steps=None: must be a positive integer for 'cosine'"):
        S.parse_spec("warmup=5+cosine").build(LR)
    with pytest.raises(ValueError, match="invalid lr=0: must be a positive finite number"):
        S.parse_spec("cosine").build(0, N)


def test_numpy_numbers_are_accepted_and_booleans_are_not():
    np = pytest.importorskip("numpy")
    s = S.step_decay(np.float32(0.5), np.int64(3), np.float64(0.5))
    assert [s(t) for t in np.arange(7)] == [0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]
    with pytest.raises(ValueError, match="invalid lr=True: must be a positive finite number"):
        S.constant(True)
    with pytest.raises(ValueError, match="invalid every=True: must be a positive integer"):
        S.step_decay(LR, True, 0.5)
