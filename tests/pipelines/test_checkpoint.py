"""The one checkpoint format: a round trip, config.json as the only copy of the config, atomic
replacement, and the errors for a missing or foreign checkpoint."""
import json
import zipfile

import numpy as np
import pytest

from puffer_backend.pipelines.checkpoint import (CHECKPOINT_FILE, Checkpoint, flatten_tree, load_checkpoint,
                                                 save_checkpoint, unflatten_tree)
from puffer_backend.pipelines.config import CONFIG_FILE, TrainConfig


def _checkpoint():
    rng = np.random.default_rng(0)
    return Checkpoint("torch", step=4096, update=8,
                      params={"actor.0.weight": rng.normal(size=(64, 4)).astype(np.float32),
                              "actor_logstd": np.zeros((1, 2), np.float32)},
                      optimizer={"0/exp_avg": rng.normal(size=7).astype(np.float32), "0/step": np.array(8.0)},
                      state={"generator": np.arange(16, dtype=np.uint8)}, info={"lr": 2.5e-4})


def test_round_trip(tmp_path):
    config = TrainConfig(backend="torch", seed=3, total_steps=4096)
    saved = _checkpoint()
    path = save_checkpoint(tmp_path, config, saved)
    assert path == tmp_path / CHECKPOINT_FILE and sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_FILE,
                                                                                                  CONFIG_FILE]
    loaded_config, loaded = load_checkpoint(tmp_path, "torch")
    assert loaded_config == config
    assert (loaded.backend, loaded.step, loaded.update, loaded.info) == ("torch", 4096, 8, {"lr": 2.5e-4})
    for group in ("params", "optimizer", "state"):
        want, got = getattr(saved, group), getattr(loaded, group)
        assert set(got) == set(want)
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])
            assert got[name].dtype == want[name].dtype


def test_the_config_is_stored_once(tmp_path):
    config = TrainConfig(backend="jax", learning_rate=1e-3)
    save_checkpoint(tmp_path, config, _checkpoint())
    with zipfile.ZipFile(tmp_path / CHECKPOINT_FILE) as archive:
        names = archive.namelist()
    assert not any("config" in name or "learning_rate" in name for name in names), names
    meta = json.loads(str(np.load(tmp_path / CHECKPOINT_FILE)["checkpoint.json"]))
    assert "learning_rate" not in json.dumps(meta) and meta["format"] == 1
    assert json.loads((tmp_path / CONFIG_FILE).read_text())["learning_rate"] == 1e-3


def test_a_new_save_replaces_the_old_whole(tmp_path):
    save_checkpoint(tmp_path, TrainConfig(), _checkpoint())
    newer = _checkpoint()
    newer.step, newer.params = 8192, {"w": np.ones(3, np.float32)}
    save_checkpoint(tmp_path, TrainConfig(), newer)
    _, loaded = load_checkpoint(tmp_path)
    assert loaded.step == 8192 and set(loaded.params) == {"w"}
    assert not list(tmp_path.glob("*.tmp"))


def test_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_checkpoint(tmp_path)
    assert info.value.filename == str(tmp_path / CHECKPOINT_FILE)
    assert "run_dir: expected a run folder holding checkpoint.npz" in str(info.value)
    (tmp_path / "checkpoint.pt").write_bytes(b"old")
    with pytest.raises(FileNotFoundError, match="written by an earlier version"):
        load_checkpoint(tmp_path)


def test_foreign_backend_is_refused(tmp_path):
    save_checkpoint(tmp_path, TrainConfig(), _checkpoint())
    with pytest.raises(ValueError, match="run_dir: expected a jax checkpoint, received one of backend 'torch'"):
        load_checkpoint(tmp_path, "jax")


def test_tree_flattening_round_trip():
    tree = {"actor": {"0": {"kernel": np.ones((2, 3)), "bias": np.zeros(3)}}, "log_std": np.zeros(1)}
    flat = flatten_tree(tree)
    assert set(flat) == {"actor/0/kernel", "actor/0/bias", "log_std"}
    back = unflatten_tree(flat)
    np.testing.assert_array_equal(back["actor"]["0"]["kernel"], tree["actor"]["0"]["kernel"])
    assert set(back) == {"actor", "log_std"}


def test_a_crash_mid_save_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, TrainConfig(), _checkpoint())
    before = (tmp_path / CHECKPOINT_FILE).read_bytes()

    def crash(handle, **arrays):
        handle.write(b"PK\x03\x04 half a zip")  # part of the file is written, then the process dies
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crash)
    newer = _checkpoint()
    newer.step = 9999
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, TrainConfig(), newer)
    monkeypatch.undo()
    assert (tmp_path / CHECKPOINT_FILE).read_bytes() == before
    assert load_checkpoint(tmp_path)[1].step == 4096
    assert not list(tmp_path.glob("*.tmp"))


def test_the_header_reads_without_the_arrays(tmp_path):
    from puffer_backend.pipelines.checkpoint import read_checkpoint_info

    save_checkpoint(tmp_path, TrainConfig(), _checkpoint())
    info = read_checkpoint_info(tmp_path)
    assert (info["backend"], info["step"], info["update"], info["lr"]) == ("torch", 4096, 8, 2.5e-4)
    with pytest.raises(FileNotFoundError) as error:
        read_checkpoint_info(tmp_path / "missing")
    assert error.value.filename.endswith(CHECKPOINT_FILE)


def _rewrite(path, drop=(), header=None):
    """The archive at `path` without the members in `drop`, its header replaced by `header`."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist() if name not in drop}
    if header is not None:
        import io

        buffer = io.BytesIO()
        np.save(buffer, np.array(json.dumps(header)))
        members["checkpoint.json.npy"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


DAMAGED = {
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:-40]), "a truncated, empty or damaged file (BadZipFile"),
    "empty": (lambda p: p.write_bytes(b""), "a truncated, empty or damaged file (EOFError: No data left in file)"),
    "random bytes": (lambda p: p.write_bytes(bytes(range(256)) * 8), "a file that is not a numpy archive"),
    "a .npy": (lambda p: np.save(open(p, "wb"), np.zeros(3)), "a single .npy array of shape (3,), not an archive"),
    "a flipped byte": (lambda p: p.write_bytes(p.read_bytes()[:300] + b"\xff" + p.read_bytes()[301:]),
                       "a truncated, empty or damaged file (BadZipFile: Bad CRC-32"),
    "no header": (lambda p: _rewrite(p, drop={"checkpoint.json.npy"}), "an archive without its header checkpoint.json"),
    "a header key missing": (lambda p: _rewrite(p, header={"format": 1, "backend": "torch", "update": 8}),
                             "a header without an int 'step'"),
    "a header not an object": (lambda p: _rewrite(p, header=[1, 2]), "a header that is not a JSON object (list)"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGED))
def test_a_damaged_checkpoint_is_one_line_naming_the_file(tmp_path, damage):
    """numpy's own errors (BadZipFile, EOFError, its advice to unpickle) never reach the user."""
    from puffer_backend.pipelines.checkpoint import read_checkpoint_info
    from puffer_backend.spec.errors import BadValueError

    save_checkpoint(tmp_path, TrainConfig(backend="torch"), _checkpoint())
    make, says = DAMAGED[damage]
    make(tmp_path / CHECKPOINT_FILE)
    readers = [load_checkpoint] + ([] if damage == "a flipped byte" else [read_checkpoint_info])  # header intact
    for read in readers:
        with pytest.raises(BadValueError) as info:
            read(tmp_path)
        message = str(info.value)
        assert message.startswith(f"{tmp_path / CHECKPOINT_FILE}: expected a checkpoint written by puffer-backend "
                                  "(a numpy .npz archive with its header), received "), message
        assert says in message and "\n" not in message and "pickle" not in message, message
