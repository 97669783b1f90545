"""The fused CPU path: one C++/OpenMP call per step over the whole list of tensors.

Each algorithm's rule (``sgd.py``, ``adam.py``...) is transcribed in ``_fused_cpu.cpp`` into one C++ loop
body that reads every element of p, g and the state once and writes p and the state once, with no temporary
tensors. A step flattens the list of tensors into ``(tensor, chunk)`` work items and shares them among
torch's threads (``torch.get_num_threads()``), so a hundred small tensors run in parallel instead of one
after the other, and one call replaces torch.compile's per-tensor dispatch. A chunk is a quarter of a
thread's share, between :data:`MIN_CHUNK` and :data:`MAX_CHUNK` elements: long runs of consecutive memory
per thread (with 128 KiB chunks the two threads' interleaved streams ran 5-10% slower than torch's fused
kernels whenever memory was fast) and still enough items to balance the threads.

An optimizer class declares its kernel, ``kernel = FusedKernel("adam", scalars=(...), flags=(...))``, and
maps its rule's hyperparameters to those names in ``kernel_arguments``. The declaration is the one place
that orders them: :meth:`FusedKernel.pack` lays the named values out in the declared order (a missing or
unknown name is an error, never a shifted slot), and the C++ reads them through named constants that
:meth:`KernelLibrary.source` generates from the same declarations (``s[adam_scalar::eps]``).

The C++ mirrors the eager ATen formulas of the rule's tensor methods, operation by operation and with the
scalars rounded to the tensor's dtype (``add(o, alpha=a)`` is ``x + a*o``; ``addcmul(a, b, value=c)`` is
``x + c*a*b``; ``addcdiv`` is ``x + c*a/b``; ``lerp`` switches form at weight 0.5). It is compiled with
``-ffp-contract=off``, so every element rounds the same way whatever the vector width; torch's own
vectorised ``add`` uses fused multiply-adds, so the last bit may differ from the loop path (the tests allow
1e-12 relative in float64, 1e-6 in float32).

Built on first use with the system C++ compiler (``g++ -O3 -march=native -fopenmp``, a few seconds),
without torch headers, into torch's extensions directory under a name hashing the source (the generated
prelude included), the flags and the CPU, so the compiler runs once per machine; later processes only load
the library. Loaded with ctypes; OpenMP resolves to the ``libgomp`` torch already loaded. float32 and
float64 contiguous tensors; anything else (bfloat16, CUDA) goes to the torch.compile path.
"""

from __future__ import annotations

import ctypes
import hashlib
import operator
import os
import platform
import shutil
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

MIN_CHUNK = 1 << 15  # elements per work item, at least (128 KiB of float32) ...
MAX_CHUNK = 1 << 19  # ... and at most (2 MiB of float32)
# 256-bit vectors: with 512-bit ones (AVX-512 on this AMD EPYC) Adam's divisions and root ran 1.24x slower
FLAGS = ["-O3", "-march=native", "-mprefer-vector-width=256", "-ffp-contract=off", "-fno-math-errno",
         "-fopenmp", "-fPIC", "-shared"]
CPP_FILE = Path(__file__).with_name("_fused_cpu.cpp")  # package data (pyproject.toml)
DTYPES = {torch.float32: 0, torch.float64: 1}  # the C++ entry points' ``is_double``

_ARGTYPES = [ctypes.c_int, ctypes.c_int64, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_int64),
             ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_int64), ctypes.c_int]


@dataclass(frozen=True)
class FusedKernel:
    """One C++ kernel, ``descent_<name>`` in ``_fused_cpu.cpp``, and the names of its arguments in order.

    ``scalars`` are passed as doubles (rounded to the tensor's dtype in C++), ``flags`` as integers; the C++
    reads slot ``i`` of ``scalars`` as ``<name>_scalar::<scalars[i]>``. The owning class's
    ``kernel_arguments(hyper, buffers)`` returns one dict with exactly these names.

    >>> kernel = FusedKernel("demo", scalars=("neg_lr", "eps"), flags=("maximize",))
    >>> scalars, flags = kernel.pack({"eps": 1e-8, "maximize": False, "neg_lr": -0.1})
    >>> list(scalars), list(flags)
    ([-0.1, 1e-08], [0])
    >>> kernel.pack({"neg_lr": -0.1, "maximize": False})
    Traceback (most recent call last):
    ...
    ValueError: FusedKernel 'demo': arguments missing ['eps'], unknown []
    """

    name: str
    scalars: tuple[str, ...]
    flags: tuple[str, ...]
    # made once per kernel, for the step: the ctypes array types and the getters of the values in order
    _layout: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = self.scalars + self.flags
        if len(set(names)) != len(names) or not all(n.isidentifier() for n in (self.name, *names)):
            raise ValueError(f"FusedKernel {self.name!r}: names must be distinct identifiers, got {names}")
        object.__setattr__(self, "_layout", (len(names), ctypes.c_double * len(self.scalars), _getter(self.scalars),
                                             ctypes.c_int64 * len(self.flags), _getter(self.flags)))

    def pack(self, values: dict[str, Any]) -> tuple[Any, Any]:
        """The ctypes arrays of ``values[name]`` in the declared order of ``scalars`` and ``flags``."""
        count, scalar_array, scalars, flag_array, flags = self._layout
        if len(values) != count:
            raise self._mismatch(values)
        try:
            return scalar_array(*scalars(values)), flag_array(*flags(values))
        except KeyError:
            raise self._mismatch(values) from None

    def _mismatch(self, values: dict[str, Any]) -> ValueError:
        declared = self.scalars + self.flags
        missing = [k for k in declared if k not in values]
        return ValueError(f"FusedKernel {self.name!r}: arguments missing {missing}, "
                          f"unknown {sorted(set(values) - set(declared))}")

    def cpp_constants(self) -> str:
        """The C++ names of the slots, generated into the prelude of ``_fused_cpu.cpp``."""
        return "".join(f"namespace {self.name}_{kind} {{ enum : int {{ "
                       + ", ".join(f"{k} = {i}" for i, k in enumerate(names)) + " }; }\n"
                       for kind, names in (("scalar", self.scalars), ("flag", self.flags)))


def _getter(names: tuple[str, ...]) -> Any:
    """``values -> tuple(values[name] for name in names)``, as one C call (``operator.itemgetter``)."""
    if len(names) >= 2:
        return operator.itemgetter(*names)
    return lambda values: tuple(values[name] for name in names)


class KernelLibrary:
    """The C++ kernels of this process: the declared kernels, and the state of building and loading them.

    ``functions`` maps a kernel's name to its ctypes function once loaded; ``error`` says why the library
    cannot be built or loaded here (the caller then falls back to foreach or torch.compile);
    ``load_seconds`` is this process's build-or-load latency. One instance, :data:`LIBRARY`.
    """

    def __init__(self, kernels: dict[str, FusedKernel] | None = None):
        self.kernels: dict[str, FusedKernel] = dict(kernels or {})
        self.functions: dict[str, Any] | None = None
        self.error: str | None = None
        self.load_seconds: float | None = None

    def declare(self, kernel: FusedKernel) -> None:
        """Register a class's kernel (``FirstOrder.__init_subclass__``); its name must be unique."""
        known = self.kernels.setdefault(kernel.name, kernel)
        if known != kernel:
            raise ValueError(f"two FusedKernel declarations named {kernel.name!r}: {known} and {kernel}")

    def source(self) -> str:
        """The C++ compiled: the prelude generated from the declarations, then ``_fused_cpu.cpp``."""
        prelude = [f"// generated by {__name__} from the FusedKernel declarations\n#include <cstdint>\n",
                   f"constexpr int64_t MIN_CHUNK = {MIN_CHUNK}, MAX_CHUNK = {MAX_CHUNK};\n"]
        prelude += [self.kernels[name].cpp_constants() for name in sorted(self.kernels)]
        return "".join(prelude) + "\n" + CPP_FILE.read_text()

    def path(self, source: str) -> str:
        """Where the library built from ``source`` lives: its name hashes the source, flags and CPU."""
        cpu = platform.machine() + platform.processor()
        try:
            with open("/proc/cpuinfo") as f:
                cpu += next((line for line in f if line.startswith("flags")), "")
        except OSError:
            pass
        key = hashlib.sha256((source + " ".join(FLAGS) + cpu).encode()).hexdigest()[:16]
        root = os.environ.get("TORCH_EXTENSIONS_DIR") or os.path.join(
            os.path.expanduser("~"), ".cache", "torch_extensions")
        return os.path.join(root, f"descent_fused_cpu_{key}", "descent_fused_cpu.so")

    def load(self) -> bool:
        """Build (once per machine) and load (once per process) the library; False if impossible here."""
        if self.functions is not None or self.error is not None:
            return self.functions is not None
        t0 = time.perf_counter()
        try:
            source = self.source()
            path = self.path(source)
            if not os.path.exists(path):
                _build(source, path)
            handle = ctypes.CDLL(path)
            # a kernel without C++ (declared by a class outside descent) is simply not supported
            functions = {name: getattr(handle, f"descent_{name}") for name in self.kernels
                         if hasattr(handle, f"descent_{name}")}
        except Exception as err:  # no compiler, read-only home, foreign CPU...: the caller falls back
            self.error = repr(err)
            warnings.warn(f"descent.optim: the fused CPU kernels are unavailable here ({type(err).__name__}: "
                          f"{str(err).strip()[-300:]}); the optimizers use foreach. Set CXX to a C++ compiler "
                          "or TORCH_EXTENSIONS_DIR to a writable folder to build them", RuntimeWarning, stacklevel=2)
            return False
        for fn in functions.values():
            fn.restype, fn.argtypes = None, _ARGTYPES
        self.functions = functions
        self.load_seconds = time.perf_counter() - t0
        return True

    def supports(self, kernel: FusedKernel | None, t: torch.Tensor) -> bool:
        """Whether ``kernel`` can update ``t`` here (building the library on the first call that needs it)."""
        # t.is_cpu, not t.device.type: 0.2 us instead of 0.7 us, called per tensor and step
        return (kernel is not None and t.is_cpu and t.dtype in DTYPES
                and (self.functions is not None or self.load()) and kernel.name in self.functions)

    def step(self, kernel: FusedKernel, arguments: dict[str, Any], ps: list, gs: list,
             bufs: list[list | None]) -> None:
        """One update of every tensor in ``ps`` (one dtype, contiguous, CPU) in a single C++ call;
        ``arguments`` are the kernel's named scalars and flags, ``bufs`` the per-buffer lists (None if
        absent)."""
        scalars, flags = kernel.pack(arguments)
        n = len(ps)
        pointers = [t.data_ptr() for t in ps] + [t.data_ptr() for t in gs]
        for b in bufs:
            pointers += [0] * n if b is None else [t.data_ptr() for t in b]
        tables = (ctypes.c_void_p * len(pointers))(*pointers)
        numel = (ctypes.c_int64 * n)(*(t.numel() for t in ps))
        self.functions[kernel.name](DTYPES[ps[0].dtype], n, tables, numel, scalars, flags,
                                    torch.get_num_threads())


def _build(source: str, path: str) -> None:
    compiler = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        raise RuntimeError("no C++ compiler (g++ or $CXX) found")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(path)) as tmp:
        src, out = os.path.join(tmp, "kernels.cpp"), os.path.join(tmp, "kernels.so")
        with open(src, "w") as f:
            f.write(source)
        done = subprocess.run([compiler, *FLAGS, src, "-o", out], capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{compiler} failed: {done.stderr.strip()[-500:]}")
        os.replace(out, path)  # atomic: a concurrent process sees no half-written library


LIBRARY = KernelLibrary()
