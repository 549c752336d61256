"""Composition: ``chain`` and ``named_chain``."""

from __future__ import annotations

import collections
import collections.abc
from typing import Any

from gdtransforms._core._base import GradientTransformation, GradientTransformationExtraArgs, with_extra_args_support

__all__ = ["chain", "named_chain"]


def chain(*transforms: Any) -> GradientTransformation:
    r"""Applies transformations one after another.

    .. math:: u \leftarrow T_n(\cdots T_2(T_1(u)))

    The state is a tuple with one state per transformation. Transformations
    from optax can be mixed in; extra keyword arguments (such as
    ``value=loss``) reach every transformation that accepts them.

    Args:
      *transforms: gradient transformations (gdtransforms' or optax's).

    Returns:
      A :class:`GradientTransformation`.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.chain(gdt.clip_by_global_norm(1.0), gdt.scale(-0.1))
      >>> state = opt.init({"w": jnp.ones(2)})
      >>> updates, state = opt.update({"w": jnp.array([3.0, 4.0])}, state)
      >>> [round(float(u), 4) for u in updates["w"]]  # norm 5 clipped to 1, times -0.1
      [-0.06, -0.08]
    """
    txs = tuple(with_extra_args_support(t) for t in transforms)

    def init_fn(params):
        return tuple(tx.init(params) for tx in txs)

    def update_fn(updates, state, params=None, **extra_args):
        if not isinstance(state, tuple) or len(state) != len(txs):
            got = len(state) if isinstance(state, tuple) else type(state).__name__
            raise ValueError(
                f"chain: expected a state tuple of {len(txs)} entries (one per "
                f"transformation, as built by init), got {got}"
            )
        new_state = []
        for tx, tx_state in zip(txs, state):
            updates, tx_state = tx.update(updates, tx_state, params, **extra_args)
            new_state.append(tx_state)
        return updates, tuple(new_state)

    return GradientTransformationExtraArgs(init_fn, update_fn)


def named_chain(*named_transforms: tuple[str, Any]) -> GradientTransformation:
    """Chains transformations and keeps their states in a dict by name.

    Args:
      *named_transforms: ``(name, transformation)`` pairs with unique names.

    Returns:
      A :class:`GradientTransformation` whose state is an ordered dict
      ``name -> state`` (as in optax), so a state is found as ``state["clip"]``.
    """
    names = [name for name, _ in named_transforms]
    if len(set(names)) != len(names):
        raise ValueError(f"named_chain: names must be unique, got {names}")
    txs = [(name, with_extra_args_support(t)) for name, t in named_transforms]

    def init_fn(params):
        return collections.OrderedDict((name, tx.init(params)) for name, tx in txs)

    def update_fn(updates, state, params=None, **extra_args):
        if not isinstance(state, collections.abc.Mapping):
            raise TypeError(
                f"named_chain: expected a dict of states by name {names} (as built by init), got {type(state).__name__}"
            )
        missing = [name for name in names if name not in state]
        if missing:
            raise ValueError(f"named_chain: state has no entry for {missing}; it has {list(state)}")
        new_state = collections.OrderedDict()
        for name, tx in txs:
            updates, new_state[name] = tx.update(updates, state[name], params, **extra_args)
        return updates, new_state

    return GradientTransformationExtraArgs(init_fn, update_fn)
