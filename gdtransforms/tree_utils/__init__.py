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

__all__ = [
    "NamedTupleKey",
    "tree_bias_correction",
    "tree_get",
    "tree_get_all_with_path",
    "tree_map_params",
    "tree_set",
    "tree_update_infinity_moment",
    "tree_update_moment",
    "tree_update_moment_per_elem_norm",
]
