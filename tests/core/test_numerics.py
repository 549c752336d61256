"""safe_norm and safe_root_mean_squares: values, floors and finite gradients at zero."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import gdtransforms as gdt


def test_safe_norm_values_axes_and_floor():
    x = jnp.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(gdt.safe_norm(x, 0.5, axis=1), [5.0, 0.5])
    np.testing.assert_allclose(gdt.safe_norm(x, 0.5, axis=1, keepdims=True), [[5.0], [0.5]])
    np.testing.assert_allclose(gdt.safe_norm(x, 0.0, ord=1, axis=1), [7.0, 0.0])
    np.testing.assert_allclose(gdt.safe_norm(x, 0.0), 5.0)
    for args in [(x, 0.5), (x, 0.5, None, 1), (x, 0.5, 1, 1, True)]:
        np.testing.assert_allclose(gdt.safe_norm(*args), optax.safe_norm(*args), rtol=1e-6)


def test_safe_norm_gradient_is_finite_at_zero():
    grad = jax.grad(lambda x: gdt.safe_norm(x, 1e-3))(jnp.zeros(3))
    np.testing.assert_array_equal(grad, [0.0, 0.0, 0.0])
    grad = jax.grad(lambda x: gdt.safe_norm(x, 0.0))(jnp.array([3.0, 4.0]))
    np.testing.assert_allclose(grad, [0.6, 0.8], rtol=1e-6)


def test_safe_root_mean_squares():
    np.testing.assert_allclose(gdt.safe_root_mean_squares(jnp.array([1.0, 7.0]), 0.1), 5.0)
    np.testing.assert_allclose(gdt.safe_root_mean_squares(jnp.zeros(4), 0.1), 0.1)
    grad = jax.grad(lambda x: gdt.safe_root_mean_squares(x, 0.1))(jnp.zeros(4))
    np.testing.assert_array_equal(grad, np.zeros(4))


def test_safe_int32_increment_saturates():
    assert int(gdt.safe_int32_increment(jnp.int32(2**31 - 1))) == 2**31 - 1
    assert int(gdt.safe_int32_increment(jnp.int32(5))) == 6
