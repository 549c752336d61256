"""The training checklist of the notes (docs/notes.md §10, steps 3 and 4).

Before tuning anything: the initial loss of an n-class classifier must be
about log(n) with regularization off, and must go up when regularization is
switched on; and the network must be able to memorize a tiny subset (e.g. 64
examples in batches of 16) to 100% training accuracy. Each check returns a
:class:`CheckResult` with a verdict, the evidence and advice.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms import GradientTransformation, Params, apply_updates, losses
from gdtransforms.toolkit._data import _check_count, scan_epoch
from gdtransforms.toolkit._data import num_examples as _count_examples

__all__ = ["CheckResult", "check_initial_loss", "check_regularization", "overfit_tiny_subset"]


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of one checklist step.

    Attributes:
      name: ``"initial_loss"``, ``"regularization"`` or ``"overfit_tiny_subset"``.
      passed: whether the check passed.
      verdict: a short word for the outcome (``"ok"``, ``"too high"``, ...).
      evidence: what was measured, with numbers.
      advice: what the outcome suggests.
      numbers: the measured values.
      history: per-epoch curves, for checks that train.
    """

    name: str
    passed: bool
    verdict: str
    evidence: str
    advice: str
    numbers: Mapping[str, float] = dataclasses.field(default_factory=dict)
    history: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        return f"[{mark}] {self.name}: {self.verdict}: {self.evidence}. {self.advice}"


def _scalar(name: str, value: Any) -> float:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a number, got {type(value).__name__}: {value!r}") from None
    if arr.size != 1:
        raise ValueError(f"`{name}` must be one number (the mean loss), got shape {arr.shape}")
    return float(arr.reshape(()))


def check_initial_loss(loss: Any, num_classes: int, *, rtol: float = 0.2) -> CheckResult:
    r"""Compares the loss before training with :math:`-\log(1/n) = \log n`.

    With regularization off, an n-class softmax classifier that knows nothing
    predicts about 1/n for every class, so its cross-entropy is about
    :math:`\log n`. Small random logits of standard deviation :math:`\sigma`
    add about :math:`\sigma^2 (n - 1) / (2n)`, which the evidence turns back
    into the logit scale it implies.

    Args:
      loss: the mean loss on a batch before any update, regularization off.
      num_classes: ``n`` >= 2.
      rtol: how far from :math:`\log n`, relative, still passes.

    Returns:
      A :class:`CheckResult` with verdict ``"ok"``, ``"too high"``, ``"too low"``
      or ``"not finite"``.

    Example:
      >>> import gdtransforms as gdt
      >>> gdt.toolkit.check_initial_loss(2.31, num_classes=10).verdict
      'ok'
    """
    loss = _scalar("loss", loss)
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"`num_classes` must be an int >= 2, got {num_classes!r}")
    if not rtol > 0:
        raise ValueError(f"`rtol` must be > 0, got {rtol!r}")
    expected = math.log(num_classes)
    numbers = {"loss": loss, "expected": expected}
    if not math.isfinite(loss):
        return CheckResult(
            "initial_loss",
            False,
            "not finite",
            f"the initial loss is {loss} (expected log({num_classes}) = {expected:.4f})",
            "a log of 0 or an overflow before training: add an epsilon, compute the loss "
            "from logits with log_softmax, and check the input normalization",
            numbers,
        )
    diff = loss - expected
    rel = diff / expected
    numbers.update(difference=diff, relative=rel)
    evidence = (
        f"initial loss {loss:.4f} vs log({num_classes}) = {expected:.4f}: "
        f"{'+' if diff >= 0 else ''}{diff:.4f} ({rel:+.0%})"
    )
    if abs(rel) <= rtol:
        return CheckResult(
            "initial_loss",
            True,
            "ok",
            evidence,
            "the network starts out knowing nothing, as it should",
            numbers,
        )
    if diff > 0:
        sigma = math.sqrt(2 * diff * num_classes / (num_classes - 1))
        numbers["implied_logit_std"] = sigma
        return CheckResult(
            "initial_loss",
            False,
            "too high",
            evidence + f"; that excess is what logits with a standard deviation of about {sigma:.2g} give",
            "the network is confidently wrong before training: make the initial weights "
            "smaller (Xavier 1/sqrt(fan_in), a small last layer), turn regularization off "
            "for this check, and check that labels match the outputs",
            numbers,
        )
    return CheckResult(
        "initial_loss",
        False,
        "too low",
        evidence,
        "no untrained network should do better than chance: look for labels leaking into "
        "the inputs, a loss averaged over the wrong axis or count, or outputs that are not "
        "normalized logits (a softmax applied twice gives log(n) too, so check it separately)",
        numbers,
    )


def check_regularization(loss_without: Any, loss_with: Any, *, strength: float | None = None) -> CheckResult:
    r"""Checks that switching regularization on raises the loss.

    For example with L2 of strength :math:`\lambda` on a mini-batch of ``B``
    examples (docs/notes.md §1) the cost gains
    :math:`\frac{\lambda}{2B}\sum_l \|W^{[l]}\|_F^2 > 0`.

    Args:
      loss_without: the loss with regularization off (strength 0).
      loss_with: the same loss, same params and batch, regularization on.
      strength: the regularization strength used, for the message.

    Returns:
      A :class:`CheckResult` with verdict ``"ok"``, ``"unchanged"``,
      ``"lowered"`` or ``"not finite"``.
    """
    a, b = _scalar("loss_without", loss_without), _scalar("loss_with", loss_with)
    numbers = {"loss_without": a, "loss_with": b, "increase": b - a}
    at = "" if strength is None else f" (strength {strength:g})"
    evidence = f"loss {a:.6g} without regularization, {b:.6g} with it{at}"
    if not (math.isfinite(a) and math.isfinite(b)):
        return CheckResult(
            "regularization",
            False,
            "not finite",
            evidence,
            "fix the overflow first (see check_initial_loss)",
            numbers,
        )
    if b > a:
        return CheckResult(
            "regularization",
            True,
            "ok",
            evidence + f": +{b - a:.4g}",
            "the penalty is part of the loss",
            numbers,
        )
    if b == a:
        return CheckResult(
            "regularization",
            False,
            "unchanged",
            evidence,
            "the penalty never reaches the loss: it is not added, its strength is 0, or it "
            "is computed on a different tree than the params",
            numbers,
        )
    return CheckResult(
        "regularization",
        False,
        "lowered",
        evidence + f": {b - a:.4g}",
        "a penalty must add to the loss: it is subtracted (a sign error), or the two losses "
        "were computed on different params or batches",
        numbers,
    )


def _default_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
    if labels.ndim == logits.ndim:  # one-hot or soft labels
        return losses.softmax_cross_entropy(logits, labels)
    return losses.softmax_cross_entropy_with_integer_labels(logits, labels.astype(jnp.int32))


def _classes(labels: jax.Array, logits: jax.Array) -> jax.Array:
    return jnp.argmax(labels, axis=-1) if labels.ndim == logits.ndim else labels


def overfit_tiny_subset(
    apply_fn: Callable[[Params, jax.Array], jax.Array],
    params: Params,
    optimizer: GradientTransformation,
    inputs: Any,
    labels: Any,
    *,
    key: jax.Array,
    num_examples: int = 64,
    batch_size: int = 16,
    max_epochs: int = 300,
    check_every: int = 10,
    loss_fn: Callable[[jax.Array, jax.Array], jax.Array] | None = None,
) -> CheckResult:
    """Trains on a tiny random subset until it is memorized (100% accuracy).

    The notes' step 4: if the network cannot memorize e.g. 64 examples in
    batches of 16 (3-4 batches an epoch), something is wrong. The subset is
    reshuffled every epoch; each block of ``check_every`` epochs runs as one
    compiled call.

    Args:
      apply_fn: ``apply_fn(params, x) -> logits`` of shape ``[batch, classes]``.
      params: the initial parameters (not modified).
      optimizer: the gradient transformation to train with.
      inputs: the training inputs, ``[m, ...]``.
      labels: integer labels ``[m]`` or one-hot labels ``[m, classes]``.
      key: a PRNG key that picks the subset and shuffles it.
      num_examples: the subset size.
      batch_size: the mini-batch size.
      max_epochs: give up after this many epochs.
      check_every: epochs between accuracy checks.
      loss_fn: ``loss_fn(logits, labels) -> per-example losses``; softmax
        cross-entropy by default.

    Returns:
      A :class:`CheckResult` (verdict ``"memorized"`` or ``"could not memorize"``)
      whose ``history`` holds the per-epoch ``loss`` and ``accuracy``.
    """
    total = _count_examples((inputs, labels))
    m = _check_count("num_examples", num_examples)
    if m > total:
        raise ValueError(f"`num_examples` must be <= the {total} examples given, got {m}")
    _check_count("batch_size", batch_size)
    if batch_size > m:
        raise ValueError(f"`batch_size` must be <= num_examples = {m}, got {batch_size}")
    max_epochs = _check_count("max_epochs", max_epochs)
    check_every = min(_check_count("check_every", check_every), max_epochs)
    loss_fn = loss_fn or _default_loss
    subset_key, shuffle_key = jax.random.split(key)
    pick = jax.random.permutation(subset_key, total)[:m]
    x, y = jnp.asarray(inputs)[pick], jnp.asarray(labels)[pick]

    def mean_loss(p, batch, mask):
        bx, by = batch
        losses = loss_fn(apply_fn(p, bx), by)
        return jnp.sum(mask * losses) / jnp.sum(mask)

    def step(carry, batch, mask):
        p, state = carry
        loss, grads = jax.value_and_grad(mean_loss)(p, batch, mask)
        updates, state = optimizer.update(grads, state, p)
        return (apply_updates(p, updates), state), loss

    @jax.jit
    def block(carry, first_epoch):
        def epoch(c, e):
            c, _ = scan_epoch(step, c, (x, y), batch_size, key=jax.random.fold_in(shuffle_key, e), drop_last=False)
            logits = apply_fn(c[0], x)
            loss = jnp.mean(loss_fn(logits, y))
            acc = jnp.mean(jnp.argmax(logits, axis=-1) == _classes(y, logits))
            return c, (loss, acc)

        return jax.lax.scan(epoch, carry, first_epoch + jnp.arange(check_every))

    carry = (params, optimizer.init(params))
    initial = float(jnp.mean(loss_fn(apply_fn(params, x), y)))
    losses, accs = [], []
    epochs = 0
    while epochs < max_epochs:
        carry, (loss, acc) = block(carry, jnp.int32(epochs))
        losses.extend(np.asarray(loss).tolist())
        accs.extend(np.asarray(acc).tolist())
        epochs += check_every
        if accs[-1] >= 1.0 or not np.isfinite(losses[-1]):
            break
    losses_a, accs_a = np.asarray(losses[:max_epochs]), np.asarray(accs[:max_epochs])
    hit = np.flatnonzero(accs_a >= 1.0)
    steps_per_epoch = -(-m // batch_size)
    history = {"loss": losses_a, "accuracy": accs_a}
    if len(hit):
        e = int(hit[0]) + 1
        numbers = {
            "epochs": e,
            "steps": e * steps_per_epoch,
            "initial_loss": initial,
            "final_loss": float(losses_a[hit[0]]),
            "final_accuracy": 1.0,
        }
        return CheckResult(
            "overfit_tiny_subset",
            True,
            "memorized",
            f"100% training accuracy on {m} examples (batch {batch_size}) after {e} epochs "
            f"({e * steps_per_epoch} steps); loss {initial:.4g} -> {losses_a[hit[0]]:.4g}",
            "the network can fit data; go on to tuning with the full set",
            numbers,
            history,
        )
    best = float(np.max(accs_a))
    final = float(losses_a[-1])
    numbers = {
        "epochs": len(losses_a),
        "steps": len(losses_a) * steps_per_epoch,
        "initial_loss": initial,
        "final_loss": final,
        "final_accuracy": float(accs_a[-1]),
        "best_accuracy": best,
    }
    if not np.isfinite(final):
        advice = "the loss overflowed: add an epsilon or lower the learning rate"
    elif final > 0.9 * initial:
        advice = "the loss barely moved: the gradient does not reach the weights, or the learning rate is far too low"
    else:
        advice = (
            "the loss fell but the subset was not memorized: the model is too small, "
            "the learning rate too high to settle, or labels and outputs do not match"
        )
    return CheckResult(
        "overfit_tiny_subset",
        False,
        "could not memorize",
        f"best training accuracy {best:.1%} on {m} examples after {len(losses_a)} epochs; "
        f"loss {initial:.4g} -> {final:.4g}",
        advice,
        numbers,
        history,
    )
