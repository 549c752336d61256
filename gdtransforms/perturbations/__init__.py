"""optax.perturbations's twin."""

from gdtransforms.perturbations._perturbed import Gumbel, Normal, make_perturbed_fun

__all__ = ["Gumbel", "Normal", "make_perturbed_fun"]
