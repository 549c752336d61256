"""Tree maths, casting and random trees (gdt.tree.X and gdt.tree_utils.tree_X) on hand-derived values."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt

T = gdt.tree


def _eq(actual, expected):
    """Leafwise equality; plain lists in ``expected`` stand for arrays."""
    expected = jax.tree.map(np.asarray, expected, is_leaf=lambda x: isinstance(x, list))
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(e, np.float64), rtol=1e-6)


X = {"a": jnp.array([1.0, -2.0]), "b": jnp.float32(3.0)}
Y = {"a": jnp.array([4.0, 0.5]), "b": jnp.float32(-2.0)}


def test_both_paths_are_the_same_objects():
    for name in T.__all__:
        prefixed = name if name == "NamedTupleKey" else f"tree_{name}"
        assert getattr(gdt.tree_utils, prefixed) is getattr(T, name), name
    assert sorted(T.__all__) == T.__all__ and sorted(gdt.tree_utils.__all__) == gdt.tree_utils.__all__


def test_arithmetic_by_hand():
    _eq(T.add(X, Y), {"a": [5.0, -1.5], "b": 1.0})
    _eq(T.add(X, Y, X, Y), {"a": [10.0, -3.0], "b": 2.0})
    _eq(T.sub(X, Y), {"a": [-3.0, -2.5], "b": 5.0})
    _eq(T.mul(X, Y), {"a": [4.0, -1.0], "b": -6.0})
    _eq(T.div(X, Y), {"a": [0.25, -4.0], "b": -1.5})
    _eq(T.scale(-2.0, X), {"a": [-2.0, 4.0], "b": -6.0})
    _eq(T.add_scale(X, 0.5, Y), {"a": [3.0, -1.75], "b": 2.0})


def test_none_leaves_stay_none():
    x = {"a": None, "b": jnp.ones(2)}
    assert T.add(x, x)["a"] is None
    assert T.sub(x, x)["a"] is None
    # add_scale keeps a None of tree_x whatever tree_y holds there.
    out = T.add_scale(x, 2.0, {"a": jnp.ones(3), "b": jnp.ones(2)})
    assert out["a"] is None
    np.testing.assert_allclose(out["b"], [3.0, 3.0])


def test_reductions_by_hand():
    # <x, y> = 4 - 1 - 6 = -3; sum x = 1 - 2 + 3 = 2.
    np.testing.assert_allclose(T.vdot(X, Y), -3.0)
    np.testing.assert_allclose(T.sum(X), 2.0)
    np.testing.assert_allclose(T.sum(X, associative_reduction=True), 2.0)
    assert float(T.max(X)) == 3.0 and float(T.min(X)) == -2.0
    assert T.size(X) == 3 and T.size({"w": jnp.zeros((2, 3)), "s": 1.0, "e": jnp.zeros(0)}) == 7


def test_vdot_conjugates_the_first_argument():
    a, b = jnp.array([1.0 + 2.0j]), jnp.array([3.0 - 1.0j])
    # conj(1 + 2j) (3 - j) = (1 - 2j)(3 - j) = 1 - 7j
    np.testing.assert_allclose(T.vdot(a, b), 1.0 - 7.0j)
    np.testing.assert_allclose(T.vdot(a, a), 5.0)


def test_vdot_rejects_mismatched_leaf_shapes():
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        T.vdot(jnp.ones(2), jnp.ones(3))


def test_mixed_dtypes_promote():
    x = {"i": jnp.array([1, 2], jnp.int32), "f": jnp.array([0.5], jnp.float32), "h": jnp.array([2.0], jnp.bfloat16)}
    assert float(T.sum(x)) == 5.5 and T.sum(x).dtype == jnp.float32
    assert float(T.vdot(x, x)) == 1 + 4 + 0.25 + 4
    # The float -inf identity makes the max of an integer tree a float (as in optax).
    out = T.max({"i": jnp.array([1, 7])})
    assert float(out) == 7.0 and jnp.issubdtype(out.dtype, jnp.floating)


def test_empty_trees_give_identities():
    assert T.sum({}) == 0 and T.vdot({}, {}) == 0 and T.size({}) == 0
    assert T.max({}) == -np.inf and T.min({}) == np.inf
    assert float(T.norm({})) == 0.0
    assert T.allclose({}, {}) is True
    assert T.add({}, {}) == {}


def test_empty_leaves_are_skipped_by_max_and_min():
    tree = {"e": jnp.zeros(0), "v": jnp.array([-1.0, 4.0])}
    assert float(T.max(tree)) == 4.0 and float(T.min(tree)) == -1.0


def test_scalar_leaves():
    tree = {"s": 2.0, "t": jnp.float32(-3.0)}
    assert float(T.sum(tree)) == -1.0
    assert float(T.norm(tree, 1)) == 5.0
    assert float(T.norm(tree, squared=True)) == 13.0
    assert T.size(tree) == 2


@pytest.mark.parametrize(
    "ord_, expected, expected_sq",
    [(None, 13.0, 169.0), (2, 13.0, 169.0), (1, 19.0, 361.0), (jnp.inf, 12.0, 144.0), ("inf", 12.0, 144.0)],
)
def test_norm_orders(ord_, expected, expected_sq):
    tree = {"a": jnp.array([3.0, -4.0]), "b": jnp.array(-12.0)}
    np.testing.assert_allclose(T.norm(tree, ord_), expected, rtol=1e-6)
    np.testing.assert_allclose(T.norm(tree, ord_, squared=True), expected_sq, rtol=1e-6)
    np.testing.assert_allclose(T.norm(tree, ord="infinity"), 12.0)


def test_norm_of_complex_leaves_is_real():
    out = T.norm({"z": jnp.array([3.0 + 4.0j])})
    np.testing.assert_allclose(out, 5.0, rtol=1e-6)
    assert not jnp.iscomplexobj(out)


def test_norm_rejects_unknown_ord():
    with pytest.raises(ValueError, match="ord"):
        T.norm(X, ord=3)


def test_conj_real():
    z = {"z": jnp.array([1.0 + 2.0j])}
    np.testing.assert_allclose(T.conj(z)["z"], [1.0 - 2.0j])
    np.testing.assert_allclose(T.real(z)["z"], [1.0])


def test_allclose():
    assert bool(T.allclose(X, T.add_scale(X, 1e-7, Y)))
    assert not bool(T.allclose(X, T.add_scale(X, 1e-2, Y)))
    nan = {"a": jnp.array([jnp.nan])}
    assert not bool(T.allclose(nan, nan)) and bool(T.allclose(nan, nan, equal_nan=True))
    assert bool(T.allclose({"a": jnp.array([1.0])}, {"a": jnp.array([1.5])}, atol=0.6))


def test_like_constructors():
    x = {"a": jnp.zeros((2,), jnp.bfloat16), "b": jnp.asarray(1.0)}
    z, o, f = T.zeros_like(x), T.ones_like(x), T.full_like(x, 7)
    assert z["a"].dtype == jnp.bfloat16 and f["a"].dtype == jnp.bfloat16
    # A weakly typed leaf stays weak (optax's semantics; the internal helpers differ).
    assert z["b"].weak_type
    _eq(o, {"a": [1.0, 1.0], "b": 1.0})
    _eq(f, {"a": [7.0, 7.0], "b": 7.0})
    assert T.zeros_like(x, jnp.int32)["a"].dtype == jnp.int32
    assert T.full_like(x, 2, dtype=jnp.float16)["b"].dtype == jnp.float16


def test_batch_shape():
    out = T.batch_shape({"w": jnp.array([1.0, 2.0]), "s": jnp.float32(3.0)}, (3, 2))
    assert out["w"].shape == (3, 2, 2) and out["s"].shape == (3, 2)
    np.testing.assert_allclose(out["w"][2, 1], [1.0, 2.0])
    assert T.batch_shape(X)["a"].shape == (2,)


def test_clip_and_where():
    _eq(T.clip(X, -1.0, 2.0), {"a": [1.0, -1.0], "b": 2.0})
    _eq(T.clip(X, min_value=0.0), {"a": [1.0, 0.0], "b": 3.0})
    _eq(T.clip(X, max_value=0.0), {"a": [0.0, -2.0], "b": 0.0})
    _eq(T.where(True, X, Y), X)
    _eq(T.where(jnp.asarray(False), X, Y), Y)
    _eq(T.where(jnp.array([True, False]), {"a": X["a"]}, {"a": Y["a"]}), {"a": [1.0, 0.5]})


def test_cast_and_cast_like():
    assert T.cast(X, None) is X
    out = T.cast(X, jnp.bfloat16)
    assert all(leaf.dtype == jnp.bfloat16 for leaf in jax.tree.leaves(out))
    other = {"a": jnp.zeros(2, jnp.float16), "b": 1.0}  # a Python number has no dtype: leaf kept
    out = T.cast_like(X, other)
    assert out["a"].dtype == jnp.float16 and out["b"].dtype == jnp.float32


def test_dtype():
    same = {"a": jnp.ones(1), "b": jnp.float32(1)}
    assert T.dtype(same) == jnp.float32
    assert T.dtype({}) == jnp.float32
    mixed = {"a": jnp.ones(1, jnp.float16), "b": {"c": jnp.ones(1, jnp.float32)}}
    with pytest.raises(ValueError, match=r"\['b'\]\['c'\]"):
        T.dtype(mixed)
    assert T.dtype(mixed, "promote") == jnp.float32
    assert T.dtype(mixed, "highest") == jnp.float32
    assert T.dtype(mixed, "lowest") == jnp.float16
    unordered = {"a": jnp.ones(1, jnp.float16), "b": jnp.ones(1, jnp.bfloat16)}  # both promote to float32
    assert T.dtype(unordered, "promote") == jnp.float32
    with pytest.raises(ValueError, match="promotes"):
        T.dtype(unordered, "highest")
    with pytest.raises(ValueError, match="mixed_dtype_handler"):
        T.dtype(mixed, "biggest")


def test_split_key_like_and_random_like_follow_the_split_keys():
    key = jax.random.key(7)
    target = {"a": jnp.zeros((2, 3)), "b": [jnp.zeros(4, jnp.bfloat16)]}
    keys = T.split_key_like(key, target)
    expected_keys = jax.random.split(key, 2)
    np.testing.assert_array_equal(jax.random.key_data(keys["a"]), jax.random.key_data(expected_keys[0]))
    np.testing.assert_array_equal(jax.random.key_data(keys["b"][0]), jax.random.key_data(expected_keys[1]))
    noise = T.random_like(key, target)
    np.testing.assert_array_equal(noise["a"], jax.random.normal(expected_keys[0], (2, 3)))
    assert noise["b"][0].dtype == jnp.bfloat16
    # A sampler without `out_sharding`, and an explicit dtype.
    sampler = lambda k, shape, dtype: jax.random.uniform(k, shape, dtype, minval=5.0, maxval=6.0)
    unif = T.random_like(key, target, sampler=sampler, dtype=jnp.float32)
    assert unif["b"][0].dtype == jnp.float32
    assert 5.0 <= float(T.min(unif)) and float(T.max(unif)) <= 6.0


def test_unwrap_random_key_data():
    key = jax.random.key(1)
    out = T.unwrap_random_key_data({"k": key, "x": jnp.ones(2), "raw": jax.random.PRNGKey(0)})
    np.testing.assert_array_equal(out["k"], jax.random.key_data(key))
    assert out["raw"].dtype == jnp.uint32 and out["x"].dtype == jnp.float32


def test_under_jit():
    f = jax.jit(lambda x, y: (T.vdot(x, y), T.norm(x, 1), T.add_scale(x, 2.0, y), T.max(x)))
    vdot, l1, axpy, mx = f(X, Y)
    assert float(vdot) == -3.0 and float(l1) == 6.0 and float(mx) == 3.0
    _eq(axpy, {"a": [9.0, -1.0], "b": -1.0})


@pytest.mark.parametrize(
    "name, call, expected",
    [
        ("tree_scalar_mul", lambda f: f(2.0, X)["b"], 6.0),
        ("tree_add_scalar_mul", lambda f: f(X, 2.0, Y)["b"], -1.0),
        ("tree_l1_norm", lambda f: f(X), 6.0),
        ("tree_l2_norm", lambda f: f(X), np.sqrt(14.0)),
        ("tree_linf_norm", lambda f: f(X), 3.0),
    ],
)
def test_optax_deprecated_names_still_work_with_a_warning(name, call, expected):
    with pytest.warns(DeprecationWarning, match=name):
        fn = getattr(gdt.tree_utils, name)
    np.testing.assert_allclose(call(fn), expected, rtol=1e-6)


def test_unknown_tree_utils_name_is_an_attribute_error():
    with pytest.raises(AttributeError):
        gdt.tree_utils.tree_nothing  # noqa: B018
