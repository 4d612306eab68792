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


@pytest.mark.parametrize("name", ["cuda", "auto"])
def test_a_gpu_run_computes_fp32_convolutions_in_fp32(monkeypatch, name):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)  # cuDNN's default; restored afterwards
    assert runtime.pick_device(name).type == "cuda"
    assert torch.backends.cudnn.allow_tf32 is False
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)
    assert runtime.pick_device("cpu").type == "cpu" and torch.backends.cudnn.allow_tf32 is True  # the CPU has no TF32


def test_seeding_makes_draws_repeat():
    a = (runtime.seed_everything(3).normal(size=4), torch.rand(4), np.random.rand(2))
    b = (runtime.seed_everything(3).normal(size=4), torch.rand(4), np.random.rand(2))
    for x, y in zip(a, b):
        assert np.array_equal(np.asarray(x), np.asarray(y))
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        runtime.seed_everything(-1)


def test_dry_run_applies_the_dry_run_table_at_full_only(monkeypatch):
    full = runtime.preset("sdnet", "full").as_dict()
    smoke = runtime.preset("sdnet", "smoke").as_dict()
    monkeypatch.setenv(runtime.DRY_RUN_ENV, "1")
    dry = runtime.preset("sdnet", "full").as_dict()
    cut, _ = runtime.dry_run_settings("sdnet")
    assert dry["epochs"] == 1 < full["epochs"] and len(dry["lams"]) < len(full["lams"])
    assert {k: v for k, v in dry.items() if k not in cut} == {k: v for k, v in full.items() if k not in cut}
    assert {k: dry[k] for k in cut} == cut
    assert runtime.preset("sdnet", "smoke").as_dict() == smoke  # the table touches scale full only


def test_every_dry_run_table_cuts_only_known_keys():
    for path in sorted(runtime.PRESET_DIR.glob("*.toml")):
        values, _ = runtime.dry_run_settings(path.stem)  # raises on a key the full preset lacks or a wrong type
        assert values, f"{path.name} has no [dry_run] table"


def test_dry_run_without_full_cifar_uses_the_subset_and_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("SCPAPER_DATA", str(tmp_path))
    monkeypatch.setenv(runtime.DRY_RUN_ENV, "1")
    values, note = runtime.dry_run_settings("res_msd_csc")
    assert values["full_data"] is False and "committed subset stands in" in note
    assert runtime.preset("res_msd_csc", "full").full_data is False and runtime.preset("res_msd_csc", "full").n_train == 50


def test_overrides_are_parsed_type_checked_and_applied_at_their_scale(monkeypatch):
    assert runtime.parse_assignment("lams=[0.1,0.3]") == ("lams", [0.1, 0.3])
    assert runtime.parse_assignment("dict_steps=200") == ("dict_steps", 200)
    assert runtime.check_overrides("sensitivity", "default", {"lams": [1, 0.5]}) == {"lams": [1.0, 0.5]}
    for bad, message in (({"lamz": 1}, r"^preset sensitivity/default has no key 'lamz'; valid keys: accuracy_margin, atoms, code_steps, "),
                         ({"dict_steps": 2.5}, r"^preset sensitivity/default: dict_steps must be an int like 60, got 2.5$"),
                         ({"from_images": 1}, r"from_images must be a bool like True, got 1$"),
                         ({"lams": ["a"]}, r"lams must be a float like 0.03, got 'a'$"),
                         ({"dict_steps": -1}, r"dict_steps must be non-negative")):
        with pytest.raises(ValueError, match=message):
            runtime.check_overrides("sensitivity", "default", bad)
    monkeypatch.setenv(runtime.OVERRIDES_ENV, '{"scale": "default", "presets": {"sensitivity": {"dict_steps": 7}}}')
    assert runtime.preset("sensitivity", "default").dict_steps == 7
    assert runtime.preset("sensitivity", "smoke").dict_steps == 20  # another scale read by the same chapter is untouched


def test_environment_names_threads_blas_and_versions():
    runtime.seed_everything(0)
    env = runtime.environment()
    assert env["torch_threads"] == runtime.threads() == torch.get_num_threads()
    assert any(pool["api"] in ("openblas", "mkl", "blis") for pool in env["blas"])
    assert {"numpy", "scipy", "torch", "sklearn", "jupyter-book", "myst-nb", "papermill"} <= set(env["versions"])
    assert set(env["cache"]) == {"loaded", "loaded_seconds", "computed"}
