"""Packing the full data sets into chunks for a GPU machine, and joining them there (issue 16 item 4)."""

import importlib.util
import shutil

import pytest

from scpaper.book import runtime
from scpaper.data import DataError, DataFile, sha256_of

_spec = importlib.util.spec_from_file_location("stage_full_data", runtime.ROOT / "scripts" / "stage_full_data.py")
stage = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(stage)


@pytest.fixture
def fake_data(tmp_path, monkeypatch):
    """A small fake $SCPAPER_DATA: three CIFAR-10 files and one MNIST file of known sizes, registered by their sha256."""
    source = tmp_path / "source"
    sizes = {"cifar10/train_images_00.npy": 2500, "cifar10/train_labels.npy": 300,
             "cifar10/test_images.npy": 1200, "mnist/t10k-labels-idx1-ubyte.gz": 0}
    registry = {}
    for i, (name, size) in enumerate(sizes.items()):
        path = source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes((i * 7 + j) % 251 for j in range(size)))
        registry[name] = DataFile(sha256_of(path), "test")
    registry["natural_images/x.png"] = DataFile("0" * 64, "test")  # not packed: full scale does not read it
    monkeypatch.setattr(stage, "REGISTRY", registry)
    monkeypatch.setattr(stage, "locate", lambda name: source / name)
    return source, sizes


def test_pack_then_join_gives_back_every_file(fake_data, tmp_path):
    source, sizes = fake_data
    folders = stage.pack(tmp_path / ".stage", chunk=1000)
    assert [f.name for f in folders] == ["a", "b", "c", "d"]  # 4000 bytes in chunks of at most 1000
    for folder in folders:
        assert sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) <= 1000
    assert (tmp_path / ".stage/a/cifar10/train_images_00.npy.part-1-of-3").is_file()
    assert not list((tmp_path / ".stage").rglob("x.png"))
    machine = tmp_path / "scdata"  # what `cp -r .stage/X/* $HOME/scdata/` builds up, chunk by chunk
    for folder in folders:
        shutil.copytree(folder, machine, dirs_exist_ok=True)
    joined = stage.join(machine)
    assert {p.relative_to(machine).as_posix() for p in joined} == {"cifar10/train_images_00.npy", "cifar10/test_images.npy"}
    for name in sizes:
        assert (machine / name).read_bytes() == (source / name).read_bytes()
    assert not list(machine.rglob("*.part-*"))


def test_join_names_missing_parts_and_corrupt_files(fake_data, tmp_path):
    folders = stage.pack(tmp_path / ".stage", chunk=1000)
    machine = tmp_path / "scdata"
    for folder in folders[:2]:
        shutil.copytree(folder, machine, dirs_exist_ok=True)
    with pytest.raises(DataError, match=r"train_images_00.npy: parts \[3\] of 3 are missing"):
        stage.join(machine)
    for folder in folders[2:]:
        shutil.copytree(folder, machine, dirs_exist_ok=True)
    part = machine / "cifar10/train_images_00.npy.part-3-of-3"
    part.write_bytes(b"x" * part.stat().st_size)
    with pytest.raises(DataError, match=r"cifar10/train_images_00.npy joined from its parts has sha256 \w+, expected"):
        stage.join(machine)


def test_default_chunk_fits_a_device_call_and_bad_sizes_are_one_line(capsys):
    chunk = stage.default_chunk_bytes()
    assert 0 < chunk <= 60_000_000 and stage.tracked_bytes() + chunk <= 64 * 2**20
    assert stage.main(["--chunk-mb", "61"]) == 1
    assert capsys.readouterr().err == "stage_full_data: error: --chunk-mb must be in (0, 60], got 61.0\n"
