"""optax.perturbations's twin."""

__all__: list[str] = []
