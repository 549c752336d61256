"""The scalar hyperparameter that :func:`inject_hyperparams` hands to a factory.

A plain optimizer built with ``b1=0.9`` computes ``1 - b1`` in Python (float64)
and rounds once, to ``0.1`` in float32; the same optimizer fed ``b1`` as a
float32 array computes ``1 - 0.9f = 0.10000002``. That one ulp is optax's
issue #1532 (and #583): an injected Adam drifts away from the plain one.

:class:`HyperScalar` avoids it. It carries the Python number the optimizer was
built with (``plain``), the value in the optimizer state (``live``) and whether
they agree (``same``, a bool array). Python arithmetic with numbers and other
hyperparameters runs on both sides, the plain side in Python exactly as the
plain optimizer would; the first operation with an array selects, inside the
compiled step, the plain result while the state holds the built value and the
live one once it was changed. The compiled step then has the plain
optimizer's arithmetic, bit for bit, with scalar selects in place of constants.
Derivatives with respect to the hyperparameter always follow the live side.

Anything else (``jnp.sqrt(b1)``, ``float(b1)``, ``if b1 > 0``) raises
``TypeError``, and :func:`inject_hyperparams` falls back to plain arrays.

:class:`Hyperparams` is the dict ``state.hyperparams``: it casts what is
assigned to it to the hyperparameter's dtype.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms._core import _checks

__all__ = [
    "HyperScalar",
    "HyperScalarUsedAsArray",
    "Hyperparams",
    "as_hyperparam",
    "contains_hyper",
    "materialize",
    "used_as_array",
    "weak",
]

_PY_NUMBERS = (int, float, complex)
_ARRAYS = (jax.Array, np.ndarray, np.generic)


@jax.custom_jvp
def _pick(same: jax.Array, plain: jax.Array, live: jax.Array) -> jax.Array:
    return jnp.where(same, plain, live)


@_pick.defjvp
def _pick_jvp(primals, tangents):
    # The value is the plain constant while unchanged, but it moves with the
    # live hyperparameter: differentiate through the live side.
    return _pick(*primals), tangents[2]


class HyperScalar:
    """A scalar hyperparameter known exactly (``plain``) and in the state (``live``).

    Attributes:
      plain: the Python number the optimizer was built with, or ``None`` when
        there is none (a scheduled value).
      live: the value in the optimizer state, a scalar array.
      same: a bool scalar array, ``live == plain`` (``None`` without ``plain``).
    """

    __slots__ = ("plain", "live", "same", "_cache")
    __array_ufunc__ = None  # numpy defers to the reflected operators below
    __hash__ = None  # type: ignore[assignment]
    _deferred_value = True  # read by _checks.is_deferred: not checked at build time

    def __init__(self, plain: Any, live: jax.Array, same: jax.Array | None) -> None:
        self.plain, self.live, self.same = plain, live, same
        # Operands and derived scalars already built in live's trace: the same
        # expression in every leaf's update becomes one select, not one per leaf.
        self._cache: dict[Any, Any] = {}

    def _remember(self, key: Any, value: Any, probe: Any) -> Any:
        # Only what was built in live's own trace: a value built inside a nested
        # trace (a cond branch, a scan body) must not leak out of it.
        trace = getattr(self.live, "_trace", None)
        if trace is not None and getattr(probe, "_trace", None) is trace:
            self._cache[key] = value
        return value

    def __repr__(self) -> str:
        return f"HyperScalar(plain={self.plain!r}, live={self.live!r})"

    def operand(self, other: Any = None) -> jax.Array:
        """The value as an array, for an operation with ``other``.

        Against a strongly typed floating array the value takes that array's
        dtype, as a Python scalar would; otherwise it is weakly typed.
        """
        dtype = getattr(other, "dtype", None)
        as_other = dtype is not None and jnp.issubdtype(dtype, jnp.inexact) and not getattr(other, "weak_type", False)
        key = ("operand", jnp.dtype(dtype) if as_other else None)
        if key in self._cache:
            return self._cache[key]
        value = self._operand(dtype if as_other else None)
        return self._remember(key, value, value)

    def _operand(self, dtype: Any) -> jax.Array:
        if dtype is not None:
            plain = None if self.plain is None else jnp.asarray(self.plain, dtype)
            live = self.live.astype(dtype)
        else:
            plain = None if self.plain is None else jnp.asarray(self.plain)
            live = self.live
        if plain is None:
            return live
        if _checks.is_deferred(self.same) or _checks.is_deferred(live):
            return _pick(self.same, plain, live)
        return plain if bool(self.same) else live  # eager: choose now, no device work

    def _combine(self, other: Any, op: Callable[[Any, Any], Any], reflected: bool) -> Any:
        if isinstance(other, HyperScalar) or (isinstance(other, _PY_NUMBERS) and not isinstance(other, bool)):
            if isinstance(other, HyperScalar):
                o_plain, o_live, o_same = other.plain, other.live, other.same
            else:
                o_plain, o_live, o_same = other, other, None  # type: ignore[assignment]
            a, b = (o_plain, self.plain) if reflected else (self.plain, o_plain)
            plain = None
            if a is not None and b is not None:
                try:
                    plain = op(a, b)
                except ArithmeticError:
                    plain = None
            key = None if isinstance(other, HyperScalar) else (op, reflected, type(other), other)
            if key in self._cache:
                return self._cache[key]
            la, lb = (o_live, self.live) if reflected else (self.live, o_live)
            if o_same is None or self.same is None:
                same = self.same if o_same is None else o_same
            else:
                same = self.same & o_same
            result = HyperScalar(plain, op(la, lb), None if plain is None else same)
            return result if key is None else self._remember(key, result, result.live)
        if isinstance(other, _ARRAYS):
            value = self.operand(other)
            return op(other, value) if reflected else op(value, other)
        return NotImplemented


def _binary(op: Callable[[Any, Any], Any]) -> tuple[Callable[..., Any], Callable[..., Any]]:
    def forward(self: HyperScalar, other: Any) -> Any:
        return self._combine(other, op, reflected=False)

    def reflected(self: HyperScalar, other: Any) -> Any:
        return self._combine(other, op, reflected=True)

    return forward, reflected


for _name, _op in [
    ("add", operator.add),
    ("sub", operator.sub),
    ("mul", operator.mul),
    ("truediv", operator.truediv),
    ("floordiv", operator.floordiv),
    ("mod", operator.mod),
    ("pow", operator.pow),
]:
    _fwd, _rev = _binary(_op)
    setattr(HyperScalar, f"__{_name}__", _fwd)
    setattr(HyperScalar, f"__r{_name}__", _rev)


def _unary(op: Callable[[Any], Any]) -> Callable[[HyperScalar], HyperScalar]:
    def method(self: HyperScalar) -> HyperScalar:
        plain = None if self.plain is None else op(self.plain)
        return HyperScalar(plain, op(self.live), self.same)

    return method


for _name, _op in [("neg", operator.neg), ("pos", operator.pos), ("abs", operator.abs)]:  # type: ignore[assignment]
    setattr(HyperScalar, f"__{_name}__", _unary(_op))  # type: ignore[arg-type]


def _compare(op: Callable[[Any, Any], Any]) -> Callable[[HyperScalar, Any], Any]:
    def method(self: HyperScalar, other: Any) -> Any:
        if isinstance(other, HyperScalar):
            other = other.operand()
        if not isinstance(other, (*_PY_NUMBERS, *_ARRAYS)):
            return NotImplemented
        return op(self.operand(other), other)

    return method


for _name, _op in [
    ("lt", operator.lt),
    ("le", operator.le),
    ("gt", operator.gt),
    ("ge", operator.ge),
    ("eq", operator.eq),
    ("ne", operator.ne),
]:
    setattr(HyperScalar, f"__{_name}__", _compare(_op))


def materialize(tree: Any) -> Any:
    """Replaces every :class:`HyperScalar` leaf of ``tree`` by its array value."""
    return jax.tree.map(
        lambda x: x.operand() if isinstance(x, HyperScalar) else x,
        tree,
        is_leaf=lambda x: isinstance(x, HyperScalar),
    )


def contains_hyper(tree: Any) -> bool:
    """Whether any leaf of ``tree`` is a :class:`HyperScalar`."""
    leaves = jax.tree.leaves(tree, is_leaf=lambda x: isinstance(x, HyperScalar))
    return any(isinstance(x, HyperScalar) for x in leaves)


# A pytree, so it crosses ``jax.jit`` boundaries inside factories (optax's
# helpers are jitted): ``plain`` is static, ``live`` and ``same`` are leaves.
jax.tree_util.register_pytree_node(
    HyperScalar,
    lambda h: ((h.live, h.same), h.plain),
    lambda plain, children: HyperScalar(plain, *children),
)


class HyperScalarUsedAsArray(TypeError):
    """A factory used an injected hyperparameter where only an array will do.

    Raised by :class:`HyperScalar` when it is converted (``float(b1)``,
    ``bool(b1)``, ``np.asarray(b1)``); :func:`inject_hyperparams` then builds
    the inner optimizer again with plain arrays.
    """


def _refuse(self: HyperScalar, *args: Any) -> Any:
    raise HyperScalarUsedAsArray(
        "an injected hyperparameter is only known when the step runs; it cannot be "
        "converted to a Python or NumPy value (list the argument in `static_args`)"
    )


for _name in ("__bool__", "__float__", "__int__", "__index__", "__array__"):
    setattr(HyperScalar, _name, _refuse)


def used_as_array(error: BaseException) -> bool:
    """Whether ``error`` says that a :class:`HyperScalar` was used as an array.

    That is the one error :func:`inject_hyperparams` recovers from (by building
    the inner optimizer with plain arrays): its own :class:`HyperScalarUsedAsArray`,
    or JAX refusing a ``HyperScalar`` argument (``jnp.sqrt(b1)``). Any other
    error, such as a shape mismatch, is the factory's and is raised as it is.
    """
    if isinstance(error, HyperScalarUsedAsArray):
        return True
    return isinstance(error, TypeError) and HyperScalar.__name__ in str(error)


def weak(value: jax.Array) -> jax.Array:
    """``value`` weakly typed, as a Python scalar of its kind would be.

    Inside the step a hyperparameter built from a Python number must promote
    like one (``bfloat16`` updates stay ``bfloat16``) although the state keeps
    it strongly typed (so that assigning a new value never retraces).
    """
    if getattr(value, "weak_type", True):
        return value
    try:
        from jax._src.lax.lax import _convert_element_type  # noqa: PLC0415
    except ImportError:  # pragma: no cover - a JAX without it: promote as an array does
        return value
    return _convert_element_type(value, weak_type=True)


def as_hyperparam(value: Any, dtype: Any) -> Any:
    """``value`` as a strongly typed array of ``dtype`` (placeholders pass)."""
    if isinstance(value, jax.ShapeDtypeStruct) or value is None or isinstance(value, HyperScalar):
        return value
    if not isinstance(value, (int, float, np.generic, np.ndarray, jax.Array)) or isinstance(value, bool):
        return value  # not a number: refused, naming it, when the step reads it
    value = jnp.asarray(value)
    return value if value.dtype == dtype and not value.weak_type else value.astype(dtype)


class Hyperparams(dict):
    """``state.hyperparams``: a dict whose values keep their dtype.

    ``state.hyperparams["learning_rate"] = 3e-4`` stores a strongly typed
    array of the hyperparameter's dtype (float32 unless another was asked
    for), whatever was assigned: a Python float or int, a NumPy scalar or an
    array of another dtype. So a new value never truncates (an int rate is a
    float32), never retraces a jitted step (the input type stays the same)
    and never changes what :func:`save_state` writes. A pytree with the leaf
    paths of a plain dict (``['learning_rate']``).
    """

    __slots__ = ()

    def __setitem__(self, key: str, value: Any) -> None:
        old = self.get(key)
        dtype = getattr(old, "dtype", None)
        if dtype is not None and not isinstance(old, jax.ShapeDtypeStruct):
            value = as_hyperparam(value, dtype)
        super().__setitem__(key, value)

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __repr__(self) -> str:
        return f"Hyperparams({dict.__repr__(self)})"


def _flatten_with_keys(h: Hyperparams) -> tuple[list[tuple[Any, Any]], tuple[str, ...]]:
    keys = tuple(sorted(h))
    return [(jax.tree_util.DictKey(k), dict.__getitem__(h, k)) for k in keys], keys


def _unflatten(keys: tuple[str, ...], children: Any) -> Hyperparams:
    return Hyperparams(zip(keys, children))  # dict.__init__: no cast, any leaf type


jax.tree_util.register_pytree_with_keys(
    Hyperparams,
    _flatten_with_keys,
    _unflatten,
    lambda h: (tuple(dict.__getitem__(h, k) for k in sorted(h)), tuple(sorted(h))),
)
