"""Test surfaces and optimizer paths for visual logs (docs/notes.md §11, 12).

The notes compare optimizers by drawing their paths on
:math:`f(x, y) = x^2/20 + y^2` from the same start. Each surface here is a
:class:`Surface`: a function of a point ``[..., 2]`` (so it evaluates a whole
grid at once) with a sensible plotting window, start and minima.
:func:`run_path` runs an optimizer on any function with ``lax.scan``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms import GradientTransformation, apply_updates, with_extra_args_support

__all__ = [
    "Path",
    "Surface",
    "SURFACES",
    "beale",
    "elongated_bowl",
    "himmelblau",
    "plateau",
    "rosenbrock",
    "run_path",
    "saddle",
]


@dataclasses.dataclass(frozen=True)
class Surface:
    """A 2-D loss surface with what it takes to draw it.

    Call it on an array whose last axis holds ``(x, y)``.

    Attributes:
      name: a short name.
      formula: the formula in text.
      fn: ``fn(p) -> value`` for ``p`` of shape ``[..., 2]``.
      x_range: ``(low, high)`` of the plotting window in x.
      y_range: ``(low, high)`` in y.
      start: a start point that shows the surface's difficulty.
      minima: the global minima (empty when unbounded below).
    """

    name: str
    formula: str
    fn: Callable[[jax.Array], jax.Array]
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    start: tuple[float, float]
    minima: tuple[tuple[float, float], ...]

    def __call__(self, p: Any) -> jax.Array:
        p = jnp.asarray(p)
        if p.ndim == 0 or p.shape[-1] != 2:
            raise ValueError(f"{self.name}: expected a point with a last axis of size 2 (x, y), got shape {p.shape}")
        return self.fn(p)


def _xy(p: jax.Array) -> tuple[jax.Array, jax.Array]:
    return p[..., 0], p[..., 1]


def _bowl(p):
    x, y = _xy(p)
    return x**2 / 20.0 + y**2


def _rosenbrock(p):
    x, y = _xy(p)
    return (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2


def _beale(p):
    x, y = _xy(p)
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def _himmelblau(p):
    x, y = _xy(p)
    return (x**2 + y - 11.0) ** 2 + (x + y**2 - 7.0) ** 2


def _saddle(p):
    x, y = _xy(p)
    return x**2 - y**2


def _plateau(p):
    x, y = _xy(p)
    return 1.0 - jnp.exp(-(x**2 + y**2) / 2.0)


elongated_bowl = Surface(
    "elongated_bowl", "x^2/20 + y^2", _bowl, (-10.0, 10.0), (-5.0, 5.0), (-7.0, 2.0), ((0.0, 0.0),)
)
"""The notes' example (docs/notes.md §12): 20 times steeper in y than in x."""

rosenbrock = Surface(
    "rosenbrock",
    "(1 - x)^2 + 100 (y - x^2)^2",
    _rosenbrock,
    (-2.0, 2.0),
    (-1.0, 3.0),
    (-1.5, 2.0),
    ((1.0, 1.0),),
)
"""A curved narrow valley; the minimum at (1, 1) is easy to find, hard to reach."""

beale = Surface(
    "beale",
    "(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
    _beale,
    (-4.5, 4.5),
    (-4.5, 4.5),
    (1.0, 1.5),
    ((3.0, 0.5),),
)
"""Flat regions and sharp ridges; minimum 0 at (3, 0.5)."""

himmelblau = Surface(
    "himmelblau",
    "(x^2 + y - 11)^2 + (x + y^2 - 7)^2",
    _himmelblau,
    (-5.0, 5.0),
    (-5.0, 5.0),
    (0.0, 0.0),
    ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)),
)
"""Four minima of value 0: where a run ends depends on where it starts."""

saddle = Surface("saddle", "x^2 - y^2", _saddle, (-2.0, 2.0), (-2.0, 2.0), (1.5, 1e-3), ())
"""A saddle point at the origin (unbounded below): the gradient vanishes there,
yet it is no minimum (docs/notes.md §11)."""

plateau = Surface(
    "plateau",
    "1 - exp(-(x^2 + y^2) / 2)",
    _plateau,
    (-4.0, 4.0),
    (-4.0, 4.0),
    (3.0, 2.5),
    ((0.0, 0.0),),
)
"""A well in a plateau: far from the origin the gradient almost vanishes, so
plain gradient descent crawls; momentum, RMSprop and Adam cross it (docs/notes.md §11)."""

SURFACES: dict[str, Surface] = {s.name: s for s in (elongated_bowl, rosenbrock, beale, himmelblau, saddle, plateau)}


class Path(NamedTuple):
    """An optimizer's path.

    Attributes:
      points: ``[steps + 1, *x0.shape]``, from ``x0`` to the last iterate.
      values: ``[steps + 1]``, the function at each point.
    """

    points: jax.Array
    values: jax.Array


def run_path(
    optimizer: GradientTransformation,
    f: Callable[[jax.Array], jax.Array],
    x0: Any,
    steps: int,
) -> Path:
    """Minimizes ``f`` from ``x0`` with ``optimizer`` and records every point.

    The whole run is one ``lax.scan`` under ``jit``. The function value is
    passed to the update as ``value=``, for transformations that use it.

    Args:
      optimizer: a gradient transformation.
      f: a scalar function of an array (e.g. a :class:`Surface`).
      x0: the start, e.g. ``(-7.0, 2.0)``; cast to float32.
      steps: the number of updates (>= 0).

    Returns:
      A :class:`Path` of ``steps + 1`` points.

    Example:
      >>> import gdtransforms as gdt
      >>> path = gdt.toolkit.surfaces.run_path(gdt.sgd(0.9), gdt.toolkit.surfaces.elongated_bowl, (-7.0, 2.0), 50)
      >>> path.points.shape
      (51, 2)
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"`steps` must be an int >= 0, got {steps!r}")
    optimizer = with_extra_args_support(optimizer)  # raises TypeError for a non-transformation
    x0 = jnp.asarray(x0, dtype=jnp.float32)
    value_and_grad = jax.value_and_grad(lambda p: jnp.asarray(f(p), jnp.float32).reshape(()))

    @jax.jit
    def run(x):
        def step(carry, _):
            x, state = carry
            value, grad = value_and_grad(x)
            updates, state = optimizer.update(grad, state, x, value=value)
            return (apply_updates(x, updates), state), (x, value)

        (last, _), (xs, vs) = jax.lax.scan(step, (x, optimizer.init(x)), length=steps)
        last_value = value_and_grad(last)[0]
        return Path(jnp.concatenate([xs, last[None]]), jnp.concatenate([vs, last_value[None]]))

    return run(x0)
