"""Packing the full data sets into chunks for a GPU machine, and joining them there (issue 16 item 4)."""

import importlib.util
import io
import lzma
import shutil

import numpy as np
import pytest

from scpaper.book import runtime
from scpaper.data import DataError, DataFile, sha256_of

_spec = importlib.util.spec_from_file_location("stage_full_data", runtime.ROOT / "scripts" / "stage_full_data.py")
stage = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(stage)


@pytest.fixture
def fake_data(tmp_path, monkeypatch):
    """A small fake $SCPAPER_DATA: three CIFAR-10 files (random bytes, so xz cannot shrink them) and one MNIST file."""
    source = tmp_path / "source"
    sizes = {"cifar10/train_images_00.npy": 2500, "cifar10/train_labels.npy": 300,
             "cifar10/test_images.npy": 1200, "mnist/t10k-labels-idx1-ubyte.gz": 50}
    rng = np.random.default_rng(0)
    registry = {}
    for name, size in sizes.items():
        path = source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
        registry[name] = DataFile(sha256_of(path), "test")
    registry["natural_images/x.png"] = DataFile("0" * 64, "test")  # not packed: full scale does not read it
    monkeypatch.setattr(stage, "REGISTRY", registry)
    monkeypatch.setattr(stage, "locate", lambda name: source / name)
    return source, sizes


def test_pack_then_join_gives_back_every_file(fake_data, tmp_path):
    source, sizes = fake_data
    folders = stage.pack(tmp_path / ".stage", chunk=1000)
    packed = sum(p.stat().st_size for f in folders for p in f.rglob("*") if p.is_file())
    assert 4000 < packed < 4400  # random bytes: xz adds its headers and saves nothing
    assert [f.name for f in folders] == ["a", "b", "c", "d", "e"][:-(-packed // 1000)]
    for folder in folders:
        assert sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) <= 1000
    assert (tmp_path / ".stage/a/cifar10/train_images_00.npy.xz.part-1-of-3").is_file()
    assert not list((tmp_path / ".stage").rglob("x.png*")) and not list((tmp_path / ".stage").rglob("mnist"))
    assert sorted(p.name for p in (tmp_path / ".stage").iterdir()) == [f.name for f in folders]  # no work files left
    machine = tmp_path / "scdata"  # what `cp -r .stage/X/* $HOME/scdata/` builds up, chunk by chunk
    for folder in folders:
        shutil.copytree(folder, machine, dirs_exist_ok=True)
    joined = stage.join(machine)
    cifar = [n for n in sizes if n.startswith("cifar10/")]
    assert sorted(p.relative_to(machine).as_posix() for p in joined) == sorted(cifar)
    for name in cifar:
        assert (machine / name).read_bytes() == (source / name).read_bytes()
    assert sorted(p.relative_to(machine).as_posix() for p in machine.rglob("*") if p.is_file()) == sorted(cifar)


def test_xz_with_the_delta_filter_shrinks_images_and_gives_them_back(tmp_path):
    ramp = np.add.outer(np.arange(32), np.arange(32)).astype(np.uint8)  # smooth like a photograph, three colours
    images = np.stack([ramp, ramp // 2, 255 - ramp], axis=-1)[None].repeat(8, 0)
    raw = tmp_path / "images.npy"
    np.save(raw, images)
    packed = stage.compress(raw, tmp_path / "out" / "images.npy.xz")
    assert packed.stat().st_size < raw.stat().st_size / 10
    assert np.array_equal(np.load(io.BytesIO(lzma.decompress(packed.read_bytes()))), images)
    assert [p.name for p in packed.parent.iterdir()] == ["images.npy.xz"]


def test_join_names_missing_parts_and_corrupt_files(fake_data, tmp_path):
    folders = stage.pack(tmp_path / ".stage", chunk=1000)
    machine = tmp_path / "scdata"
    for folder in folders[:2]:
        shutil.copytree(folder, machine, dirs_exist_ok=True)
    with pytest.raises(DataError, match=r"train_images_00.npy.xz: parts \[3\] of 3 are missing"):
        stage.join(machine)
    for folder in folders[2:]:
        shutil.copytree(folder, machine, dirs_exist_ok=True)
    part = machine / "cifar10/train_images_00.npy.xz.part-2-of-3"
    part.write_bytes(b"x" * part.stat().st_size)
    with pytest.raises(DataError, match=r"cifar10/train_images_00.npy.xz cannot be decompressed \(.+\): copy its chunks again"):
        stage.join(machine)
    assert not (machine / "cifar10/train_images_00.npy").exists() and not list(machine.rglob("*.partial"))


def test_join_checks_the_unpacked_files_sha256(fake_data, tmp_path, monkeypatch):
    folders = stage.pack(tmp_path / ".stage", chunk=10_000)
    registry = dict(stage.REGISTRY)
    registry["cifar10/test_images.npy"] = DataFile("f" * 64, "test")
    monkeypatch.setattr(stage, "REGISTRY", registry)
    with pytest.raises(DataError, match=r"cifar10/test_images.npy unpacked has sha256 \w+, expected f{64}: copy"):
        stage.join(folders[0])
    assert not (folders[0] / "cifar10/test_images.npy").exists()


def test_default_chunk_fits_a_device_call_and_bad_sizes_are_one_line(capsys):
    chunk = stage.default_chunk_bytes()
    assert 0 < chunk <= 60_000_000 and stage.tracked_bytes() + chunk <= 64 * 2**20
    assert stage.main(["--chunk-mb", "61"]) == 1
    assert capsys.readouterr().err == "stage_full_data: error: --chunk-mb must be in (0, 60], got 61.0\n"
