"""Evaluating a function over a batch in sequential micro-batches (optax.microbatching's twin)."""

from __future__ import annotations

import collections
import dataclasses
import enum
import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["AccumulationType", "Accumulator", "micro_grad", "micro_vmap", "microbatch", "reshape_batch_axis"]

Function = Callable[..., Any]
IndividualOutputs = collections.namedtuple("Aux", ["values", "metrics", "aux"])  # type: ignore[name-match]


@dataclasses.dataclass(frozen=True)
class Accumulator:
    """How per-micro-batch results are combined: a fold plus a batch reduction.

    The fold is ``carry = init(shape of one result)``, then
    ``carry = update(carry, result_i, i)`` for each micro-batch ``i``, then
    ``finalize(carry)``. ``aggregate(values)`` reduces results stacked on axis
    0 (used by :func:`micro_vmap` within one micro-batch).

    Attributes:
      init: ``f(shape_dtype_struct) -> carry``.
      update: ``f(carry, value, index) -> carry``.
      finalize: ``f(carry) -> result``.
      aggregate: ``f(stacked_values) -> value``.
    """

    init: Callable[[Any], Any]
    update: Callable[[Any, Any, Any], Any]
    finalize: Callable[[Any], Any]
    aggregate: Callable[[Any], Any]


class AccumulationType(enum.Enum):
    """Built-in ways to combine micro-batch results."""

    MEAN = enum.auto()
    """The mean of the micro-batch results."""
    SUM = enum.auto()
    """The sum of the micro-batch results."""
    RUNNING_MEAN = enum.auto()
    """A running mean, over the micro-batches actually run."""
    CONCAT = enum.auto()
    """The results concatenated along axis 0."""


def _require_float(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def checked(x: Any) -> Any:
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise ValueError(f"MEAN and RUNNING_MEAN accumulators need floating-point values, got {x.dtype}")
        return fn(x)

    return checked


def _per_leaf(acc: Accumulator) -> Accumulator:
    """An accumulator of arrays applied to every leaf of a tree."""
    return Accumulator(
        init=lambda v: jax.tree.map(acc.init, v),
        update=lambda c, v, i: jax.tree.map(lambda a, b: acc.update(a, b, i), c, v),
        finalize=lambda c: jax.tree.map(acc.finalize, c),
        aggregate=lambda v: jax.tree.map(acc.aggregate, v),
    )


def _builtin(kind: AccumulationType, n: int | None) -> Accumulator:
    add = lambda c, v, _: c + v  # noqa: E731
    if kind is AccumulationType.SUM:
        leaf = Accumulator(jnp.zeros_like, add, lambda c: c, functools.partial(jnp.sum, axis=0))
    elif kind is AccumulationType.MEAN:
        if n is None or n <= 0:
            raise ValueError(f"the number of micro-batches must be positive, got {n}")
        leaf = Accumulator(_require_float(jnp.zeros_like), add, lambda c: c / n, functools.partial(jnp.mean, axis=0))
    elif kind is AccumulationType.RUNNING_MEAN:

        def running(c: Any, v: Any, i: Any) -> Any:
            w = i / (i + 1)
            return c * w + v * (1 - w)

        leaf = Accumulator(_require_float(jnp.zeros_like), running, lambda c: c, functools.partial(jnp.mean, axis=0))
    elif kind is AccumulationType.CONCAT:
        if n is None or n <= 0:
            raise ValueError(f"the number of micro-batches must be positive, got {n}")
        leaf = Accumulator(
            lambda v: jnp.zeros((n, *v.shape), v.dtype),
            lambda c, v, i: c.at[i].set(v),
            # Micro-batch i holds rows i, i + n, ... (see reshape_batch_axis): undo that order.
            lambda c: c.reshape(-1, *c.shape[2:], order="F"),
            lambda v: v,
        )
    else:
        raise ValueError(f"unknown accumulator: {kind!r}")
    return _per_leaf(leaf)


def _resolve(spec: Any, n: int | None) -> Accumulator:
    """One accumulator from an Accumulator, an AccumulationType or a tree prefix of them."""
    is_acc = lambda x: isinstance(x, (Accumulator, AccumulationType))  # noqa: E731
    parts = jax.tree.map(lambda a: a if isinstance(a, Accumulator) else _builtin(a, n), spec, is_leaf=is_acc)
    is_part = lambda x: isinstance(x, Accumulator)  # noqa: E731
    return Accumulator(
        init=lambda v: jax.tree.map(lambda a, x: a.init(x), parts, v, is_leaf=is_part),
        update=lambda c, v, i: jax.tree.map(lambda a, x, y: a.update(x, y, i), parts, c, v, is_leaf=is_part),
        finalize=lambda c: jax.tree.map(lambda a, x: a.finalize(x), parts, c, is_leaf=is_part),
        aggregate=lambda v: jax.tree.map(lambda a, x: a.aggregate(x), parts, v, is_leaf=is_part),
    )


def reshape_batch_axis(tree: Any, microbatch_size: int, axis: int = 0) -> Any:
    """Splits the batch axis of every leaf into ``(num_microbatches, microbatch_size)``.

    The split is column-major: micro-batch ``i`` takes rows ``i, i + n, i + 2n,
    ...`` (``n`` micro-batches), so a batch sharded along its axis stays
    sharded along the new ``microbatch_size`` axis.

    Args:
      tree: arrays that share a batch axis.
      microbatch_size: the rows per micro-batch; must divide the batch.
      axis: the batch axis.

    Returns:
      The reshaped tree.
    """

    def split(x: Any) -> Any:
        return jnp.reshape(x, x.shape[:axis] + (-1, microbatch_size) + x.shape[axis + 1 :], order="F")

    return jax.tree.map(split, tree)


def microbatch(
    fun: Function,
    argnums: int | Sequence[int],
    microbatch_size: int | None,
    accumulator: Any = AccumulationType.SUM,
    *,
    argnames: str | Sequence[str] = (),
    in_axes: int | Sequence[int] = 0,
    num_real_microbatches: int | jax.Array | None = None,
) -> Function:
    r"""Evaluates ``fun`` on micro-batches one after another and combines the results.

    .. math:: F(x) = \text{finalize}\big(\text{fold}_{i}\ \text{update}(c, f(x_i), i)\big)

    over micro-batches :math:`x_i` of the batch arguments, in a
    ``lax.fori_loop`` (so peak memory is that of one micro-batch).

    Args:
      fun: the function.
      argnums: the positions of the arguments that carry the batch.
      microbatch_size: rows per micro-batch (``None``: ``fun`` itself).
      accumulator: an :class:`Accumulator`, an :class:`AccumulationType`, or a
        tree prefix of ``fun``'s output holding them.
      argnames: the names of keyword arguments that carry the batch.
      in_axes: the batch axis of each of ``argnums`` then ``argnames``.
      num_real_microbatches: stop after this many micro-batches (may be traced).

    Returns:
      A function with ``fun``'s arguments.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> f = lambda x: (x + 1, jnp.sum(3 * x))
      >>> kinds = (gdt.microbatching.AccumulationType.CONCAT, gdt.microbatching.AccumulationType.SUM)
      >>> gdt.microbatch(f, argnums=0, microbatch_size=2, accumulator=kinds)(jnp.array([1, 2, 3, 4]))
      (Array([2, 3, 4, 5], dtype=int32), Array(30, dtype=int32))
    """
    if microbatch_size is None:
        return fun
    argnums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    argnames = (argnames,) if isinstance(argnames, str) else tuple(argnames)
    axes = (in_axes,) * (len(argnums) + len(argnames)) if isinstance(in_axes, int) else tuple(in_axes)
    pos_axes, name_axes = axes[: len(argnums)], axes[len(argnums) :]

    def run(*args: Any, **kwargs: Any) -> Any:
        batched = [args[i] for i in argnums] + [kwargs[k] for k in argnames]
        sizes = {x.shape[ax] for sub, ax in zip(batched, axes) for x in jax.tree.leaves(sub)}
        if len(sizes) != 1:
            raise ValueError(f"microbatch: the batch arguments must share one batch size, got {sorted(sizes)}")
        batch = sizes.pop()
        if batch % microbatch_size:
            raise ValueError(f"microbatch: batch size {batch} is not divisible by microbatch_size={microbatch_size}")
        n = batch // microbatch_size
        args_l, kwargs = list(args), dict(kwargs)
        for i, ax in zip(argnums, pos_axes):
            args_l[i] = reshape_batch_axis(args_l[i], microbatch_size, ax)
        for k, ax in zip(argnames, name_axes):
            kwargs[k] = reshape_batch_axis(kwargs[k], microbatch_size, ax)
        acc = _resolve(accumulator, n)

        def one(index: Any) -> Any:
            a, kw = list(args_l), dict(kwargs)
            for i, ax in zip(argnums, pos_axes):
                a[i] = jax.tree.map(functools.partial(jnp.take, indices=index, axis=ax), a[i])
            for k, ax in zip(argnames, name_axes):
                kw[k] = jax.tree.map(functools.partial(jnp.take, indices=index, axis=ax), kw[k])
            return fun(*a, **kw)

        carry = acc.init(jax.eval_shape(one, 0))
        stop = n if num_real_microbatches is None else num_real_microbatches
        carry = jax.lax.fori_loop(0, stop, lambda i, c: acc.update(c, one(i), i), carry)
        return acc.finalize(carry)

    return run


def micro_vmap(
    fun: Function,
    in_axes: int | Sequence[int | None] = 0,
    out_axes: Any = 0,
    *,
    microbatch_size: int | None = None,
    vmap_fn: Callable[..., Function] = jax.vmap,
    accumulator: Any = AccumulationType.CONCAT,
    num_real_microbatches: int | jax.Array | None = None,
) -> Function:
    """``jax.vmap`` that maps over the batch in sequential micro-batches.

    With the default ``CONCAT`` it returns what ``jax.vmap(fun)`` returns;
    ``SUM`` or ``MEAN`` reduce over the batch without holding every result.

    Args:
      fun: the function to map.
      in_axes: the mapped axis of each positional argument (``None``: not mapped).
      out_axes: must be 0.
      microbatch_size: rows per micro-batch (``None``: one batch).
      vmap_fn: a function with ``jax.vmap``'s signature.
      accumulator: how results combine, as for :func:`microbatch`.
      num_real_microbatches: stop after this many micro-batches.

    Returns:
      The mapped function; keyword arguments are mapped on axis 0.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> gdt.microbatching.micro_vmap(lambda x: x**2, microbatch_size=2)(jnp.arange(4))
      Array([0, 1, 4, 9], dtype=int32)
    """
    if out_axes != 0:
        raise NotImplementedError("micro_vmap supports only out_axes=0")
    in_axes = (in_axes,) if isinstance(in_axes, int) else tuple(in_axes)

    def mapped_then_reduced(*args: Any, kwargs: Any) -> Any:
        out = vmap_fn(fun, in_axes, out_axes)(*args, **kwargs)
        return _resolve(accumulator, jax.tree.leaves(out)[0].shape[0]).aggregate(out)

    inner = microbatch(
        mapped_then_reduced,
        argnums=tuple(i for i, ax in enumerate(in_axes) if ax is not None),
        argnames="kwargs",
        microbatch_size=microbatch_size,
        accumulator=accumulator,
        in_axes=tuple(ax for ax in in_axes if ax is not None) + (0,),
        num_real_microbatches=num_real_microbatches,
    )
    return lambda *args, **kwargs: inner(*args, kwargs=kwargs)


def micro_grad(
    fun: Function,
    has_aux: bool = False,
    argnums: int | Sequence[int] = 0,
    *,
    batch_argnums: int | Sequence[int] = 1,
    keep_batch_dim: bool = True,
    microbatch_size: int | None = None,
    accumulator: Any = AccumulationType.SUM,
    transform_fn: Callable[[Any], Any] = lambda x: x,
    metrics_fn: Callable[[Any], Any] = lambda x: None,
    num_real_microbatches: int | jax.Array | None = None,
) -> Function:
    """Per-example gradients, transformed and combined over the batch in micro-batches.

    Each example's gradient ``g_b`` (of ``fun`` on a batch of one) goes
    through ``transform_fn`` (e.g. clipping) and the results are combined by
    ``accumulator``; ``metrics_fn(g_b)``, the loss values and ``fun``'s aux
    come back per example.

    Args:
      fun: the loss; ``fun(params, batch, ...)`` by default.
      has_aux: whether ``fun`` returns ``(value, aux)``.
      argnums: the arguments to differentiate.
      batch_argnums: the arguments that carry the batch on axis 0.
      keep_batch_dim: give ``fun`` a batch axis of size 1 per example.
      microbatch_size: examples per micro-batch (``None``: one batch).
      accumulator: how transformed gradients combine, as for :func:`microbatch`.
      transform_fn: applied to each example's gradient.
      metrics_fn: per-example metrics of each gradient.
      num_real_microbatches: stop after this many micro-batches.

    Returns:
      ``f(*args) -> (combined, Aux(values, metrics, aux))``.

    References:
      Abadi et al., 2016, https://arxiv.org/abs/1607.00133
    """
    batch_argnums = (batch_argnums,) if isinstance(batch_argnums, int) else tuple(batch_argnums)
    with_aux = fun if has_aux else (lambda *a, **k: (fun(*a, **k), None))
    value_and_grad = jax.value_and_grad(with_aux, argnums, has_aux=True)

    def per_example(*args: Any, **kwargs: Any) -> Any:
        (value, aux), grad = value_and_grad(*args, **kwargs)
        return transform_fn(grad), IndividualOutputs(values=value, metrics=metrics_fn(grad), aux=aux)

    axes: list[int | None] = [None] * (max(batch_argnums) + 1)
    for i in batch_argnums:
        axes[i] = 0
    mapped = micro_vmap(
        per_example,
        in_axes=axes,
        accumulator=(accumulator, AccumulationType.CONCAT),
        microbatch_size=microbatch_size,
        num_real_microbatches=num_real_microbatches,
    )
    if not keep_batch_dim:
        return mapped

    def with_unit_batch(*args: Any, **kwargs: Any) -> Any:
        expanded = list(args)
        for i in batch_argnums:
            expanded[i] = jax.tree.map(lambda x: jnp.expand_dims(x, 1), expanded[i])
        return mapped(*expanded, **kwargs)

    return with_unit_batch
