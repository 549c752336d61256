"""Visual logs and the exponentially weighted average (docs/notes.md §2, 10, 12)."""

import sys

import numpy as np
import pytest

import gdtransforms as gdt

PNG = b"\x89PNG\r\n\x1a\n"


def test_ema_check_values_of_the_notes():
    # beta = 0.98: v_2 = 0.0196 theta_1 + 0.02 theta_2, and 1 - beta^2 = 0.0396.
    theta1, theta2 = 40.0, 49.0
    v = gdt.toolkit.ema_curve([theta1, theta2], 0.98)
    assert v[1] == pytest.approx(0.0196 * theta1 + 0.02 * theta2)
    vhat = gdt.toolkit.ema_curve([theta1, theta2], 0.98, debias=True)
    assert vhat[1] == pytest.approx((0.0196 * theta1 + 0.02 * theta2) / 0.0396)
    assert vhat[0] == pytest.approx(theta1)  # bias correction removes the pull to 0


def test_ema_weights_decay_geometrically_and_debiased_constants_stay_constant():
    impulse = np.zeros(30)
    impulse[0] = 1.0
    v = gdt.toolkit.ema_curve(impulse, 0.9)
    np.testing.assert_allclose(v, 0.1 * 0.9 ** np.arange(30))  # (1 - beta) beta^k
    np.testing.assert_allclose(gdt.toolkit.ema_curve(np.full(50, 7.0), 0.98, debias=True), 7.0)
    with pytest.raises(ValueError, match="beta"):
        gdt.toolkit.ema_curve([1.0], 1.0)
    with pytest.raises(ValueError, match="values.*1-D"):
        gdt.toolkit.ema_curve(np.ones((2, 2)), 0.5)


def test_daily_temperatures_start_like_the_lecture():
    temps = gdt.toolkit.daily_temperatures()
    assert temps.shape == (365,) and temps[:3].tolist() == [40.0, 49.0, 45.0]
    assert 45 < temps.mean() < 60 and temps[180:200].mean() > temps[:20].mean() + 15


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_plot_paths_draws_every_optimizer_on_one_contour(tmp_path):
    paths = {
        "sgd": gdt.toolkit.surfaces.run_path(
            gdt.sgd(0.9), gdt.toolkit.surfaces.elongated_bowl, gdt.toolkit.surfaces.elongated_bowl.start, 30
        ),
        "adam": gdt.toolkit.surfaces.run_path(
            gdt.adam(0.3), gdt.toolkit.surfaces.elongated_bowl, gdt.toolkit.surfaces.elongated_bowl.start, 30
        ),
    }
    out = tmp_path / "paths.png"
    fig = gdt.toolkit.plot_paths(paths, gdt.toolkit.surfaces.elongated_bowl, save_to=out)
    assert out.read_bytes()[:8] == PNG
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels[:3] == ["sgd (30 steps)", "adam (30 steps)", "start"]
    np.testing.assert_allclose(fig.axes[0].lines[0].get_xydata(), paths["sgd"].points, rtol=1e-6)


def test_plot_loss_curves_marks_findings(tmp_path):
    t = np.arange(300)
    rising = 2.3 + 0.01 * t
    healthy = 2.3 * np.exp(-t / 30) + 0.05
    diagnoses = {"rising": gdt.toolkit.diagnose(rising), "healthy": gdt.toolkit.diagnose(healthy)}
    out = tmp_path / "loss.png"
    fig = gdt.toolkit.plot_loss_curves(
        {"rising": rising, "healthy": (healthy, healthy[9::10] + 0.1)}, diagnoses, save_to=out
    )
    assert out.read_bytes()[:8] == PNG
    assert "loss rising" in _texts(fig) and "healthy" in _texts(fig)
    assert len(fig.axes[0].patches) == 1  # the shaded span of the finding
    assert fig.axes[1].lines[-1].get_label() == "validation"


def test_plot_schedules_and_ema(tmp_path):
    fig = gdt.toolkit.plot_schedules(
        {"constant": lambda s: 0.1, "inverse time": lambda s: 0.2 / (1 + s // 10)},
        50,
        steps_per_epoch=10,
        save_to=tmp_path / "s.png",
    )
    lines = fig.axes[0].lines
    np.testing.assert_allclose(lines[1].get_ydata()[[0, 10, 20]], [1.0, 0.5, 1 / 3], rtol=1e-6)
    assert lines[1].get_xdata()[10] == 1.0  # in epochs
    fig = gdt.toolkit.plot_ema(save_to=tmp_path / "ema.png")
    assert len(fig.axes[0].lines) == 4
    assert (tmp_path / "ema.png").read_bytes()[:8] == PNG


def test_missing_matplotlib_gives_a_clear_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"gdtransforms\[plot\]"):
        gdt.toolkit.plot_ema()
