"""The float16 zero-gradient check shared by the adaptive transforms' tests."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax

import gdtransforms as gdt


def zero_gradient_steps(name: str, steps: int = 3, **kwargs) -> tuple[list, list]:
    """``steps`` zero float16 gradients through gdtransforms' and optax's ``name``."""
    params = {"w": jnp.array([1.0, -2.0, 0.5], jnp.float16)}
    grads = {"w": jnp.zeros(3, jnp.float16)}
    out = []
    for module in (gdt, optax):
        tx = getattr(module, name)(**kwargs)
        state, ours = tx.init(params), []
        for _ in range(steps):
            updates, state = tx.update(grads, state, params)
            ours.append(np.asarray(updates["w"], np.float32))
        out.append(ours)
    return out[0], out[1]


def assert_finite_zero_where_optax_is_nan(name: str, **kwargs) -> None:
    ours, theirs = zero_gradient_steps(name, **kwargs)
    assert np.isnan(theirs[0]).all(), "optax no longer gives NaN here: drop the DIFFERENCES.md entry"
    for u in ours:
        np.testing.assert_array_equal(u, np.zeros(3, np.float32))
