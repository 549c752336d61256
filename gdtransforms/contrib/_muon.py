"""Muon: momentum orthogonalized by Newton–Schulz, with AdamW for the other leaves."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import (
    GradientTransformation,
    Params,
    ScalarOrSchedule,
    Updates,
    init_empty_state,
)
from gdtransforms._core._combine import chain
from gdtransforms._core._flat_params import leafwise
from gdtransforms._core._moments import bias_correction, update_moment
from gdtransforms._optimizers._alias_adam import adamw
from gdtransforms._transforms._regularize import add_decayed_weights
from gdtransforms._transforms._scale import scale_by_learning_rate
from gdtransforms._wrappers._partition import partition
from gdtransforms.contrib._muon_ns import (
    MuonDimensionNumbers,
    PerLeaf,
    check_ns_coeffs,
    check_ns_steps,
    check_preconditioning,
    fan_in_out,
    leaf_dim_nums,
    orthogonalize_leaves,
)

__all__ = ["MuonDimensionNumbers", "MuonState", "muon", "scale_by_muon"]

Preconditioning = Literal["frobenius", "spectral", "aol", "schatten"]
WeightDimNumOrFn = MuonDimensionNumbers | Params | Callable[[Params], Params | None]

_STANDARD = (3.4445, -4.7750, 2.0315)
_PRESETS: dict[str, Any] = {
    "standard": _STANDARD,
    "dion": (
        (4.0848, -6.8946, 2.9270),
        (3.9505, -6.3029, 2.6377),
        (3.7418, -5.5913, 2.3037),
        (2.8769, -3.1427, 1.2046),
        (2.8366, -3.0525, 1.2012),
    ),
}


class MuonState(NamedTuple):
    """Muon's step count, momentum and Newton–Schulz coefficients (shape (3,) or (n, 3))."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar
    mu: Updates
    ns_coeffs: jax.Array


def _paths(tree: Any) -> list[str]:
    return [_checks.path_str(p) for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


def scale_by_muon(
    ns_coeffs: tuple[Any, Any, Any] | tuple[tuple[Any, Any, Any], ...] = _STANDARD,
    ns_steps: jax.typing.ArrayLike = 5,
    beta: jax.typing.ArrayLike = 0.95,
    eps: jax.typing.ArrayLike = 1e-8,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: Preconditioning = "frobenius",
    weight_dimension_numbers: WeightDimNumOrFn | None = None,
) -> GradientTransformation:
    r"""Orthogonalizes the (Nesterov) momentum of each weight matrix.

    .. math::
        M_t = \beta M_{t-1} + (1 - \beta) G_t, \qquad
        \hat M_t = \beta \frac{M_t}{1 - \beta^{t+1}} + (1 - \beta) \frac{G_t}{1 - \beta^t}
        \ \text{(Nesterov; else } M_t / (1 - \beta^t)), \\
        X_0 = \hat M_t / (\|\hat M_t\|_F + \epsilon), \qquad
        X_{k+1} = a X_k + (b A_k + c A_k^2) X_k, \quad A_k = X_k X_k^\top, \qquad
        u_t = X_K \approx U V^\top \ \text{for}\ \hat M_t = U S V^\top.

    With ``adaptive`` the result is scaled by :math:`\langle \hat M_t, X_K \rangle`.
    Matrices of the same shape and dtype (across leaves and batch axes) are
    orthogonalized together, in one chain of batched matmuls.

    Args:
      ns_coeffs: :math:`(a, b, c)`, or one such row per step.
      ns_steps: the number of steps :math:`K` with a single row of coefficients.
        With several rows, at most ``ns_steps`` (the last ones) are used.
      beta: :math:`\beta` in [0, 1).
      eps: :math:`\epsilon \ge 0`.
      mu_dtype: optional dtype of the momentum.
      nesterov: use the Nesterov form of :math:`\hat M_t`.
      adaptive: scale by the dual norm :math:`\langle \hat M_t, X_K \rangle`.
      preconditioning: how :math:`X_0` is scaled: ``"frobenius"``,
        ``"spectral"`` (by the largest singular value), ``"aol"`` or
        ``"schatten"`` (rescalings inside the first step).
      weight_dimension_numbers: ``None`` (every leaf a 2-D matrix), a
        :class:`MuonDimensionNumbers` for every leaf, a tree of them or a
        function of the updates returning one.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`MuonState`.

    References:
      Jordan et al., 2024, https://kellerjordan.github.io/posts/muon/;
      Bernstein and Newhouse, 2024, https://arxiv.org/abs/2409.20325;
      Boissin et al., 2025, https://arxiv.org/abs/2512.04632;
      Grishina et al., 2025, https://arxiv.org/abs/2506.10935
    """
    coeffs_arr = check_ns_coeffs(ns_coeffs)
    check_ns_steps(ns_steps)
    _checks.check_decay("beta", beta)
    _checks.check_non_negative("eps", eps)
    check_preconditioning(preconditioning)
    mu_dtype = _checks.check_float_dtype("mu_dtype", mu_dtype)

    def init_fn(params):
        _checks.check_params(params, "scale_by_muon")
        coeffs = jnp.asarray(ns_coeffs) if isinstance(ns_coeffs, jax.Array) else jnp.asarray(coeffs_arr, jnp.float32)
        if coeffs.ndim == 2 and coeffs.shape[0] > int(ns_steps):
            coeffs = coeffs[coeffs.shape[0] - int(ns_steps) :]
        return MuonState(count=jnp.zeros([], jnp.int32), mu=_tree.zeros_like(params, mu_dtype), ns_coeffs=coeffs)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, MuonState, "scale_by_muon")
        _checks.check_updates(updates, state.mu, "scale_by_muon")
        dim_nums = leaf_dim_nums(weight_dimension_numbers, updates, default_2d_only=False, where="scale_by_muon")
        paths = _paths(updates)
        for path, dn in zip(paths, dim_nums):
            if dn is None:
                raise ValueError(
                    f"scale_by_muon: the leaf at {path} has no MuonDimensionNumbers; every leaf it sees is "
                    "orthogonalized (use `muon`, or `partition`, to send other leaves elsewhere)"
                )
        mu = update_moment(updates, state.mu, beta, 1)
        count = _tree.safe_increment(state.count)
        if nesterov:
            mu_hat = jax.tree.map(
                lambda m, g: beta * m + (1 - beta) * g,
                bias_correction(mu, beta, _tree.safe_increment(count)),
                bias_correction(updates, beta, count),
            )
        else:
            mu_hat = bias_correction(mu, beta, count)
        hat_leaves, treedef = jax.tree.flatten(mu_hat)
        ortho = orthogonalize_leaves(hat_leaves, dim_nums, paths, state.ns_coeffs, ns_steps, preconditioning, eps)
        if adaptive:
            ortho = [jnp.sum(m.conj() * o) * o for m, o in zip(hat_leaves, ortho)]
        grads = treedef.flatten_up_to(updates)
        mus = treedef.flatten_up_to(mu)
        ortho = [o.astype(_tree.update_dtype(g.dtype, m.dtype)) for o, g, m in zip(ortho, grads, mus)]
        return treedef.unflatten(ortho), MuonState(count=count, mu=_tree.cast(mu, mu_dtype), ns_coeffs=state.ns_coeffs)

    return GradientTransformation(init_fn, update_fn)


def _scale_by_shape(weight_dimension_numbers: Any, consistent_rms: Any) -> GradientTransformation:
    r"""Scales each orthogonalized matrix by a factor of its shape.

    :math:`\sqrt{\max(1, n_{out} / n_{in})}` (width transfer), or with
    ``consistent_rms`` :math:`\rho \sqrt{\max(n_{in}, n_{out})}`, which gives
    updates an RMS of about :math:`\rho` whatever the shape.
    """

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        leaves, treedef = jax.tree.flatten(updates)
        dim_nums = leaf_dim_nums(weight_dimension_numbers, updates, default_2d_only=False, where="muon")
        out = []
        for u, dn in zip(leaves, dim_nums):
            fan_in, fan_out = fan_in_out(u.shape, dn)
            if consistent_rms is None:
                factor = jnp.sqrt(jnp.maximum(1, fan_out / fan_in))
            else:
                factor = jnp.sqrt(jnp.maximum(fan_in, fan_out)) * consistent_rms
            out.append(factor * u)
        return treedef.unflatten(out), state

    return GradientTransformation(init_empty_state, update_fn)


def muon(
    learning_rate: ScalarOrSchedule,
    ns_coeffs: tuple[Any, Any, Any] | tuple[tuple[Any, Any, Any], ...] | str = _STANDARD,
    ns_steps: jax.typing.ArrayLike = 5,
    beta: jax.typing.ArrayLike = 0.95,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 0.0,
    weight_decay_mask: Any | Callable[[Params], Any] | None = None,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: Preconditioning = "frobenius",
    adam_b1: jax.typing.ArrayLike = 0.9,
    adam_b2: jax.typing.ArrayLike = 0.999,
    adam_eps_root: jax.typing.ArrayLike = 0.0,
    adam_weight_decay: jax.typing.ArrayLike = 0.0,
    adam_learning_rate: ScalarOrSchedule | None = None,
    muon_weight_dimension_numbers: WeightDimNumOrFn | None = None,
    consistent_rms: jax.typing.ArrayLike | None = None,
) -> GradientTransformation:
    r"""Muon for the weight matrices, AdamW for every other leaf.

    For a matrix leaf (by default: every 2-D leaf):

    .. math::
        u_t = -\eta \left(s \cdot \mathrm{NS}(\hat M_t) + \lambda \theta_{t-1}\right), \qquad
        s = \sqrt{\max(1, n_{out}/n_{in})} \ \text{or}\ \rho\sqrt{\max(n_{in}, n_{out})},

    where :math:`\mathrm{NS}` is the Newton–Schulz orthogonalization of the
    momentum (:func:`scale_by_muon`). Other leaves get :func:`adamw` with
    ``adam_*`` hyperparameters (and the same ``eps``, ``mu_dtype``, ``nesterov``).

    Args:
      learning_rate: :math:`\eta`, a number or a schedule.
      ns_coeffs: Newton–Schulz coefficients, rows of them, or a preset name
        (``"standard"``, ``"dion"``).
      ns_steps: the number of Newton–Schulz steps.
      beta: the momentum decay :math:`\beta`.
      eps: guards the rescaling before Newton–Schulz, and Adam's denominator.
      weight_decay: :math:`\lambda` for the matrices.
      weight_decay_mask: which matrix leaves to decay (a tree or a function).
      mu_dtype: optional dtype of the first moments.
      nesterov: Nesterov momentum (in both Muon and Adam).
      adaptive: scale by the dual norm of the momentum.
      preconditioning: see :func:`scale_by_muon`.
      adam_b1: Adam's :math:`\beta_1`.
      adam_b2: Adam's :math:`\beta_2`.
      adam_eps_root: Adam's :math:`\epsilon` inside the root.
      adam_weight_decay: AdamW's weight decay.
      adam_learning_rate: Adam's rate; ``None`` uses ``learning_rate``.
      muon_weight_dimension_numbers: a tree (prefix of params) of
        :class:`MuonDimensionNumbers`, ``None`` entries for Adam leaves, or a
        function of params returning one; ``None`` means every 2-D leaf.
      consistent_rms: :math:`\rho`; ``None`` uses the width scaling.

    Returns:
      A :class:`GradientTransformation` (a :func:`partition` of the two).

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> params = {"w": jnp.array([[3.0, 0.0], [0.0, 1.0]]), "b": jnp.zeros(2)}
      >>> opt = gdt.contrib.muon(learning_rate=0.1)
      >>> updates, _ = opt.update(params, opt.init(params), params)
      >>> # Singular values 3 and 1 both become about 1 (within [0.7, 1.2]): times -0.1.
      >>> print(jnp.round(updates["w"], 2) + 0.0)
      [[-0.08  0.  ]
       [ 0.   -0.11]]

    References:
      Jordan et al., 2024, https://kellerjordan.github.io/posts/muon/;
      Liu et al., 2025, https://arxiv.org/abs/2502.16982;
      Ahn et al., 2025, https://arxiv.org/abs/2504.05295
    """
    if isinstance(ns_coeffs, str):
        if ns_coeffs not in _PRESETS:
            raise ValueError(f"`ns_coeffs`: unknown preset {ns_coeffs!r}; presets are {sorted(_PRESETS)}")
        ns_coeffs = _PRESETS[ns_coeffs]
    if adam_learning_rate is None:
        adam_learning_rate = learning_rate
    spec = muon_weight_dimension_numbers

    def dims_tree(tree: Any) -> Any:
        dims = leaf_dim_nums(spec, tree, default_2d_only=True, where="muon")
        return jax.tree.unflatten(jax.tree.structure(tree), [_Spec(d) for d in dims])

    def labels(tree: Any) -> Any:
        return jax.tree.map(lambda s: "adam" if s.dn is None else "muon", dims_tree(tree))

    def matrix_dims(masked_updates: Any) -> list[MuonDimensionNumbers | None]:
        return leaf_dim_nums(spec, masked_updates, default_2d_only=True, where="muon")

    matrices = chain(
        scale_by_muon(
            ns_coeffs=ns_coeffs,  # type: ignore[arg-type]
            ns_steps=ns_steps,
            beta=beta,
            eps=eps,
            mu_dtype=mu_dtype,
            nesterov=nesterov,
            adaptive=adaptive,
            preconditioning=preconditioning,
            weight_dimension_numbers=PerLeaf(matrix_dims),
        ),
        _scale_by_shape(PerLeaf(matrix_dims), consistent_rms),
        add_decayed_weights(weight_decay, weight_decay_mask),
        scale_by_learning_rate(learning_rate),
    )
    others = adamw(
        learning_rate=adam_learning_rate,
        b1=adam_b1,
        b2=adam_b2,
        eps=eps,
        eps_root=adam_eps_root,
        weight_decay=adam_weight_decay,
        mu_dtype=mu_dtype,
        nesterov=nesterov,
    )
    # Shapes decide which leaves are matrices: on flat buffers it runs on leaf views.
    return leafwise(partition({"muon": matrices, "adam": others}, labels))


class _Spec:
    """A leaf wrapper (not a pytree) for a per-leaf dimension spec."""

    __slots__ = ("dn",)

    def __init__(self, dn: MuonDimensionNumbers | None) -> None:
        self.dn = dn
