"""Optimizers and transforms from recent research (optax.contrib's twin)."""

from gdtransforms._transforms._plateau import ReduceLROnPlateauState, reduce_on_plateau

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
from gdtransforms.contrib._dadapt import DAdaptAdamWState, dadapt_adamw
from gdtransforms.contrib._distance import DoGState, DoWGState, dog, dowg, scale_by_dog, scale_by_dowg
from gdtransforms.contrib._madgrad import MadgradState, madgrad, scale_by_madgrad
from gdtransforms.contrib._mechanic import MechanicState, mechanize
from gdtransforms.contrib._momo import MomoAdamState, MomoState, momo, momo_adam
from gdtransforms.contrib._prodigy import ProdigyState, prodigy
from gdtransforms.contrib._schedule_free import (
    ScheduleFreeState,
    schedule_free,
    schedule_free_adamw,
    schedule_free_eval_params,
    schedule_free_sgd,
)

__all__ = [
    "COCOBState",
    "DAdaptAdamWState",
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
    "dog",
    "dowg",
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
