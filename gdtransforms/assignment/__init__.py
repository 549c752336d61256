"""optax.assignment's twin."""

from gdtransforms.assignment._potentials import hungarian_algorithm
from gdtransforms.assignment._shortest_path import base_hungarian_algorithm

__all__ = ["base_hungarian_algorithm", "hungarian_algorithm"]
