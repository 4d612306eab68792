"""Scales, presets, devices and seeding."""

import numpy as np
import pytest
import torch

from scpaper.book import runtime


def test_unknown_scale_is_one_line_error():
    with pytest.raises(ValueError, match=r"^unknown scale 'huge': choose one of smoke, default, full$"):
        runtime.check_scale("huge")


def test_every_preset_file_loads_at_every_scale():
    files = sorted(runtime.PRESET_DIR.glob("*.toml"))
    for path in files:
        for scale in runtime.SCALES:
            cfg = runtime.preset(path.stem, scale)
            assert cfg.scale == scale and cfg.as_dict()


def test_negative_size_rejected():
    with pytest.raises(ValueError, match=r"preset x/smoke: n_patches must be non-negative, got -3"):
        runtime.Preset("x", "smoke", {"n_patches": -3})
    with pytest.raises(ValueError, match=r"must be non-negative"):
        runtime.Preset("x", "smoke", {"sizes": [4, -1]})


def test_preset_is_read_only_and_names_missing_keys():
    cfg = runtime.Preset("x", "smoke", {"n": 3})
    assert cfg.n == 3
    with pytest.raises(AttributeError, match="read-only"):
        cfg.n = 4
    with pytest.raises(AttributeError, match="has no entry 'm'"):
        cfg.m


def test_unknown_chapter_preset():
    with pytest.raises(ValueError, match=r"no presets for chapter 'nope'"):
        runtime.preset("nope", "smoke")


def test_cuda_without_gpu_is_one_line_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(RuntimeError, match=r"device='cuda' was asked for, but torch sees no GPU"):
        runtime.pick_device("cuda")
    assert runtime.pick_device("auto").type == "cpu"
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        runtime.pick_device("tpu")


def test_seeding_makes_draws_repeat():
    a = (runtime.seed_everything(3).normal(size=4), torch.rand(4), np.random.rand(2))
    b = (runtime.seed_everything(3).normal(size=4), torch.rand(4), np.random.rand(2))
    for x, y in zip(a, b):
        assert np.array_equal(np.asarray(x), np.asarray(y))
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        runtime.seed_everything(-1)
