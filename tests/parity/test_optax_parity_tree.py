"""Tree utilities, projections, perturbations and assignment against optax, in one table.

Each case is ``lambda lib, x, y: ...`` run with ``lib`` = gdtransforms and ``lib`` = optax
on the same inputs: a nested tree (dict/list/tuple, float32 leaves, a bfloat16 leaf, a
scalar leaf) and the same tree entirely in bfloat16. Results are compared leaf by leaf
(dtypes included; rtol 1e-5 float32, 2e-2 bfloat16); non-array results must be equal.
"""

from __future__ import annotations

import inspect
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt
from tests._trees import assert_trees_close

RNG = np.random.default_rng(3)


def _small_nested():
    """A dict/list/tuple tree: a float32 matrix, a bfloat16 matrix of the same shape, a float32 scalar.

    Few distinct leaf shapes keep the eager compiles (one per primitive, shape and dtype) few.
    """
    normal = lambda *shape: RNG.normal(size=shape)
    return {
        "dense": {"w": jnp.asarray(normal(2, 3), jnp.float32)},
        "layers": [(jnp.asarray(normal(2, 3), jnp.bfloat16), jnp.float32(normal()))],
    }


NESTED = _small_nested()
OTHER = _small_nested()
INPUTS = {
    "nested": (NESTED, OTHER),
    "bfloat16": (gdt.tree.cast(NESTED, jnp.bfloat16), gdt.tree.cast(OTHER, jnp.bfloat16)),
}
KEY = jax.random.key(42)
BATCH = jnp.asarray(RNG.normal(size=(3, 6)), jnp.float32)
COSTS = jnp.asarray(RNG.integers(0, 4, size=(5, 4)), jnp.float32)  # integer costs: many ties
COSTS_BATCH = jnp.asarray(RNG.normal(size=(2, 3, 3)), jnp.float32)


def _grad_norm_fn(lib, x):
    return jax.grad(lambda t: lib.tree.norm(t))(x)


def _perturbed(lib, x):
    """Value and gradient of a perturbed ReLU sum, Gumbel and Normal noise, on a float32 and a bfloat16 leaf.

    Eager: the second library reuses the first one's compiled primitives.
    """
    x = {"w": x["dense"]["w"][0], "h": x["layers"][0][0][0]}
    out = []
    for noise in (lib.perturbations.Gumbel(), lib.perturbations.Normal()):
        relu_sum = lambda t: lib.tree.sum(jax.tree.map(jax.nn.relu, t))
        fn = lib.perturbations.make_perturbed_fun(relu_sum, 4, 0.3, noise)
        out.append(jax.value_and_grad(fn, argnums=1)(KEY, x))
    return out


def _assignment(lib, name):
    """One algorithm on a tall and a wide matrix with tied integer costs, and vmapped: one compiled call."""
    fn = getattr(lib.assignment, name)
    return jax.jit(lambda c, b: [fn(c), fn(c.T), jax.vmap(fn)(b)])(COSTS, COSTS_BATCH)


def _state_paths(lib):
    """{printed path: value} of every ``count`` in a chain's state."""
    opt = lib.chain(lib.scale_by_adam(), lib.scale_by_schedule(lambda c: 0.1))
    state = opt.init({"w": jnp.ones(2)})
    return {jax.tree_util.keystr(path): v for path, v in lib.tree.get_all_with_path(state, "count")}


# id -> fn(lib, x, y); x, y are trees of the same structure.
CASES = {
    # Arithmetic.
    "add": lambda lib, x, y: lib.tree.add(x, y),
    "add3": lambda lib, x, y: lib.tree.add(x, y, x),
    "add_scale": lambda lib, x, y: lib.tree.add_scale(x, -0.7, y),
    "sub": lambda lib, x, y: lib.tree.sub(x, y),
    "mul": lambda lib, x, y: lib.tree.mul(x, y),
    "div": lambda lib, x, y: lib.tree.div(x, y),
    "scale": lambda lib, x, y: lib.tree.scale(2.5, x),
    "conj": lambda lib, x, y: lib.tree.conj(x),
    "real": lambda lib, x, y: lib.tree.real(x),
    # Reductions.
    "vdot": lambda lib, x, y: lib.tree.vdot(x, y),
    "sum": lambda lib, x, y: lib.tree.sum(x),
    "sum_associative": lambda lib, x, y: lib.tree.sum(x, associative_reduction=True),
    "max": lambda lib, x, y: lib.tree.max(x),
    "min": lambda lib, x, y: lib.tree.min(x),
    "size": lambda lib, x, y: lib.tree.size(x),
    "norm": lambda lib, x, y: lib.tree.norm(x),
    "norm_sq": lambda lib, x, y: lib.tree.norm(x, squared=True),
    "norm_1": lambda lib, x, y: lib.tree.norm(x, ord=1),
    "norm_1_sq": lambda lib, x, y: lib.tree.norm(x, ord=1, squared=True),
    "norm_inf": lambda lib, x, y: lib.tree.norm(x, ord=jnp.inf),
    "norm_inf_str": lambda lib, x, y: lib.tree.norm(x, ord="infinity", squared=True),
    "norm_grad": lambda lib, x, y: _grad_norm_fn(lib, x),
    "allclose_same": lambda lib, x, y: lib.tree.allclose(x, x),
    "allclose_other": lambda lib, x, y: lib.tree.allclose(x, y, rtol=0.5, atol=0.5),
    # Construction, casting, selection.
    "zeros_like": lambda lib, x, y: lib.tree.zeros_like(x),
    "ones_like_f16": lambda lib, x, y: lib.tree.ones_like(x, jnp.float16),
    "full_like": lambda lib, x, y: lib.tree.full_like(x, 3.5),
    "batch_shape": lambda lib, x, y: lib.tree.batch_shape(x, (2, 3)),
    "clip": lambda lib, x, y: lib.tree.clip(x, -0.5, 0.25),
    "clip_max": lambda lib, x, y: lib.tree.clip(x, max_value=0.0),
    "where": lambda lib, x, y: lib.tree.where(jnp.asarray(False), x, y),
    "cast": lambda lib, x, y: lib.tree.cast(x, jnp.float16),
    "cast_like": lambda lib, x, y: lib.tree.cast_like(y, lib.tree.cast(x, jnp.float16)),
    "dtype_promote": lambda lib, x, y: lib.tree.dtype(x, "promote"),
    "dtype_lowest": lambda lib, x, y: lib.tree.dtype(x, "lowest"),
    "dtype_highest": lambda lib, x, y: lib.tree.dtype(x, "highest"),
    # Random trees.
    "split_key_like": lambda lib, x, y: lib.tree.unwrap_random_key_data(lib.tree.split_key_like(KEY, x)),
    "random_like": lambda lib, x, y: lib.tree.random_like(KEY, x),
    "random_like_uniform": lambda lib, x, y: lib.tree.random_like(KEY, x, jax.random.uniform, jnp.float32),
    "unwrap_random_key_data": lambda lib, x, y: lib.tree.unwrap_random_key_data({"k": KEY, "x": x}),
    # Moments.
    "update_moment": lambda lib, x, y: lib.tree.update_moment(x, y, 0.9, 2),
    "update_moment_per_elem_norm": lambda lib, x, y: lib.tree.update_moment_per_elem_norm(x, y, 0.99, 1),
    "update_infinity_moment": lambda lib, x, y: lib.tree.update_infinity_moment(x, y, 0.9, 1e-3),
    "bias_correction": lambda lib, x, y: lib.tree.bias_correction(x, 0.999, 3),
    # State utilities.
    "get_all_with_path": lambda lib, x, y: _state_paths(lib),
    "get_set": lambda lib, x, y: lib.tree.get(lib.tree.set({"a": x, "b": {"c": 1.0}}, c=y), "c"),
    "map_params": lambda lib, x, y: lib.tree.map_params(lib.adam(0.1), lambda v: v * 2, lib.adam(0.1).init(x)),
    # Projections.
    "non_negative": lambda lib, x, y: lib.projections.projection_non_negative(x),
    "box": lambda lib, x, y: lib.projections.projection_box(x, lib.tree.full_like(x, -0.3), lib.tree.full_like(x, 0.6)),
    "hypercube_array": lambda lib, x, y: lib.projections.projection_hypercube(x["dense"]["w"], 0.5),
    "simplex": lambda lib, x, y: lib.projections.projection_simplex(x),
    "simplex_scale": lambda lib, x, y: lib.projections.projection_simplex(x, 3.0),
    "simplex_jacobian": lambda lib, x, y: jax.jacobian(lib.projections.projection_simplex)(x["dense"]["w"][0]),
    "l1_sphere": lambda lib, x, y: lib.projections.projection_l1_sphere(x, 2.0),
    "l1_ball_outside": lambda lib, x, y: lib.projections.projection_l1_ball(x, 1.5),
    "l1_ball_inside": lambda lib, x, y: lib.projections.projection_l1_ball(x, 1e3),
    "l2_sphere": lambda lib, x, y: lib.projections.projection_l2_sphere(x, 2.0),
    "l2_ball_outside": lambda lib, x, y: lib.projections.projection_l2_ball(x, 0.5),
    "l2_ball_inside": lambda lib, x, y: lib.projections.projection_l2_ball(x, 1e3),
    "linf_ball": lambda lib, x, y: lib.projections.projection_linf_ball(x, 0.4),
    "vector": lambda lib, x, y: lib.projections.projection_vector(x, y),
    "hyperplane": lambda lib, x, y: lib.projections.projection_hyperplane(x, y, 0.7),
    "halfspace": lambda lib, x, y: lib.projections.projection_halfspace(x, y, -1.0),
    # Batched shapes.
    "simplex_vmap": lambda lib, x, y: jax.vmap(lib.projections.projection_simplex)(BATCH),
    "l2_ball_vmap": lambda lib, x, y: jax.vmap(lib.projections.projection_l2_ball)(BATCH),
    "norm_vmap": lambda lib, x, y: jax.vmap(lib.tree.norm)(BATCH),
    # Perturbations (the same noise for the same key).
    "perturbed": lambda lib, x, y: _perturbed(lib, x),
    "noise_log_probs": lambda lib, x, y: [
        jax.tree.map(lib.perturbations.Normal().log_prob, x),
        jax.tree.map(lib.perturbations.Gumbel().log_prob, x),
    ],
    # Assignment (inputs independent of x).
    "hungarian_algorithm": lambda lib, x, y: _assignment(lib, "hungarian_algorithm"),
    "base_hungarian_algorithm": lambda lib, x, y: _assignment(lib, "base_hungarian_algorithm"),
}
# Cases whose inputs do not depend on x, y: run once.
INPUT_FREE = {"get_all_with_path", "simplex_vmap", "l2_ball_vmap", "norm_vmap"}
INPUT_FREE |= {k for k in CASES if "hungarian" in k}
# Slow to compile, or (simplex_jacobian) an optax error in bfloat16 (docs/DIFFERENCES.md): nested inputs only.
NESTED_ONLY = INPUT_FREE | {"perturbed", "simplex_jacobian"}


# On a tree of bfloat16 leaves only, optax's simplex and l1 sphere return float32 leaves and its l1 ball
# raises (its two cond branches differ in dtype); gdtransforms keeps each leaf's dtype (docs/DIFFERENCES.md).
KEEPS_DTYPE = {"simplex", "simplex_scale", "l1_sphere"}
OPTAX_RAISES = {"l1_ball_inside", "l1_ball_outside"}


def _compare(ours, theirs, msg, check_dtypes=True):
    if isinstance(theirs, (np.dtype, int, bool, str)) or jax.tree.leaves(theirs) == []:
        assert ours == theirs, f"{msg}: {ours!r} != {theirs!r}"
        return
    # Structures compare by shape: each library has its own state classes (same names and fields).
    assert str(jax.tree.structure(ours)) == str(jax.tree.structure(theirs)), msg
    assert_trees_close(
        jax.tree.leaves(ours), jax.tree.leaves(theirs), rtol=1e-5, atol=1e-6, check_dtypes=check_dtypes, msg=msg
    )


PARAMS = [
    (case, kind)
    for case in sorted(CASES)
    for kind in INPUTS
    if (case not in NESTED_ONLY or kind == "nested") and not (kind == "bfloat16" and case in OPTAX_RAISES)
]


@pytest.mark.parametrize("case, kind", PARAMS)
def test_matches_optax(case, kind):
    x, y = INPUTS[kind]
    ours = CASES[case](gdt, x, y)
    theirs = CASES[case](optax, x, y)
    differs = kind == "bfloat16" and case in KEEPS_DTYPE
    _compare(ours, theirs, f"{case} on {kind}", check_dtypes=not differs)
    if differs:
        assert all(leaf.dtype == jnp.bfloat16 for leaf in jax.tree.leaves(ours))


def test_l1_ball_of_a_bfloat16_tree():
    """optax raises; gdtransforms returns the tree inside the ball and its l1-sphere projection outside."""
    x, _ = INPUTS["bfloat16"]
    with pytest.raises(TypeError):
        optax.projections.projection_l1_ball(x, 1.5)
    _compare(gdt.projections.projection_l1_ball(x, 1e3), x, "inside")
    outside = gdt.projections.projection_l1_ball(x, 1.5)
    _compare(outside, optax.projections.projection_l1_sphere(x, 1.5), "outside", check_dtypes=False)
    assert all(leaf.dtype == jnp.bfloat16 for leaf in jax.tree.leaves(outside))


def test_every_name_is_covered():
    """Each public name of optax.tree/projections/perturbations/assignment is called in a case."""
    source = inspect.getsource(sys.modules[__name__])
    for ns in ("tree", "projections", "perturbations", "assignment"):
        for name in dir(getattr(optax, ns)):
            if name.startswith("_") or name in ("NamedTupleKey", "functools", "typing"):
                continue
            assert name in CASES or f".{name}(" in source, f"optax.{ns}.{name} has no parity case"


def test_tree_utils_prefixed_names_are_the_tree_names():
    for name in dir(optax.tree_utils):
        if name.startswith("tree_"):
            assert getattr(gdt.tree_utils, name) is getattr(gdt.tree, name[len("tree_") :]), name
