"""Optimizers and transforms from recent research (optax.contrib's twin)."""

from gdtransforms._optimizers._alias_structural import dpsgd
from gdtransforms._transforms._plateau import ReduceLROnPlateauState, reduce_on_plateau
from gdtransforms._transforms._privacy import DifferentiallyPrivateAggregateState, differentially_private_aggregate

__all__ = [
    "DifferentiallyPrivateAggregateState",
    "ReduceLROnPlateauState",
    "differentially_private_aggregate",
    "dpsgd",
    "reduce_on_plateau",
]
