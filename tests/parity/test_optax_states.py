"""optax states given to gdtransforms (issue 13, item 9).

Where the structure matches, an optax-built state is accepted and the next
steps equal optax's; otherwise the ``TypeError`` names both classes with their
modules and the library that built the state.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt

PARAMS = {"w": jnp.ones(2), "b": jnp.ones(3)}
MASK = {"w": True, "b": False}

CASES = {
    "masked": lambda m: m.masked(m.adam(0.1), MASK),
    "multi_transform": lambda m: m.multi_transform({"a": m.adam(0.1), "s": m.sgd(0.1)}, {"w": "a", "b": "s"}),
    "MultiSteps": lambda m: m.MultiSteps(m.adam(0.1), 2),
    "apply_if_finite": lambda m: m.apply_if_finite(m.adam(0.1), 2),
    "inject_hyperparams": lambda m: m.inject_hyperparams(m.adam)(learning_rate=0.1),
    "reduce_on_plateau": lambda m: m.contrib.reduce_on_plateau() if m is optax else m.reduce_on_plateau(),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_optax_state_is_accepted_and_continues_like_optax(name):
    ours, theirs = CASES[name](gdt), CASES[name](optax)
    kwargs = {"value": jnp.asarray(1.0)} if name == "reduce_on_plateau" else {}
    step = jax.jit(ours.update)
    state = theirs_state = theirs.init(PARAMS)  # built by optax
    for _ in range(3):
        updates, state = step(PARAMS, state, PARAMS, **kwargs)
        expected, theirs_state = theirs.update(PARAMS, theirs_state, PARAMS, **kwargs)
        for a, b in zip(jax.tree.leaves(updates), jax.tree.leaves(expected)):
            np.testing.assert_allclose(a, b, rtol=2e-5)  # optax #1532: its injected Adam is ~1 ulp off


def test_a_mismatched_optax_state_names_both_classes_and_the_library():
    with pytest.raises(TypeError) as info:
        gdt.inject_hyperparams(gdt.adam)(learning_rate=0.1).update(PARAMS, optax.adam(0.1).init(PARAMS), PARAMS)
    message = str(info.value)
    assert "gdtransforms._schedules._inject.InjectStatefulHyperparamsState" in message
    assert "built by optax" in message and "tuple of 2 entries (optax." in message
    with pytest.raises(
        TypeError, match=r"expected state gdtransforms\.\S*ReduceLROnPlateauState.*optax\S*ScaleByAdamState"
    ):
        gdt.reduce_on_plateau().update(PARAMS, optax.scale_by_adam().init(PARAMS), value=1.0)


def test_identical_looking_trees_name_the_differing_classes():
    from gdtransforms._core import _checks

    with pytest.raises(ValueError, match=r"gdtransforms\._core\._base\.MaskedNode node, got a optax\.\S*MaskedNode"):
        _checks.check_same_structure(
            {"a": gdt.MaskedNode()}, {"a": optax.MaskedNode()}, reference_name="x", tree_name="y", where="w"
        )
