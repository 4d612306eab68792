"""Data files: sha256 checks, one-line errors, and the loaders' shapes, types and ranges."""

import gzip
import os
import shutil

import numpy as np
import pytest
import torch

from scpaper import data
from scpaper.data.natural_images import load_natural_images
from scpaper.whitening import sample_patches, whiten, whitening_filter

NAME = "mnist/t10k-labels-idx1-ubyte.gz"
REPO_DATA = data.ROOT


@pytest.fixture
def fake_root(tmp_path, monkeypatch):
    """A repository root with an empty data/ folder and no $SCPAPER_DATA."""
    (tmp_path / "data").mkdir()
    monkeypatch.setattr(data, "ROOT", tmp_path / "data")
    monkeypatch.delenv("SCPAPER_DATA", raising=False)
    data._VERIFIED.clear()
    return tmp_path


def test_missing_file_names_file_sha_and_remedy(fake_root):
    with pytest.raises(data.DataError) as err:
        data.locate(NAME)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"missing data file {NAME} (sha256 {data.REGISTRY[NAME].sha256}; $SCPAPER_DATA is unset)")
    assert "python -m scpaper download --dest DIR" in message


def test_corrupt_file_is_refused(fake_root):
    target = fake_root / "data" / NAME
    target.parent.mkdir(parents=True)
    shutil.copy(REPO_DATA / NAME, target)
    assert data.locate(NAME) == target
    data._VERIFIED.clear()
    raw = bytearray(target.read_bytes())
    raw[100] ^= 0xFF
    target.write_bytes(bytes(raw))
    with pytest.raises(data.DataError, match=rf"^corrupt data file .*{NAME}: sha256 [0-9a-f]{{64}} but expected {data.REGISTRY[NAME].sha256}"):
        data.locate(NAME)


def test_full_data_found_through_environment(fake_root, tmp_path_factory, monkeypatch):
    elsewhere = tmp_path_factory.mktemp("full")
    (elsewhere / "mnist").mkdir()
    shutil.copy(REPO_DATA / NAME, elsewhere / NAME)
    monkeypatch.setenv("SCPAPER_DATA", str(elsewhere))
    assert data.locate(NAME) == elsewhere / NAME
    with pytest.raises(data.DataError, match=rf"missing data file cifar10/test_labels.npy .*not in {elsewhere}"):
        data.locate("cifar10/test_labels.npy")


def test_mnist_loader():
    X, y = data.load_mnist("test")
    assert X.shape == (10000, 28, 28) and X.dtype == torch.float32
    assert float(X.min()) == 0.0 and float(X.max()) == 1.0
    assert y.dtype == torch.int64 and torch.equal(torch.bincount(y).sort().values[:1], torch.tensor([892]))
    assert y[:5].tolist() == [7, 2, 1, 0, 4]
    with pytest.raises(ValueError, match="unknown MNIST split 'val'"):
        data.load_mnist("val")


def test_cifar10_subset_is_class_balanced():
    X, y = data.load_cifar10("train")
    assert X.shape == (5000, 3, 32, 32) and X.dtype == torch.uint8
    assert torch.bincount(y).tolist() == [500] * 10
    assert len(set(y[:50].tolist())) > 5, "the subset is shuffled, not sorted by class"
    Xt, yt = data.load_cifar10("test")
    assert Xt.shape == (1000, 3, 32, 32) and torch.bincount(yt).tolist() == [100] * 10


def test_whitening_flattens_the_spectrum():
    image = load_natural_images("vanhateren")[0][:512, :512]
    w = whiten(image)
    assert abs(float(w.mean())) < 1e-12 and abs(float(w.var()) - 0.1) < 1e-9
    power = lambda x: torch.fft.fft2(x - x.mean()).abs() ** 2  # noqa: E731
    f = whitening_filter((512, 512), f0=10.0)  # radial frequency, no roll-off
    bands = [(0.02, 0.05), (0.1, 0.2)]
    ratio = lambda p: [float(p[(f > a) & (f < b)].mean()) for a, b in bands]  # noqa: E731
    raw, white = ratio(power(image)), ratio(power(w))
    assert raw[0] / raw[1] > 10, "natural images have far more power at low frequencies"
    assert white[0] / white[1] < 3, "whitening should even out the power across bands"


def test_whiten_rejects_nan_and_patches_have_the_right_shape():
    image = torch.zeros(32, 32, dtype=torch.float64)
    image[3, 3] = float("nan")
    with pytest.raises(ValueError, match="image contains NaN or inf values"):
        whiten(image)
    patches = sample_patches([torch.randn(64, 64)], 12, 7, np.random.default_rng(0))
    assert patches.shape == (7, 144)
    with pytest.raises(ValueError, match="patch size and count must be positive"):
        sample_patches([torch.randn(64, 64)], 0, 7, np.random.default_rng(0))


def test_every_natural_image_source_loads():
    for source in ("vanhateren", "kodak", "skimage"):
        images = load_natural_images(source)
        assert images and all(im.ndim == 2 and float(im.max()) == 1.0 for im in images)
    with pytest.raises(ValueError, match="unknown image source 'olshausen'"):
        load_natural_images("olshausen")


def test_kodak_luminance_is_linear_y_of_the_srgb_channels():
    from skimage import color

    from scpaper.data.natural_images import linear_luminance, srgb_to_linear

    rgb = np.random.default_rng(0).integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
    assert np.allclose(linear_luminance(rgb), color.rgb2xyz(rgb)[..., 1], atol=2e-4)
    v = np.array([0.0, 0.04045, 0.5, 1.0])
    assert np.allclose(srgb_to_linear(v), [0.0, 0.04045 / 12.92, ((0.5 + 0.055) / 1.055) ** 2.4, 1.0])
    with pytest.raises(ValueError, match="sRGB values"):
        srgb_to_linear(np.array([1.5]))
    with pytest.raises(ValueError, match="8-bit"):
        linear_luminance(rgb.astype(np.float64))


def test_sha256_of_reads_every_block(tmp_path):
    import hashlib

    path = tmp_path / "blob"
    path.write_bytes(np.random.default_rng(0).bytes(5 * 2**20 // 2 + 7))  # 2.5 MiB: three blocks
    assert data.sha256_of(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_committed_files_match_the_registry_by_an_independent_hash():
    import hashlib

    present = [n for n in data.REGISTRY if (REPO_DATA / n).is_file()]
    assert len(present) >= 14, "MNIST, the CIFAR-10 subset and the natural images are committed"
    for name in present:
        assert hashlib.sha256((REPO_DATA / name).read_bytes()).hexdigest() == data.expected_sha256(name)
    with pytest.raises(data.DataError, match=r"^unknown data file 'mnist/nothing'$"):
        data.expected_sha256("mnist/nothing")


def test_an_edit_after_verification_is_caught(fake_root):
    target = fake_root / "data" / NAME
    target.parent.mkdir(parents=True)
    shutil.copy(REPO_DATA / NAME, target)
    assert data.locate(NAME) == target and data.locate(NAME) == target
    raw = bytearray(target.read_bytes())
    raw[50] ^= 0x01  # same size: only the modification time tells the cached check that the file changed
    target.write_bytes(bytes(raw))
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(data.DataError, match="^corrupt data file"):
        data.locate(NAME)


def test_repository_copy_comes_before_scpaper_data(fake_root, tmp_path_factory, monkeypatch):
    elsewhere = tmp_path_factory.mktemp("full")
    for folder in (fake_root / "data", elsewhere):
        (folder / "mnist").mkdir()
        shutil.copy(REPO_DATA / NAME, folder / NAME)
    monkeypatch.setenv("SCPAPER_DATA", str(elsewhere))
    assert data.locate(NAME) == fake_root / "data" / NAME
    assert data.full_data_dir() == elsewhere
    monkeypatch.setenv("SCPAPER_DATA", "")
    assert data.full_data_dir() is None


def _register(monkeypatch, folder, name: str, payload: bytes) -> None:
    """Write payload as data file name under folder and register its sha256 for this test."""
    import hashlib

    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(payload)
    monkeypatch.setitem(data.REGISTRY, name, data.DataFile(hashlib.sha256(payload).hexdigest(), "test"))


def _npy(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _idx(array: np.ndarray, magic: int) -> bytes:
    """A gzipped IDX file by hand: magic number, one big-endian 32-bit size per dimension, the uint8 data."""
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def test_idx_reader_against_a_hand_written_file(fake_root, monkeypatch):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    _register(monkeypatch, fake_root / "data", "mnist/t10k-images-idx3-ubyte.gz", _idx(images, 2051))
    labels = _idx(np.array([7, 1]), 2049)
    _register(monkeypatch, fake_root / "data", "mnist/t10k-labels-idx1-ubyte.gz", labels)
    X, y = data.load_mnist("test")
    assert torch.equal(X, torch.from_numpy(images.astype(np.float32) / 255)) and y.tolist() == [7, 1]
    wide = np.arange(70_000, dtype=np.uint32).astype(np.uint8).reshape(1, 1, 70_000)  # a dimension above 2¹⁶
    _register(monkeypatch, fake_root / "data", "mnist/train-images-idx3-ubyte.gz", _idx(wide, 2051))
    _register(monkeypatch, fake_root / "data", "mnist/train-labels-idx1-ubyte.gz", labels)
    X, y = data.load_mnist()  # the training split by default
    assert X.shape == (1, 1, 70_000) and torch.equal(X[0, 0, :300] * 255, torch.arange(300.0) % 256)
    _register(monkeypatch, fake_root / "data", "mnist/train-images-idx3-ubyte.gz", labels)
    with pytest.raises(data.DataError, match=r"train-images-idx3-ubyte.gz is not an IDX file of magic 2051 \(found 2049\)$"):
        data.load_mnist("train")


def test_mnist_rows_by_index_equal_the_full_load_and_every_call_is_fresh(fake_root, monkeypatch):
    images = np.arange(5 * 2 * 2, dtype=np.uint8).reshape(5, 2, 2) * 10
    _register(monkeypatch, fake_root / "data", "mnist/t10k-images-idx3-ubyte.gz", _idx(images, 2051))
    _register(monkeypatch, fake_root / "data", "mnist/t10k-labels-idx1-ubyte.gz", _idx(np.array([3, 1, 4, 1, 5]), 2049))
    X, y = data.load_mnist("test")
    rows = np.array([4, 0, 2])
    for index in (rows, slice(1, 3)):
        Xi, yi = data.load_mnist("test", index)
        assert torch.equal(Xi, X[index]) and torch.equal(yi, y[index]) and Xi.dtype == torch.float32
    assert data.mnist_size("test") == 5
    X[:] = -1.0  # a caller's in-place change never reaches the next caller
    assert torch.equal(data.load_mnist("test")[0], torch.from_numpy(images.astype(np.float32) / 255))


def test_full_cifar10_is_read_from_shards_in_a_fixed_shuffled_order(fake_root, tmp_path_factory, monkeypatch):
    full = tmp_path_factory.mktemp("full")
    monkeypatch.setenv("SCPAPER_DATA", str(full))
    rng = np.random.default_rng(5)
    shards = [rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8) for _ in range(5)]
    labels = np.arange(20) % 10
    for i, shard in enumerate(shards):
        _register(monkeypatch, full, f"cifar10/train_images_{i:02d}.npy", _npy(shard))
    _register(monkeypatch, full, "cifar10/train_labels.npy", _npy(labels.astype(np.uint8)))
    X, y = data.load_cifar10(full=True)  # the training split by default
    order = np.random.default_rng(0).permutation(20)  # the documented fixed order (seed 0)
    images = np.concatenate(shards)[order]
    assert X.shape == (20, 3, 32, 32) and X.dtype == torch.uint8 and X.is_contiguous()
    assert torch.equal(X, torch.from_numpy(images).permute(0, 3, 1, 2)) and y.tolist() == labels[order].tolist()
    assert y.dtype == torch.int64
    test = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    _register(monkeypatch, full, "cifar10/test_images.npy", _npy(test))
    _register(monkeypatch, full, "cifar10/test_labels.npy", _npy(labels[:4]))
    Xt, yt = data.load_cifar10("test", full=True)
    assert torch.equal(Xt, torch.from_numpy(test[np.random.default_rng(0).permutation(4)]).permute(0, 3, 1, 2))
    with pytest.raises(ValueError, match=r"^unknown CIFAR-10 split 'val': choose train or test$"):
        data.load_cifar10("val")


def test_subset_loader_keeps_the_stored_order_and_channels():
    X, y = data.load_cifar10("test")
    raw = np.load(REPO_DATA / "cifar10_subset/test_images.npy")
    assert torch.equal(X[3], torch.from_numpy(raw[3]).permute(2, 0, 1)) and X.is_contiguous()
    assert y.tolist() == np.load(REPO_DATA / "cifar10_subset/test_labels.npy").tolist() and y.dtype == torch.int64


def test_each_file_is_hashed_once_while_unchanged(fake_root, monkeypatch):
    target = fake_root / "data" / NAME
    target.parent.mkdir(parents=True)
    shutil.copy(REPO_DATA / NAME, target)
    calls = []
    sha256_of = data.sha256_of
    monkeypatch.setattr(data, "sha256_of", lambda path: calls.append(path) or sha256_of(path))
    for _ in range(3):
        assert data.locate(NAME) == target
    assert calls == [target]
