"""Dice losses for segmentation: Tversky-weighted, generalised and binary."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms._core._checks import is_deferred
from gdtransforms.losses import _common as c

__all__ = ["binary_dice_loss", "dice_loss", "multiclass_generalized_dice_loss"]

_REDUCTIONS = {"mean": jnp.mean, "sum": jnp.sum, "none": None}


def _check_probabilities(fn: str, probs: jax.Array) -> None:
    """With ``apply_softmax=False``: classes sum to 1, or one channel lies in [0, 1].

    Traced values cannot be inspected and pass (the check runs eagerly only).
    """
    if is_deferred(probs):
        return
    values = np.asarray(probs, dtype=np.float64)
    if probs.shape[-1] == 1:
        if values.size and not ((values >= 0) & (values <= 1)).all():
            raise ValueError(
                f"{fn}: with apply_softmax=False a single-channel prediction must be a probability in [0, 1], "
                f"got values in [{values.min():.6f}, {values.max():.6f}]"
            )
        return
    sums = values.sum(axis=-1)
    if sums.size and not np.allclose(sums, 1.0, rtol=1e-5):
        raise ValueError(
            f"{fn}: with apply_softmax=False the predictions must be valid probability distributions that sum to 1 "
            f"along the class axis; the sums range over [{sums.min():.6f}, {sums.max():.6f}]"
        )


def dice_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    class_weights: jax.typing.ArrayLike | None = None,
    smooth: jax.typing.ArrayLike = 1.0,
    alpha: jax.typing.ArrayLike = 0.5,
    beta: jax.typing.ArrayLike = 0.5,
    apply_softmax: bool = True,
    reduction: str = "mean",
    ignore_background: bool = False,
    axis: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Soft Dice loss with Tversky weights, per class and then reduced over classes.

    With :math:`p` the predicted probabilities and :math:`t` the targets of a
    class, summed over the spatial axes, :math:`I = \sum p t`:

    .. math::
        \ell_c = 1 - \frac{I + s}{I + \alpha (\textstyle\sum p - I) + \beta (\sum t - I) + s}

    :math:`\alpha = \beta = 1/2` is the Dice coefficient; other values weight
    false positives (:math:`\alpha`) against false negatives (:math:`\beta`).

    Args:
      predictions: logits ``[batch, ..., classes]``; one channel (or none) is binary.
      targets: one-hot targets of the same shape (a missing channel axis is added).
      class_weights: optional ``[classes]`` weights.
      smooth: :math:`s`, which keeps empty classes at a loss of 0.
      alpha: the weight of false positives.
      beta: the weight of false negatives.
      apply_softmax: turn logits into probabilities (sigmoid for one channel,
        softmax otherwise). If False, the predictions must already be
        probabilities.
      reduction: ``"mean"``, ``"sum"`` or ``"none"`` over the class axis.
      ignore_background: leave out class 0 (when there is more than one class).
      axis: the axes to sum over; default all but the first and the last.

    Returns:
      ``[batch]`` losses, or ``[batch, classes]`` with ``reduction="none"``.

    References:
      Milletari, Navab and Ahmadi, *V-Net: Fully Convolutional Neural Networks for
      Volumetric Medical Image Segmentation*, 3DV 2016, https://arxiv.org/abs/1606.04797;
      Salehi, Erdogmus and Gholipour, *Tversky loss function for image segmentation
      using 3D fully convolutional deep networks*, 2017, https://arxiv.org/abs/1706.05721
    """
    fn = "dice_loss"
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: `reduction` must be 'mean', 'sum' or 'none', got {reduction!r}")
    predictions, targets = jnp.asarray(predictions), jnp.asarray(targets)
    if predictions.ndim == targets.ndim - 1:
        predictions = predictions[..., None]
    if targets.ndim == predictions.ndim - 1:
        targets = targets[..., None]
    c.check_same_shape(fn, "predictions", predictions, "targets", targets)
    if apply_softmax:
        binary = predictions.shape[-1] == 1
        probs = jax.nn.sigmoid(predictions) if binary else jax.nn.softmax(predictions, axis=-1)
    else:
        _check_probabilities(fn, predictions)
        probs = predictions
    axes: Any = tuple(range(1, probs.ndim - 1)) if axis is None else axis
    overlap = jnp.sum(probs * targets, axis=axes)
    false_pos = jnp.sum(probs, axis=axes) - overlap
    false_neg = jnp.sum(targets, axis=axes) - overlap
    score = (overlap + smooth) / (overlap + alpha * false_pos + beta * false_neg + smooth)
    per_class = 1.0 - score
    if class_weights is not None:
        class_weights = jnp.asarray(class_weights)
        if class_weights.ndim != 1:
            raise ValueError(f"{fn}: `class_weights` must be 1-D, got shape {class_weights.shape}")
        c.check_broadcasts_to(fn, "class_weights", class_weights, per_class.shape, "the per-class losses")
        per_class = per_class * jnp.broadcast_to(class_weights, per_class.shape)
    if ignore_background and probs.shape[-1] > 1:
        per_class = per_class[..., 1:]
    reduce = _REDUCTIONS[reduction]
    return per_class if reduce is None else reduce(per_class, axis=-1)


def multiclass_generalized_dice_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    smooth: jax.typing.ArrayLike = 1.0,
    apply_softmax: bool = True,
    ignore_background: bool = False,
) -> jax.Array:
    r"""Generalised Dice loss: classes weighted by their inverse squared frequency.

    .. math::
        w_c \propto \frac{1}{(\sum t_c)^2 + 10^{-7}}, \quad \textstyle\sum_c w_c = C,
        \qquad \ell = \operatorname{mean}_{b, c}\, w_c\, \ell_{b, c}

    with :math:`\ell_{b,c}` the per-class Dice loss of :func:`dice_loss`.

    Args:
      predictions: logits ``[batch, ..., classes]``.
      targets: one-hot targets of the same shape.
      smooth: the smoothing term.
      apply_softmax: turn logits into probabilities first.
      ignore_background: leave out class 0.

    Returns:
      The mean loss, a scalar.

    References:
      Sudre et al., *Generalised Dice overlap as a deep learning loss function for
      highly unbalanced segmentations*, 2017, https://arxiv.org/abs/1707.03237
    """
    c.check_same_shape("multiclass_generalized_dice_loss", "predictions", predictions, "targets", targets)
    targets = jnp.asarray(targets)
    counts = jnp.sum(targets, axis=tuple(range(targets.ndim - 1)))
    weights = 1.0 / (counts**2 + 1e-7)
    weights = weights / jnp.sum(weights) * weights.shape[0]
    per_class = dice_loss(
        predictions,
        targets,
        class_weights=weights,
        smooth=smooth,
        apply_softmax=apply_softmax,
        reduction="none",
        ignore_background=ignore_background,
    )
    return jnp.mean(per_class)


def binary_dice_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    smooth: jax.typing.ArrayLike = 1.0,
    apply_sigmoid: bool = True,
) -> jax.Array:
    r"""Dice loss of one foreground class.

    .. math::
        \ell = 1 - \frac{2 \sum p t + s}{\sum p + \sum t + s}, \quad p = \sigma(x)

    Args:
      predictions: logits ``[batch, ...]`` or ``[batch, ..., 1]``.
      targets: binary targets of the same shape.
      smooth: the smoothing term.
      apply_sigmoid: turn logits into probabilities; if False, the predictions
        must be probabilities in [0, 1].

    Returns:
      ``[batch]`` losses.

    References:
      Milletari, Navab and Ahmadi, *V-Net*, 3DV 2016, https://arxiv.org/abs/1606.04797
    """
    predictions, targets = jnp.asarray(predictions), jnp.asarray(targets)
    if predictions.ndim == targets.ndim and predictions.shape[-1] != 1:
        predictions, targets = predictions[..., None], targets[..., None]
    return dice_loss(predictions, targets, smooth=smooth, apply_softmax=apply_sigmoid, reduction="mean")
