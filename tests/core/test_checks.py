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


# -- One vocabulary: every argument check reads "`name` must be ..., got ..." -----------

from gdtransforms._core import _checks  # noqa: E402


@pytest.mark.parametrize(
    ("check", "value", "error", "message"),
    [
        (_checks.check_decay, lambda count: 0.9, TypeError, "`b` must be a number, got function"),
        (_checks.check_positive, lambda count: 0.9, TypeError, "`b` must be a number, got function"),
        (_checks.check_rate, True, TypeError, "`b` must be a number or a schedule"),
        (_checks.check_decay, np.bool_(True), TypeError, "`b` must be a number, got bool"),
        (_checks.check_rate, [0.1], TypeError, "`b` must be a number or a schedule (a function of the step"),
        (_checks.check_decay, (0.9,), TypeError, "`b` must be a number, got tuple"),
        (_checks.check_non_negative, "0.1", TypeError, "`b` must be a number, got str"),
        (_checks.check_rate, jnp.array([0.1]), ValueError, "`b` must be a scalar, got an array of shape (1,)"),
        (_checks.check_decay, np.full((3,), 0.9), ValueError, "`b` must be a scalar, got an array of shape (3,)"),
        (_checks.check_decay, 1.0, ValueError, "`b` must be in [0.0, 1.0), got 1.0"),
        (_checks.check_rate, float("inf"), ValueError, "`b` must be finite, got inf"),
        (_checks.check_int, 2.0, TypeError, "`b` must be an integer, got float: 2.0"),
        (_checks.check_int, True, TypeError, "`b` must be an integer, got bool: True"),
        (_checks.check_callable, 3, TypeError, "`b` must be a function, got int: 3"),
    ],
)
def test_one_wording_per_kind_of_mistake(check, value, error, message):
    with pytest.raises(error) as info:
        check("b", value)
    assert str(info.value).startswith(message), str(info.value)


def test_check_int_and_check_choice_wording():
    with pytest.raises(ValueError, match=r"^MultiSteps: `k` must be an integer >= 1, got 0$"):
        _checks.check_int("k", 0, 1, where="MultiSteps")
    with pytest.raises(ValueError, match=r"^`mode` must be one of 'a', 'b', got 'c'$"):
        _checks.check_choice("mode", "c", ("a", "b"))
    _checks.check_int("k", np.int64(3), 1)
    _checks.check_int("k", jnp.asarray(3), 1)


def test_schedules_pass_only_where_allowed():
    _checks.check_rate("learning_rate", lambda count: 0.1)
    _checks.check_decay("b3", lambda count: 0.9, schedule=True)
    with pytest.raises(TypeError, match="`b1` must be a number, got function"):
        gdt.adam(0.1, b1=lambda count: 0.9)


def test_traced_values_are_checked_for_shape_not_value():
    @jax.jit
    def build(lr):
        _checks.check_rate("learning_rate", lr)
        return lr

    build(jnp.asarray(-1.0))  # a value known only when the step runs passes
    with pytest.raises(ValueError, match=r"`learning_rate` must be a scalar, got an array of shape \(3,\)"):
        build(jnp.ones(3))


def test_old_names_keep_working():
    _checks.check_int_at_least("n", 3, 1, where="x")
    with pytest.raises(ValueError, match="`n` must be an integer >= 1, got 0"):
        _checks.check_int_at_least("n", 0, 1)
    for name in _checks.__all__:
        assert callable(getattr(_checks, name))


def test_one_way_to_tell_a_traced_value():
    import pathlib

    package = pathlib.Path(gdt.__file__).parent
    offenders = [
        str(p.relative_to(package))
        for p in package.rglob("*.py")
        if "jax.core.Tracer" in p.read_text() and p.name != "_checks.py"
    ]
    assert offenders == [], "use _checks.is_deferred"
