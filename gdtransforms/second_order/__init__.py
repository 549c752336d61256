"""optax.second_order's twin: Hessian-vector products and curvature diagonals."""

from gdtransforms.second_order._hessian import fisher_diag, hessian_diag, hvp

__all__ = ["fisher_diag", "hessian_diag", "hvp"]
