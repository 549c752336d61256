"""keep_params_nonnegative and scale_gradient by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt


def test_keep_params_nonnegative():
    tx = gdt.keep_params_nonnegative()
    params = {"a": jnp.array([1.0, 0.5, -1.0]), "frozen": None}
    u, _ = tx.update({"a": jnp.array([-0.4, -2.0, 0.5]), "frozen": None}, tx.init(params), params)
    np.testing.assert_allclose(u["a"], [-0.4, -0.5, 1.0])  # a negative param is moved to 0
    assert u["frozen"] is None
    with pytest.raises(ValueError, match="params"):
        tx.update({"a": jnp.ones(3)}, tx.init(params))


def test_scale_gradient():
    f = lambda s: jax.grad(lambda x: jnp.sum(3.0 * gdt.scale_gradient(x, s) ** 2))(jnp.array([1.0, 2.0]))  # noqa: E731
    np.testing.assert_allclose(f(0.5), [3.0, 6.0])
    np.testing.assert_allclose(f(1.0), [6.0, 12.0])
    np.testing.assert_allclose(f(0.0), [0.0, 0.0])
    np.testing.assert_allclose(f(jnp.float32(2.0)), [12.0, 24.0])
    np.testing.assert_array_equal(gdt.scale_gradient(jnp.array([1.0, 2.0]), 0.5), [1.0, 2.0])
