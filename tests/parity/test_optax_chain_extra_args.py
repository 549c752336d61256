"""Extra arguments across the two libraries' chains (issue 13, item 10)."""

from __future__ import annotations

import jax.numpy as jnp
import optax
import pytest

import gdtransforms as gdt

PARAMS = {"w": jnp.ones(2)}


def test_gdt_chain_forwards_extra_args_to_optax_and_gdt_transforms():
    for plateau in (gdt.reduce_on_plateau(patience=1), optax.contrib.reduce_on_plateau(patience=1)):
        tx = gdt.chain(optax.adam(0.1), plateau)
        state = tx.init(PARAMS)
        for _ in range(3):
            _, state = tx.update(PARAMS, state, PARAMS, value=1.0)
        assert float(state[1].scale) < 1.0  # the loss reached it: the plateau lowered the scale


def test_optax_chain_drops_them_and_the_error_says_so():
    tx = optax.chain(optax.adam(0.1), gdt.reduce_on_plateau())
    with pytest.raises(ValueError, match=r"optax\.chain.*drops the extra arguments.*gdt\.chain"):
        tx.update(PARAMS, tx.init(PARAMS), PARAMS, value=1.0)
