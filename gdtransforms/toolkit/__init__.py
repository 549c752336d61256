"""The training toolkit: mini-batches, the checklist, the loss-curve doctor, plots.

Built only on gdtransforms' public API. Test surfaces for optimizer paths live
in :mod:`gdtransforms.toolkit.surfaces`.
"""

from gdtransforms.toolkit import surfaces
from gdtransforms.toolkit._checklist import (
    CheckResult,
    check_initial_loss,
    check_regularization,
    overfit_tiny_subset,
)
from gdtransforms.toolkit._data import (
    BatchSizeAdvice,
    EpochIndices,
    batch_size_advice,
    epoch_indices,
    gather_batches,
    minibatches,
    num_examples,
    scan_epoch,
)
from gdtransforms.toolkit._doctor import READINGS, Diagnosis, Finding, diagnose, smooth_curve
from gdtransforms.toolkit._plot import (
    daily_temperatures,
    ema_curve,
    plot_ema,
    plot_loss_curves,
    plot_paths,
    plot_schedules,
)

__all__ = [
    "READINGS",
    "BatchSizeAdvice",
    "CheckResult",
    "Diagnosis",
    "EpochIndices",
    "Finding",
    "batch_size_advice",
    "check_initial_loss",
    "check_regularization",
    "daily_temperatures",
    "diagnose",
    "ema_curve",
    "epoch_indices",
    "gather_batches",
    "minibatches",
    "num_examples",
    "overfit_tiny_subset",
    "plot_ema",
    "plot_loss_curves",
    "plot_paths",
    "plot_schedules",
    "scan_epoch",
    "smooth_curve",
    "surfaces",
]
