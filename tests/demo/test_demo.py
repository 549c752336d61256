"""The demo, ``python -m gdtransforms demo``, in its quick mode."""

import io
import subprocess
import sys

import pytest

from gdtransforms import _demo

PNG = b"\x89PNG\r\n\x1a\n"


def test_quick_demo_prints_the_checklist_the_table_and_writes_the_pngs(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    code = _demo.main(["demo", "--quick", "--out", str(tmp_path), "--seed", "1"], out=out, err=err)
    text = out.getvalue()
    assert code == 0, text + err.getvalue()
    assert text.count("[PASS]") == 3  # initial loss, regularization, tiny subset
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("optimizer"))
    for column in ("train loss", "val acc", "epochs to 95%", "ms/step", "doctor"):
        assert column in lines[header]
    rows = lines[header + 2 : header + 5]
    assert [r.split("  ")[0] for r in rows] == ["SGD", "Momentum (heavy-ball)", "Adam"]
    for row in rows:
        # ... train acc, val loss, val acc, epochs to 95%, ms/step, doctor
        val_acc = float(row.split("%")[1].split()[-1])
        assert val_acc > 80.0, row  # four epochs on digits already learn
        ms_per_step = float(row.split("%")[2].split()[1])
        assert ms_per_step > 0, row
    for name in ("loss_curves.png", "visual_log.png", "schedules.png", "ema.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG
        assert str(tmp_path / name) in text
    progress = err.getvalue()
    assert "4/4 epochs" in progress and "[####" in progress


def test_options_parse_into_the_run_settings():
    args = _demo._parse(
        [
            "demo",
            "--optimizers",
            "ema-momentum, adagrad",
            "--epochs",
            "2",
            "--batch-size",
            "128",
            "--seed",
            "7",
            "--out",
            "x",
        ]
    )
    assert args.optimizers == ["ema-momentum", "adagrad"]
    assert (args.epochs, args.batch_size, args.seed, str(args.out), args.quick) == (2, 128, 7, "x", False)
    defaults = _demo._parse(["demo"])
    assert (defaults.optimizers, defaults.epochs, defaults.batch_size) == (None, None, 64)
    assert set(_demo._racers()) == {
        "sgd",
        "momentum",
        "ema-momentum",
        "nesterov",
        "adagrad",
        "rmsprop",
        "adam",
        "adamw",
    }


@pytest.mark.parametrize(
    "args, message",
    [
        (["demo", "--epochs", "0"], "--epochs: must be >= 1"),
        (["demo", "--batch-size", "x"], "--batch-size: expected a whole number"),
        (["demo", "--optimizers", "sgd,lbfgs"], "unknown optimizer(s) lbfgs; choose from sgd"),
        (["demo", "--seed", "-1"], "--seed: must be >= 0"),
        (["demo", "--bogus"], "unrecognized arguments: --bogus"),
        ([], "the following arguments are required: command"),
    ],
)
def test_bad_options_exit_with_code_2_and_say_why(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _demo.main(args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_batch_size_larger_than_the_training_set_is_refused():
    err = io.StringIO()
    assert _demo.main(["demo", "--batch-size", "5000"], out=io.StringIO(), err=err) == 2
    assert "--batch-size must be <= 1347" in err.getvalue()


def test_an_output_path_that_is_a_file_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    err = io.StringIO()
    code = _demo.main(["demo", "--out", str(blocker / "sub")], out=io.StringIO(), err=err)
    assert code == 1 and "could not create the output folder" in err.getvalue()


def test_python_dash_m_entry_point_reports_bad_options():
    proc = subprocess.run(
        [sys.executable, "-m", "gdtransforms", "demo", "--epochs", "-3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "usage: python -m gdtransforms demo" in proc.stderr and "--epochs" in proc.stderr
