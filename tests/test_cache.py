"""The on-disk cache: keys, refresh, and no corrupt entry after a kill mid-write."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from scpaper.book import cache, runtime

CALLS = []


@cache.cached(data=("mnist/t10k-labels-idx1-ubyte.gz",))
def _square(x: torch.Tensor, power: int = 2) -> torch.Tensor:
    CALLS.append(1)
    return x**power


def test_second_call_reads_the_cache_and_keys_differ():
    CALLS.clear()
    x = torch.arange(5.0)
    assert torch.equal(_square(x), x**2) and torch.equal(_square(x), x**2)
    assert len(CALLS) == 1
    _square(x, power=3)
    _square(x + 1)
    assert len(CALLS) == 3
    entries = list((runtime.paths().cache).rglob("*.pt"))
    assert len(entries) == 3


def test_refresh_recomputes(monkeypatch):
    CALLS.clear()
    x = torch.ones(3)
    _square(x)
    monkeypatch.setenv("SCPAPER_REFRESH", "1")
    _square(x)
    assert len(CALLS) == 2


def test_key_depends_on_content_data_and_rejects_unkeyable():
    k = lambda *a, data=(): cache.key_of(_square, a, {}, data)  # noqa: E731
    assert k(torch.zeros(3)) == k(torch.zeros(3))
    assert k(torch.zeros(3)) != k(torch.zeros(4))
    assert k(torch.zeros(3)) != k(torch.zeros(3, dtype=torch.float64))
    assert k(1) != k(1, data=("mnist/t10k-labels-idx1-ubyte.gz",))
    with pytest.raises(TypeError, match="cannot build a cache key from an argument of type function"):
        k(lambda: 0)


def test_unreadable_entry_is_recomputed():
    CALLS.clear()
    x = torch.ones(2)
    _square(x)
    (entry,) = runtime.paths().cache.rglob("*.pt")
    entry.write_bytes(b"not a torch file")
    assert torch.equal(_square(x), x**2)
    assert len(CALLS) == 2


WRITER = textwrap.dedent("""
    import torch
    from scpaper.book import cache

    @cache.cached()
    def big(n: int) -> torch.Tensor:
        return torch.ones(n)

    big(150_000_000)
""")


def test_kill_mid_write_leaves_no_entry_and_rerun_heals(tmp_path):
    folder = runtime.paths().cache
    proc = subprocess.Popen([sys.executable, "-c", WRITER], env=os.environ.copy())
    deadline = time.time() + 120
    while time.time() < deadline and not list(folder.rglob(".tmp-*")):
        assert proc.poll() is None, "the writer finished before it could be interrupted"
        time.sleep(0.005)
    assert list(folder.rglob(".tmp-*")), "no temp file appeared"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not list(folder.rglob("*.pt")), "a killed writer left a cache entry"
    # the next run sweeps the dead writer's temp file and computes a complete entry
    small = WRITER.replace("150_000_000", "10")
    subprocess.run([sys.executable, "-c", small.replace("big(10)", "big(150_000_000 // 15_000_000)")], check=True)
    assert not list(folder.rglob(".tmp-*"))
    (entry,) = folder.rglob("*.pt")
    assert torch.equal(torch.load(entry, weights_only=False)["value"], torch.ones(10))
