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
from gdtransforms._core._tree_like import tree_batch_shape as batch_shape
from gdtransforms._core._tree_like import tree_cast as cast
from gdtransforms._core._tree_like import tree_cast_like as cast_like
from gdtransforms._core._tree_like import tree_clip as clip
from gdtransforms._core._tree_like import tree_dtype as dtype
from gdtransforms._core._tree_like import tree_full_like as full_like
from gdtransforms._core._tree_like import tree_ones_like as ones_like
from gdtransforms._core._tree_like import tree_where as where
from gdtransforms._core._tree_like import tree_zeros_like as zeros_like
from gdtransforms._core._tree_math import tree_add as add
from gdtransforms._core._tree_math import tree_add_scale as add_scale
from gdtransforms._core._tree_math import tree_allclose as allclose
from gdtransforms._core._tree_math import tree_conj as conj
from gdtransforms._core._tree_math import tree_div as div
from gdtransforms._core._tree_math import tree_max as max  # noqa: A004
from gdtransforms._core._tree_math import tree_min as min  # noqa: A004
from gdtransforms._core._tree_math import tree_mul as mul
from gdtransforms._core._tree_math import tree_norm as norm
from gdtransforms._core._tree_math import tree_real as real
from gdtransforms._core._tree_math import tree_scale as scale
from gdtransforms._core._tree_math import tree_size as size
from gdtransforms._core._tree_math import tree_sub as sub
from gdtransforms._core._tree_math import tree_sum as sum  # noqa: A004
from gdtransforms._core._tree_math import tree_vdot as vdot
from gdtransforms._core._tree_random import tree_random_like as random_like
from gdtransforms._core._tree_random import tree_split_key_like as split_key_like
from gdtransforms._core._tree_random import tree_unwrap_random_key_data as unwrap_random_key_data

__all__ = [
    "add",
    "add_scale",
    "allclose",
    "batch_shape",
    "bias_correction",
    "cast",
    "cast_like",
    "clip",
    "conj",
    "div",
    "dtype",
    "full_like",
    "get",
    "get_all_with_path",
    "map_params",
    "max",
    "min",
    "mul",
    "norm",
    "ones_like",
    "random_like",
    "real",
    "scale",
    "set",
    "size",
    "split_key_like",
    "sub",
    "sum",
    "unwrap_random_key_data",
    "update_infinity_moment",
    "update_moment",
    "update_moment_per_elem_norm",
    "vdot",
    "where",
    "zeros_like",
]
