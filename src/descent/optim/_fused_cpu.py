"""The fused CPU path: one C++/OpenMP call per step over the whole list of tensors.

Each algorithm's rule (``sgd.py``, ``adam.py``...) is transcribed below into one C++ loop body that reads
every element of p, g and the state once and writes p and the state once, with no temporary tensors. A
step flattens the list of tensors into ``(tensor, chunk)`` work items and shares them among torch's threads
(``torch.get_num_threads()``), so a hundred small tensors run in parallel instead of one after the other,
and one call replaces torch.compile's per-tensor dispatch. A chunk is a quarter of a thread's share, between
:data:`MIN_CHUNK` and :data:`MAX_CHUNK` elements: long runs of consecutive memory per thread (with 128 KiB
chunks the two threads' interleaved streams ran 5-10% slower than torch's fused kernels whenever memory
was fast) and still enough items to balance the threads.

The C++ mirrors the eager ATen formulas of the rule's tensor methods, operation by operation and with the
scalars rounded to the tensor's dtype (``add(o, alpha=a)`` is ``x + a*o``; ``addcmul(a, b, value=c)`` is
``x + c*a*b``; ``addcdiv`` is ``x + c*a/b``; ``lerp`` switches form at weight 0.5). It is compiled with
``-ffp-contract=off``, so every element rounds the same way whatever the vector width; torch's own
vectorised ``add`` uses fused multiply-adds, so the last bit may differ from the loop path (the tests allow
1e-12 relative in float64, 1e-6 in float32).

Built on first use with the system C++ compiler (``g++ -O3 -march=native -fopenmp``, a few seconds),
without torch headers, into torch's extensions directory under a name hashing the source, the flags and
the CPU, so the compiler runs once per machine; later processes only load the library. Loaded with
ctypes; OpenMP resolves to the ``libgomp`` torch already loaded. float32 and float64 contiguous tensors;
anything else (bfloat16, CUDA) goes to the torch.compile path.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import time
from typing import Any

import torch

MIN_CHUNK = 1 << 15  # elements per work item, at least (128 KiB of float32) ...
MAX_CHUNK = 1 << 19  # ... and at most (2 MiB of float32)
# 256-bit vectors: with 512-bit ones (AVX-512 on this AMD EPYC) Adam's divisions and root ran 1.24x slower
FLAGS = ["-O3", "-march=native", "-mprefer-vector-width=256", "-ffp-contract=off", "-fno-math-errno",
         "-fopenmp", "-fPIC", "-shared"]

SOURCE = r"""
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

struct Work { int64_t tensor, begin, end; };

// Call body(T* x[NBUF], begin, end) on every chunk of every tensor; tables[k*n + t] is list k's tensor t.
template <typename T, int NBUF, typename F>
void over_chunks(int64_t n, void** tables, const int64_t* numel, int threads, F body) {
  int64_t total = 0;
  for (int64_t t = 0; t < n; ++t) total += numel[t];
  // a quarter of a thread's share, a multiple of 64 elements, within [MIN_CHUNK, MAX_CHUNK]
  const int64_t chunk = std::min<int64_t>(MAX_CHUNK, std::max<int64_t>(MIN_CHUNK, total / (4 * threads) / 64 * 64));
  std::vector<Work> work;
  for (int64_t t = 0; t < n; ++t)
    for (int64_t b = 0; b < numel[t]; b += chunk) work.push_back({t, b, std::min(numel[t], b + chunk)});
  const int64_t items = (int64_t)work.size();
  const bool parallel = threads > 1 && items > 1 && total >= 2 * MIN_CHUNK;
  #pragma omp parallel for schedule(dynamic) num_threads(threads) if (parallel)
  for (int64_t w = 0; w < items; ++w) {
    T* x[NBUF];
    for (int k = 0; k < NBUF; ++k) x[k] = tables[k * n + work[w].tensor] ? (T*)tables[k * n + work[w].tensor] : nullptr;
    body(x, work[w].begin, work[w].end);
  }
}

template <typename T> inline T lerp(T self, T end, T w) {  // ATen's two-sided form
  return std::abs(w) < T(0.5) ? self + w * (end - self) : end - (end - self) * (T(1) - w);
}

// the rules' first lines: g = -g if maximize; g = g + wd * p (coupled weight decay)
template <typename T> inline T gradient(T g, T p, bool maximize, bool has_wd, T wd) {
  if (maximize) g = -g;
  return has_wd ? g + wd * p : g;
}

// denominator(s, eps, inside, root_c) of _base.py: sqrt(s)/rc + eps, or sqrt(s/rc2 + eps)
template <typename T> inline T denom(T s, T eps, bool inside, T rc, T rc2) {
  return inside ? std::sqrt(s / rc2 + eps) : std::sqrt(s) / rc + eps;
}

// sgd.py momentum_rule. x = p, g, v. s = lr, rho, keep, scale, wd, -lr, -rho, -lr*scale, 1+rho
template <typename T, bool HAS_V, bool LIV, bool NESTEROV>
void momentum(int64_t n, void** tb, const int64_t* numel, const double* s, const int64_t* f, int threads) {
  const T rho = s[1], keep = s[2], scale = s[3], wd = s[4], mlr = s[5], mrho = s[6], mlrs = s[7], up = s[8];
  const bool maximize = f[0], has_wd = f[1];
  over_chunks<T, 3>(n, tb, numel, threads, [=](T** x, int64_t b, int64_t e) {
    T* __restrict__ p = x[0]; const T* __restrict__ gp = x[1]; T* __restrict__ v = x[2];
    for (int64_t i = b; i < e; ++i) {
      const T pi = p[i], g = gradient(gp[i], pi, maximize, has_wd, wd);
      if (!HAS_V) { p[i] = pi + mlr * g; continue; }
      T vi = v[i];
      if (LIV) {
        const T ahead = NESTEROV ? pi + mrho * vi : pi;
        vi = vi * keep; vi = vi + mlrs * g;
        p[i] = ahead + (NESTEROV ? up : T(1)) * vi;
      } else {
        vi = vi * keep; vi = vi + scale * g;
        p[i] = pi + mlr * (NESTEROV ? g + rho * vi : vi);
      }
      v[i] = vi;
    }
  });
}

// adagrad.py. x = p, g, h. s = -clr, eps, wd, rc(1), rc2(1)
template <typename T>
void adagrad(int64_t n, void** tb, const int64_t* numel, const double* s, const int64_t* f, int threads) {
  const T mclr = s[0], eps = s[1], wd = s[2];
  const bool maximize = f[0], has_wd = f[1], inside = f[2];
  over_chunks<T, 3>(n, tb, numel, threads, [=](T** x, int64_t b, int64_t e) {
    T* __restrict__ p = x[0]; const T* __restrict__ gp = x[1]; T* __restrict__ h = x[2];
    for (int64_t i = b; i < e; ++i) {
      const T pi = p[i], g = gradient(gp[i], pi, maximize, has_wd, wd);
      T hi = h[i] + T(1) * g * g;
      h[i] = hi;
      p[i] = pi + mclr * g / denom(hi, eps, inside, T(1), T(1));
    }
  });
}

// rmsprop.py. x = p, g, h, g_avg, v. s = -lr, alpha, 1-alpha, eps, momentum, wd
template <typename T, bool CENTERED, bool MOM>
void rmsprop(int64_t n, void** tb, const int64_t* numel, const double* s, const int64_t* f, int threads) {
  const T mlr = s[0], alpha = s[1], c = s[2], eps = s[3], mu = s[4], wd = s[5];
  const bool maximize = f[0], has_wd = f[1], inside = f[2];
  over_chunks<T, 5>(n, tb, numel, threads, [=](T** x, int64_t b, int64_t e) {
    T* __restrict__ p = x[0]; const T* __restrict__ gp = x[1]; T* __restrict__ h = x[2];
    T* __restrict__ ga = x[3]; T* __restrict__ v = x[4];
    for (int64_t i = b; i < e; ++i) {
      const T pi = p[i], g = gradient(gp[i], pi, maximize, has_wd, wd);
      T hi = h[i] * alpha; hi = hi + c * g * g; h[i] = hi;
      T d;
      if (CENTERED) {
        T gai = lerp(ga[i], g, c); ga[i] = gai;
        d = denom(hi + T(-1) * gai * gai, eps, inside, T(1), T(1));
      } else {
        d = denom(hi, eps, inside, T(1), T(1));
      }
      if (MOM) {
        T vi = v[i] * mu; vi = vi + T(1) * g / d; v[i] = vi;
        p[i] = pi + mlr * vi;
      } else {
        p[i] = pi + mlr * g / d;
      }
    }
  });
}

// adadelta.py. x = p, g, h, u. s = -lr, rho, 1-rho, eps, wd
template <typename T>
void adadelta(int64_t n, void** tb, const int64_t* numel, const double* s, const int64_t* f, int threads) {
  const T mlr = s[0], rho = s[1], c = s[2], eps = s[3], wd = s[4];
  const bool maximize = f[0], has_wd = f[1];
  over_chunks<T, 4>(n, tb, numel, threads, [=](T** x, int64_t b, int64_t e) {
    T* __restrict__ p = x[0]; const T* __restrict__ gp = x[1]; T* __restrict__ h = x[2]; T* __restrict__ u = x[3];
    for (int64_t i = b; i < e; ++i) {
      const T pi = p[i], g = gradient(gp[i], pi, maximize, has_wd, wd);
      T hi = h[i] * rho; hi = hi + c * g * g; h[i] = hi;
      T ui = u[i];
      T delta = std::sqrt(ui + eps) / std::sqrt(hi + eps) * g;
      ui = ui * rho; u[i] = ui + c * delta * delta;
      p[i] = pi + mlr * delta;
    }
  });
}

// adam.py. x = p, g, m, v, v_max. s = -step_size, 1-beta1, beta2, 1-beta2, eps, wd, 1-lr*wd, rc, rc2
template <typename T, bool AMS, bool WD, bool DECOUPLED, bool INSIDE>
void adam(int64_t n, void** tb, const int64_t* numel, const double* s, const int64_t* f, int threads) {
  const T mss = s[0], w1 = s[1], beta2 = s[2], c2 = s[3], eps = s[4], wd = s[5], decay = s[6];
  const T rc = s[7], rc2 = s[8];
  const bool maximize = f[0];
  over_chunks<T, 5>(n, tb, numel, threads, [=](T** x, int64_t b, int64_t e) {
    T* __restrict__ p = x[0]; const T* __restrict__ gp = x[1]; T* __restrict__ m = x[2];
    T* __restrict__ v = x[3]; T* __restrict__ vm = x[4];
    for (int64_t i = b; i < e; ++i) {
      const T p0 = p[i], pi = WD && DECOUPLED ? p0 * decay : p0;
      const T g = gradient(gp[i], p0, maximize, WD && !DECOUPLED, wd);
      T mi = lerp(m[i], g, w1); m[i] = mi;
      T vi = v[i] * beta2; vi = vi + c2 * g * g; v[i] = vi;
      if (AMS) { vi = std::max(vm[i], vi); vm[i] = vi; }
      p[i] = pi + mss * mi / denom(vi, eps, INSIDE, rc, rc2);
    }
  });
}

template <typename T, bool AMS>
void adam_options(int64_t n, void** tb, const int64_t* numel, const double* s, const int64_t* f, int threads) {
  const bool wd = f[1], inside = f[2], decoupled = f[3];
  if (!wd && !inside) adam<T, AMS, false, false, false>(n, tb, numel, s, f, threads);
  else if (!wd) adam<T, AMS, false, false, true>(n, tb, numel, s, f, threads);
  else if (decoupled && !inside) adam<T, AMS, true, true, false>(n, tb, numel, s, f, threads);
  else if (decoupled) adam<T, AMS, true, true, true>(n, tb, numel, s, f, threads);
  else if (!inside) adam<T, AMS, true, false, false>(n, tb, numel, s, f, threads);
  else adam<T, AMS, true, false, true>(n, tb, numel, s, f, threads);
}

template <typename T>
int run(int algo, int64_t n, void** tb, const int64_t* numel, const double* s, const int64_t* f, int threads) {
  switch (algo) {
    case 0:
      if (!f[2]) momentum<T, false, false, false>(n, tb, numel, s, f, threads);
      else if (f[3] && f[4]) momentum<T, true, true, true>(n, tb, numel, s, f, threads);
      else if (f[3]) momentum<T, true, true, false>(n, tb, numel, s, f, threads);
      else if (f[4]) momentum<T, true, false, true>(n, tb, numel, s, f, threads);
      else momentum<T, true, false, false>(n, tb, numel, s, f, threads);
      return 0;
    case 1: adagrad<T>(n, tb, numel, s, f, threads); return 0;
    case 2:
      if (f[3] && f[4]) rmsprop<T, true, true>(n, tb, numel, s, f, threads);
      else if (f[3]) rmsprop<T, true, false>(n, tb, numel, s, f, threads);
      else if (f[4]) rmsprop<T, false, true>(n, tb, numel, s, f, threads);
      else rmsprop<T, false, false>(n, tb, numel, s, f, threads);
      return 0;
    case 3: adadelta<T>(n, tb, numel, s, f, threads); return 0;
    case 4:
      if (f[4]) adam_options<T, true>(n, tb, numel, s, f, threads);
      else adam_options<T, false>(n, tb, numel, s, f, threads);
      return 0;
  }
  return 1;
}

}  // namespace

extern "C" int descent_step(int algo, int is_double, int64_t n, void** tables, const int64_t* numel,
                            const double* scalars, const int64_t* flags, int threads) {
  return is_double ? run<double>(algo, n, tables, numel, scalars, flags, threads)
                   : run<float>(algo, n, tables, numel, scalars, flags, threads);
}
""".replace("MIN_CHUNK", str(MIN_CHUNK)).replace("MAX_CHUNK", str(MAX_CHUNK))


# ---------------------------------------------------------------- each rule's hyperparameters as C++ arguments
# (algorithm id, scalars, flags) from the rule's keyword arguments; the scalars are computed in Python floats
# exactly as the rule computes its ``alpha=``/``value=`` arguments, then rounded to the dtype in C++.
def _momentum(h: dict, bufs: list) -> tuple[int, list[float], list[bool]]:
    lr, rho, wd = h["lr"], h["rho"], h["weight_decay"] or 0.0
    scalars = [lr, rho, h["keep"], h["scale"], wd, -lr, -rho, -lr * h["scale"], 1 + rho]
    return 0, scalars, [h["maximize"], h["weight_decay"] is not None, bufs[0] is not None,
                        h["lr_in_velocity"], h["nesterov"]]


def _adagrad(h: dict, bufs: list) -> tuple[int, list[float], list[bool]]:
    return 1, [-h["clr"], h["eps"], h["weight_decay"] or 0.0], [h["maximize"], h["weight_decay"] is not None,
                                                               h["eps_inside_sqrt"]]


def _rmsprop(h: dict, bufs: list) -> tuple[int, list[float], list[bool]]:
    scalars = [-h["lr"], h["alpha"], 1 - h["alpha"], h["eps"], h["momentum"], h["weight_decay"] or 0.0]
    return 2, scalars, [h["maximize"], h["weight_decay"] is not None, h["eps_inside_sqrt"],
                        bufs[1] is not None, bufs[2] is not None]


def _adadelta(h: dict, bufs: list) -> tuple[int, list[float], list[bool]]:
    return 3, [-h["lr"], h["rho"], 1 - h["rho"], h["eps"], h["weight_decay"] or 0.0], [
        h["maximize"], h["weight_decay"] is not None]


def _adam(h: dict, bufs: list) -> tuple[int, list[float], list[bool]]:
    wd, rc = h["weight_decay"] or 0.0, h["root_c"]
    scalars = [-h["step_size"], 1 - h["beta1"], h["beta2"], 1 - h["beta2"], h["eps"], wd, 1 - h["lr"] * wd,
               1.0 if rc is None else rc, 1.0 if rc is None else rc * rc]
    return 4, scalars, [h["maximize"], h["weight_decay"] is not None, h["eps_inside_sqrt"], h["decoupled"],
                        bufs[2] is not None]


ARGUMENTS = {"momentum_rule": _momentum, "adagrad_rule": _adagrad, "rmsprop_rule": _rmsprop,
             "adadelta_rule": _adadelta, "adam_rule": _adam}
DTYPES = {torch.float32: 0, torch.float64: 1}

# ---------------------------------------------------------------- build once per machine, load per process
_LIBRARY: list[Any] = []  # [ctypes function] once loaded
BROKEN: list[str] = []  # why the library cannot be built here (then the caller falls back)
LOAD_SECONDS: list[float] = []  # build-or-load latency of this process, for the benchmark to print


def _library_path() -> str:
    cpu = platform.machine() + platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu += next((line for line in f if line.startswith("flags")), "")
    except OSError:
        pass
    key = hashlib.sha256((SOURCE + " ".join(FLAGS) + cpu).encode()).hexdigest()[:16]
    root = os.environ.get("TORCH_EXTENSIONS_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "torch_extensions")
    return os.path.join(root, f"descent_fused_cpu_{key}", "descent_fused_cpu.so")


def _build(path: str) -> None:
    compiler = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        raise RuntimeError("no C++ compiler (g++ or $CXX) found")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(path)) as tmp:
        src, out = os.path.join(tmp, "kernels.cpp"), os.path.join(tmp, "kernels.so")
        with open(src, "w") as f:
            f.write(SOURCE)
        done = subprocess.run([compiler, *FLAGS, src, "-o", out], capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{compiler} failed: {done.stderr.strip()[-500:]}")
        os.replace(out, path)  # atomic: a concurrent process sees no half-written library


def library() -> Any | None:
    """The loaded ``descent_step`` function, building it on first use on this machine; None if impossible."""
    if _LIBRARY or BROKEN:
        return _LIBRARY[0] if _LIBRARY else None
    t0 = time.perf_counter()
    try:
        path = _library_path()
        if not os.path.exists(path):
            _build(path)
        fn = ctypes.CDLL(path).descent_step
    except Exception as err:  # no compiler, read-only home, foreign CPU...: the caller falls back
        BROKEN.append(repr(err))
        return None
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.POINTER(ctypes.c_void_p),
                   ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_double),
                   ctypes.POINTER(ctypes.c_int64), ctypes.c_int]
    _LIBRARY.append(fn)
    LOAD_SECONDS.append(time.perf_counter() - t0)
    return fn


def supports(rule: Any, t: torch.Tensor) -> bool:
    return rule.__name__ in ARGUMENTS and t.device.type == "cpu" and t.dtype in DTYPES


def step(rule: Any, ps: list, gs: list, bufs: list[list | None], hyper: dict) -> None:
    """One update of every tensor in ``ps`` (one dtype, contiguous, CPU) in a single C++ call."""
    fn = library()
    algo, scalars, flags = ARGUMENTS[rule.__name__](hyper, bufs)
    n = len(ps)
    pointers = [t.data_ptr() for t in ps] + [t.data_ptr() for t in gs]
    for b in bufs:
        pointers += [0] * n if b is None else [t.data_ptr() for t in b]
    tables = (ctypes.c_void_p * len(pointers))(*pointers)
    numel = (ctypes.c_int64 * n)(*(t.numel() for t in ps))
    code = fn(algo, DTYPES[ps[0].dtype], n, tables, numel, (ctypes.c_double * len(scalars))(*scalars),
              (ctypes.c_int64 * len(flags))(*flags), torch.get_num_threads())
    if code:
        raise RuntimeError(f"descent fused kernel: unknown algorithm {algo}")
