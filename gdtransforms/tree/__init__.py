"""Tree utilities without the ``tree_`` prefix (optax.tree's twin)."""

from gdtransforms._core._moments import (
    bias_correction,
    update_infinity_moment,
    update_moment,
    update_moment_per_elem_norm,
)
from gdtransforms._core._tree_api import tree_get as get
from gdtransforms._core._tree_api import tree_get_all_with_path as get_all_with_path
from gdtransforms._core._tree_api import tree_map_params as map_params
from gdtransforms._core._tree_api import tree_set as set  # noqa: A004

__all__ = [
    "bias_correction",
    "get",
    "get_all_with_path",
    "map_params",
    "set",
    "update_infinity_moment",
    "update_moment",
    "update_moment_per_elem_norm",
]
