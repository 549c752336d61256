"""Shardings for optimizer states, for ``jax.jit(..., out_shardings=...)``.

gdtransforms does no distribution of its own: states are trees of arrays, and
JAX's SPMD machinery (``jit`` with ``NamedSharding``, ``shard_map``, ``pmap``)
shards them like any other array. Two helpers build the sharding trees:

- :func:`state_shardings` (FSDP): every state leaf that mirrors a parameter
  (``mu``, ``nu``, ``trace``, ...) takes that parameter's sharding, so the
  update is local to each device.
- :func:`zero_state_shardings` (ZeRO): params stay replicated, and every
  state array is split along one axis over a data-parallel mesh axis, so each
  device holds ``1/n`` of the state.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from gdtransforms._core._checks import path_str

__all__ = ["state_shardings", "zero_state_shardings"]

_KeyPath = tuple[Any, ...]


def _param_shardings(
    params: Any, param_shardings: Any
) -> dict[_KeyPath, tuple[tuple[int, ...], jax.sharding.Sharding]]:
    """Maps each param's key path to its shape and sharding."""
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    if param_shardings is None:
        shardings = [getattr(leaf, "sharding", None) for _, leaf in leaves]
    else:
        treedef = jax.tree.structure(params)
        try:
            shardings = treedef.flatten_up_to(param_shardings)  # type: ignore[attr-defined,operator]
        except (ValueError, TypeError) as e:
            raise ValueError(
                f"state_shardings: `param_shardings` must have the tree structure of `params` ({treedef}): {e}"
            ) from None
    out = {}
    for (path, leaf), sharding in zip(leaves, shardings):
        if not isinstance(sharding, jax.sharding.Sharding):
            raise TypeError(
                f"state_shardings: the param at {path_str(path)} has no sharding "
                f"(got {type(leaf).__name__}); pass jax.Arrays placed with "
                "jax.device_put(x, NamedSharding(mesh, spec)), ShapeDtypeStructs "
                "with sharding=..., or `param_shardings`"
            )
        out[path] = (tuple(np.shape(leaf)), sharding)
    return out


def _placement(sharding: jax.sharding.Sharding) -> Any:
    """What must agree for two shardings to live on the same devices."""
    if isinstance(sharding, NamedSharding):
        return sharding.mesh
    return frozenset(sharding.device_set)


def _replicated(sharding: jax.sharding.Sharding) -> jax.sharding.Sharding:
    if isinstance(sharding, NamedSharding):
        return NamedSharding(sharding.mesh, PartitionSpec())
    if isinstance(sharding, jax.sharding.SingleDeviceSharding):
        return sharding
    raise TypeError(
        f"state_shardings: cannot build a replicated sharding from a {type(sharding).__name__}; pass `default`"
    )


def state_shardings(
    state: Any,
    params: Any,
    *,
    param_shardings: Any = None,
    default: jax.sharding.Sharding | None = None,
) -> Any:
    """The shardings of a state whose param-like leaves follow the params (FSDP).

    A state leaf mirrors a parameter when its tree path ends with that
    parameter's path (``[0].mu['w']`` ends with ``['w']``; the longest match
    wins) and both have the same shape. Such leaves get the parameter's
    sharding; every other leaf (step counts, hyperparameters, factored
    moments) gets ``default``, replicated on the params' mesh unless given.
    Wrapper states (``masked``, ``inject_hyperparams``, chains) need nothing
    special: paths are matched at any depth.

    Args:
      state: the state, or its abstract shape from
        ``jax.eval_shape(opt.init, params)``.
      params: the params: ``jax.Array`` leaves or ``jax.ShapeDtypeStruct``
        leaves with a sharding (or any leaves when ``param_shardings`` is
        given).
      param_shardings: optional tree of shardings with the structure of
        ``params``, used instead of the leaves' own shardings.
      default: the sharding of leaves that mirror no parameter.

    Returns:
      A tree of shardings with the structure of ``state``, for
      ``jax.jit(..., out_shardings=...)`` or ``jax.device_put``.

    Raises:
      TypeError: a param has no sharding.
      ValueError: params are placed on different meshes or devices; the
        message names both paths.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
      >>> import gdtransforms as gdt
      >>> mesh = Mesh(jax.devices()[:1], ("fsdp",))
      >>> params = {"w": jax.device_put(jnp.ones((4, 2)), NamedSharding(mesh, P("fsdp")))}
      >>> opt = gdt.adam(1e-3)
      >>> shardings = gdt.state_shardings(jax.eval_shape(opt.init, params), params)
      >>> state = jax.jit(opt.init, out_shardings=shardings)(params)
      >>> state[0].mu["w"].sharding.spec == P("fsdp"), state[0].count.sharding.spec == P()
      (True, True)
    """
    by_path = _param_shardings(params, param_shardings)
    if not by_path:
        if default is None:
            raise ValueError("state_shardings: `params` has no leaves; pass `default`")
        return jax.tree.map(lambda _: default, state)
    (first_path, (_, first)), *rest = by_path.items()
    for path, (_, sharding) in rest:
        if _placement(sharding) != _placement(first):
            raise ValueError(
                f"state_shardings: the params at {path_str(first_path)} and "
                f"{path_str(path)} are placed on different meshes or devices "
                f"({_placement(first)} vs {_placement(sharding)}); put all params "
                "on one mesh"
            )
    if default is None:
        default = _replicated(first)
    longest = max(len(p) for p in by_path)

    def pick(path: _KeyPath, leaf: Any) -> jax.sharding.Sharding:
        shape = tuple(np.shape(leaf))
        for start in range(max(0, len(path) - longest), len(path) + 1):
            match = by_path.get(tuple(path[start:]))
            if match is not None and match[0] == shape:
                return match[1]
        return default

    return jax.tree_util.tree_map_with_path(pick, state)


def zero_state_shardings(state: Any, mesh: jax.sharding.Mesh, axis_name: str | tuple[str, ...] = "data") -> Any:
    """Shardings that split the state over a data-parallel axis (ZeRO stage 1).

    Every state array is split along its largest dimension that the axis size
    divides (the leading one on ties); scalars and arrays with no such
    dimension are replicated. Params and gradients stay replicated: XLA
    computes each device's slice of the update and all-gathers the new params,
    so each device stores ``1/n`` of the state and the numbers are those of
    the replicated run.

    Args:
      state: the state, or ``jax.eval_shape(opt.init, params)``.
      mesh: the device mesh.
      axis_name: the data-parallel mesh axis (or a tuple of axes) to split
        the state over.

    Returns:
      A tree of ``NamedSharding`` with the structure of ``state``.

    Raises:
      ValueError: ``axis_name`` is not an axis of ``mesh``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from jax.sharding import Mesh
      >>> import gdtransforms as gdt
      >>> mesh = Mesh(jax.devices()[:1], ("data",))
      >>> opt = gdt.adam(1e-3)
      >>> state = jax.eval_shape(opt.init, {"w": jnp.zeros((3, 8))})
      >>> specs = gdt.zero_state_shardings(state, mesh, "data")
      >>> tuple(specs[0].mu["w"].spec), tuple(specs[0].count.spec)
      ((None, 'data'), ())
    """
    if not isinstance(mesh, jax.sharding.Mesh):
        raise TypeError(f"zero_state_shardings: `mesh` must be a jax.sharding.Mesh, got {type(mesh).__name__}")
    names = (axis_name,) if isinstance(axis_name, str) else tuple(axis_name)
    unknown = [n for n in names if n not in mesh.axis_names]
    if unknown or not names:
        raise ValueError(
            f"zero_state_shardings: `axis_name` {axis_name!r} is not an axis of the "
            f"mesh; its axes are {mesh.axis_names}"
        )
    size = int(np.prod([mesh.shape[n] for n in names]))
    axis = names[0] if len(names) == 1 else names

    def pick(leaf: Any) -> NamedSharding:
        shape = np.shape(leaf)
        dims = [d for d in range(len(shape)) if shape[d] % size == 0 and shape[d] >= size]
        if not dims:
            return NamedSharding(mesh, PartitionSpec())
        dim = max(dims, key=lambda d: (shape[d], -d))
        return NamedSharding(mesh, PartitionSpec(*(axis if d == dim else None for d in range(len(shape)))))

    return jax.tree.map(pick, state)
