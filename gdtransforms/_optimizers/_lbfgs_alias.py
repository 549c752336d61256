"""L-BFGS with a line search, as a chain."""

from __future__ import annotations

from gdtransforms._core._base import GradientTransformation, ScalarOrSchedule, identity, with_extra_args_support
from gdtransforms._core._combine import chain
from gdtransforms._transforms._lbfgs import scale_by_lbfgs
from gdtransforms._transforms._linesearch_zoom import scale_by_zoom_linesearch
from gdtransforms._transforms._scale import scale, scale_by_learning_rate

__all__ = ["lbfgs"]

_DEFAULT_LINESEARCH = scale_by_zoom_linesearch(max_linesearch_steps=20, initial_guess_strategy="one")


def lbfgs(
    learning_rate: ScalarOrSchedule | None = None,
    memory_size: int = 10,
    scale_init_precond: bool = True,
    linesearch: GradientTransformation | None = _DEFAULT_LINESEARCH,
) -> GradientTransformation:
    r"""L-BFGS: a quasi-Newton direction, then a line search for the stepsize.

    .. math::
        w_{k+1} = w_k - \eta_k H_k \nabla f(w_k)

    where :math:`H_k` is the limited-memory BFGS estimate of the inverse
    Hessian (see :func:`scale_by_lbfgs`) and :math:`\eta_k` comes from
    ``linesearch`` (by default a zoom line search meeting the strong Wolfe
    conditions, first guess 1, at most 20 trials), or is ``learning_rate``
    when there is no line search. The chain is ``scale_by_lbfgs``, then
    ``scale(-1)`` (or ``scale_by_learning_rate``), then the line search.

    For a whole solve in one compiled loop see :func:`lbfgs_minimize`.

    Args:
      learning_rate: ``None`` (the line search picks the stepsize), a number
        or a schedule multiplying the direction.
      memory_size: the number of curvature pairs kept (>= 1).
      scale_init_precond: start each two-loop recursion from
        :math:`\gamma_k I` with :math:`\gamma_k = \langle s, y\rangle/\|y\|^2`.
      linesearch: a line search such as :func:`scale_by_zoom_linesearch` or
        :func:`scale_by_backtracking_linesearch`, or ``None``.

    Returns:
      A :class:`GradientTransformation`. With a line search its update needs
      ``params``, ``value``, ``grad`` and ``value_fn`` (see the example).

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> f = lambda w: jnp.sum((w - jnp.array([1.0, -2.0, 3.0])) ** 2)
      >>> opt = gdt.lbfgs()
      >>> w = jnp.zeros(3)
      >>> state = opt.init(w)
      >>> value_and_grad = gdt.value_and_grad_from_state(f)
      >>> for _ in range(3):
      ...     value, grad = value_and_grad(w, state=state)
      ...     updates, state = opt.update(grad, state, w, value=value, grad=grad, value_fn=f)
      ...     w = gdt.apply_updates(w, updates)
      >>> print(jnp.round(w, 4))
      [ 1. -2.  3.]

    References:
      Liu and Nocedal, 1989, https://doi.org/10.1007/BF01589116;
      Nocedal and Wright, 2006, Numerical Optimization, Algorithms 7.4, 7.5.
    """
    base_scaling = scale(-1.0) if learning_rate is None else scale_by_learning_rate(learning_rate)
    search = identity() if linesearch is None else with_extra_args_support(linesearch)
    return chain(scale_by_lbfgs(memory_size=memory_size, scale_init_precond=scale_init_precond), base_scaling, search)
