"""Bad input swept over every stateful optimizer; the cross-API matrix is test_bad_inputs.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt

# The bad-hyperparameter rows live in tests/robustness/test_bad_inputs.py, the one
# cross-API matrix; this file keeps the sweeps over every stateful optimizer.


def test_valid_edge_values_are_accepted():
    gdt.sgd(0.0, momentum=0.0)
    gdt.adam(jnp.array(1e-3), b1=0.0, eps=0.0, eps_root=1e-8)
    gdt.adam(lambda count: 0.1)
    gdt.adagrad(0.1, initial_accumulator_value=0.0, eps=0.0)


def test_traced_hyperparameters_are_not_inspected():
    @jax.jit
    def first_update(lr, grads):
        tx = gdt.adam(lr)
        return tx.update(grads, tx.init(grads))[0]

    np.testing.assert_allclose(first_update(0.1, jnp.ones(2)), [-0.1, -0.1], rtol=1e-4)


PARAMS = {"dense": {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}, "out": [jnp.ones(3)]}
STATEFUL = {
    "sgd_momentum": lambda: gdt.sgd(0.1, momentum=0.9),
    "ema_momentum": lambda: gdt.ema_momentum(0.1),
    "adagrad": lambda: gdt.adagrad(0.1),
    "rmsprop": lambda: gdt.rmsprop(0.1),
    "rmsprop_centered": lambda: gdt.rmsprop(0.1, centered=True),
    "adam": lambda: gdt.adam(0.1),
    "amsgrad": lambda: gdt.amsgrad(0.1),
    "adamax": lambda: gdt.adamax(0.1),
    "lion": lambda: gdt.lion(0.1),
}


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_grads_with_a_different_shape_name_the_path(name):
    tx = STATEFUL[name]()
    grads = {"dense": {"w": jnp.ones((2, 3)), "b": jnp.ones(4)}, "out": [jnp.ones(3)]}
    with pytest.raises(ValueError, match=r"\['dense'\]\['b'\].*expected shape \(3,\), got \(4,\)"):
        tx.update(grads, tx.init(PARAMS), PARAMS)


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_grads_with_a_different_structure_name_the_path(name):
    tx = STATEFUL[name]()
    grads = {"dense": {"w": jnp.ones((2, 3)), "bias": jnp.ones(3)}, "out": [jnp.ones(3)]}
    with pytest.raises(ValueError, match=r"\['dense'\]\['b'\]"):
        tx.update(grads, tx.init(PARAMS), PARAMS)


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_integer_params_are_rejected_with_their_path(name):
    params = {"w": jnp.ones(3), "step": jnp.zeros((), jnp.int32)}
    with pytest.raises(TypeError, match=r"\['step'\].*int32"):
        STATEFUL[name]().init(params)
