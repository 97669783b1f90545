"""Bookkeeping shared by descent's first-order optimizers; the algorithms supply only their update rule.

An algorithm is a :class:`FirstOrder` subclass with

* ``rule(p, g, *buffers, **hyper)``: the update of ONE parameter, written with in-place tensor methods
  (``mul_``, ``addcmul_``, ``lerp_``...). Optional buffers arrive as ``None``; a disabled weight decay as
  ``weight_decay=None``, so every branch in a rule is decided by Python values, never by tensor data;
* ``buffers``: the state keys of its per-parameter buffers, in the order ``rule`` takes them;
* ``_hyper(group, step)``: the keyword arguments of ``rule`` at ``step`` (1, 2, ...);
* optionally ``kernel``, a :class:`~descent.optim._fused_cpu.FusedKernel` (the rule in C++), and
  ``kernel_arguments(hyper, buffers)``, the kernel's named scalars and flags from ``rule``'s keywords.

The same ``rule`` runs on three paths (``group["fused"]`` / ``group["foreach"]``, ``None`` = automatic):

* loop: ``rule`` once per tensor, eagerly: the slow, obvious reference;
* foreach: ``rule`` once per (device, dtype, step) bucket on :class:`TensorList` arguments, whose methods
  are ``torch._foreach_*`` multi-tensor kernels: few launches, but one pass over memory per operation;
* fused: on CPU (float32/float64) one C++/OpenMP call per step over every tensor (the class's ``kernel``,
  the rule transcribed into one loop that reads and writes every element once); elsewhere (CUDA, bfloat16)
  ``torch.compile(rule)`` once per tensor (``_compiled.py``: inductor's single loop, Triton on CUDA). No
  temporary tensors.

Automatic choice: fused once a group holds at least :data:`FUSED_MIN_NUMEL` elements (on CUDA: per tensor
of that size), foreach below, so a small model never waits for a compiler.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch
from torch.optim import optimizer as _torch_optimizer

from .. import checks
from . import _compiled, _fused_cpu
from ._fused_cpu import FusedKernel

# Below this many elements a group never builds the C++ kernels (a few seconds once per machine) and a
# tensor never pays a compiled call's dispatch (~30 us against ~0.1 ms of memory traffic for 2**18 fp32
# Adam elements on one core); foreach is within a few microseconds there.
FUSED_MIN_NUMEL = 1 << 18


# ---------------------------------------------------------------- the foreach adapter
class TensorList:
    """A list of tensors whose tensor methods run as ``torch._foreach_*`` kernels, so that a rule written
    for one tensor (``m.lerp_(g, w)``) runs unchanged over a whole bucket (``_foreach_lerp_(ms, gs, w)``)."""

    __slots__ = ("tensors",)

    def __init__(self, tensors: list[torch.Tensor]):
        self.tensors = tensors

    def __getattr__(self, name: str) -> Callable[..., TensorList]:
        op = getattr(torch, "_foreach_" + name)

        def call(*args: Any, **kwargs: Any) -> TensorList:
            out = op(self.tensors, *(a.tensors if isinstance(a, TensorList) else a for a in args), **kwargs)
            return self if name.endswith("_") else TensorList(out)

        return call


def denominator(s: Any, eps: float, eps_inside_sqrt: bool, root_c: float | None = None) -> Any:
    """The adaptive methods' divisor, one new tensor: ``sqrt(s) / root_c + eps`` (PyTorch, CS231n, Keras)
    or, with ``eps_inside_sqrt``, ``sqrt(s / root_c**2 + eps)`` (the notes' slides, Optax's ``eps_root``);
    ``root_c`` is Adam's ``sqrt(1 - beta2**t)``, precomputed once per step (1 if None)."""
    if eps_inside_sqrt:
        d = s.add(eps) if root_c is None else s.div(root_c * root_c).add_(eps)
        return d.sqrt_()
    d = s.sqrt()
    if root_c is not None:
        d.div_(root_c)
    return d.add_(eps)


def decayed_gradient(p: Any, g: Any, *, lr: float, weight_decay: float | None, decoupled: bool,
                     maximize: bool) -> Any:
    """Every rule's opening: ``g <- -g`` if ``maximize``; then weight decay, either coupled, ``g + wd * w``
    (torch.optim, Optax's ``add_decayed_weights`` before the scaling), or decoupled, ``w <- w (1 - lr wd)``
    in place before the step (AdamW; Keras for every optimizer). Returns the gradient the rule uses."""
    if maximize:
        g = g.neg()
    if weight_decay is not None:
        if decoupled:
            p.mul_(1 - lr * weight_decay)
        else:
            g = g.add(p, alpha=weight_decay)
    return g


def maximum_(a: Any, b: Any) -> Any:
    """``a <- max(a, b)`` elementwise, for a tensor, a :class:`TensorList` or a :class:`FusedTensor`."""
    if isinstance(a, TensorList):
        torch._foreach_maximum_(a.tensors, b.tensors)
    elif isinstance(a, _compiled.FusedTensor):
        a.t = torch.maximum(a.t, b.t)
    else:
        torch.maximum(a, b, out=a)
    return a


class FirstOrder(torch.optim.Optimizer):
    """Param groups, lazy state, ``state_dict`` and hooks come from ``torch.optim.Optimizer``; this adds the
    gathering of gradients, the step counts and the dispatch of ``rule`` over loop / foreach / fused."""

    buffers: tuple[str, ...] = ()
    rule: Callable[..., None]
    # True when the rule ignores the step count whenever it keeps no buffer (plain SGD): such a group then
    # keeps no per-parameter state at all, as torch.optim.SGD without momentum does
    stateless_without_buffers: bool = False
    # the rule in C++ (None: the fused path on CPU is torch.compile's); see _fused_cpu.py
    kernel: FusedKernel | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "rule" in cls.__dict__ and "kernel" not in cls.__dict__:
            cls.kernel = None  # a new rule, not the inherited kernel's: the fused path compiles the rule
        if cls.kernel is not None:
            _fused_cpu.LIBRARY.declare(cls.kernel)

    def __init__(self, params: Any, defaults: dict[str, Any], *, foreach: bool | None,
                 fused: bool | None, maximize: bool):
        defaults["lr"] = learning_rate(defaults["lr"])
        if fused and foreach:
            raise ValueError("invalid fused=True with foreach=True: choose one path")
        super().__init__(params, {**defaults, "foreach": foreach, "fused": fused, "maximize": maximize})

    # -- what an algorithm overrides
    def _active(self, group: dict[str, Any]) -> tuple[str, ...]:
        """The buffers this group's options use (e.g. no velocity when momentum == 0)."""
        return self.buffers

    def _init_buffer(self, name: str, p: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
        return torch.zeros_like(p, memory_format=torch.preserve_format)

    def _hyper(self, group: dict[str, Any], step: int) -> dict[str, Any]:
        raise NotImplementedError

    @staticmethod
    def kernel_arguments(hyper: dict[str, Any], buffers: list[list | None]) -> dict[str, Any]:
        """``kernel``'s scalars and flags by name, from ``rule``'s keywords ``hyper`` and the per-buffer lists
        ``buffers`` (in the order of :attr:`buffers`; None where a buffer is off)."""
        raise NotImplementedError

    # -- the step
    @staticmethod
    def profile_hook_step(func: Callable[..., Any]) -> Callable[..., Any]:
        """torch.optim's wrapper of ``step`` (installed once per class by ``Optimizer.__init__``): the global
        and per-optimizer pre/post hooks, ``_optimizer_step_code`` and the profiler's range
        ``Optimizer.step#<class>.step``, with the same semantics, but the range is only opened while a
        profiler runs and the hook chains only walked when a hook exists: torch's wrapper spends ~11 us of
        a small model's ~30 us step on them."""

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if torch._C._autograd._profiler_enabled():
                name = f"Optimizer.step#{type(args[0]).__name__}.step"
                with torch.autograd.profiler.record_function(name):
                    return _with_hooks(func, args, kwargs)
            return _with_hooks(func, args, kwargs)

        return wrapper

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; ``closure`` re-evaluates the loss if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        grad_was = torch.is_grad_enabled()
        torch._C._set_grad_enabled(False)  # what torch.no_grad() does, without its context object
        try:
            for group in self.param_groups:
                self._step_group(group)
        finally:
            torch._C._set_grad_enabled(grad_was)
        return loss

    def _step_group(self, group: dict[str, Any]) -> None:
        if isinstance(group["lr"], torch.Tensor):  # a 1-element tensor, which a scheduler may fill in place
            group = {**group, "lr": float(group["lr"])}
        cls = type(self)
        name, rule, kernel, library = cls.__name__, cls.rule, cls.kernel, _fused_cpu.LIBRARY
        active = self._active(group)
        loop, fused, auto, buckets = [], [], [], defaultdict(list)
        hyper: dict[int, dict[str, Any]] = {}
        path = _path(group["fused"], group["foreach"])
        if path == "auto" and self._group_numel(group) < FUSED_MIN_NUMEL:
            path = "foreach"  # too small for the fused path even with every gradient present
        target = auto if path == "auto" else loop if path == "loop" else fused if path == "fused" else None
        stateless = not active and self.stateless_without_buffers
        no_buffers = [None] * len(self.buffers)
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            if g.is_sparse:
                raise ValueError(f"{name} does not support sparse gradients (parameter of shape "
                                 f"{tuple(p.shape)}); use a dense gradient")
            if stateless:
                step, bufs = 0, no_buffers
            else:
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    for key in active:
                        state[key] = self._init_buffer(key, p, group)
                step = state["step"] = int(state["step"]) + 1
                bufs = [state.get(key) for key in self.buffers]
            if step not in hyper:
                hyper[step] = self._hyper(group, step)
            item = (p, g, bufs)
            if target is None:
                buckets[(p.device, p.dtype, step)].append(item)
            else:
                target.append((item, step))
        # automatic: fused once the group is big enough to gain from it (on CPU all supported tensors in
        # one C++ call, the library being built once per machine; on CUDA the compiled rule per big
        # tensor), else foreach, so a small model never waits for a compiler
        big_group = bool(auto) and sum(item[0].numel() for item, _ in auto) >= FUSED_MIN_NUMEL
        for item, step in auto:
            p = item[0]
            if big_group and (p.numel() >= FUSED_MIN_NUMEL and p.device.type == "cuda"
                              or library.supports(kernel, p)):
                fused.append((item, step))
            else:
                buckets[(p.device, p.dtype, step)].append(item)
        strict = group["fused"] is True
        contiguous = []  # the kernels index memory linearly; other layouts take the loop (or foreach if auto)
        for entry in fused:
            if _contiguous(entry[0]):
                contiguous.append(entry)
            elif strict:
                loop.append(entry)
            else:
                buckets[(entry[0][0].device, entry[0][0].dtype, entry[1])].append(entry[0])
        fused = contiguous
        if fused and not self._run_fused(fused, hyper, strict=strict):
            for (p, g, bufs), step in fused:
                buckets[(p.device, p.dtype, step)].append((p, g, bufs))
        for (p, g, bufs), step in loop:
            rule(p, g, *bufs, **hyper[step])
        for (_, _, step), items in buckets.items():
            ps, gs, bufs = zip(*items, strict=True)
            lists = [None if b is None else TensorList(b) for b in _lists(bufs)]
            rule(TensorList(list(ps)), TensorList(list(gs)), *lists, **hyper[step])

    def _group_numel(self, group: dict[str, Any]) -> int:
        """Elements in all of the group's parameters, cached per parameter list: a group too small for the
        fused path even with every gradient present skips the per-step sum over the present ones."""
        cache = self.__dict__.setdefault("_numel_cache", {})
        key = (id(group["params"]), len(group["params"]))
        if key not in cache:
            cache[key] = sum(p.numel() for p in group["params"])
        return cache[key]

    def _run_fused(self, items: list, hyper: dict[int, dict[str, Any]], *, strict: bool) -> bool:
        """One C++ call per (dtype, step) bucket for CPU float32/float64 tensors, the compiled rule per tensor
        for the others; False (nothing done) if neither can run here in automatic mode."""
        cls, library = type(self), _fused_cpu.LIBRARY
        native, rest = defaultdict(list), []
        for item, step in items:
            if library.supports(cls.kernel, item[0]):
                native[(item[0].dtype, step)].append(item)
            else:
                rest.append((item, step))
        for (_, step), bucket in native.items():
            ps, gs, bufs = zip(*bucket, strict=True)
            buffers = _lists(bufs)
            library.step(cls.kernel, cls.kernel_arguments(hyper[step], buffers), list(ps), list(gs), buffers)
        if not rest:
            return True
        return _compiled.COMPILER.run(cls.rule, rest, hyper, strict=strict)


def learning_rate(lr: Any) -> Any:
    """A positive finite float, or (as torch.optim allows) a 1-element tensor holding one; the tensor is kept,
    so that filling it in place changes the rate of the next step."""
    if isinstance(lr, torch.Tensor):
        if lr.numel() != 1 or lr.is_complex():
            raise checks.invalid("lr", lr, "a positive finite number or a 1-element real tensor")
        checks.positive("lr", float(lr))
        return lr
    return checks.positive("lr", lr)


def _with_hooks(func: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """``func(*args, **kwargs)`` between the optimizer step pre- and post-hooks, as torch.optim calls them: a
    pre-hook may return replacement ``(args, kwargs)``."""
    self = args[0]
    pre, post = _torch_optimizer._global_optimizer_pre_hooks, _torch_optimizer._global_optimizer_post_hooks
    if pre or self._optimizer_step_pre_hooks:
        for hook in (*pre.values(), *self._optimizer_step_pre_hooks.values()):
            result = hook(self, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(f"{func} must return None or a tuple of (new_args, new_kwargs), "
                                       f"but got {result}.")
                args, kwargs = result
    out = func(*args, **kwargs)
    self._optimizer_step_code()
    if post or self._optimizer_step_post_hooks:
        for hook in (*self._optimizer_step_post_hooks.values(), *post.values()):
            hook(self, args, kwargs)
    return out


def _contiguous(item: tuple) -> bool:
    p, g, bufs = item
    return all(t.is_contiguous() for t in (p, g, *bufs) if t is not None and t.dim())


def _lists(bufs: tuple) -> list:
    """Per-tensor buffer lists [(m, v, None), ...] -> per-buffer lists [[m...], [v...], None]."""
    return [None if b[0] is None else list(b) for b in zip(*bufs, strict=True)]


def _path(fused: bool | None, foreach: bool | None) -> str:
    """The path of a group: explicit flags win; ``foreach=False`` without ``fused=True`` means the reference
    loop; otherwise "auto", decided per step from the group's size (see ``FirstOrder._step_group``)."""
    if fused:
        return "fused"
    if foreach:
        return "foreach"
    if foreach is False:
        return "loop"
    if fused is False or torch.compiler.is_compiling():
        return "foreach"
    return "auto"
