"""Checkpoints that check themselves (issue 13, items 3-6).

Every way a file can be wrong raises a ``ValueError`` naming the file: an
array stored with another dtype or shape than its record, a changed byte
(checksum), a truncated or damaged file, a foreign file. Saves are atomic and
safe to run from many threads at once, keep a symlink and the file's mode. A
flat (FlatParams) state refuses a target with another layout.
"""

from __future__ import annotations

import json
import os
import re
import stat
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt

META = "__gdtransforms_state__"
PARAMS = {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(3)}
OPT = gdt.adam(0.1)


def _state():
    _, state = OPT.update(PARAMS, OPT.init(PARAMS), PARAMS)
    return state


def _rewrite(path, change):
    """Rewrites a saved file with ``change(arrays, meta)`` applied, keeping the format."""
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays.pop(META)))
    change(arrays, meta)
    arrays[META] = np.array(json.dumps(meta))
    with open(path, "wb") as f:
        np.savez(f, **arrays)


MU_W = "[0].mu['w']"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a, m: a.__setitem__(MU_W, a[MU_W].astype(np.float64)), r"stored as float64\[2, 3\] but recorded"),
        (lambda a, m: a.__setitem__(MU_W, a[MU_W].view(np.int32)), r"stored as int32\[2, 3\] but recorded"),
        (lambda a, m: a.__setitem__(MU_W, a[MU_W].reshape(3, 2)), r"stored as float32\[3, 2\] but recorded"),
        (lambda a, m: a.__setitem__(MU_W, a[MU_W] + 1), "fails its checksum"),
        (lambda a, m: a.pop(MU_W), "the file has no array"),
        (lambda a, m: m.pop("entries"), "record is damaged"),
        (lambda a, m: m.update(version=99), "unsupported state file format"),
    ],
    ids=[
        "float64-behind-float32",
        "int32-behind-float32",
        "transposed-shape",
        "changed-value",
        "missing",
        "record",
        "version",
    ],
)
def test_a_file_that_disagrees_with_its_record_is_refused(tmp_path, change, message):
    path = tmp_path / "s.npz"
    gdt.save_state(path, _state())
    _rewrite(path, change)
    with pytest.raises(ValueError, match=message) as info:
        gdt.restore_state(path, jax.eval_shape(OPT.init, PARAMS))
    assert str(path) in str(info.value)  # names the file


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: data[:100],
        lambda data: data[:-30],  # the zip directory cut off
        lambda data: data[:200] + bytes(64) + data[264:],  # bytes overwritten
        lambda data: b"not a checkpoint at all",
        lambda data: b"",
    ],
    ids=["half", "head", "tail", "overwritten", "foreign", "empty"],
)
def test_a_damaged_or_truncated_file_is_a_value_error_naming_it(tmp_path, damage):
    path = tmp_path / "s.npz"
    gdt.save_state(path, _state())
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError) as info:  # before: EOFError, BadZipFile, KeyError, JSONDecodeError
        gdt.restore_state(path, jax.eval_shape(OPT.init, PARAMS))
    assert type(info.value) is ValueError
    assert str(path) in str(info.value)


def test_a_foreign_npz_is_refused(tmp_path):
    np.savez(tmp_path / "x.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match=re.escape(f"{str(tmp_path / 'x.npz')!r} is not a gdtransforms state file")):
        gdt.restore_state(tmp_path / "x.npz", OPT.init(PARAMS))


def test_concurrent_saves_to_one_path_from_threads(tmp_path):
    path = tmp_path / "s.npz"
    states = [jax.tree.map(lambda x, i=i: x + i if x.dtype != jnp.int32 else x, _state()) for i in range(4)]
    errors = []

    def save(i):
        try:
            for _ in range(5):
                gdt.save_state(path, states[i])
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=save, args=(i % 4,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []  # before: FileNotFoundError from a shared temp file name
    assert os.listdir(tmp_path) == ["s.npz"]  # no temp file left behind
    restored = gdt.restore_state(path, jax.eval_shape(OPT.init, PARAMS))  # one complete file
    assert any(all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(s))) for s in states)


def test_a_symlink_and_the_file_mode_are_kept(tmp_path):
    real = tmp_path / "real.npz"
    gdt.save_state(real, _state())
    os.chmod(real, 0o600)
    link = tmp_path / "latest.npz"
    link.symlink_to(real)
    gdt.save_state(link, _state())
    assert link.is_symlink() and os.readlink(link) == str(real)  # before: the link was replaced by a file
    assert stat.S_IMODE(os.stat(real).st_mode) == 0o600  # before: 0644
    gdt.restore_state(link, OPT.init(PARAMS))


def test_a_new_file_gets_the_usual_mode(tmp_path):
    mask = os.umask(0o022)
    try:
        gdt.save_state(tmp_path / "n.npz", _state())
    finally:
        os.umask(mask)
    assert stat.S_IMODE(os.stat(tmp_path / "n.npz").st_mode) == 0o644


def test_a_flat_state_refuses_another_layout(tmp_path):
    saved_for = gdt.flatten_params({"a": jnp.ones(3), "b": jnp.ones(5)})
    other = gdt.flatten_params({"a": jnp.ones(5), "b": jnp.ones(3)})  # same buffer sizes
    gdt.save_state(tmp_path / "f.npz", OPT.init(saved_for))
    with pytest.raises(ValueError, match=r"flat layout at \[0\]\.mu differs.*\['a'\]") as info:
        gdt.restore_state(tmp_path / "f.npz", OPT.init(other))  # before: restored silently
    assert str(tmp_path / "f.npz") in str(info.value)
    restored = gdt.restore_state(tmp_path / "f.npz", jax.eval_shape(OPT.init, saved_for))
    assert restored[0].mu.layout == saved_for.layout


def test_version_1_files_still_restore(tmp_path):
    path = tmp_path / "old.npz"
    gdt.save_state(path, _state())

    def downgrade(arrays, meta):
        meta["version"] = 1
        meta.pop("layouts")
        for e in meta["entries"]:
            e.pop("crc32", None)

    _rewrite(path, downgrade)
    restored = gdt.restore_state(path, OPT.init(PARAMS))
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(_state())))
