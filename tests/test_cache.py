"""The on-disk cache: keys, refresh, and no corrupt entry after a kill mid-write."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
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


def test_ledger_counts_loads_of_an_earlier_process_and_computed_calls_with_the_stored_seconds(monkeypatch):
    before = cache.ledger()
    x = torch.arange(7.0)
    _square(x, power=5)
    _square(x, power=5)  # read back what this process stored: not a load from an earlier run
    assert cache.ledger() == {**before, "computed": before["computed"] + 1}
    monkeypatch.setattr(cache, "_WRITTEN", set())  # as a new process sees the same cache
    _square(x, power=5)
    after = cache.ledger()
    assert after["computed"] - before["computed"] == 1 and after["loaded"] - before["loaded"] == 1
    key = cache.key_of(_square, (x,), {"power": 5}, ("mnist/t10k-labels-idx1-ubyte.gz",))
    entry = runtime.paths().cache / f"{_square.__module__}.{_square.__qualname__}" / f"{key}.pt"
    stored = json.loads(torch.load(entry, weights_only=False)["meta"])["seconds"]
    assert after["loaded_seconds"] - before["loaded_seconds"] == pytest.approx(stored)


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


def test_a_source_edit_changes_the_key(tmp_path, monkeypatch):
    """The key hashes every .py file of the package: an edit, a new file or a rename each give a new key."""
    import shutil

    copy = tmp_path / "scpaper"
    shutil.copytree(Path(cache.__file__).resolve().parents[1], copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "__file__", str(copy / "book" / "cache.py"))

    def key() -> str:
        monkeypatch.setattr(cache, "_SOURCE_DIGEST", None)
        return cache.key_of(_square, (torch.ones(2),), {"power": 2}, ())

    first = key()
    assert key() == first and cache.source_digest() == cache.source_digest()
    lasso = copy / "lasso.py"
    lasso.write_text(lasso.read_text().replace("ACTIVE_TOL = 1e-4", "ACTIVE_TOL = 1e-3"))
    edited = key()
    (copy / "extra.py").write_text("")
    added = key()
    (copy / "extra.py").rename(copy / "extra_two.py")  # same place in the sorted list: only its name differs
    renamed = key()
    (copy / "notes.txt").write_text("not source")
    (tmp_path / "beside.py").write_text("x = 1")  # outside the package
    assert len({first, edited, added, renamed}) == 4 and key() == renamed


def test_key_separates_functions_arguments_and_containers():
    k = lambda fn, *a, **kw: cache.key_of(fn, a, kw, ())  # noqa: E731
    assert k(_square, 1) != k(test_a_source_edit_changes_the_key, 1)
    assert len({k(_square, 1, power=2), k(_square, 1, power=3), k(_square, 1), k(_square, power=1)}) == 4
    assert len({k(_square, (1, 2)), k(_square, [1, 2]), k(_square, [1, [2]]), k(_square, [2, 1]), k(_square, [1])}) == 5
    assert k(_square, {"a": 1, "b": 2}) == k(_square, {"b": 2, "a": 1}) != k(_square, {"a": 2, "b": 1})
    assert k(_square, {"a": 1}) != k(_square, {"b": 1}) and k(_square, {1: "a", "b": 2}) == k(_square, {"b": 2, 1: "a"})
    assert k(_square, [[1], 2]) != k(_square, [[1, 2]])  # lengths keep nested lists apart
    assert len({k(_square, 1), k(_square, 1.0), k(_square, True), k(_square, "1"), k(_square, b"1")}) == 5
    assert len({k(_square, np.zeros(3)), k(_square, np.zeros(3, dtype=np.float32)), k(_square, np.zeros((3, 1)))}) == 3
    assert k(_square, np.arange(3.0)) != k(_square, np.arange(1.0, 4.0))
    assert len({k(_square, torch.arange(3.0)), k(_square, torch.arange(1.0, 4.0)), k(_square, torch.zeros(0))}) == 3
    assert k(_square, torch.zeros(2, 3)) != k(_square, torch.zeros(3, 2))
    assert k(_square, torch.zeros(3)) == k(_square, torch.zeros(6)[::2])  # content, not the memory layout
    assert k(_square, runtime.Preset("toy", "smoke", {"n": 1})) == k(_square, {"n": 1}) != k(_square, runtime.Preset("toy", "smoke", {"n": 2}))
    assert len(k(_square, None)) == 32


def test_refresh_zero_or_empty_reads_the_cache(monkeypatch):
    CALLS.clear()
    x = torch.full((2,), 3.0)
    _square(x)
    for value in ("0", ""):
        monkeypatch.setenv("SCPAPER_REFRESH", value)
        assert not cache.refreshing()
        _square(x)
    assert len(CALLS) == 1
    monkeypatch.setenv("SCPAPER_REFRESH", "yes")
    assert cache.refreshing()


def test_entry_lives_under_the_function_name_with_its_metadata():
    import json

    _square(torch.ones(1), power=4)
    folder = runtime.paths().cache / f"{__name__}._square"
    (entry,) = folder.glob("*.pt")
    assert entry.stem == cache.key_of(_square, (torch.ones(1),), {"power": 4}, ("mnist/t10k-labels-idx1-ubyte.gz",))
    stored = torch.load(entry, weights_only=False)
    meta = json.loads(stored["meta"])
    assert meta["function"] == f"{__name__}._square" and 0 <= meta["seconds"] < 60
    assert torch.equal(stored["value"], torch.ones(1))


def test_sweep_removes_only_dead_writers_temp_files():
    folder = runtime.paths().cache / "swept"
    folder.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    names = [f".tmp-{dead.pid}-a", f".tmp-{os.getpid()}-b", f".tmp-{os.getppid()}-c", ".tmp-notapid", "kept.pt"]
    for name in names:
        (folder / name).write_bytes(b"")
    cache._sweep(folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted(names[1:])  # an unreadable pid is left alone
    assert not cache._pid_alive(dead.pid) and cache._pid_alive(os.getpid()) and cache._pid_alive(1)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    try:
        assert cache._pid_alive(live.pid)
        time.sleep(0.2)
        assert live.poll() is None, "probing a writer must not send it a signal"
    finally:
        live.kill()
        live.wait()


def test_atomic_save_replaces_and_cleans_up_on_failure(tmp_path):
    path = tmp_path / "deep" / "entry.pt"
    cache.atomic_save({"value": 1}, path)
    cache.atomic_save({"value": 2}, path)
    assert torch.load(path, weights_only=False) == {"value": 2}
    with pytest.raises(Exception):
        cache.atomic_save({"value": lambda: 0}, path)  # cannot be pickled
    assert torch.load(path, weights_only=False) == {"value": 2}
    assert sorted(p.name for p in path.parent.iterdir()) == ["entry.pt"]


def test_writes_go_through_a_temp_file_named_for_the_sweep(tmp_path, monkeypatch):
    """The temp file sits beside the entry and names the writer's pid, which is what _sweep reads."""
    seen = []
    mkstemp = cache.tempfile.mkstemp

    def spy(*args, **kwargs):
        fd, name = mkstemp(*args, **kwargs)
        seen.append(Path(name))
        return fd, name

    monkeypatch.setattr(cache.tempfile, "mkstemp", spy)
    cache.atomic_save(1, tmp_path / "entry.pt")
    (tmp,) = seen
    assert tmp.parent == tmp_path and tmp.name.startswith(f".tmp-{os.getpid()}-") and not tmp.exists()
