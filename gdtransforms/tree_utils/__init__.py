"""Tree utilities with a ``tree_`` prefix (optax.tree_utils' twin)."""

from gdtransforms._core._moments import bias_correction as tree_bias_correction
from gdtransforms._core._moments import update_infinity_moment as tree_update_infinity_moment
from gdtransforms._core._moments import update_moment as tree_update_moment
from gdtransforms._core._moments import update_moment_per_elem_norm as tree_update_moment_per_elem_norm
from gdtransforms._core._tree_api import (
    NamedTupleKey,
    tree_get,
    tree_get_all_with_path,
    tree_map_params,
    tree_set,
)
from gdtransforms._core._tree_like import (
    tree_batch_shape,
    tree_cast,
    tree_cast_like,
    tree_clip,
    tree_dtype,
    tree_full_like,
    tree_ones_like,
    tree_where,
    tree_zeros_like,
)
from gdtransforms._core._tree_math import (
    tree_add,
    tree_add_scale,
    tree_allclose,
    tree_conj,
    tree_div,
    tree_max,
    tree_min,
    tree_mul,
    tree_norm,
    tree_real,
    tree_scale,
    tree_size,
    tree_sub,
    tree_sum,
    tree_vdot,
)
from gdtransforms._core._tree_random import (
    tree_random_like,
    tree_split_key_like,
    tree_unwrap_random_key_data,
)

__all__ = [
    "NamedTupleKey",
    "tree_add",
    "tree_add_scale",
    "tree_allclose",
    "tree_batch_shape",
    "tree_bias_correction",
    "tree_cast",
    "tree_cast_like",
    "tree_clip",
    "tree_conj",
    "tree_div",
    "tree_dtype",
    "tree_full_like",
    "tree_get",
    "tree_get_all_with_path",
    "tree_map_params",
    "tree_max",
    "tree_min",
    "tree_mul",
    "tree_norm",
    "tree_ones_like",
    "tree_random_like",
    "tree_real",
    "tree_scale",
    "tree_set",
    "tree_size",
    "tree_split_key_like",
    "tree_sub",
    "tree_sum",
    "tree_unwrap_random_key_data",
    "tree_update_infinity_moment",
    "tree_update_moment",
    "tree_update_moment_per_elem_norm",
    "tree_vdot",
    "tree_where",
    "tree_zeros_like",
]

# optax 0.2.8 still answers to these older names, with a DeprecationWarning.
_DEPRECATED: dict[str, tuple[str, dict[str, object]]] = {
    "tree_scalar_mul": ("tree_scale", {}),
    "tree_add_scalar_mul": ("tree_add_scale", {}),
    "tree_l1_norm": ("tree_norm", {"ord": 1}),
    "tree_l2_norm": ("tree_norm", {"ord": 2}),
    "tree_linf_norm": ("tree_norm", {"ord": "inf"}),
}


def __getattr__(name: str) -> object:
    if name not in _DEPRECATED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import functools
    import warnings

    target, kwargs = _DEPRECATED[name]
    hint = f"{target}(..., {', '.join(f'{k}={v!r}' for k, v in kwargs.items())})" if kwargs else target
    warnings.warn(f"gdtransforms.tree_utils.{name} is deprecated: use {hint}", DeprecationWarning, stacklevel=2)
    fn = globals()[target]
    return functools.partial(fn, **kwargs) if kwargs else fn
