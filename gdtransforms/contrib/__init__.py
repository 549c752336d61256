"""Optimizers and transforms from recent research (optax.contrib's twin)."""

from gdtransforms._transforms._plateau import ReduceLROnPlateauState, reduce_on_plateau

__all__ = [
    "ReduceLROnPlateauState",
    "reduce_on_plateau",
]
