"""Data files: sha256 checks, one-line errors, and the loaders' shapes, types and ranges."""

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
