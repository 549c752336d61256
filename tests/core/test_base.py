"""Tests for the base types and trivial transformations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt


def test_gradient_transformation_is_a_namedtuple_of_init_and_update():
    tx = gdt.identity()
    init, update = tx
    assert tx._fields == ("init", "update")
    assert init is tx.init and update is tx.update


def test_identity_returns_updates_and_ignores_extra_args():
    tx = gdt.identity()
    state = tx.init({"w": jnp.ones(3)})
    updates, new_state = tx.update({"w": jnp.arange(3.0)}, state, None, value=1.0)
    np.testing.assert_array_equal(updates["w"], [0.0, 1.0, 2.0])
    assert new_state == gdt.EmptyState()
    assert jax.tree.leaves(new_state) == []


def test_set_to_zero_zeroes_every_leaf_and_keeps_dtypes():
    tx = gdt.set_to_zero()
    grads = {"a": jnp.ones(2), "b": jnp.ones(3, jnp.bfloat16)}
    updates, _ = tx.update(grads, tx.init(grads))
    assert updates["b"].dtype == jnp.bfloat16
    assert all(float(jnp.abs(u).sum()) == 0.0 for u in jax.tree.leaves(updates))


def test_stateless_sees_params():
    tx = gdt.stateless(lambda u, p: jax.tree.map(lambda g, w: g + 2 * w, u, p))
    updates, state = tx.update({"w": jnp.ones(2)}, tx.init(None), {"w": jnp.full(2, 3.0)})
    np.testing.assert_array_equal(updates["w"], [7.0, 7.0])
    assert state == gdt.EmptyState()


def test_stateless_with_tree_map_with_and_without_params():
    tx = gdt.stateless_with_tree_map(lambda g, p: g * 2 if p is None else g * p)
    u, _ = tx.update({"w": jnp.ones(2)}, gdt.EmptyState())
    np.testing.assert_array_equal(u["w"], [2.0, 2.0])
    u, _ = tx.update({"w": jnp.ones(2)}, gdt.EmptyState(), {"w": jnp.full(2, 5.0)})
    np.testing.assert_array_equal(u["w"], [5.0, 5.0])


def test_with_extra_args_support_wraps_plain_update():
    calls = []

    def update(updates, state, params=None):
        calls.append(params)
        return updates, state

    tx = gdt.with_extra_args_support(gdt.GradientTransformation(gdt.init_empty_state, update))
    tx.update({"w": jnp.ones(1)}, gdt.EmptyState(), None, value=3.0)
    assert calls == [None]


def test_with_extra_args_support_rejects_non_transformations():
    with pytest.raises(TypeError, match="init"):
        gdt.with_extra_args_support(object())


def test_extra_args_class_is_a_subclass_as_in_optax():
    """isinstance answers as optax's: ExtraArgs is a GradientTransformation, not the reverse."""

    def update(updates, state, params=None):
        return updates, state

    plain = gdt.GradientTransformation(gdt.init_empty_state, update)
    assert not isinstance(plain, gdt.GradientTransformationExtraArgs)
    wrapped = gdt.with_extra_args_support(plain)
    assert isinstance(wrapped, gdt.GradientTransformationExtraArgs)
    assert isinstance(wrapped, gdt.GradientTransformation)
    assert gdt.with_extra_args_support(wrapped) is wrapped
    assert isinstance(gdt.chain(plain, plain), gdt.GradientTransformationExtraArgs)
    assert isinstance(gdt.named_chain(("a", plain)), gdt.GradientTransformationExtraArgs)
    # A gdtransforms transformation takes **extra_args already: the same functions, now marked.
    adam = gdt.scale_by_adam()
    marked = gdt.with_extra_args_support(adam)
    assert isinstance(marked, gdt.GradientTransformationExtraArgs) and marked.update is adam.update


def test_safe_increment_saturates_for_every_counter_dtype():
    for dtype in (jnp.int8, jnp.uint8, jnp.uint32, jnp.int32, jnp.bfloat16, jnp.float16, jnp.float32):
        info = jnp.iinfo(dtype) if jnp.issubdtype(dtype, jnp.integer) else jnp.finfo(dtype)
        top = jnp.asarray(info.max, dtype)
        assert gdt.safe_increment(jnp.asarray(3, dtype)) == 4
        assert gdt.safe_increment(jnp.asarray(3, dtype)).dtype == dtype
        assert jax.jit(gdt.safe_increment)(top) == top, dtype
    for dtype in (jnp.bool_, jnp.complex64):
        with pytest.raises(ValueError, match="integer or floating"):
            gdt.safe_increment(jnp.asarray(1, dtype))


def test_signatures_carry_real_annotations():
    """Code that asks whether `learning_rate` takes a schedule sees the real annotation, not a string."""
    import inspect

    for factory in (gdt.adam, gdt.sgd, gdt.contrib.muon, gdt.add_decayed_weights):
        annotation = (
            inspect.signature(factory)
            .parameters["learning_rate" if factory is not gdt.add_decayed_weights else "weight_decay"]
            .annotation
        )
        assert annotation is gdt.ScalarOrSchedule, (factory.__name__, annotation)
