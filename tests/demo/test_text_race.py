"""The text race: its corpus, its model and ``python -m gdtransforms demo --race text --quick``."""

import io
import math

import jax
import numpy as np
import pytest

import gdtransforms as gdt
from gdtransforms import _demo
from gdtransforms._demo import _text_data, _text_race
from gdtransforms._demo._text_model import init_model, loss_and_grad

PNG = b"\x89PNG\r\n\x1a\n"
QUICK = _text_race.QUICK


@pytest.fixture(scope="module")
def corpus():
    return _text_data.load_corpus()


def test_the_corpus_is_the_listed_stdlib_files_split_by_position(corpus):
    root = _text_data.stdlib_root()
    files = [(root / f).read_bytes() for f in _text_data.STDLIB_FILES]
    cut = int(len(files[0]) * _text_data.TRAIN_FRACTION)
    assert corpus.train[:cut].tobytes() == files[0][:cut]  # each file: its head trains ...
    assert corpus.val[: len(files[0]) - cut].tobytes() == files[0][cut:]  # ... and its tail validates
    assert len(corpus.train) + len(corpus.val) == sum(len(f) for f in files)
    again = _text_data.load_corpus()
    assert again.digest == corpus.digest and np.array_equal(again.train, corpus.train)
    assert corpus.digest in corpus.describe() and "12 standard-library files" in corpus.describe()


def test_batches_are_contiguous_windows_fixed_by_the_seed(corpus):
    batches = _text_data.train_batches(corpus.train, 3, 4, 16, seed=5)
    assert batches.shape == (3, 4, 17) and batches.dtype == np.int32
    assert np.array_equal(batches, _text_data.train_batches(corpus.train, 3, 4, 16, seed=5))
    assert not np.array_equal(batches, _text_data.train_batches(corpus.train, 3, 4, 16, seed=6))
    text = corpus.train.tobytes()
    for window in batches.reshape(-1, 17):
        assert bytes(window.astype(np.uint8).tolist()) in text
    val = _text_data.val_windows(corpus.val, 8, 16)
    assert val.shape == (8, 17)
    assert bytes(val[0].astype(np.uint8).tolist()) == corpus.val[:17].tobytes()
    assert bytes(val[-1].astype(np.uint8).tolist()) == corpus.val[-17:].tobytes()
    with pytest.raises(ValueError, match="too few for windows of 17"):
        _text_data.train_batches(corpus.train[:10], 1, 1, 16, seed=0)


def test_a_missing_file_is_refused_naming_it_and_the_folder(tmp_path, monkeypatch):
    (tmp_path / "heapq.py").write_text("import heapq\n" * 10)
    with pytest.raises(FileNotFoundError) as info:
        _text_data.load_corpus(("heapq.py", "bisect.py"), root=tmp_path)
    assert f"bisect.py is missing from {tmp_path}" in str(info.value) and "heapq" not in str(info.value)
    # The command line says so and exits 1, before any training.
    monkeypatch.setattr(_text_data, "stdlib_root", lambda: tmp_path)
    err = io.StringIO()
    assert _demo.main(["demo", "--race", "text", "--quick", "--out", str(tmp_path)], out=io.StringIO(), err=err) == 1
    assert "the text race cannot run" in err.getvalue() and "textwrap.py" in err.getvalue()


def test_the_first_loss_is_log_256_and_one_adamw_step_lowers_it(corpus):
    params = init_model(jax.random.key(0), QUICK.model)
    batch = _text_data.train_batches(corpus.train, 1, QUICK.batch_size, QUICK.model.context, seed=0)[0]
    loss, grads = loss_and_grad(params, batch, QUICK.model.heads)
    assert abs(float(loss) - math.log(256)) < 0.05
    opt = gdt.adamw(1e-2)
    updates, _ = jax.jit(opt.update)(grads, opt.init(params), params)
    after, _ = loss_and_grad(gdt.apply_updates(params, updates), batch, QUICK.model.heads)
    assert float(after) < float(loss) - 0.05


def test_the_quick_race_prints_every_available_optimizer_and_writes_the_plots(tmp_path):
    have, missing = _text_race.available()
    assert have == list(_text_race.RACERS) and not missing  # all six, SOAP and Kron included
    out, err = io.StringIO(), io.StringIO()
    code = _demo.main(["demo", "--race", "text", "--quick", "--out", str(tmp_path)], out=out, err=err)
    text = out.getvalue()
    assert code == 0, text + err.getvalue()
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("optimizer"))
    for column in ("final val", "best val", "steps", "seconds", "steps/s", "compile s", "doctor"):
        assert column in lines[header]
    rows = lines[header + 2 : header + 2 + len(have)]
    assert [r[:20].strip() for r in rows] == [_text_race.RACERS[n].title for n in have]
    for row in rows:
        final, best, steps, seconds, rate, compile_s = row[20:].split()[:6]
        # Every run learns: from log 256 = 5.55 nats per byte to well below it (SOAP's first
        # step only builds its bases and it is the slowest starter in 60 quick steps: about 4.8).
        assert float(best) <= float(final) < math.log(256) - 0.5, row
        assert int(steps) == QUICK.steps and float(seconds) > 0 and float(rate) > 0, row
    for name in missing:  # SOAP and Kron until they are in the library
        assert f"gdtransforms.{_text_race.RACERS[name].attr}" in text
    assert ("not in this build" in text) == bool(missing)
    for name in ("text_val_vs_step.png", "text_val_vs_seconds.png", "text_doctor.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG
        assert str(tmp_path / name) in text
    assert f"step {QUICK.steps:>4d}/{QUICK.steps}" in err.getvalue()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--race", "text", "--epochs", "3"], "--epochs: for the digits race; the text race takes --steps"),
        (["--race", "text", "--batch-size", "8"], "--batch-size: for the digits race"),
        (["--race", "text", "--optimizers", "adamw,sgd"], "unknown optimizer(s) sgd; choose from adamw, muon, soap"),
        (["--steps", "10"], "--steps: for the text race"),
        (["--race", "words"], "argument --race: invalid choice: 'words'"),
    ],
)
def test_text_race_options_are_checked(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _demo.main(["demo", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_text_race_options_parse():
    args = _demo._parse(["demo", "--race", "text", "--optimizers", "muon, kron", "--steps", "7", "--quick"])
    assert (args.race, args.optimizers, args.steps, args.quick, args.batch_size) == (
        "text",
        ["muon", "kron"],
        7,
        True,
        None,
    )
    assert _demo._parse(["demo"]).race == "digits"
    assert list(_text_race.RACERS) == ["adamw", "muon", "soap", "kron", "schedule-free", "adafactor"]


def test_optimizers_missing_from_the_build_are_left_out_and_named(monkeypatch):
    ghost = _text_race.TextRacer("Ghost", "contrib.no_such_optimizer", 1e-3, lambda f, lr, cfg: f(lr))
    monkeypatch.setitem(_text_race.RACERS, "ghost", ghost)
    assert ghost.factory() is None and _text_race.RACERS["adamw"].factory() is gdt.adamw
    assert _text_race.available(["ghost", "adamw"]) == (["adamw"], ["ghost"])
    err = io.StringIO()
    code = _demo.main(["demo", "--race", "text", "--optimizers", "ghost"], out=io.StringIO(), err=err)
    assert code == 1 and "none of the chosen optimizers is in this build" in err.getvalue()
