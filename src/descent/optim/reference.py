"""Plain NumPy transcriptions of the update rules as the lecture notes write them: the independent reference.

Each ``<name>(x, dx, s, t, **hyper)`` updates the array ``x`` in place from the gradient ``dx`` at step
``t`` (1, 2, ...), keeping its buffers in the dict ``s``. No code is shared with the torch classes. Where the
notes are wrong (one Adam snippet decays the second moment with ``beta1``), the fix is used: ``beta2``.
Options mirror the classes' keyword names; :func:`run` drives a rule for many steps.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _grad(x, dx, weight_decay, maximize, lr=0.0, decoupled=False):
    """The gradient used: negated to maximize; L2 added (coupled), or, decoupled, x shrunk by lr * wd first."""
    dx = -dx if maximize else dx
    if decoupled:
        x *= 1 - lr * weight_decay
        return dx
    return dx + weight_decay * x


def sgd(x, dx, s, t, lr, weight_decay=0.0, decoupled_weight_decay=False, maximize=False):
    """weights += - step_size * weights_grad"""
    x -= lr * _grad(x, dx, weight_decay, maximize, lr, decoupled_weight_decay)


def sgd_momentum(x, dx, s, t, lr, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False,
                 lr_in_velocity=False, decoupled_weight_decay=False, maximize=False):
    """vx = rho * vx + dx; x -= learning_rate * vx   (lr_in_velocity: vx = rho * vx - lr * dx; x += vx)."""
    rho, dx = momentum, _grad(x, dx, weight_decay, maximize, lr, decoupled_weight_decay)
    vx = s.get("vx", np.zeros_like(x))
    step = dx if t == 1 else (1 - dampening) * dx  # torch.optim starts the velocity at the first gradient
    if lr_in_velocity:
        v_new = rho * vx - lr * step
        if nesterov:  # x~_{t+1} = x~_t + v_{t+1} + rho (v_{t+1} - v_t)
            x += v_new + rho * (v_new - vx)
        else:
            x += v_new
    else:
        v_new = rho * vx + step
        x -= lr * (dx + rho * v_new if nesterov else v_new)
    s["vx"] = v_new


def nesterov(x, dx, s, t, lr, momentum=0.9, **options):
    """:func:`sgd_momentum` with ``nesterov=True``: the step looks ahead along the velocity."""
    sgd_momentum(x, dx, s, t, lr, momentum=momentum, nesterov=True, **options)


def adagrad(x, dx, s, t, lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
            eps_inside_sqrt=False, decoupled_weight_decay=False, maximize=False):
    """grad_squared += dx * dx; x -= learning_rate * dx / (np.sqrt(grad_squared) + eps)"""
    lr = lr / (1 + (t - 1) * lr_decay)
    dx = _grad(x, dx, weight_decay, maximize, lr, decoupled_weight_decay)
    s["grad_squared"] = s.get("grad_squared", np.full_like(x, initial_accumulator_value)) + dx * dx
    root = np.sqrt(s["grad_squared"] + eps) if eps_inside_sqrt else np.sqrt(s["grad_squared"]) + eps
    x -= lr * dx / root


def rmsprop(x, dx, s, t, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
            eps_inside_sqrt=False, lr_in_velocity=False, decoupled_weight_decay=False, maximize=False):
    """grad_squared = decay_rate * grad_squared + (1 - decay_rate) * dx * dx; x -= lr * dx / (sqrt + eps).
    Momentum: v = momentum * v + dx / root; x -= lr * v (lr_in_velocity: v = momentum * v + lr * dx / root;
    x -= v, as Keras' and Optax's RMSprop)."""
    dx = _grad(x, dx, weight_decay, maximize, lr, decoupled_weight_decay)
    gs = s["grad_squared"] = alpha * s.get("grad_squared", np.zeros_like(x)) + (1 - alpha) * dx * dx
    if centered:
        ga = s["grad_avg"] = alpha * s.get("grad_avg", np.zeros_like(x)) + (1 - alpha) * dx
        gs = gs - ga * ga
    root = np.sqrt(gs + eps) if eps_inside_sqrt else np.sqrt(gs) + eps
    if momentum > 0 and lr_in_velocity:
        s["v"] = momentum * s.get("v", np.zeros_like(x)) + lr * dx / root
        x -= s["v"]
    elif momentum > 0:
        s["v"] = momentum * s.get("v", np.zeros_like(x)) + dx / root
        x -= lr * s["v"]
    else:
        x -= lr * dx / root


def adadelta(x, dx, s, t, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, decoupled_weight_decay=False,
             maximize=False):
    """Zeiler 2012, algorithm 1."""
    dx = _grad(x, dx, weight_decay, maximize, lr, decoupled_weight_decay)
    s["Eg2"] = rho * s.get("Eg2", np.zeros_like(x)) + (1 - rho) * dx * dx
    ed2 = s.get("Edx2", np.zeros_like(x))
    delta = np.sqrt(ed2 + eps) / np.sqrt(s["Eg2"] + eps) * dx
    s["Edx2"] = rho * ed2 + (1 - rho) * delta * delta
    x -= lr * delta


def adam(x, dx, s, t, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
         decoupled_weight_decay=False, bias_correction=True, eps_inside_sqrt=False, eps_hat=False,
         amsgrad_corrected=False, maximize=False):
    """first_moment = beta1 * first_moment + (1 - beta1) * dx
    second_moment = beta2 * second_moment + (1 - beta2) * dx * dx      (the notes' snippet says beta1: a typo)
    first_unbias = first_moment / (1 - beta1 ** t); second_unbias = second_moment / (1 - beta2 ** t)
    x -= learning_rate * first_unbias / (np.sqrt(second_unbias) + eps)

    eps_hat (Keras): alpha = lr * sqrt(1 - beta2 ** t) / (1 - beta1 ** t); x -= alpha * m / (sqrt(v) + eps).
    amsgrad_corrected (Optax): the running maximum of second_unbias instead of second_moment."""
    beta1, beta2 = betas
    dx = _grad(x, dx, weight_decay, maximize, lr, decoupled_weight_decay)
    m = s["first_moment"] = beta1 * s.get("first_moment", np.zeros_like(x)) + (1 - beta1) * dx
    v = s["second_moment"] = beta2 * s.get("second_moment", np.zeros_like(x)) + (1 - beta2) * dx * dx
    if not bias_correction:
        c1 = c2 = 1.0
    else:
        c1, c2 = 1 - beta1**t, 1 - beta2**t
    if amsgrad and amsgrad_corrected:
        v = s["max_second_unbias"] = np.maximum(s.get("max_second_unbias", np.zeros_like(x)), v / c2)
        c2 = 1.0
    elif amsgrad:
        v = s["max_second_moment"] = np.maximum(s.get("max_second_moment", np.zeros_like(x)), v)
    if eps_hat:
        x -= lr * np.sqrt(c2) / c1 * m / (np.sqrt(v) + eps)
    else:
        m, v = m / c1, v / c2
        x -= lr * m / (np.sqrt(v + eps) if eps_inside_sqrt else np.sqrt(v) + eps)


def adamw(x, dx, s, t, lr, weight_decay=1e-2, **options):
    """:func:`adam` with decoupled weight decay (``x *= 1 - lr * weight_decay`` before the step)."""
    adam(x, dx, s, t, lr, weight_decay=weight_decay, decoupled_weight_decay=True, **options)


RULES: dict[str, Callable] = {"sgd": sgd, "momentum": sgd_momentum, "nesterov": nesterov, "adagrad": adagrad,
                              "rmsprop": rmsprop, "adadelta": adadelta, "adam": adam, "adamw": adamw}


def run(name: str, x0: np.ndarray, grad: Callable[[np.ndarray], np.ndarray], steps: int,
        lrs: Callable[[int], float] | float, **hyper) -> np.ndarray:
    """``steps`` updates of rule ``name`` from ``x0``; ``lrs`` is the learning rate or ``t -> lr``."""
    x, s, rule = np.array(x0, dtype=np.float64), {}, RULES[name]
    for t in range(1, steps + 1):
        rule(x, grad(x), s, t, lrs(t) if callable(lrs) else lrs, **hyper)
    return x
