"""Real data sets, verified by sha256: MNIST (IDX files) and CIFAR-10 (uint8 arrays).

Files are looked for first in the repository's data/ folder (what the default scale needs is
committed there), then under $SCPAPER_DATA (full-size sets; `python -m scpaper download` fills it).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import os

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2] / "data"  # the repository's committed data sets


def full_data_dir() -> Path | None:
    """The folder named by $SCPAPER_DATA (the full-size data sets), or None when it is unset."""
    value = os.environ.get("SCPAPER_DATA")
    return Path(value).expanduser() if value else None


class DataError(RuntimeError):
    """A data file is missing or corrupt; the message says which and how to get it."""


@dataclass(frozen=True)
class DataFile:
    """One registered file: its sha256 and the canonical address it can be fetched from."""

    sha256: str
    url: str


_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_KODAK_URL = "https://raw.githubusercontent.com/Zelex/images/0b8a89db599a384124fb991b85d40cfd63c73d58/kodak/"
_VH_URL = ("https://raw.githubusercontent.com/Rieke-Lab/chris-package/923961c617481307b729d9dc82df5216ec4987b0/"
           "+edu/+washington/+riekelab/+chris/+resources/VHsubsample_20160105/")
CIFAR10_TARBALL = DataFile("", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz")
CIFAR10_TARBALL_MD5 = "c58f30108f718f92721af3b95e74349a"  # the md5 published beside the tarball

REGISTRY: dict[str, DataFile] = {
    "mnist/train-images-idx3-ubyte.gz": DataFile("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", _MNIST_URL + "train-images-idx3-ubyte.gz"),
    "mnist/train-labels-idx1-ubyte.gz": DataFile("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", _MNIST_URL + "train-labels-idx1-ubyte.gz"),
    "mnist/t10k-images-idx3-ubyte.gz": DataFile("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", _MNIST_URL + "t10k-images-idx3-ubyte.gz"),
    "mnist/t10k-labels-idx1-ubyte.gz": DataFile("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", _MNIST_URL + "t10k-labels-idx1-ubyte.gz"),
    "natural_images/vanhateren/imk01192.iml": DataFile("117fe280dbc27a1971c6111a60da04baf3b0878ad91adde7978a3ed79a0959af", _VH_URL + "imk01192.iml"),
    "natural_images/vanhateren/imk03447.iml": DataFile("7a3754d0c32ec52a3ec09eb3af2893f040259ac19ba472e0a702a2643cdf740a", _VH_URL + "imk03447.iml"),
    "cifar10_subset/train_images.npy": DataFile("537d0cf249b065f03bd8fdd53046b6ba815c0735b0fe2839d3d26ae7000dbd54", "scripts/make_cifar10_subset.py"),
    "cifar10_subset/train_labels.npy": DataFile("b4b7d6269837a2dd1717c04a3f5a81edbddb8909bd4ad00c267ebad708ec9355", "scripts/make_cifar10_subset.py"),
    "cifar10_subset/test_images.npy": DataFile("4dde77be2768c682afdb3a473aa9022e43c662886555099bf07511008d07a40a", "scripts/make_cifar10_subset.py"),
    "cifar10_subset/test_labels.npy": DataFile("b39232f69508cf83ff1e876e7547d70028f474a556d65844af0ca83eb70788cf", "scripts/make_cifar10_subset.py"),
    "cifar10/train_images_00.npy": DataFile("e5dd15fb3ddc0c1e8658eb6f02e5adb2008bb4da7a073463542b08d2eac57050", CIFAR10_TARBALL.url),
    "cifar10/train_images_01.npy": DataFile("04ae8e79999b3559f5476be908f10433eb63eb44e7c983a5e8c9975244cd5e54", CIFAR10_TARBALL.url),
    "cifar10/train_images_02.npy": DataFile("70f534f8aa7381456b6c0ddd7f462c17a20751b7ff036ccfb4234992ab47f5c4", CIFAR10_TARBALL.url),
    "cifar10/train_images_03.npy": DataFile("184d7129a103683fb2fe4eca0077d6a006033bc28a9a7f65298153a25439905e", CIFAR10_TARBALL.url),
    "cifar10/train_images_04.npy": DataFile("d1fe5d627a194e850273fb3acf8388e7d78f298d3d1ffb7d4988bd80c1749608", CIFAR10_TARBALL.url),
    "cifar10/train_labels.npy": DataFile("fea5517702100e3216779dbf4a616b5d2bb1ed18c92d5522511b65838897f314", CIFAR10_TARBALL.url),
    "cifar10/test_images.npy": DataFile("a677019f12b51b40b8e74bd93ee78a87bf564aba652767164e9980ce4be8c006", CIFAR10_TARBALL.url),
    "cifar10/test_labels.npy": DataFile("c97bbf8f2f25031ee4faae51298e1f38b253eaf8a85dff784bd0efcce06ab222", CIFAR10_TARBALL.url),
}
_KODAK_SHA256 = {
    "01": "6b4fbe6f3e8e0e20150d5b0c32248bf072e22b5989d415f96f796c5b7004a70f",
    "05": "ccf694ceb6bbf431e0009ed0d5573a8ff0915095b69ddfb527b91d8325897f5e",
    "08": "5a6a089bdb47605287c00d89ebf2a5312981eb998c94b5853d917c93a9066cdb",
    "13": "797949ce1152ef157ff0a1231c95cb8ed7641615e0b0f5f77f851a44aee19e8d",
    "14": "08a1898d5702f32e7d9f94a94651d74a62cb9325475775a558b388c8d98f1846",
    "21": "26e193795108c4b5ec47206ae4ff07a353d2492947f7a7ae8d380e042b74027b",
    "22": "627b76fccf714b4ddffb739b2eb63ba2817cf5b5a8e222079542dcf2cfdda939",
    "24": "9f1c26df52217bd49f998a720a2ffeba41a535cf826f4ae32e355fb2b0bbc0fe",
}
REGISTRY.update({f"natural_images/kodak/kodim{k}.png": DataFile(s, f"{_KODAK_URL}kodim{k}.png") for k, s in _KODAK_SHA256.items()})
_VERIFIED: dict[tuple[Path, int, float], str] = {}


def expected_sha256(name: str) -> str:
    """Return the registered sha256 of a data file name such as 'mnist/t10k-labels-idx1-ubyte.gz'."""
    if name not in REGISTRY:
        raise DataError(f"unknown data file {name!r}")
    return REGISTRY[name].sha256


def sha256_of(path: Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def locate(name: str) -> Path:
    """Return the verified path of a registered data file, or raise a one-line DataError."""
    expected = expected_sha256(name)
    full = full_data_dir()
    candidates = [ROOT / name] + ([full / name] if full else [])
    for path in candidates:
        if path.is_file():
            stat = path.stat()
            key = (path, stat.st_size, stat.st_mtime)
            got = _VERIFIED.get(key) or sha256_of(path)
            if got != expected:
                raise DataError(f"corrupt data file {path}: sha256 {got} but expected {expected}; "
                                f"fetch it again with `python -m scpaper download --dest DIR`")
            _VERIFIED[key] = got
            return path
    where = "$SCPAPER_DATA is unset" if full is None else f"not in {full}"
    raise DataError(f"missing data file {name} (sha256 {expected}; {where}): run "
                    f"`python -m scpaper download --dest DIR` and set SCPAPER_DATA=DIR")


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """Read a gzipped IDX file (MNIST's format) into a uint8 array."""
    raw = gzip.decompress(path.read_bytes())
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise DataError(f"{path} is not an IDX file of magic {magic} (found {found})")
    ndim = magic & 0xFF
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


@functools.lru_cache(maxsize=4)
def _decoded_idx(path: Path, size: int, mtime_ns: int, magic: int) -> np.ndarray:
    """_read_idx memoised on the file's identity (path, size, modification time): decoded once per process."""
    return _read_idx(path, magic)


def _mnist_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The read-only uint8 images and labels of one MNIST split."""
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise ValueError(f"unknown MNIST split {split!r}: choose train or test")
    arrays = []
    for name, magic in ((f"mnist/{prefix}-images-idx3-ubyte.gz", 2051), (f"mnist/{prefix}-labels-idx1-ubyte.gz", 2049)):
        path = locate(name)
        stat = path.stat()
        arrays.append(_decoded_idx(path, stat.st_size, stat.st_mtime_ns, magic))
    return arrays[0], arrays[1]


def mnist_size(split: str = "train") -> int:
    """Number of MNIST images in split (60000 train, 10000 test)."""
    return len(_mnist_arrays(split)[1])


def load_mnist(split: str = "train", index: np.ndarray | slice | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST images as float32 (N, 28, 28) in [0, 1] and labels as int64 (N,); N = 60000 or 10000, or the rows that
    index selects (only those are converted). Fresh tensors on every call: callers may modify them."""
    images, labels = _mnist_arrays(split)
    if index is not None:
        images, labels = images[index], labels[index]
    return torch.from_numpy(images.astype(np.float32) / 255.0), torch.from_numpy(labels.astype(np.int64))


MNIST = ("mnist/train-images-idx3-ubyte.gz", "mnist/train-labels-idx1-ubyte.gz",
         "mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz")  # what cached MNIST steps key on
CIFAR10_SUBSET = ("cifar10_subset/train_images.npy", "cifar10_subset/train_labels.npy",
                  "cifar10_subset/test_images.npy", "cifar10_subset/test_labels.npy")  # what cached CIFAR steps key on
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)  # per-channel mean and deviation of the training images in [0, 1]
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def load_cifar10(split: str = "train", full: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 images as uint8 (N, 3, 32, 32) RGB in 0..255 and labels as int64 (N,).

    full=False gives the committed class-balanced subset (5000 train / 1000 test, already in random
    order); full=True reads the 50000 / 10000 images from $SCPAPER_DATA, which are stored sorted by
    class and are returned here in a fixed random order (seed 0), so that any slice mixes classes.
    """
    if split not in ("train", "test"):
        raise ValueError(f"unknown CIFAR-10 split {split!r}: choose train or test")
    if not full:
        images = np.load(locate(f"cifar10_subset/{split}_images.npy"))
        labels = np.load(locate(f"cifar10_subset/{split}_labels.npy"))
    else:
        shards = [f"cifar10/train_images_{i:02d}.npy" for i in range(5)] if split == "train" else ["cifar10/test_images.npy"]
        images = np.concatenate([np.load(locate(s)) for s in shards])
        labels = np.load(locate(f"cifar10/{split}_labels.npy"))
        order = np.random.default_rng(0).permutation(len(labels))
        images, labels = images[order], labels[order]
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))), torch.from_numpy(labels.astype(np.int64))


NATURAL_IMAGES = tuple(sorted(name for name in REGISTRY if name.startswith("natural_images/")))
