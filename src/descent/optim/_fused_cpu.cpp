// descent's fused CPU kernels: each optimizer's rule as one loop that reads and writes every element once.
// See _fused_cpu.py for how this file is built, cached and called.
//
// This file is compiled after a prelude that _fused_cpu.py generates from the FusedKernel declarations of
// the optimizer classes (sgd.py, adam.py...): MIN_CHUNK, MAX_CHUNK and, for every kernel NAME, the slots of
// its scalars and flags as named constants,
//
//   namespace NAME_scalar { enum : int { neg_lr = 0, rho = 1, ... }; }  // order of FusedKernel.scalars
//   namespace NAME_flag { enum : int { maximize = 0, ... }; }            // order of FusedKernel.flags
//
// so a kernel reads s[S::neg_lr], never s[0]: the order lives in one place, the Python declaration.
// Every kernel is `extern "C" void descent_NAME(is_double, n, tables, numel, scalars, flags, threads)`, where
// tables[k*n + t] is the data pointer of tensor t in list k (p, g, then the class's buffers; null if absent).

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

// _base.py decayed_gradient, the rules' first lines: g = -g if maximize; g = g + wd * p (coupled weight
// decay) ...
template <typename T> inline T gradient(T g, T p, bool maximize, bool has_wd, T wd) {
  if (maximize) g = -g;
  return has_wd ? g + wd * p : g;
}

// ... or, decoupled, p = p * (1 - lr wd) before the step (gradient() then called with has_wd = false)
template <typename T> inline T decayed(T p, bool decoupled, T decay) { return decoupled ? p * decay : p; }

// denominator(s, eps, inside, root_c) of _base.py: sqrt(s)/rc + eps, or sqrt(s/rc2 + eps)
template <typename T> inline T denom(T s, T eps, bool inside, T rc, T rc2) {
  return inside ? std::sqrt(s / rc2 + eps) : std::sqrt(s) / rc + eps;
}

// sgd.py momentum_rule. x = p, g, v
template <typename T, bool HAS_V, bool LIV, bool NESTEROV>
void momentum(int64_t n, void** tb, const int64_t* numel, const double* s, const int64_t* f, int threads) {
  namespace S = momentum_scalar; namespace F = momentum_flag;
  const T rho = s[S::rho], rho_t = s[S::rho_t], scale_t = s[S::scale_t], wd = s[S::weight_decay];
  const T mlr = s[S::neg_lr], mrho = s[S::neg_rho], mlrs = s[S::neg_lr_scale_t], up = s[S::one_plus_rho];
  const T decay = s[S::decoupled_decay];
  const bool maximize = f[F::maximize], has_wd = f[F::has_weight_decay], dec = has_wd && f[F::decoupled];
  over_chunks<T, 3>(n, tb, numel, threads, [=](T** x, int64_t b, int64_t e) {
    T* __restrict__ p = x[0]; const T* __restrict__ gp = x[1]; T* __restrict__ v = x[2];
    for (int64_t i = b; i < e; ++i) {
      const T p0 = p[i], pi = decayed(p0, dec, decay), g = gradient(gp[i], p0, maximize, has_wd && !dec, wd);
      if (!HAS_V) { p[i] = pi + mlr * g; continue; }
      T vi = v[i];
      if (LIV) {
        const T ahead = NESTEROV ? pi + mrho * vi : pi;
        vi = vi * rho_t; vi = vi + mlrs * g;
        p[i] = ahead + (NESTEROV ? up : T(1)) * vi;
      } else {
        vi = vi * rho_t; vi = vi + scale_t * g;
        p[i] = pi + mlr * (NESTEROV ? g + rho * vi : vi);
      }
      v[i] = vi;
    }
  });
}

template <typename T>
void momentum_options(int64_t n, void** tb, const int64_t* numel, const double* s, const int64_t* f, int threads) {
  namespace F = momentum_flag;
  const bool liv = f[F::lr_in_velocity], nesterov = f[F::nesterov];
  if (!f[F::has_velocity]) momentum<T, false, false, false>(n, tb, numel, s, f, threads);
  else if (liv && nesterov) momentum<T, true, true, true>(n, tb, numel, s, f, threads);
  else if (liv) momentum<T, true, true, false>(n, tb, numel, s, f, threads);
  else if (nesterov) momentum<T, true, false, true>(n, tb, numel, s, f, threads);
  else momentum<T, true, false, false>(n, tb, numel, s, f, threads);
}

// adagrad.py. x = p, g, h
template <typename T>
void adagrad_options(int64_t n, void** tb, const int64_t* numel, const double* s, const int64_t* f, int threads) {
  namespace S = adagrad_scalar; namespace F = adagrad_flag;
  const T m_lr_t = s[S::neg_lr_t], eps = s[S::eps], wd = s[S::weight_decay], decay = s[S::decoupled_decay];
  const bool maximize = f[F::maximize], has_wd = f[F::has_weight_decay], inside = f[F::eps_inside_sqrt];
  const bool dec = has_wd && f[F::decoupled];
  over_chunks<T, 3>(n, tb, numel, threads, [=](T** x, int64_t b, int64_t e) {
    T* __restrict__ p = x[0]; const T* __restrict__ gp = x[1]; T* __restrict__ h = x[2];
    for (int64_t i = b; i < e; ++i) {
      const T p0 = p[i], pi = decayed(p0, dec, decay), g = gradient(gp[i], p0, maximize, has_wd && !dec, wd);
      T hi = h[i] + T(1) * g * g;
      h[i] = hi;
      p[i] = pi + m_lr_t * g / denom(hi, eps, inside, T(1), T(1));
    }
  });
}

// rmsprop.py. x = p, g, h, g_avg, v
template <typename T, bool CENTERED, bool MOM>
void rmsprop(int64_t n, void** tb, const int64_t* numel, const double* s, const int64_t* f, int threads) {
  namespace S = rmsprop_scalar; namespace F = rmsprop_flag;
  const T mlr = s[S::neg_lr], lr = -s[S::neg_lr], alpha = s[S::alpha], c = s[S::one_minus_alpha], eps = s[S::eps];
  const T mu = s[S::momentum], wd = s[S::weight_decay], decay = s[S::decoupled_decay];
  const bool maximize = f[F::maximize], has_wd = f[F::has_weight_decay], inside = f[F::eps_inside_sqrt];
  const bool dec = has_wd && f[F::decoupled], liv = f[F::lr_in_velocity];
  over_chunks<T, 5>(n, tb, numel, threads, [=](T** x, int64_t b, int64_t e) {
    T* __restrict__ p = x[0]; const T* __restrict__ gp = x[1]; T* __restrict__ h = x[2];
    T* __restrict__ ga = x[3]; T* __restrict__ v = x[4];
    for (int64_t i = b; i < e; ++i) {
      const T p0 = p[i], pi = decayed(p0, dec, decay), g = gradient(gp[i], p0, maximize, has_wd && !dec, wd);
      T hi = h[i] * alpha; hi = hi + c * g * g; h[i] = hi;
      T d;
      if (CENTERED) {
        T gai = lerp(ga[i], g, c); ga[i] = gai;
        d = denom(hi + T(-1) * gai * gai, eps, inside, T(1), T(1));
      } else {
        d = denom(hi, eps, inside, T(1), T(1));
      }
      if (MOM) {  // lr_in_velocity: v = mu v + lr g / d; w = w - v (Keras, Optax)
        T vi = v[i] * mu; vi = vi + (liv ? lr : T(1)) * g / d; v[i] = vi;
        p[i] = pi + (liv ? T(-1) : mlr) * vi;
      } else {
        p[i] = pi + mlr * g / d;
      }
    }
  });
}

template <typename T>
void rmsprop_options(int64_t n, void** tb, const int64_t* numel, const double* s, const int64_t* f, int threads) {
  namespace F = rmsprop_flag;
  const bool centered = f[F::centered], mom = f[F::has_momentum];
  if (centered && mom) rmsprop<T, true, true>(n, tb, numel, s, f, threads);
  else if (centered) rmsprop<T, true, false>(n, tb, numel, s, f, threads);
  else if (mom) rmsprop<T, false, true>(n, tb, numel, s, f, threads);
  else rmsprop<T, false, false>(n, tb, numel, s, f, threads);
}

// adadelta.py. x = p, g, h, u
template <typename T>
void adadelta_options(int64_t n, void** tb, const int64_t* numel, const double* s, const int64_t* f, int threads) {
  namespace S = adadelta_scalar; namespace F = adadelta_flag;
  const T mlr = s[S::neg_lr], rho = s[S::rho], c = s[S::one_minus_rho], eps = s[S::eps], wd = s[S::weight_decay];
  const T decay = s[S::decoupled_decay];
  const bool maximize = f[F::maximize], has_wd = f[F::has_weight_decay], dec = has_wd && f[F::decoupled];
  over_chunks<T, 4>(n, tb, numel, threads, [=](T** x, int64_t b, int64_t e) {
    T* __restrict__ p = x[0]; const T* __restrict__ gp = x[1]; T* __restrict__ h = x[2]; T* __restrict__ u = x[3];
    for (int64_t i = b; i < e; ++i) {
      const T p0 = p[i], pi = decayed(p0, dec, decay), g = gradient(gp[i], p0, maximize, has_wd && !dec, wd);
      T hi = h[i] * rho; hi = hi + c * g * g; h[i] = hi;
      T ui = u[i];
      T delta = std::sqrt(ui + eps) / std::sqrt(hi + eps) * g;
      ui = ui * rho; u[i] = ui + c * delta * delta;
      p[i] = pi + mlr * delta;
    }
  });
}

// adam.py. x = p, g, m, v, v_max
template <typename T, bool AMS, bool WD, bool DECOUPLED, bool INSIDE>
void adam(int64_t n, void** tb, const int64_t* numel, const double* s, const int64_t* f, int threads) {
  namespace S = adam_scalar; namespace F = adam_flag;
  const T mss = s[S::neg_step_size], w1 = s[S::one_minus_beta1], beta2 = s[S::beta2], c2 = s[S::one_minus_beta2];
  const T eps = s[S::eps], wd = s[S::weight_decay], decay = s[S::decoupled_decay];
  const T rc = s[S::root_c], rc2 = s[S::root_c_squared];
  // amsgrad_corrected (Optax): the maximum of v / rc2, divided by nothing more
  const bool maximize = f[F::maximize], corrected = f[F::amsgrad_corrected];
  const T drc = AMS && corrected ? T(1) : rc, drc2 = AMS && corrected ? T(1) : rc2;
  over_chunks<T, 5>(n, tb, numel, threads, [=](T** x, int64_t b, int64_t e) {
    T* __restrict__ p = x[0]; const T* __restrict__ gp = x[1]; T* __restrict__ m = x[2];
    T* __restrict__ v = x[3]; T* __restrict__ vm = x[4];
    for (int64_t i = b; i < e; ++i) {
      const T p0 = p[i], pi = WD && DECOUPLED ? p0 * decay : p0;
      const T g = gradient(gp[i], p0, maximize, WD && !DECOUPLED, wd);
      T mi = lerp(m[i], g, w1); m[i] = mi;
      T vi = v[i] * beta2; vi = vi + c2 * g * g; v[i] = vi;
      if (AMS) { vi = std::max(vm[i], corrected ? vi / rc2 : vi); vm[i] = vi; }
      p[i] = pi + mss * mi / denom(vi, eps, INSIDE, drc, drc2);
    }
  });
}

template <typename T, bool AMS>
void adam_ams(int64_t n, void** tb, const int64_t* numel, const double* s, const int64_t* f, int threads) {
  namespace F = adam_flag;
  const bool wd = f[F::has_weight_decay], inside = f[F::eps_inside_sqrt], decoupled = f[F::decoupled];
  if (!wd && !inside) adam<T, AMS, false, false, false>(n, tb, numel, s, f, threads);
  else if (!wd) adam<T, AMS, false, false, true>(n, tb, numel, s, f, threads);
  else if (decoupled && !inside) adam<T, AMS, true, true, false>(n, tb, numel, s, f, threads);
  else if (decoupled) adam<T, AMS, true, true, true>(n, tb, numel, s, f, threads);
  else if (!inside) adam<T, AMS, true, false, false>(n, tb, numel, s, f, threads);
  else adam<T, AMS, true, false, true>(n, tb, numel, s, f, threads);
}

template <typename T>
void adam_options(int64_t n, void** tb, const int64_t* numel, const double* s, const int64_t* f, int threads) {
  if (f[adam_flag::amsgrad]) adam_ams<T, true>(n, tb, numel, s, f, threads);
  else adam_ams<T, false>(n, tb, numel, s, f, threads);
}

}  // namespace

// descent_NAME: NAME_options<float or double>, the entry point _fused_cpu.py looks up for FusedKernel NAME.
#define DESCENT_KERNEL(NAME)                                                                                 \
  extern "C" void descent_##NAME(int is_double, int64_t n, void** tables, const int64_t* numel,              \
                                 const double* scalars, const int64_t* flags, int threads) {                 \
    if (is_double) NAME##_options<double>(n, tables, numel, scalars, flags, threads);                        \
    else NAME##_options<float>(n, tables, numel, scalars, flags, threads);                                   \
  }

DESCENT_KERNEL(momentum)
DESCENT_KERNEL(adagrad)
DESCENT_KERNEL(rmsprop)
DESCENT_KERNEL(adadelta)
DESCENT_KERNEL(adam)
