"""Chapter 3b's claims box gates trained-net comparisons on baselines that have trained."""

import numpy as np
import pytest

from scpaper.chapters import ch3b_res_msd_csc as ch


def _net(acc: float, n: int = 400, seed: int = 0, **fields) -> dict:
    correct = np.zeros(n, bool)
    correct[: round(acc * n)] = True
    return {"correct": correct, "seed": seed, "losses": [0.5], **fields}


def _box(msdnet_acc: float, msdcsc_acc: float, cnn_acc: float = 0.95) -> dict:
    depth = [_net(0.5, kind=k, depth=d) for k in ("plain", "res") for d in (1, 15)] + [_net(0.5, kind="resnet", depth=15)]
    msd = [_net(msdnet_acc, variant="msdnet", n_iter=0), _net(msdcsc_acc - 0.05, variant="msdcsc", n_iter=0),
           _net(msdcsc_acc, variant="msdcsc", n_iter=2)]
    lasso = {"msd_objective": [1.0], "ml_objective": [2.0], "matched_error": [np.full(8, 0.2)], "msd_error": [np.full(8, 0.01)]}
    rows = [_net(cnn_acc, mode="cnn", T=0, width_scale=1.0, step_ratio=1.0)]
    rows += [_net(cnn_acc, mode=m, T=2, width_scale=1.0, step_ratio=1.0) for m in ("ista", "fista", "lbp")]
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


@pytest.mark.parametrize("cnn_acc, verdict", [(0.5, "not testable at this scale"), (0.95, "inconclusive")])
def test_unrolled_rows_wait_for_a_trained_cnn(cnn_acc, verdict):
    assert _box(0.85, 0.95, cnn_acc=cnn_acc)["mlista_ista"].verdict == verdict
