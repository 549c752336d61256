"""Lookahead: k fast steps forward, one slow step back."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks
from gdtransforms._core._base import (
    GradientTransformation,
    OptState,
    Params,
    require_params,
    with_extra_args_support,
)

__all__ = ["LookaheadParams", "LookaheadState", "lookahead"]


class LookaheadState(NamedTuple):
    """The state of :func:`lookahead`.

    Attributes:
      fast_state: the fast optimizer's state.
      steps_since_sync: int32, fast steps since the last synchronisation.
    """

    fast_state: OptState
    steps_since_sync: jax.Array


class LookaheadParams(NamedTuple):
    """The fast and slow copies of the parameters.

    Compute gradients with ``fast``; evaluate and deploy ``slow``.

    Attributes:
      fast: the fast parameters.
      slow: the slow parameters.
    """

    fast: Params
    slow: Params

    @classmethod
    def init_synced(cls, params: Params) -> LookaheadParams:
        """A pair whose fast and slow parameters are both ``params``."""
        return cls(fast=params, slow=params)


def lookahead(
    fast_optimizer: Any,
    sync_period: int,
    slow_step_size: jax.typing.ArrayLike,
    reset_state: bool = False,
) -> GradientTransformation:
    r"""Lookahead: the slow weights move towards the fast ones every k steps.

    The fast optimizer takes k steps; then, with :math:`\phi` the slow and
    :math:`\theta` the fast parameters,

    .. math:: \phi \leftarrow \phi + \alpha(\theta - \phi), \qquad \theta \leftarrow \phi

    Both moves are returned as one :class:`LookaheadParams` of updates, so
    ``apply_updates(params, updates)`` advances both copies. Do not modify the
    updates before applying them.

    Args:
      fast_optimizer: the inner optimizer.
      sync_period: k >= 1, fast steps between synchronisations.
      slow_step_size: :math:`\alpha` in [0, 1].
      reset_state: re-initialise the fast optimizer's state at every
        synchronisation.

    Returns:
      A :class:`GradientTransformation` whose ``update`` needs ``params`` as
      :class:`LookaheadParams` and whose state is :class:`LookaheadState`.

    Raises:
      ValueError: ``sync_period`` < 1 or ``slow_step_size`` outside [0, 1].

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.lookahead(gdt.scale(-0.5), sync_period=2, slow_step_size=0.5)
      >>> params = gdt.LookaheadParams.init_synced(jnp.array([4.0]))
      >>> state = opt.init(params)
      >>> for _ in range(2):
      ...     updates, state = opt.update(params.fast, state, params)  # grad of x^2/2
      ...     params = gdt.apply_updates(params, updates)
      >>> params.fast, params.slow
      (Array([2.5], dtype=float32), Array([2.5], dtype=float32))

    References:
      Zhang et al., `Lookahead Optimizer: k steps forward, 1 step back
      <https://arxiv.org/abs/1907.08610>`_, 2019.
    """
    _checks.check_int_at_least("sync_period", sync_period, 1, where="lookahead")
    # 0 is allowed, as in optax: the slow weights stay put and the fast ones return to them at every sync.
    _checks.check_in_range("slow_step_size", slow_step_size, 0.0, 1.0)
    fast_optimizer = with_extra_args_support(fast_optimizer)

    def init_fn(params):
        # Plain params are accepted too: they are the fast params.
        fast = params.fast if hasattr(params, "fast") and hasattr(params, "slow") else params
        return LookaheadState(fast_state=fast_optimizer.init(fast), steps_since_sync=jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params=None, **extra_args):
        _checks.check_state(state, LookaheadState, "lookahead")
        params = require_params(params)
        if not (hasattr(params, "fast") and hasattr(params, "slow")):
            raise TypeError(
                "lookahead: `params` must be a LookaheadParams(fast=..., slow=...), "
                f"got {type(params).__name__}; build one with "
                "LookaheadParams.init_synced(params)"
            )
        updates, fast_state = fast_optimizer.update(updates, state.fast_state, params.fast, **extra_args)
        sync = state.steps_since_sync == sync_period - 1
        # theta + u - phi: how far the fast params will be from the slow ones.
        diff = jax.tree.map(lambda f, u, s: f + u - s, params.fast, updates, params.slow)
        slow_updates = jax.tree.map(lambda d: slow_step_size * sync * d, diff)
        fast_updates = jax.tree.map(lambda u, d: u - sync * (1 - slow_step_size) * d, updates, diff)
        if reset_state:
            fresh = fast_optimizer.init(params.fast)
            fast_state = jax.tree.map(
                lambda cur, new: jnp.where(sync, new, cur).astype(jnp.asarray(cur).dtype),
                fast_state,
                fresh,
            )
        # Same container as params (optax's LookaheadParams work too).
        make = params._replace if hasattr(params, "_replace") else LookaheadParams
        return make(fast=fast_updates, slow=slow_updates), LookaheadState(
            fast_state=fast_state, steps_since_sync=(state.steps_since_sync + 1) % sync_period
        )

    return GradientTransformation(init_fn, update_fn)
