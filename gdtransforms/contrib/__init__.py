"""Optimizers and transforms from recent research (optax.contrib's twin)."""

from gdtransforms._transforms._plateau import ReduceLROnPlateauState, reduce_on_plateau

# Muon, GaLore, Sophia, SAM, complex splitting (issue 15).
from gdtransforms.contrib._complex import SplitRealAndImaginaryState, split_real_and_imaginary
from gdtransforms.contrib._galore import GaLoreDimensionNumbers, GaLoreState, galore, scale_by_galore
from gdtransforms.contrib._muon import MuonDimensionNumbers, MuonState, muon, scale_by_muon
from gdtransforms.contrib._sam import NormalizeState, SAMState, normalize, sam
from gdtransforms.contrib._sophia import HutchinsonState, SophiaState, hutchinson_estimator_diag_hessian, sophia

__all__ = [
    "GaLoreDimensionNumbers",
    "GaLoreState",
    "HutchinsonState",
    "MuonDimensionNumbers",
    "MuonState",
    "NormalizeState",
    "ReduceLROnPlateauState",
    "SAMState",
    "SophiaState",
    "SplitRealAndImaginaryState",
    "galore",
    "hutchinson_estimator_diag_hessian",
    "muon",
    "normalize",
    "reduce_on_plateau",
    "sam",
    "scale_by_galore",
    "scale_by_muon",
    "sophia",
    "split_real_and_imaginary",
]
