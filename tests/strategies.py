"""Hypothesis strategies: random pytrees, gradient sequences, hyperparameters.

Importing this module loads the hypothesis settings profile named by the
``GDT_HYPOTHESIS_PROFILE`` environment variable:

- ``ci`` (the default): few examples, derandomized, so CI is fast and stable;
- ``long``: enough examples that ``tests/parity/test_properties.py`` runs more than
  10,000 cases in all (``GDT_HYPOTHESIS_PROFILE=long python -m pytest
  tests/parity/test_properties.py``).

Trees are drawn as *specs* (nested dicts/lists/tuples whose leaves are
``(shape, dtype)`` pairs or ``None``) and only turned into arrays by
:func:`materialize`, so hypothesis shrinks structure, not array contents.
Shapes and dtypes come from small fixed pools: every distinct (shape, dtype)
compiles each eager op once, and the pools keep that count bounded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# -- Profiles ------------------------------------------------------------------

PROFILE_ENV = "GDT_HYPOTHESIS_PROFILE"
# Examples per property test in each profile; tests/parity/test_properties.py has one
# property per case, so the long profile's total is this times the cases.
EXAMPLES = {"ci": 6, "long": 250}
STEPS = {"ci": 4, "long": 8}

_COMMON = dict(
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
    print_blob=True,
)
settings.register_profile("ci", max_examples=EXAMPLES["ci"], derandomize=True, database=None, **_COMMON)
settings.register_profile("long", max_examples=EXAMPLES["long"], **_COMMON)
PROFILE = os.environ.get(PROFILE_ENV, "ci")
if PROFILE not in EXAMPLES:
    raise ValueError(f"{PROFILE_ENV} must be one of {sorted(EXAMPLES)}, got {PROFILE!r}")
settings.load_profile(PROFILE)
MAX_STEPS = STEPS[PROFILE]

# -- Trees ---------------------------------------------------------------------

# Scalar, size-one, zero-size and odd (non power of two, unit-dim) shapes.
SHAPES = [(), (1,), (0,), (3,), (2, 5), (3, 1, 2), (0, 3)]
DTYPES = [jnp.float32, jnp.bfloat16, jnp.float16]
DTYPE_NAMES = {jnp.dtype(d): d for d in DTYPES}


@dataclass(frozen=True)
class Leaf:
    """A leaf spec: an array of this shape and dtype."""

    shape: tuple[int, ...]
    dtype: Any

    def __repr__(self) -> str:
        return f"Leaf({self.shape}, {jnp.dtype(self.dtype).name})"


def leaves(dtypes: list[Any] | None = None) -> st.SearchStrategy[Leaf]:
    """Leaf specs; float32 is drawn first (hypothesis shrinks towards it)."""
    return st.builds(Leaf, st.sampled_from(SHAPES), st.sampled_from(dtypes or DTYPES))


def tree_specs(
    dtypes: list[Any] | None = None, *, max_leaves: int = 6, allow_none: bool = True
) -> st.SearchStrategy[Any]:
    """Nested dicts, lists and tuples of leaf specs, with ``None`` leaves.

    The root is always a container holding at least one array leaf.
    """
    base = leaves(dtypes)
    if allow_none:
        base = st.one_of(base, base, base, st.none())
    keys = st.sampled_from(["w", "b", "scale", "layer_0", "z"])

    def extend(children):
        return st.one_of(
            st.dictionaries(keys, children, min_size=1, max_size=3),
            st.lists(children, min_size=1, max_size=3),
            st.lists(children, min_size=1, max_size=3).map(tuple),
        )

    tree = st.recursive(base, extend, max_leaves=max_leaves)
    root = st.one_of(
        st.dictionaries(keys, tree, min_size=1, max_size=3),
        st.lists(tree, min_size=1, max_size=3),
        st.lists(tree, min_size=1, max_size=3).map(tuple),
    )
    # No filter (a filter can trip hypothesis' health checks): a root with only
    # None leaves gets one array leaf added.
    return root.map(lambda spec: spec if _spec_leaves(spec) else {"w": FALLBACK_LEAF, "rest": spec})


FALLBACK_LEAF = Leaf((3,), jnp.float32)


def _is_spec_leaf(x: Any) -> bool:
    return isinstance(x, Leaf) or x is None


def _spec_leaves(spec: Any) -> list[Leaf]:
    return [x for x in jax.tree.leaves(spec, is_leaf=_is_spec_leaf) if x is not None]


def materialize(spec: Any, rng: np.random.Generator, scale: Any = 1.0) -> Any:
    """Arrays for a spec: standard normal draws times ``scale``, in each leaf's dtype.

    ``scale`` is a number, or ``"mixed"``: each element gets its own magnitude
    from zero, 1e-30, 1e30, NaN (rarely) and 10**U(-3, 3).
    """

    def make(leaf):
        if leaf is None:
            return None
        values = rng.normal(size=leaf.shape)
        if isinstance(scale, str):
            magnitudes = np.array([0.0, 1e-30, 1e30, np.nan, 1.0])[
                rng.choice(5, size=leaf.shape, p=[0.15, 0.1, 0.1, 0.03, 0.62])
            ]
            values = values * np.where(magnitudes == 1.0, 10.0 ** rng.uniform(-3, 3, size=leaf.shape), magnitudes)
        else:
            values = values * scale
        return jnp.asarray(values, leaf.dtype)

    return jax.tree.map(make, spec, is_leaf=_is_spec_leaf)


# -- Gradient sequences ----------------------------------------------------------

# Step scales: zeros, tiny, huge, and 10**x for x in [-3, 3]; "mixed" mixes
# them elementwise, with the odd NaN.
SPECIAL_SCALES = [0.0, 1e-30, 1e30, "mixed"]


def step_scales(max_steps: int | None = None) -> st.SearchStrategy[list[Any]]:
    """One scale per step; ordinary scales are drawn most often."""
    ordinary = st.floats(-3.0, 3.0).map(lambda x: float(10.0**x))
    scale = st.one_of(ordinary, ordinary, ordinary, st.sampled_from(SPECIAL_SCALES))
    return st.lists(scale, min_size=1, max_size=max_steps or MAX_STEPS)


@dataclass(frozen=True)
class Problem:
    """Initial params and the gradients of every step, drawn together."""

    spec: Any
    params: Any
    grads: list[Any]
    scales: list[Any]
    seed: int

    def __repr__(self) -> str:
        return f"Problem(spec={self.spec!r}, scales={self.scales!r}, seed={self.seed})"


@st.composite
def problems(draw, dtypes: list[Any] | None = None, max_steps: int | None = None) -> Problem:
    """A random tree of params and a gradient sequence over it."""
    spec = draw(tree_specs(dtypes))
    scales = draw(step_scales(max_steps))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    params = materialize(spec, rng)
    grads = [materialize(spec, rng, s) for s in scales]
    return Problem(spec, params, grads, scales, seed)


# -- Hyperparameters -------------------------------------------------------------


def _schedule_linear(count):
    return 0.1 * jnp.maximum(1.0 - count / 10.0, 0.05)  # never 0: see learning_rates


def _schedule_inverse_time(count):
    return 0.2 / (1.0 + count)


def _schedule_exponential(count):
    return 0.05 * 0.95**count


SCHEDULES = [_schedule_linear, _schedule_inverse_time, _schedule_exponential]


def _log_uniform(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(np.log10(low), np.log10(high)).map(lambda x: float(10.0**x))


def learning_rates(schedules: bool = True) -> st.SearchStrategy[Any]:
    """Rates > 0, or one of a few fixed schedules that stay > 0.

    Never 0: with a zero rate every update is exactly zero and a parity test
    compares nothing (the first, shrunk examples of the CI profile used to be
    just that). Zero rates are tested on their own, in tests/robustness/.
    """
    numbers = st.one_of(st.sampled_from([1e-3, 0.1, 1.0]), _log_uniform(1e-5, 2.0))
    return st.one_of(numbers, st.sampled_from(SCHEDULES)) if schedules else numbers


def decays(high: float = 0.9999) -> st.SearchStrategy[float]:
    """Decays and betas in [0, 1)."""
    return st.one_of(st.sampled_from([0.0, 0.5, 0.9, 0.99, 0.999]), st.floats(0.0, high))


def _float16_representable(x: float) -> float:
    """``x`` rounded to float16, and at least float16's smallest subnormal."""
    return max(float(np.float16(x)), float(np.finfo(np.float16).smallest_subnormal))


def epsilons(low: float = 1e-12, high: float = 1e-1) -> st.SearchStrategy[float]:
    """Strictly positive epsilons, log-uniform, each exactly a float16 value.

    optax adds ``eps`` in float16 for float16 leaves, rounding it (1e-8 to 0);
    gdtransforms adds it in float32 (docs/DIFFERENCES.md, tested in
    tests/robustness/test_numerics.py). With representable values both add the same eps.
    """
    return st.one_of(st.sampled_from([1e-8, 1e-6]), _log_uniform(low, high)).map(_float16_representable)


def non_negative(high: float = 1.0) -> st.SearchStrategy[float]:
    """Strengths >= 0 (weight decay, initial accumulators, clip bounds)."""
    return st.one_of(st.just(0.0), st.floats(0.0, high))


def state_dtypes() -> st.SearchStrategy[Any]:
    """``None`` (the params' dtype) or float32."""
    return st.sampled_from([None, jnp.float32])


def masks_for(params: Any, seed: int) -> Any:
    """A random boolean mask with the structure of ``params``."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda p: bool(rng.integers(2)), params)
