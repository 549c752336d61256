"""The issue-14 optimizers and transforms: optax's signatures, nesterov on NAdam(W)."""

import inspect

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt

NAMES = [
    "adabelief",
    "adadelta",
    "adan",
    "fromage",
    "lars",
    "nadam",
    "nadamw",
    "noisy_sgd",
    "novograd",
    "optimistic_adam",
    "optimistic_adam_v2",
    "optimistic_gradient_descent",
    "polyak_sgd",
    "radam",
    "rprop",
    "sign_sgd",
    "signum",
    "yogi",
    "add_noise",
    "scale_by_adadelta",
    "scale_by_adan",
    "scale_by_belief",
    "scale_by_distance_over_gradients",
    "scale_by_novograd",
    "scale_by_optimistic_gradient",
    "scale_by_polyak",
    "scale_by_radam",
    "scale_by_rprop",
    "scale_by_sign",
    "scale_by_yogi",
    "safe_norm",
    "safe_root_mean_squares",
]


@pytest.mark.parametrize("name", NAMES)
def test_signature_matches_optax(name):
    """Same parameter names, order, kinds and defaults (gdtransforms may add keyword-only ones)."""
    ours = inspect.signature(getattr(gdt, name)).parameters
    theirs = inspect.signature(getattr(optax, name)).parameters
    extra = [k for k in ours if k not in theirs]
    assert all(ours[k].kind is inspect.Parameter.KEYWORD_ONLY for k in extra), extra
    assert [k for k in ours if k in theirs] == list(theirs)
    for k, p in theirs.items():
        assert ours[k].kind == p.kind, k
        assert ours[k].default == p.default or (ours[k].default is p.default), k


@pytest.mark.parametrize("name", ["nadam", "nadamw"])
def test_nadam_nesterov_keyword(name):
    w = jnp.array([1.0, -2.0])
    g = [jnp.array([0.5, 1.0]), jnp.array([-1.0, 2.0])]
    plain = getattr(gdt, name.replace("n", "", 1))  # adam, adamw
    for nesterov, reference in [(False, plain(0.1)), (True, plain(0.1, nesterov=True))]:
        opt = getattr(gdt, name)(0.1, nesterov=nesterov)
        s1, s2 = opt.init(w), reference.init(w)
        for grad in g:
            u1, s1 = opt.update(grad, s1, w)
            u2, s2 = reference.update(grad, s2, w)
            np.testing.assert_array_equal(u1, u2)
    with pytest.raises(TypeError):
        getattr(gdt, name)(0.1, 0.9, 0.999, 1e-8, 0.0, None, *([1e-4, None] if name == "nadamw" else []), False)
