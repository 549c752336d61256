"""optax.projections's twin."""

__all__: list[str] = []
