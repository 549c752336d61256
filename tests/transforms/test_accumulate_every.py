"""apply_every and flatten by hand."""

import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt


def test_apply_every_three():
    tx = gdt.apply_every(3)
    state = tx.init(jnp.zeros(1))
    seen = []
    for g in [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]:
        u, state = tx.update(jnp.array([g]), state)
        seen.append(float(u[0]))
    assert seen == [0.0, 0.0, 6.0, 0.0, 0.0, 15.0]
    assert int(state.count) == 0


def test_apply_every_checks_k():
    with pytest.raises(ValueError, match="k"):
        gdt.apply_every(0)
    with pytest.raises(TypeError, match="k"):
        gdt.apply_every(1.5)


def test_flatten_runs_inner_on_one_vector():
    seen = []

    def record(u, p):
        seen.append(u.shape)
        return -u

    tx = gdt.flatten(gdt.stateless(record))
    params = {"a": jnp.ones((2, 2)), "b": jnp.ones(3)}
    u, _ = tx.update({"a": jnp.full((2, 2), 2.0), "b": jnp.arange(3.0)}, tx.init(params), params)
    assert seen == [(7,)]
    np.testing.assert_array_equal(u["a"], -2.0 * np.ones((2, 2)))
    np.testing.assert_array_equal(u["b"], [0.0, -1.0, -2.0])
