"""Connectionist temporal classification (CTC) loss, by the forward algorithm in log space."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gdtransforms.losses import _common as c

__all__ = ["ctc_loss", "ctc_loss_with_forward_probs"]


def _check(logits: jax.Array, logit_paddings: jax.Array, labels: jax.Array, label_paddings: jax.Array) -> None:
    fn = "ctc_loss"
    if logits.ndim != 3:
        raise ValueError(f"{fn}: `logits` must be [batch, time, classes], got shape {logits.shape}")
    if labels.ndim != 2:
        raise ValueError(f"{fn}: `labels` must be [batch, max_label_length], got shape {labels.shape}")
    c.check_same_shape(fn, "labels", labels, "label_paddings", label_paddings)
    if logit_paddings.shape != logits.shape[:2]:
        raise ValueError(
            f"{fn}: `logit_paddings` has shape {logit_paddings.shape} but `logits` has shape {logits.shape}; "
            f"expected {logits.shape[:2]}"
        )
    if labels.shape[0] != logits.shape[0]:
        raise ValueError(
            f"{fn}: `logits` has shape {logits.shape} and `labels` has shape {labels.shape}; their batch sizes differ"
        )


def ctc_loss_with_forward_probs(
    logits: jax.typing.ArrayLike,
    logit_paddings: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    label_paddings: jax.typing.ArrayLike,
    *,
    blank_id: int = 0,
    log_epsilon: jax.typing.ArrayLike = -1e5,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""CTC loss and the forward variables of its dynamic programme.

    An alignment of the labels :math:`y_{1:N}` to the :math:`T` frames emits,
    at each frame, either a label or the blank :math:`\phi`; collapsing
    repeats and removing blanks must give back :math:`y`. The loss is
    :math:`-\log \sum_\pi \prod_t p_t(\pi_t)` over all such alignments,
    found with two forward variables per prefix length :math:`n`:

    .. math::
        \alpha^\phi_t(n) &= \log P(\text{first } n \text{ labels emitted, frame } t \text{ blank or finished}) \\
        \alpha^y_t(n) &= \log P(\text{first } n + 1 \text{ labels emitted, frame } t \text{ emitting } y_{n+1})

    updated frame by frame with ``logaddexp``. ``log_epsilon`` stands in for
    :math:`\log 0` (a finite value, so gradients stay finite), and blocks the
    step from a label straight into a repeat of itself without a blank between.
    Padded frames leave the variables unchanged.

    Args:
      logits: ``[batch, time, classes]`` logits, including the blank class.
      logit_paddings: ``[batch, time]``, 1.0 at padded frames, else 0.0.
      labels: ``[batch, max_label_length]`` integer labels, right-padded.
      label_paddings: ``[batch, max_label_length]``, 1.0 at padded labels.
      blank_id: the class index of the blank.
      log_epsilon: the stand-in for :math:`\log 0`.

    Returns:
      ``(loss, log_alpha_blank, log_alpha_label)``: the ``[batch]`` losses and
      the forward variables, ``[time, batch, max_label_length + 1]`` and
      ``[time, batch, max_label_length]``.

    References:
      Graves et al., *Connectionist Temporal Classification: Labelling
      Unsegmented Sequence Data with Recurrent Neural Networks*, ICML 2006.
    """
    logits, labels = jnp.asarray(logits), jnp.asarray(labels)
    logit_paddings, label_paddings = jnp.asarray(logit_paddings), jnp.asarray(label_paddings)
    _check(logits, logit_paddings, labels, label_paddings)
    batch, _, num_classes = logits.shape
    max_len = labels.shape[1]

    logp = jax.nn.log_softmax(logits, axis=-1)
    state_dtype = jnp.result_type(logp.dtype, jnp.ones(()).dtype)
    lengths = max_len - jnp.sum(label_paddings, axis=1).astype(jnp.int32)
    # repeats[b, n]: label n + 1 equals label n, so a blank must come between.
    repeats = jnp.zeros((batch, max_len), jnp.float32).at[:, :-1].set(labels[:, :-1] == labels[:, 1:])

    in_range = (labels >= 0) & (labels < num_classes)
    index = jnp.broadcast_to(jnp.clip(labels, 0, num_classes - 1)[:, None, :], (batch, logits.shape[1], max_len))
    label_logp = jnp.where(in_range[:, None, :], jnp.take_along_axis(logp, index, axis=2), 0.0)
    label_logp = jnp.swapaxes(label_logp, 0, 1)  # [T, B, N]
    blank_logp = jnp.swapaxes(logp[:, :, blank_id : blank_id + 1], 0, 1)  # [T, B, 1]
    frame_pad = jnp.swapaxes(logit_paddings, 0, 1)[:, :, None] != 0  # [T, B, 1]

    def enter_blank_state(phi: jax.Array, extra: jax.Array) -> jax.Array:
        # Adds `extra` (in log space) to every blank state but the first.
        return jnp.concatenate([phi[:, :1], jnp.logaddexp(phi[:, 1:], extra)], axis=1)

    def frame(carry: tuple[jax.Array, jax.Array], inputs: tuple) -> tuple:
        phi, emit = carry
        lp_label, lp_blank, pad = inputs
        # A finished label may count as "done" at no cost, unless the next one repeats it.
        reached = enter_blank_state(phi, emit + log_epsilon * repeats)
        new_emit = jnp.logaddexp(reached[:, :-1] + lp_label, emit + lp_label)
        new_phi = reached + lp_blank
        # Into a blank straight from a label: the only way past a repeat.
        new_phi = enter_blank_state(new_phi, emit + lp_blank + log_epsilon * (1.0 - repeats))
        new_phi = jnp.where(pad, phi, new_phi)
        new_emit = jnp.where(pad, emit, new_emit)
        return (new_phi, new_emit), (new_phi, new_emit)

    phi0 = jnp.full((batch, max_len + 1), log_epsilon, state_dtype).at[:, 0].set(0.0)
    emit0 = jnp.full((batch, max_len), log_epsilon, state_dtype)
    log_phi: jax.Array
    log_emit: jax.Array
    _, (log_phi, log_emit) = jax.lax.scan(frame, (phi0, emit0), (label_logp, blank_logp, frame_pad))
    final = enter_blank_state(log_phi[-1], log_emit[-1])
    log_phi = log_phi.at[-1].set(final)
    loss = -jnp.take_along_axis(final, lengths[:, None], axis=1)[:, 0]
    return loss, log_phi, log_emit


def ctc_loss(
    logits: jax.typing.ArrayLike,
    logit_paddings: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    label_paddings: jax.typing.ArrayLike,
    *,
    blank_id: int = 0,
    log_epsilon: jax.typing.ArrayLike = -1e5,
) -> jax.Array:
    r"""CTC loss: the negative log-probability of the labels summed over all alignments.

    .. math::
        \ell = -\log \sum_{\pi \in \mathcal{B}^{-1}(y)} \prod_t p_t(\pi_t)

    See :func:`ctc_loss_with_forward_probs` for the algorithm and the arguments.

    Args:
      logits: ``[batch, time, classes]`` logits, including the blank class.
      logit_paddings: ``[batch, time]``, 1.0 at padded frames.
      labels: ``[batch, max_label_length]`` integer labels, right-padded.
      label_paddings: ``[batch, max_label_length]``, 1.0 at padded labels.
      blank_id: the class index of the blank.
      log_epsilon: the stand-in for :math:`\log 0`.

    Returns:
      The ``[batch]`` losses.

    References:
      Graves et al., *Connectionist Temporal Classification*, ICML 2006.
    """
    loss, _, _ = ctc_loss_with_forward_probs(
        logits, logit_paddings, labels, label_paddings, blank_id=blank_id, log_epsilon=log_epsilon
    )
    return loss
