"""Accumulating gradients and emitting their sum every k steps (apply_every)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, Updates

__all__ = ["ApplyEvery", "apply_every"]


class ApplyEvery(NamedTuple):
    """The step within the current window of ``k`` and the gradients summed so far."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar, in [0, k)
    grad_acc: Updates


def apply_every(k: jax.typing.ArrayLike = 1) -> GradientTransformation:
    r"""Sums gradients over ``k`` steps and emits the sum on the last of them.

    With :math:`c = t \bmod k`:

    .. math::
        a_t = [c \ne 0]\, a_{t-1} + g_t, \qquad u_t = [c = k - 1]\, a_t

    so the updates are zero on the other steps. Transformations before it in
    a chain still update their state every step; :class:`MultiSteps` wraps a
    whole optimizer instead. Element-wise: it runs on flat buffers as they are.

    Args:
      k: the number of steps per emitted sum, an integer >= 1.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`ApplyEvery`.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> tx = gdt.apply_every(2)
      >>> state = tx.init(jnp.zeros(1))
      >>> u1, state = tx.update(jnp.ones(1), state)
      >>> u2, state = tx.update(jnp.ones(1), state)
      >>> u1, u2
      (Array([0.], dtype=float32), Array([2.], dtype=float32))
    """
    if not _checks.is_deferred(k):
        _checks.check_int_at_least("k", k, 1, where="apply_every")

    def init_fn(params):
        _checks.check_params(params, "apply_every")
        return ApplyEvery(count=jnp.zeros([], jnp.int32), grad_acc=_tree.zeros_like(params))

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, ApplyEvery, "apply_every")
        _checks.check_updates(updates, state.grad_acc, "apply_every")
        c = state.count % k
        keep = c != 0
        grad_acc = jax.tree.map(lambda g, a: keep * a + g, updates, state.grad_acc)
        emit = c == (k - 1)
        updates = jax.tree.map(lambda a: emit * a, grad_acc)
        return updates, ApplyEvery(count=_tree.safe_increment(state.count) % k, grad_acc=grad_acc)

    return GradientTransformation(init_fn, update_fn)
