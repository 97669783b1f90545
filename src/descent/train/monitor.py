"""Babysitting the learning process: the lecture's by-hand checks, run automatically during training.

:class:`Monitor` is a trainer callback that looks at

* the first loss against its value for a network that knows nothing: ``ln(C)`` for the softmax loss and
  ``C - 1`` for the multiclass SVM loss (margin 1) with small initial weights, C = number of classes
  (within ``first_loss_tol``: ok; within a factor 2: info, as He init gives larger scores; else a warning);
* the update/weight ratio of each layer, ``||W_after - W_before|| / ||W_before||`` across one
  ``optimizer.step()`` (so it is ``lr * ||dW||`` for plain SGD); about 1e-3 is healthy (CS231n notes);
* gradient norms, and the mean / std of every activation module's output with the fraction of dead ReLU
  units (zero for every example of the batch): the weight-initialisation picture of lecture 6;
* NaN / Inf losses and a loss that explodes; both stop the run with
  :class:`~descent.train.callbacks.StopTraining` and a diagnosis;
* a train/validation accuracy gap that keeps widening: overfitting, time for regularisation.

Layer statistics are sampled every ``every`` optimizer steps to keep the cost small. The sampled series and
the findings go into ``metrics.json`` (``summary()``) and the run's HTML report. TensorBoard and Keras' own
callbacks (``TerminateOnNaN``) cover parts of this; here the checks follow the lecture.

Reference: A. Karpathy, CS231n notes "Neural Networks Part 3: Learning and Evaluation" (babysitting the
learning process), 2015; F.-F. Li, J. Johnson, S. Yeung, CS231n lecture 7, 2017.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from typing import Any

import torch
from torch import nn

from .. import checks
from ..errors import DescentError
from .callbacks import Callback
from .divergence import Diverged

_ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.Tanh, nn.Sigmoid)
_END_OF_RUN_CHECKS = ("update ratio", "dead ReLUs", "activations")


def expected_first_loss(loss: str, num_classes: int) -> float:
    """The loss of uniform scores: ``ln(C)`` (softmax) or ``C - 1`` (SVM, margin 1)."""
    return math.log(num_classes) if loss == "softmax" else float(num_classes - 1)


class Monitor(Callback):
    """Watch a training run and report what looks wrong.

    * ``every``: sample the layer statistics every ``every`` optimizer steps (and at step 0).
    * ``first_loss_tol``: the first loss is "ok" within this fraction of its expected value.
    * ``ratio_low``, ``ratio_high``: a layer whose median update/weight ratio is outside ``[low, high]`` is
      flagged.
    * ``explode_factor``: stop when the mean of the last ``window`` batch losses exceeds ``explode_factor``
      times ``max(first loss, expected first loss)`` after ``warmup`` steps.
    * ``gap_warn``: warn of overfitting when train minus validation accuracy exceeds this and has grown for
      ``gap_epochs`` epochs in a row.
    * ``tensorboard``: also write the scalars to ``log_dir`` with ``torch.utils.tensorboard.SummaryWriter``.
    * ``loss``: ``"softmax"`` or ``"svm"``, the data loss the run minimises (its expected first value differs).
    """

    def __init__(self, every: int = 50, first_loss_tol: float = 0.25, ratio_low: float = 1e-4,
                 ratio_high: float = 1e-2, explode_factor: float = 3.0, warmup: int = 20, window: int = 5,
                 gap_warn: float = 0.1, gap_epochs: int = 3, tensorboard: bool = False,
                 log_dir: str | None = None, loss: str = "softmax") -> None:
        checks.positive_int("every", every)
        checks.positive("ratio_low", ratio_low)
        if not ratio_low < ratio_high:
            raise checks.invalid("ratio_high", ratio_high, f"greater than ratio_low={ratio_low!r}")
        if not (checks.is_real(explode_factor) and explode_factor > 1):
            raise checks.invalid("explode_factor", explode_factor, "greater than 1")
        self.loss_name = checks.one_of("loss", loss, ("softmax", "svm"))
        self.every, self.first_loss_tol, self.explode_factor = every, first_loss_tol, explode_factor
        self.ratio_low, self.ratio_high, self.warmup = ratio_low, ratio_high, warmup
        self.gap_warn, self.gap_epochs = gap_warn, gap_epochs
        self.writer = _summary_writer(log_dir) if tensorboard else None
        self.findings: list[dict[str, str]] = []
        self.series: dict[str, Any] = {"step": [], **{k: defaultdict(list) for k in
                                                      ("update_ratio", "grad_norm", "act_mean", "act_std",
                                                       "dead_fraction")}}
        self.first_loss: float | None = None
        self.expected: float | None = None
        self._recent: deque[float] = deque(maxlen=window)
        self._gaps: list[float] = []
        self._before: dict[str, torch.Tensor] = {}
        self._hooks: list[Any] = []
        self._armed = False
        self._recorded: set[str] = set()  # activation modules already sampled at this step

    # ------------------------------------------------------------------------------------ the callback

    def on_train_begin(self, trainer: Any) -> None:
        self.expected = expected_first_loss(self.loss_name, trainer.num_classes)
        self._weights = {n: p for n, p in trainer.model.named_parameters() if p.requires_grad and p.dim() > 1}
        for name, module in trainer.model.named_modules():
            if isinstance(module, _ACTIVATIONS):
                self._hooks.append(module.register_forward_hook(self._activation_hook(name or "act")))
        self._armed = True  # sample step 0

    def after_backward(self, trainer: Any, step: int) -> None:
        self._armed = False
        if step % self.every:
            return
        self.series["step"].append(step)
        for name, p in self._weights.items():
            layer = _layer(name)
            if p.grad is not None:
                self.series["grad_norm"][layer].append(p.grad.detach().norm().item())
            self._before[layer] = p.detach().clone()

    def on_batch_end(self, trainer: Any, step: int, loss: float) -> None:
        if self._recorded and step not in self.series["step"][-1:]:
            self.series["step"].append(step)  # closure optimizers (L-BFGS) never call after_backward
        self._recorded.clear()
        if not math.isfinite(loss):
            raise Diverged(self._add("error", "loss", f"the loss became {loss} at step {step}: lower the "
                                         "learning rate, check the data for NaNs, or clip the gradients"))
        if self.first_loss is None and step == 0:
            self._check_first_loss(loss)
        elif self.first_loss is None:  # resumed without the monitor's state: no first loss to judge
            self.first_loss = loss
        self._recent.append(loss)
        limit = self.explode_factor * max(self.first_loss, self.expected)
        mean = sum(self._recent) / len(self._recent)
        if step >= self.warmup and len(self._recent) == self._recent.maxlen and mean > limit:
            base = limit / self.explode_factor
            message = (f"the loss exploded: mean of the last {len(self._recent)} batches {mean:.3g} > "
                       f"{self.explode_factor:g} x {base:.3g} at step {step}; lower the learning rate")
            raise Diverged(self._add("error", "loss", message))
        if self._before:
            for name, p in self._weights.items():
                layer = _layer(name)
                ratio = update_to_weight_ratio(self._before.pop(layer), p.detach())
                self.series["update_ratio"][layer].append(ratio)
                self._scalar(f"update_ratio/{layer}", ratio, step)
        self._scalar("loss/train_batch", loss, step)
        self._armed = (step + 1) % self.every == 0

    def on_epoch_end(self, trainer: Any, epoch: int, record: dict[str, Any]) -> None:
        for key, value in record.items():
            if isinstance(value, (int, float)) and key not in ("epoch",):
                self._scalar(f"epoch/{key}", value, epoch)
        if record.get("train_accuracy") is None or record.get("val_accuracy") is None:
            return
        gap = record["train_accuracy"] - record["val_accuracy"]
        self._gaps.append(gap)
        recent = self._gaps[-(self.gap_epochs + 1):]
        widening = len(recent) == self.gap_epochs + 1 and all(b > a for a, b in zip(recent, recent[1:]))  # noqa: B905
        if gap > self.gap_warn and widening and not self._has("overfitting"):
            train, val = record["train_accuracy"], record["val_accuracy"]
            self._add("warning", "overfitting", f"train accuracy {train:.3f} vs validation {val:.3f} at "
                      f"epoch {epoch}: the gap has widened for {self.gap_epochs} epochs; add regularization "
                      "(weight decay, dropout, augmentation) or more data")

    def on_train_end(self, trainer: Any) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()
        # a resumed run judges the whole run again: drop the end-of-run verdicts its checkpoint carried
        self.findings = [f for f in self.findings if f["check"] not in _END_OF_RUN_CHECKS
                         and not (f["check"] == "overfitting" and f["level"] == "ok")]
        self._check_layers()
        if self._gaps and not self._has("overfitting"):
            self._add("ok", "overfitting", f"final train - validation accuracy gap {self._gaps[-1]:.3f}")
        if self.writer is not None:
            self.writer.close()

    def summary(self) -> dict[str, Any]:
        series = {k: dict(v) if isinstance(v, dict) else list(v) for k, v in self.series.items()}
        return {"findings": list(self.findings), "series": series, "first_loss": self.first_loss,
                "expected_first_loss": self.expected}

    def state_dict(self) -> dict[str, Any]:
        """Plain containers only, so a checkpoint loads with ``weights_only=True``; a resumed run continues."""
        return {**self.summary(), "gaps": list(self._gaps), "recent": list(self._recent)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict`: the findings, the sampled series and the loss history so far."""
        self.findings = list(state["findings"])
        self.series["step"] = list(state["series"].get("step", []))
        for key, per_layer in state["series"].items():
            if key != "step":
                self.series[key] = defaultdict(list, {k: list(v) for k, v in per_layer.items()})
        self.first_loss, self._gaps = state["first_loss"], list(state["gaps"])
        self._recent.extend(state["recent"])

    # ------------------------------------------------------------------------------------ the checks

    def _check_first_loss(self, loss: float) -> None:
        self.first_loss = loss
        what = "ln(C)" if self.loss_name == "softmax" else "C - 1"
        text = f"first loss {loss:.4g}, expected about {what} = {self.expected:.4g}"
        ratio = loss / self.expected
        if abs(ratio - 1.0) <= self.first_loss_tol:
            self._add("ok", "first loss", text)
        elif 0.5 <= ratio <= 2.0:  # He/Xavier init gives scores of order 1, not the near-uniform small-init ones
            self._add("info", "first loss", f"{text}: the initial scores are not near-uniform (fine for He or "
                      "Xavier init; with small random weights expect the lecture's value)")
        else:
            self._add("warning", "first loss", f"{text}: the initial weights are too "
                      f"{'large' if loss > self.expected else 'small or the loss is wrong'}, or a bug "
                      "(regularization added to the loss, wrong labels)")

    def _check_layers(self) -> None:
        for layer, ratios in self.series["update_ratio"].items():
            median = sorted(ratios)[len(ratios) // 2]
            if median < self.ratio_low:
                self._add("warning", "update ratio", f"{layer}: median update/weight ratio {median:.2g} < "
                          f"{self.ratio_low:g}: the learning rate is probably too low")
            elif median > self.ratio_high:
                self._add("warning", "update ratio", f"{layer}: median update/weight ratio {median:.2g} > "
                          f"{self.ratio_high:g}: the learning rate is probably too high")
            else:
                self._add("ok", "update ratio", f"{layer}: median update/weight ratio {median:.2g} "
                          "(about 1e-3 is healthy)")
        for layer, dead in self.series["dead_fraction"].items():
            if dead and dead[-1] > 0.5:
                self._add("warning", "dead ReLUs", f"{layer}: {dead[-1]:.0%} of the units output zero for "
                          "the whole batch: lower the learning rate, or use He initialization")
        for layer, std in self.series["act_std"].items():
            if std and std[0] < 1e-2:
                self._add("warning", "activations", f"{layer}: activation std {std[0]:.2g} at the start: the "
                          "signal vanishes with depth; initialize with Xavier/He instead of tiny weights")

    def _activation_hook(self, name: str):
        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            if not (self._armed and module.training and torch.is_grad_enabled()) or name in self._recorded:
                return
            self._recorded.add(name)
            a = output.detach().float()
            self.series["act_mean"][name].append(a.mean().item())
            self.series["act_std"][name].append(a.std().item())
            if isinstance(module, nn.ReLU):
                self.series["dead_fraction"][name].append(dead_fraction(a))
        return hook

    def _add(self, level: str, check: str, message: str) -> str:
        self.findings.append({"level": level, "check": check, "message": message})
        return message

    def _has(self, check: str) -> bool:
        return any(f["check"] == check and f["level"] != "ok" for f in self.findings)

    def _scalar(self, tag: str, value: float, step: int) -> None:
        if self.writer is not None:
            self.writer.add_scalar(tag, value, step)


def update_to_weight_ratio(before: torch.Tensor, after: torch.Tensor) -> float:
    """``||after - before|| / ||before||`` (Frobenius norms): the relative size of one update."""
    return ((after - before).norm() / before.norm().clamp_min(1e-12)).item()


def dead_fraction(a: torch.Tensor) -> float:
    """Fraction of units (dimension 1) whose output is zero for every example and position of the batch."""
    alive = (a > 0).transpose(0, 1).reshape(a.shape[1], -1).any(dim=1)
    return 1.0 - alive.float().mean().item()


def _layer(param_name: str) -> str:
    return param_name[: -len(".weight")] if param_name.endswith(".weight") else param_name


def _summary_writer(log_dir: str | None) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise DescentError("TensorBoard logging needs the tensorboard package: "
                           "pip install 'descent[tensorboard]'") from None
    return SummaryWriter(log_dir=log_dir)
