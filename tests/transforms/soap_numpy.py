"""A line-by-line NumPy (float64) transcription of SOAP, the reference for the SOAP tests.

It follows Algorithm 3 of Vyas et al., 2024 (arXiv:2409.11321) with the
details of the authors' implementation that the paper leaves open: the first
gradient only initialises the factors and their eigenbases (``eigh``, largest
eigenvalue first) and makes no step; Adam's step count starts at the second
call; the bias correction multiplies the step (``sqrt(1 - b2^s) / (1 - b1^s)``)
and ``eps`` is added to ``sqrt(V)`` uncorrected; after step ``s`` the factors
are updated with that step's gradient and, when ``s % f == 0``, each basis is
refreshed by sorting its columns by ``diag(Q^T L Q)`` (permuting ``V`` the same
way) and one QR step ``Q = qr(L Q)``. Weight decay is the decoupled
``theta -= lr * wd * theta`` of gdt's chain (``add_decayed_weights`` before
``scale_by_learning_rate``), applied on every call.

Written independently of gdtransforms: plain loops over leaves and axes.
"""

from __future__ import annotations

import numpy as np


def _project(x, bases, back=False):
    # Contract each preconditioned axis with its basis: Q^T X Q (or Q X Q^T back).
    for axis, q in enumerate(bases):
        if q is None:
            continue
        x = np.moveaxis(np.tensordot(x, q, axes=([axis], [1 if back else 0])), -1, axis)
    return x


def _gram(g, axis):
    others = [a for a in range(g.ndim) if a != axis]
    return np.tensordot(g, g, axes=(others, others))


class NumpySoap:
    """SOAP on a dict of float64 arrays; ``step(grads)`` returns the scaled direction ``u`` per leaf."""

    def __init__(self, params, b1=0.95, b2=0.95, shampoo_beta=None, eps=1e-8, precondition_frequency=10,
                 max_precond_dim=10000, precondition_1d=False):  # fmt: skip
        self.b1, self.b2, self.eps = b1, b2, eps
        self.sb = b2 if shampoo_beta is None else shampoo_beta
        self.f = precondition_frequency
        self.t = 0
        self.M, self.V, self.L, self.Q = {}, {}, {}, {}
        for k, p in params.items():
            p = np.asarray(p, np.float64)
            self.M[k] = np.zeros_like(p)
            self.V[k] = np.zeros_like(p)
            if p.ndim == 1 and not precondition_1d:
                on = [False]
            else:
                on = [d <= max_precond_dim for d in p.shape]
            self.L[k] = [np.zeros((d, d)) if o else None for d, o in zip(p.shape, on)]
            self.Q[k] = [None] * p.ndim

    def step(self, grads):
        self.t += 1
        out = {}
        for k, G in grads.items():
            G = np.asarray(G, np.float64)
            L, Q = self.L[k], self.Q[k]
            if self.t == 1:
                # Initialise: L <- (1 - beta_s) G G^T per axis, Q <- eigenvectors of L (descending).
                for i, Li in enumerate(L):
                    if Li is not None:
                        L[i] = self.sb * Li + (1 - self.sb) * _gram(G, i)
                        _, vecs = np.linalg.eigh(L[i])
                        Q[i] = vecs[:, ::-1]
                out[k] = np.zeros_like(G)
                continue
            s = self.t - 1
            # Algorithm 3, lines 3-9.
            G_rot = _project(G, Q)  # G' = Q_L^T G Q_R
            self.M[k] = self.b1 * self.M[k] + (1 - self.b1) * G  # M <- b1 M + (1 - b1) G
            M_rot = _project(self.M[k], Q)  # M' = Q_L^T M Q_R
            self.V[k] = self.b2 * self.V[k] + (1 - self.b2) * G_rot * G_rot  # V <- b2 V + (1 - b2) G'^2
            N_rot = M_rot / (np.sqrt(self.V[k]) + self.eps)  # N' = M' / (sqrt(V) + eps)
            N = _project(N_rot, Q, back=True)  # N = Q_L N' Q_R^T
            out[k] = np.sqrt(1 - self.b2**s) / (1 - self.b1**s) * N
            # Lines 11-13: update the factors with this gradient.
            for i, Li in enumerate(L):
                if Li is not None:
                    L[i] = self.sb * Li + (1 - self.sb) * _gram(G, i)
            # Lines 14-16: every f steps, one power iteration + QR; V follows the sorted columns.
            if s % self.f == 0:
                for i, Li in enumerate(L):
                    if Li is None:
                        continue
                    est = np.diag(Q[i].T @ Li @ Q[i])
                    order = np.argsort(-est)
                    self.V[k] = np.take(self.V[k], order, axis=i)
                    Q[i], _ = np.linalg.qr(Li @ Q[i][:, order])
        return out


def run_soap_iterates(params, grad_fn, steps, learning_rate, weight_decay, **kwargs):
    """Params (float64) after each of ``steps`` SOAP steps, gradients ``grad_fn(params, t)``."""
    opt = NumpySoap(params, **kwargs)
    params = {k: np.asarray(v, np.float64) for k, v in params.items()}
    history = []
    for t in range(steps):
        u = opt.step(grad_fn(params, t))
        params = {k: p - learning_rate * (u[k] + weight_decay * p) for k, p in params.items()}
        history.append((u, params))
    return history
