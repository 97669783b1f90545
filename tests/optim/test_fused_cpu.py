"""The C++ kernels' declarations: each class names its kernel's arguments once, Python and C++ agree on them."""

from __future__ import annotations

import re
from importlib import resources

import pytest
import torch
from optim_problems import CONFIGS, FIRST_ORDER, make_params

from descent.optim import OPTIMIZERS, _fused_cpu
from descent.optim._fused_cpu import FusedKernel, KernelLibrary
from descent.optim.adam import adam_rule

CLASSES = sorted({OPTIMIZERS[name].factory for name in FIRST_ORDER}, key=lambda c: c.__name__)
CPP = resources.files("descent.optim").joinpath("_fused_cpu.cpp").read_text()


def _cpp_blocks(kernel: FusedKernel) -> str:
    """The C++ functions (``template <...>`` blocks) that read this kernel's scalars or flags."""
    blocks = re.split(r"\n(?=template <)", CPP)
    return "\n".join(b for b in blocks if f"{kernel.name}_scalar" in b or f"{kernel.name}_flag" in b)


@pytest.mark.parametrize("cls", CLASSES, ids=[c.__name__ for c in CLASSES])
def test_every_first_order_class_declares_a_kernel_the_library_knows(cls):
    assert isinstance(cls.kernel, FusedKernel)
    assert _fused_cpu.LIBRARY.kernels[cls.kernel.name] is cls.kernel
    assert f"DESCENT_KERNEL({cls.kernel.name})" in CPP


@pytest.mark.parametrize("cls", CLASSES, ids=[c.__name__ for c in CLASSES])
def test_the_cpp_reads_every_declared_slot_by_its_name(cls):
    """A slot the C++ reads but the declaration lacks does not compile (the names are generated from the
    declaration); this checks the converse: no declared value is silently ignored by the C++."""
    kernel, body = cls.kernel, _cpp_blocks(cls.kernel)
    for kind, alias, names in (("scalar", "S", kernel.scalars), ("flag", "F", kernel.flags)):
        for name in names:
            assert re.search(rf"\b({alias}|{kernel.name}_{kind})::{name}\b", body), (kernel.name, kind, name)
    used = set(re.findall(r"\bs\[S::(\w+)\]", body)) | set(re.findall(rf"{kernel.name}_scalar::(\w+)", body))
    assert used == set(kernel.scalars)


def test_the_generated_prelude_numbers_the_slots_in_declared_order():
    source = _fused_cpu.LIBRARY.source()
    adam = OPTIMIZERS["adam"].factory.kernel
    assert "namespace adam_scalar { enum : int { neg_step_size = 0, one_minus_beta1 = 1," in source
    assert f"namespace adam_flag {{ enum : int {{ {', '.join(f'{k} = {i}' for i, k in enumerate(adam.flags))} }}; }}" \
        in source
    assert source.endswith(CPP)


def test_pack_orders_named_values_and_rejects_missing_or_unknown_names():
    kernel = FusedKernel("demo", scalars=("b", "a"), flags=("on",))
    scalars, flags = kernel.pack({"a": 1.0, "on": True, "b": 2.0})
    assert list(scalars) == [2.0, 1.0] and list(flags) == [1]
    with pytest.raises(ValueError, match=r"missing \['a'\], unknown \['c'\]"):
        kernel.pack({"b": 2.0, "c": 1.0, "on": True})
    with pytest.raises(ValueError, match=r"missing \[\], unknown \['extra'\]"):
        kernel.pack({"a": 1.0, "b": 2.0, "on": True, "extra": 0})
    with pytest.raises(ValueError, match="distinct identifiers"):
        FusedKernel("demo", scalars=("a",), flags=("a",))


@pytest.mark.parametrize(("name", "label", "kw"), CONFIGS, ids=[f"{n}-{c}" for n, c, _ in CONFIGS])
def test_kernel_arguments_name_exactly_the_declared_slots(name, label, kw):
    """For every config, at the first and a later step: the class maps its rule's keywords to exactly the
    names its kernel declares."""
    entry = OPTIMIZERS[name]
    params = make_params()
    opt = entry.factory(params, **{"lr": entry.lr, **entry.defaults, **kw})
    group, cls = opt.param_groups[0], type(opt)
    for step in (1, 2):
        buffers = [[torch.zeros(1)] if key in opt._active(group) else None for key in cls.buffers]
        arguments = cls.kernel_arguments(opt._hyper(group, step), buffers)
        assert set(arguments) == set(cls.kernel.scalars) | set(cls.kernel.flags)
        cls.kernel.pack(arguments)


def test_the_library_path_hashes_the_declarations(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    library = KernelLibrary(_fused_cpu.LIBRARY.kernels)
    changed = KernelLibrary(_fused_cpu.LIBRARY.kernels)
    adam = changed.kernels["adam"]
    changed.kernels["adam"] = FusedKernel("adam", scalars=adam.scalars[::-1], flags=adam.flags)
    path = library.path(library.source())
    assert path.startswith(str(tmp_path)) and path == library.path(library.source())
    assert changed.path(changed.source()) != path


def test_a_second_declaration_under_a_taken_name_is_rejected():
    library = KernelLibrary(_fused_cpu.LIBRARY.kernels)
    library.declare(library.kernels["adam"])  # the same declaration again (a subclass): fine
    with pytest.raises(ValueError, match="two FusedKernel declarations named 'adam'"):
        library.declare(FusedKernel("adam", scalars=("eps",), flags=()))


def test_the_library_has_a_function_for_every_declared_kernel():
    if not _fused_cpu.LIBRARY.load():
        pytest.fail(f"the C++ kernel cannot be built here: {_fused_cpu.LIBRARY.error}")
    assert set(_fused_cpu.LIBRARY.functions) == set(_fused_cpu.LIBRARY.kernels)
    assert _fused_cpu.LIBRARY.load_seconds is not None and _fused_cpu.LIBRARY.error is None


def test_a_subclass_with_a_new_rule_does_not_inherit_the_kernel():
    from descent.optim import Adam

    def signed_adam_rule(p, g, m, v, v_max, **hyper):
        adam_rule(p, g.sign(), m, v, v_max, **hyper)

    class SignedAdam(Adam):
        rule = staticmethod(signed_adam_rule)

    class QuietAdam(Adam):  # same rule: same kernel
        pass

    assert SignedAdam.kernel is None and QuietAdam.kernel is Adam.kernel
    p = torch.ones(4, requires_grad=True)
    p.grad = torch.full((4,), 5.0)
    assert not _fused_cpu.LIBRARY.supports(SignedAdam.kernel, p)
