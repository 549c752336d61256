"""Optimizers and transforms from recent research (optax.contrib's twin)."""

from gdtransforms._transforms._plateau import ReduceLROnPlateauState, reduce_on_plateau
from gdtransforms.contrib._muon import MuonDimensionNumbers, MuonState, muon, scale_by_muon

__all__ = [
    "MuonDimensionNumbers",
    "MuonState",
    "ReduceLROnPlateauState",
    "muon",
    "reduce_on_plateau",
    "scale_by_muon",
]
