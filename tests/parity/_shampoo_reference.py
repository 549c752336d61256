"""Shared setup of the checks against optax-shampoo's ``distributed_shampoo`` (0.0.6).

Used by ``tests/parity/test_shampoo_reference.py`` and
``benchmarks/check_shampoo_reference.py``: the shims that let the reference
run on today's jax, the shared Shampoo settings, the gradients and the loop.

optax-shampoo 0.0.6 predates jax 0.5. Two shims, applied here (nothing patched
in site-packages): ``jax.tree_map``/``tree_flatten``/``tree_unflatten``
(removed from jax) point at ``jax.tree.*`` (:func:`shim_jax`, before the
reference is imported), and the module's ``lax.while_loop`` casts the initial
carry to the body's dtypes (the reference starts a float slot with ``True``,
which jax now rejects; :func:`patch_reference`).
"""

from __future__ import annotations

import types
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

import gdtransforms as gdt

STEPS = 20
# Settings given to both optimizers (with best_effort_shape_interpretation per problem).
COMMON: dict[str, Any] = dict(
    block_size=4,
    beta1=0.9,
    beta2=0.95,
    start_preconditioning_step=3,
    preconditioning_compute_steps=2,
    weight_decay=0.01,
    nesterov=True,
    moving_average_for_momentum=False,
)


def shim_jax() -> None:
    """Point the ``jax.tree_*`` functions the reference calls at ``jax.tree.*`` (where missing)."""
    for old, new in [
        ("tree_map", jax.tree.map),
        ("tree_flatten", jax.tree.flatten),
        ("tree_unflatten", jax.tree.unflatten),
    ]:
        if not hasattr(jax, old):
            setattr(jax, old, new)


def _while_loop(cond, body, init):
    out = jax.eval_shape(body, init)
    return lax.while_loop(cond, body, jax.tree.map(lambda x, o: jnp.asarray(x, o.dtype), init, out))


def patch_reference(ds: types.ModuleType) -> types.ModuleType:
    """Give the reference module ``ds`` its own ``lax`` whose ``while_loop`` casts the carry; returns ``ds``."""
    ds.lax = types.SimpleNamespace(**{k: getattr(lax, k) for k in dir(lax) if not k.startswith("__")})
    ds.lax.while_loop = _while_loop
    return ds


def grads_at(p, t):
    """Deterministic gradients of step ``t`` (a function of the params)."""
    return jax.tree.map(lambda x: jnp.sin(3 * x + 0.3 * t) + 0.05 * x**2, p)


def run(opt, params) -> list:
    """``STEPS`` jitted steps with ``grads_at``; the ``(updates, params)`` of every step."""
    update = jax.jit(opt.update)
    p, s, out = params, opt.init(params), []
    for t in range(STEPS):
        u, s = update(grads_at(p, t), s, p)
        p = gdt.apply_updates(p, u)
        out.append((u, p))
    return out
