"""Bad input: every factory checks its hyperparameters, every update its trees."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt

NAN, INF = float("nan"), float("inf")

BAD_HYPERPARAMETERS = [
    # (factory call, exception, message fragment)
    (lambda: gdt.sgd(-0.1), ValueError, "learning_rate"),
    (lambda: gdt.sgd(NAN), ValueError, "learning_rate"),
    (lambda: gdt.adam(INF), ValueError, "learning_rate"),
    (lambda: gdt.adam(jnp.array(-1e-3)), ValueError, "learning_rate"),
    (lambda: gdt.adam("0.1"), TypeError, "learning_rate"),
    (lambda: gdt.sgd(0.1, momentum=1.0), ValueError, "momentum"),
    (lambda: gdt.sgd(0.1, momentum=-0.1), ValueError, "momentum"),
    (lambda: gdt.adam(0.1, b1=1.0), ValueError, "b1"),
    (lambda: gdt.adam(0.1, b2=-0.1), ValueError, "b2"),
    (lambda: gdt.adam(0.1, eps=0.0), ValueError, "eps"),
    (lambda: gdt.adam(0.1, eps=-1e-8), ValueError, "eps"),
    (lambda: gdt.adam(0.1, eps_root=-1.0), ValueError, "eps_root"),
    (lambda: gdt.adam(0.1, mu_dtype=jnp.int32), TypeError, "mu_dtype"),
    (lambda: gdt.adam(0.1, nu_dtype="bool"), TypeError, "nu_dtype"),
    (lambda: gdt.adamw(0.1, weight_decay=-1e-4), ValueError, "weight_decay"),
    (lambda: gdt.rmsprop(0.1, decay=1.0), ValueError, "decay"),
    (lambda: gdt.rmsprop(0.1, eps=0.0), ValueError, "eps"),
    (lambda: gdt.rmsprop(0.1, initial_scale=-1.0), ValueError, "initial_scale"),
    (lambda: gdt.adagrad(0.1, initial_accumulator_value=-0.1), ValueError, "initial_accumulator_value"),
    (lambda: gdt.adagrad(0.1, eps=-1.0), ValueError, "eps"),
    (lambda: gdt.ema(1.0), ValueError, "decay"),
    (lambda: gdt.ema_momentum(0.1, beta=1.5), ValueError, "beta"),
    (lambda: gdt.trace(0.9, accumulator_dtype=jnp.int8), TypeError, "accumulator_dtype"),
    (lambda: gdt.adamax(0.1, eps=0.0), ValueError, "eps"),
    (lambda: gdt.amsgrad(0.1, b2=1.0), ValueError, "b2"),
    (lambda: gdt.lion(0.1, b1=2.0), ValueError, "b1"),
    (lambda: gdt.scale_by_lion(mode="soft"), ValueError, "mode"),
    (lambda: gdt.lamb(0.1, eps_root=NAN), ValueError, "eps_root"),
    (lambda: gdt.clip(-1.0), ValueError, "max_delta"),
    (lambda: gdt.clip_by_global_norm(0.0), ValueError, "max_norm"),
    (lambda: gdt.add_l1_penalty(-0.1), ValueError, "l1_strength"),
    (lambda: gdt.scale(NAN), ValueError, "step_size"),
    (lambda: gdt.scale_by_schedule(0.1), TypeError, "step_size_fn"),
    (lambda: gdt.scale_by_trust_ratio(min_norm=-1.0), ValueError, "min_norm"),
]


@pytest.mark.parametrize("make, error, fragment", BAD_HYPERPARAMETERS)
def test_bad_hyperparameters_are_rejected_at_construction(make, error, fragment):
    with pytest.raises(error, match=fragment):
        make()


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


def test_missing_leaf_is_named():
    tx = gdt.adam(0.1)
    grads = {"dense": {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}, "out": []}
    with pytest.raises(ValueError, match=r"missing the leaf at \['out'\]\[0\]"):
        tx.update(grads, tx.init(PARAMS))


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_integer_params_are_rejected_with_their_path(name):
    params = {"w": jnp.ones(3), "step": jnp.zeros((), jnp.int32)}
    with pytest.raises(TypeError, match=r"\['step'\].*int32"):
        STATEFUL[name]().init(params)


def test_boolean_params_are_rejected():
    with pytest.raises(TypeError, match=r"\[0\].*bool"):
        gdt.adam(0.1).init([jnp.ones(2, bool)])


def test_integer_grads_are_rejected_with_their_path():
    tx = gdt.adam(0.1)
    with pytest.raises(TypeError, match=r"updates leaf at \['w'\]"):
        tx.update({"w": jnp.ones(2, jnp.int32)}, tx.init({"w": jnp.ones(2)}))


@pytest.mark.parametrize(
    "make", [lambda: gdt.adamw(0.1), lambda: gdt.lamb(0.1), lambda: gdt.lion(0.1), lambda: gdt.adamaxw(0.1)]
)
def test_missing_params_where_needed(make):
    tx = make()
    with pytest.raises(ValueError, match="needs the current parameters"):
        tx.update(PARAMS, tx.init(PARAMS))
