"""GaLore: the base optimizer runs on gradients projected onto a low-rank subspace."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, OptState, Params, ScalarOrSchedule, Updates
from gdtransforms._core._combine import chain
from gdtransforms._core._flat_params import leafwise
from gdtransforms._transforms._adam import scale_by_adam
from gdtransforms._transforms._regularize import add_decayed_weights
from gdtransforms._transforms._scale import scale_by_learning_rate

__all__ = ["GaLoreDimensionNumbers", "GaLoreState", "galore", "scale_by_galore"]


class GaLoreDimensionNumbers(NamedTuple):
    """Which axes of a weight form the ``(reduction, output)`` matrix that GaLore projects.

    Every axis must be in one of the two (GaLore has no batch axes).

    Attributes:
      reduction_axis: the input axis or axes.
      output_axis: the output axis or axes.
    """

    reduction_axis: Sequence[int] | int = 0
    output_axis: Sequence[int] | int = 1


class GaLoreState(NamedTuple):
    """GaLore's step count, the base optimizer's state (on projected gradients) and the projectors."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar
    base_optimizer_state: OptState
    projector: Updates


def _is_dn(x: Any) -> bool:
    return x is None or isinstance(x, GaLoreDimensionNumbers)


def _as_matrix(shape: tuple[int, ...], dn: GaLoreDimensionNumbers) -> tuple[tuple[int, ...], tuple[int, int]]:
    """The transpose that puts the reduction axes first, and the matrix shape."""
    ndim = len(shape)
    if ndim < 2:
        raise ValueError(f"GaLore projects matrices: got a leaf of shape {shape}")
    norm = lambda a: tuple(x % ndim for x in ((a,) if isinstance(a, (int, np.integer)) else a))  # noqa: E731
    reduction, output = norm(dn.reduction_axis), norm(dn.output_axis)
    if set(reduction) & set(output):
        raise ValueError(f"GaLore: reduction axes {reduction} and output axes {output} must be disjoint ({dn})")
    if len(set(reduction) | set(output)) != ndim:
        raise ValueError(f"GaLore: {dn} must name every axis of a leaf of shape {shape}")
    order = reduction + output
    return order, (math.prod(shape[a] for a in reduction), math.prod(shape[a] for a in output))  # type: ignore[return-value]


def _to_matrix(x: jax.Array, dn: GaLoreDimensionNumbers) -> jax.Array:
    order, mn = _as_matrix(x.shape, dn)
    return jnp.transpose(x, order).reshape(mn)


def _from_matrix(m: jax.Array, like: jax.Array, dn: GaLoreDimensionNumbers) -> jax.Array:
    order, _ = _as_matrix(like.shape, dn)
    return jnp.transpose(m.reshape(tuple(like.shape[a] for a in order)), tuple(np.argsort(order)))


def scale_by_galore(
    rank: int = 128,
    update_proj_gap: int = 200,
    scale: float = 1.0,
    base_optimizer: GradientTransformation | None = None,
    weight_dimension_numbers: Any | None = None,
) -> GradientTransformation:
    r"""Runs ``base_optimizer`` on low-rank projections of the matrix gradients.

    For a matrix gradient :math:`G \in \mathbb{R}^{m \times n}` with :math:`m \ge n`
    (the other case is the transpose), every ``update_proj_gap`` steps
    :math:`P` becomes the first :math:`r` left singular vectors of :math:`G`; then

    .. math:: R_t = P^\top G_t, \qquad u_t = s\, P\, \rho(R_t),

    where :math:`\rho` is the base optimizer. Other leaves go to the base
    optimizer unprojected.

    Args:
      rank: :math:`r` (capped at the matrix's smaller side), an int >= 1.
      update_proj_gap: steps between recomputing :math:`P`, an int >= 1.
      scale: :math:`s`.
      base_optimizer: a transformation that needs no params (default
        :func:`scale_by_adam`).
      weight_dimension_numbers: ``None`` (every 2-D leaf), one
        :class:`GaLoreDimensionNumbers` for every leaf of rank >= 2, a tree
        of them (``None`` entries: not projected) or a function of params
        returning one.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`GaLoreState`.

    References:
      Zhao et al., 2024, https://arxiv.org/abs/2403.03507
    """
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)):
        raise TypeError(f"`rank` must be an int, got {type(rank).__name__}: {rank!r}")
    _checks.check_int_at_least("rank", rank, 1)
    if not _checks.is_deferred(update_proj_gap):
        _checks.check_int_at_least("update_proj_gap", update_proj_gap, 1)
    base = scale_by_adam() if base_optimizer is None else base_optimizer

    def dims(tree: Any) -> list[Any]:
        leaves, treedef = jax.tree.flatten(tree)
        spec = weight_dimension_numbers
        if spec is None:
            return [GaLoreDimensionNumbers() if np.ndim(x) == 2 else None for x in leaves]
        if callable(spec) and not isinstance(spec, GaLoreDimensionNumbers):
            spec = spec(tree)
        if isinstance(spec, GaLoreDimensionNumbers):
            return [spec if np.ndim(x) >= 2 else None for x in leaves]
        try:
            return list(treedef.flatten_up_to(jax.tree.map(lambda d, _: d, spec, tree, is_leaf=_is_dn)))  # type: ignore[attr-defined]
        except (ValueError, TypeError) as err:
            raise ValueError(f"scale_by_galore: weight_dimension_numbers do not match the params: {err}") from None

    def shapes(p: jax.Array, dn: Any) -> tuple[Any, Any]:
        if dn is None:
            return jnp.zeros((0, 0), p.dtype), _tree.zeros_like(p)
        _, (m, n) = _as_matrix(p.shape, dn)
        r = min(rank, m, n)
        projector, proxy = ((m, r), (r, n)) if m >= n else ((n, r), (m, r))
        return jnp.zeros(projector, p.dtype), jnp.zeros(proxy, p.dtype)

    def init_fn(params):
        _checks.check_params(params, "scale_by_galore")
        leaves, treedef = jax.tree.flatten(params)
        if not leaves:
            return GaLoreState(jnp.zeros([], jnp.int32), base.init(params), params)
        pairs = [shapes(p, dn) for p, dn in zip(leaves, dims(params))]
        projectors = treedef.unflatten([a for a, _ in pairs])
        proxies = treedef.unflatten([b for _, b in pairs])
        return GaLoreState(jnp.zeros([], jnp.int32), base.init(proxies), projectors)

    def update_fn(updates, state, params=None, **extra_args):
        del params
        _checks.check_state(state, GaLoreState, "scale_by_galore")
        grads, treedef = jax.tree.flatten(updates)
        old = treedef.flatten_up_to(state.projector)
        refresh = (state.count % update_proj_gap) == 0
        low, projectors = [], []
        for g, proj, dn in zip(grads, old, dims(updates)):
            if dn is None:
                low.append(g)
                projectors.append(proj)
                continue
            g2 = _to_matrix(g, dn)
            m, n = g2.shape
            r = min(rank, m, n)

            def fresh(g2=g2, m=m, n=n, r=r, dtype=g.dtype):
                u, _, vh = jnp.linalg.svd(g2.astype(jnp.float32), full_matrices=False)
                return (u[:, :r] if m >= n else vh[:r, :].T).astype(dtype)

            proj = jax.lax.cond(refresh, fresh, lambda proj=proj: proj)
            low.append(proj.T @ g2 if m >= n else g2 @ proj)
            projectors.append(proj)
        low_updates, base_state = base.update(treedef.unflatten(low), state.base_optimizer_state, None, **extra_args)
        out = []
        for lu, proj, g, dn in zip(treedef.flatten_up_to(low_updates), projectors, grads, dims(updates)):
            if dn is None:
                out.append(lu)
                continue
            m, n = _as_matrix(g.shape, dn)[1]
            full = proj @ lu if m >= n else lu @ proj.T
            out.append((scale * _from_matrix(full, g, dn)).astype(g.dtype))
        new_state = GaLoreState(_tree.safe_increment(state.count), base_state, treedef.unflatten(projectors))
        return treedef.unflatten(out), new_state

    # Shapes decide the projection: on flat buffers it runs on leaf views.
    return leafwise(GradientTransformation(init_fn, update_fn))


def galore(
    learning_rate: ScalarOrSchedule,
    rank: int = 128,
    update_proj_gap: int = 200,
    scale: float = 1.0,
    base_optimizer: GradientTransformation | None = None,
    weight_decay: jax.typing.ArrayLike = 0.0,
    mask: Any | Callable[[Params], Any] | None = None,
    weight_dimension_numbers: Any | None = None,
) -> GradientTransformation:
    r"""GaLore: memory-efficient training by gradient low-rank projection.

    .. math:: u_t = -\eta \left(s\, P\, \rho(P^\top G_t) + \lambda \theta_{t-1}\right)

    (see :func:`scale_by_galore`), with decoupled weight decay in the full space.

    Args:
      learning_rate: :math:`\eta`, a number or a schedule.
      rank: the projection rank.
      update_proj_gap: steps between recomputing the projectors.
      scale: :math:`s`.
      base_optimizer: a transformation that needs no params (default Adam's scaling).
      weight_decay: :math:`\lambda`.
      mask: which leaves to decay.
      weight_dimension_numbers: see :func:`scale_by_galore`.

    Returns:
      A :class:`GradientTransformation`.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> params = {"w": jnp.ones((4, 3)), "b": jnp.ones(3)}
      >>> opt = gdt.contrib.galore(learning_rate=0.1, rank=1)
      >>> state = opt.init(params)
      >>> state[0].projector["w"].shape  # (m, r): 4 >= 3, left projection
      (4, 1)
      >>> updates, state = opt.update(params, state, params)
      >>> # P = (1, 1, 1, 1) / 2 (up to sign), Adam's first step sign(P^T G) = +-1: -0.1 * P * 1
      >>> print(jnp.round(updates["w"], 3))
      [[-0.05 -0.05 -0.05]
       [-0.05 -0.05 -0.05]
       [-0.05 -0.05 -0.05]
       [-0.05 -0.05 -0.05]]

    References:
      Zhao et al., 2024, https://arxiv.org/abs/2403.03507
    """
    return chain(
        scale_by_galore(
            rank=rank,
            update_proj_gap=update_proj_gap,
            scale=scale,
            base_optimizer=base_optimizer,
            weight_dimension_numbers=weight_dimension_numbers,
        ),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
