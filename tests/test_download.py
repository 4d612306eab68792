"""The download command against an HTTP server on loopback: sha256 checks and the CIFAR-10 conversion."""

import functools
import hashlib
import io
import pickle
import shutil
import tarfile
import threading
from http.server import HTTPServer, SimpleHTTPRequestHandler

import numpy as np
import pytest

from scpaper import data
from scpaper.book import cli, runtime
from scpaper.data.download import cifar10_arrays, download, fetch


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture
def mirror(tmp_path):
    """Serve a folder on 127.0.0.1 and return (folder, base_url)."""
    root = tmp_path / "mirror"
    root.mkdir()
    server = HTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _publish_mnist(root):
    (root / "mnist").mkdir()
    for name in data.REGISTRY:
        if name.startswith("mnist/"):
            shutil.copy(data.ROOT / name, root / name)


def test_download_fetches_and_verifies(mirror, tmp_path, capsys):
    root, url = mirror
    _publish_mnist(root)
    dest = tmp_path / "dest"
    assert cli.main(["download", "--dest", str(dest), "--only", "mnist", "--base-url", url]) == 0
    for name in data.REGISTRY:
        if name.startswith("mnist/"):
            assert data.sha256_of(dest / name) == data.REGISTRY[name].sha256
    assert "set SCPAPER_DATA=" in capsys.readouterr().out
    # a second run finds everything in place and fetches nothing
    assert download(dest, ("mnist",), url) == []


def test_corrupt_download_is_refused_and_nothing_is_left(mirror, tmp_path, capsys):
    root, url = mirror
    _publish_mnist(root)
    name = "mnist/t10k-labels-idx1-ubyte.gz"
    (root / name).write_bytes(b"tampered")
    dest = tmp_path / "dest"
    assert cli.main(["download", "--dest", str(dest), "--only", "mnist", "--base-url", url]) == 1
    err = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert err.startswith("scpaper: error: download of") and f"expected {data.REGISTRY[name].sha256}" in err
    assert not (dest / name).exists()
    assert not list(dest.rglob(".tmp-*"))


def test_fetch_checks_md5_too(mirror, tmp_path):
    root, url = mirror
    (root / "f.bin").write_bytes(b"abc")
    fetch(f"{url}/f.bin", tmp_path / "f.bin", md5=hashlib.md5(b"abc").hexdigest())
    with pytest.raises(data.DataError, match="has md5"):
        fetch(f"{url}/f.bin", tmp_path / "g.bin", md5="0" * 32)


def test_unknown_group():
    with pytest.raises(ValueError, match="unknown data group"):
        download(runtime.ROOT, ("imagenet",))


def test_cifar10_conversion_sorts_by_label_then_file_name(tmp_path):
    rng = np.random.default_rng(0)
    batches = {}
    for name, n in (("data_batch_1", 4), ("data_batch_2", 3), ("test_batch", 2)):
        batches[name] = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         b"labels": list(rng.integers(0, 3, n)),
                         b"filenames": [f"img_{name}_{i}.png".encode() for i in reversed(range(n))]}
    tar_path = tmp_path / "cifar.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        for name, batch in batches.items():
            raw = pickle.dumps(batch)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    arrays = cifar10_arrays(tar_path)
    assert arrays["train_images"].shape == (7, 32, 32, 3)
    labels = arrays["train_labels"]
    assert list(labels) == sorted(labels)
    # the first row is the smallest (label, file name) and its pixels are the CHW → HWC transpose
    rows = [(lab, fn, d) for n in ("data_batch_1", "data_batch_2") for lab, fn, d in zip(batches[n][b"labels"], batches[n][b"filenames"], batches[n][b"data"])]
    first = min(rows, key=lambda r: (r[0], r[1]))
    assert np.array_equal(arrays["train_images"][0], first[2].reshape(3, 32, 32).transpose(1, 2, 0))
    assert arrays["test_images"].shape == (2, 32, 32, 3)
