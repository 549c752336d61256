"""Every alias converges on the notes' quadratic and on Rosenbrock."""

import functools

import jax
import jax.numpy as jnp
import pytest

import gdtransforms as gdt

STEPS = 3000


def quadratic(w):
    """docs/notes.md §12: f(x, y) = x^2 / 20 + y^2."""
    return w[0] ** 2 / 20.0 + w[1] ** 2


def rosenbrock(w):
    return (1.0 - w[0]) ** 2 + 100.0 * (w[1] - w[0] ** 2) ** 2


def cosine(lr):
    return lambda count: lr * 0.5 * (1.0 + jnp.cos(jnp.pi * jnp.minimum(count, STEPS) / STEPS))


# name: (factory of a learning rate, lr on the quadratic, lr on Rosenbrock)
ALIASES = {
    "sgd": (gdt.sgd, 0.3, cosine(0.003)),
    "sgd_momentum": (lambda lr: gdt.sgd(lr, momentum=0.9), 0.1, cosine(0.003)),
    "sgd_nesterov": (lambda lr: gdt.sgd(lr, momentum=0.9, nesterov=True), 0.1, cosine(0.001)),
    "ema_momentum": (lambda lr: gdt.ema_momentum(lr, beta=0.9), 0.3, cosine(0.03)),
    "adagrad": (gdt.adagrad, 0.9, 0.3),
    "rmsprop": (gdt.rmsprop, cosine(0.03), cosine(0.01)),
    "rmsprop_centered": (lambda lr: gdt.rmsprop(lr, centered=True, momentum=0.9), cosine(0.03), cosine(0.01)),
    "adam": (gdt.adam, 0.1, cosine(0.1)),
    "adamw": (lambda lr: gdt.adamw(lr, weight_decay=1e-6), 0.1, cosine(0.1)),
    "nadam": (gdt.nadam, 0.1, cosine(0.1)),
    "nadamw": (lambda lr: gdt.nadamw(lr, weight_decay=1e-6), 0.1, cosine(0.1)),
    "amsgrad": (gdt.amsgrad, 0.1, 0.3),
    "adamax": (gdt.adamax, 0.1, 0.3),
    "adamaxw": (lambda lr: gdt.adamaxw(lr, weight_decay=1e-6), 0.1, 0.3),
    "lion": (lambda lr: gdt.lion(lr, weight_decay=0.0), cosine(0.1), cosine(0.01)),
    "lamb": (gdt.lamb, 0.1, cosine(0.03)),
}


@functools.partial(jax.jit, static_argnums=(0, 1))
def final_loss(opt, f, x0):
    def body(carry, _):
        w, state = carry
        updates, state = opt.update(jax.grad(f)(w), state, w)
        return (gdt.apply_updates(w, updates), state), None

    (w, _), _ = jax.lax.scan(body, (x0, opt.init(x0)), None, length=STEPS)
    return f(w)


@pytest.mark.parametrize("name", sorted(ALIASES))
def test_converges_on_the_quadratic(name):
    make, lr, _ = ALIASES[name]
    assert float(final_loss(make(lr), quadratic, jnp.array([-7.0, 2.0]))) < 1e-4


@pytest.mark.parametrize("name", sorted(ALIASES))
def test_converges_on_rosenbrock(name):
    make, _, lr = ALIASES[name]
    x0 = jnp.array([-1.2, 1.0])
    assert float(rosenbrock(x0)) > 24.0
    assert float(final_loss(make(lr), rosenbrock, x0)) < 1e-2
