"""Optimizers and transforms from recent research (optax.contrib's twin)."""

from gdtransforms._optimizers._alias_structural import dpsgd
from gdtransforms._transforms._plateau import ReduceLROnPlateauState, reduce_on_plateau
from gdtransforms._transforms._privacy import DifferentiallyPrivateAggregateState, differentially_private_aggregate

# Adaptive and parameter-free optimizers (issue 15).
from gdtransforms.contrib._acprop import acprop, scale_by_acprop
from gdtransforms.contrib._ademamix import (
    ScaleByAdemamixState,
    ScaleBySimplifiedAdEMAMixState,
    ademamix,
    scale_by_ademamix,
    scale_by_simplified_ademamix,
    simplified_ademamix,
)
from gdtransforms.contrib._adopt import adopt, scale_by_adopt
from gdtransforms.contrib._cocob import COCOBState, cocob, scale_by_cocob

# Muon, GaLore, Sophia, SAM, complex splitting (issue 15).
from gdtransforms.contrib._complex import SplitRealAndImaginaryState, split_real_and_imaginary
from gdtransforms.contrib._dadapt import DAdaptAdamWState, dadapt_adamw
from gdtransforms.contrib._distance import DoGState, DoWGState, dog, dowg, scale_by_dog, scale_by_dowg
from gdtransforms.contrib._galore import GaLoreDimensionNumbers, GaLoreState, galore, scale_by_galore
from gdtransforms.contrib._madgrad import MadgradState, madgrad, scale_by_madgrad
from gdtransforms.contrib._mechanic import MechanicState, mechanize
from gdtransforms.contrib._momo import MomoAdamState, MomoState, momo, momo_adam
from gdtransforms.contrib._muon import MuonDimensionNumbers, MuonState, muon, scale_by_muon
from gdtransforms.contrib._prodigy import ProdigyState, prodigy
from gdtransforms.contrib._sam import NormalizeState, SAMState, normalize, sam
from gdtransforms.contrib._schedule_free import (
    ScheduleFreeState,
    schedule_free,
    schedule_free_adamw,
    schedule_free_eval_params,
    schedule_free_sgd,
)
from gdtransforms.contrib._sophia import HutchinsonState, SophiaState, hutchinson_estimator_diag_hessian, sophia

__all__ = [
    "COCOBState",
    "DAdaptAdamWState",
    "DifferentiallyPrivateAggregateState",
    "DoGState",
    "DoWGState",
    "GaLoreDimensionNumbers",
    "GaLoreState",
    "HutchinsonState",
    "MadgradState",
    "MechanicState",
    "MomoAdamState",
    "MomoState",
    "MuonDimensionNumbers",
    "MuonState",
    "NormalizeState",
    "ProdigyState",
    "ReduceLROnPlateauState",
    "SAMState",
    "ScaleByAdemamixState",
    "ScaleBySimplifiedAdEMAMixState",
    "ScheduleFreeState",
    "SophiaState",
    "SplitRealAndImaginaryState",
    "acprop",
    "ademamix",
    "adopt",
    "cocob",
    "dadapt_adamw",
    "differentially_private_aggregate",
    "dog",
    "dowg",
    "dpsgd",
    "galore",
    "hutchinson_estimator_diag_hessian",
    "madgrad",
    "mechanize",
    "momo",
    "momo_adam",
    "muon",
    "normalize",
    "prodigy",
    "reduce_on_plateau",
    "sam",
    "scale_by_acprop",
    "scale_by_ademamix",
    "scale_by_adopt",
    "scale_by_cocob",
    "scale_by_dog",
    "scale_by_dowg",
    "scale_by_galore",
    "scale_by_madgrad",
    "scale_by_muon",
    "scale_by_simplified_ademamix",
    "schedule_free",
    "schedule_free_adamw",
    "schedule_free_eval_params",
    "schedule_free_sgd",
    "simplified_ademamix",
    "sophia",
    "split_real_and_imaginary",
]
