"""Chapter 3b's claims box gates trained-net comparisons on baselines that have trained; its nets report their fit."""

import warnings

import numpy as np
import pytest
import torch

from scpaper.book import runtime
from scpaper.chapters import ch3b_res_msd_csc as ch


def _net(acc: float, n: int = 400, seed: int = 0, **fields) -> dict:
    correct = np.zeros(n, bool)
    correct[: round(acc * n)] = True
    return {"correct": correct, "seed": seed, "losses": [0.5], **fields}


def _box(msdnet_acc: float, msdcsc_acc: float, cnn_acc: float = 0.95, fits: dict | None = None,
         plain_loss: float = 0.5) -> dict:
    depth = [_net(0.5, kind=k, depth=d, losses=[plain_loss if k == "plain" else 0.5]) for k in ("plain", "res") for d in (1, 15)]
    depth += [_net(0.5, kind="resnet", depth=15)]
    msd = [_net(msdnet_acc, variant="msdnet", n_iter=0), _net(msdcsc_acc - 0.05, variant="msdcsc", n_iter=0),
           _net(msdcsc_acc, variant="msdcsc", n_iter=2)]
    lasso = {"msd_objective": [1.0], "ml_objective": [2.0], "matched_error": [np.full(8, 0.2)], "msd_error": [np.full(8, 0.01)]}
    fits = {"cnn": 1.0, "ista": 1.0, "fista": 1.0, "lbp": 1.0, **(fits or {})}
    rows = [_net(cnn_acc, mode="cnn", T=0, width_scale=1.0, step_ratio=1.0, train_acc=fits["cnn"])]
    rows += [_net(cnn_acc, mode=m, T=2, width_scale=1.0, step_ratio=1.0, train_acc=fits[m]) for m in ("ista", "fista", "lbp")]
    return {c.key: c for c in ch.claims_box(depth, msd, lasso, rows, 0.0, 0.0)}


def test_msd_comparisons_wait_for_a_trained_msdnet():
    weak = _box(msdnet_acc=0.30, msdcsc_acc=0.40)
    assert weak["msd_baseline_trains"].verdict == "failed"
    assert {weak[k].verdict for k in ("msd_unfold", "msd_vs_msdnet")} == {"not testable at this scale"}
    assert "learning speed" in weak["msd_unfold"].rule and "pt" in weak["msd_unfold"].measured
    trained = _box(msdnet_acc=0.85, msdcsc_acc=0.95)
    assert trained["msd_baseline_trains"].verdict == "passed"
    assert trained["msd_unfold"].verdict == trained["msd_vs_msdnet"].verdict == "reproduced"
    worse = _box(msdnet_acc=0.90, msdcsc_acc=0.82)
    assert worse["msd_vs_msdnet"].verdict == "not reproduced"


def test_the_depth_comparison_waits_for_a_plain_net_that_trains_and_keeps_its_measurement():
    assert _box(0.85, 0.95)["res_depth"].verdict == "inconclusive"  # equal accuracies: the interval straddles 0
    stuck = _box(0.85, 0.95, plain_loss=3.0)["res_depth"]  # above 0.9·ln 10: the plain net has not trained
    assert stuck.verdict == "not testable at this scale" and "learning speed" in stuck.rule
    assert "pt" in stuck.measured  # the paired difference is still shown


def test_unrolled_rows_wait_for_nets_that_fit_their_training_digits():
    learning = _box(0.85, 0.95, fits={"cnn": 0.95})
    assert learning["mlista_cnn_trains"].verdict == "failed"
    assert {learning[f"mlista_{m}"].verdict for m in ("ista", "fista", "lbp")} == {"not testable at this scale"}
    assert learning["mlista_ista"].rule.startswith("the CNN fits 95.0% < 99%") and "pt" in learning["mlista_ista"].measured
    one_short = _box(0.85, 0.95, fits={"ista": 0.98})
    assert one_short["mlista_cnn_trains"].verdict == "passed"
    assert one_short["mlista_ista"].verdict == "not testable at this scale" and "98.0%" in one_short["mlista_ista"].rule
    assert one_short["mlista_lbp"].verdict == "inconclusive"  # equal accuracies: the interval straddles the margin 0


def test_a_trained_unrolled_net_reports_its_fit_and_convergent_steps_without_warnings():
    values = {**runtime.preset("res_msd_csc", "smoke")._values, "mnist_train": 100, "mnist_test": 40}
    cfg = runtime.Preset("res_msd_csc", "smoke", values)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. a grad-carrying tensor turned into a float
        row = ch.train_unrolled(cfg, (4, 8, 16), 2, "ista", torch.device("cpu"), 0)
    assert row["correct"].shape == (40,) and 0.0 <= row["train_acc"] <= 1.0
    assert isinstance(row["step_ratio"], float) and 0.0 < row["step_ratio"] < 2.0


def test_by_seed_stacks_the_matching_nets_in_seed_order():
    rows = [_net(0.25, seed=1, kind="res"), _net(0.75, seed=0, kind="res"), _net(0.5, seed=0, kind="plain")]
    got = ch.by_seed(rows, kind="res")
    assert got.shape == (2, 400) and got.mean(1).tolist() == [0.75, 0.25]
    with pytest.raises(ValueError, match="no trained net matches"):
        ch.by_seed(rows, kind="resnet")


@pytest.mark.parametrize("kind", ["plain", "res", "resnet"])
def test_csc_nets_train_without_weight_decay_on_their_thresholds(monkeypatch, kind):
    """β = softplus(ρ): weight decay on ρ would pull ρ to 0 and β up towards ln 2."""
    cfg = runtime.preset("res_msd_csc", "smoke")
    seen = {}

    def fake_fit(net, X, y, **kwargs):
        seen.update(net=net, groups=kwargs.get("groups"))
        return [1.0]

    monkeypatch.setattr(ch, "cifar_split", lambda cfg: (torch.zeros(2, 3, 32, 32, dtype=torch.uint8), torch.zeros(2, dtype=torch.long),
                                                        torch.zeros(2, 3, 32, 32, dtype=torch.uint8), torch.zeros(2, dtype=torch.long)))
    monkeypatch.setattr(ch, "fit", fake_fit)
    monkeypatch.setattr(ch, "predict", lambda net, X, **kw: torch.zeros(len(X), dtype=torch.long))
    ch.train_csc.__wrapped__(cfg, 1, kind, torch.device("cpu"), 0)
    names = [name for name, _ in seen["net"].named_parameters()]
    thresholds = [name for name in names if name.startswith("rhos.")]
    assert thresholds and all(seen["groups"](name) == {"weight_decay": 0.0} for name in thresholds)
    assert all(seen["groups"](name) == {} for name in names if name not in thresholds)
