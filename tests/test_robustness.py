"""CIFAR-10-C noises, Algorithm 1's least-squares fit, and the PGD attack."""

import numpy as np
import pytest
import torch
from torch import nn

from scpaper import robustness


@pytest.fixture
def images() -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(0).integers(30, 226, (16, 3, 16, 16), dtype=np.uint8))


@pytest.mark.parametrize("kind", robustness.CORRUPTIONS)
def test_corruption_is_deterministic_uint8_and_grows_with_severity(images, kind):
    out = [robustness.corrupt(images, kind, s, seed=3) for s in range(6)]
    assert torch.equal(out[0], images)
    assert all(o.dtype == torch.uint8 and o.shape == images.shape for o in out)
    assert torch.equal(out[4], robustness.corrupt(images, kind, 4, seed=3))
    assert not torch.equal(out[4], robustness.corrupt(images, kind, 4, seed=4))
    change = [float((o.float() - images.float()).abs().mean()) for o in out]
    assert all(a < b for a, b in zip(change, change[1:]))


def test_corrupt_all_in_threads_gives_the_sets_corrupt_gives_one_by_one(images):
    sets = robustness.corrupt_all(images, seed=5, split="val", workers=3)
    assert list(sets) == [(k, s) for k in robustness.CORRUPTIONS for s in range(1, 6)]
    for (kind, s), noisy in sets.items():
        assert torch.equal(noisy, robustness.corrupt(images, kind, s, seed=5, split="val"))
    assert not torch.equal(sets["gaussian", 3], robustness.corrupt(images, "gaussian", 3, seed=5, split="test"))


def test_gaussian_and_shot_noise_have_their_closed_form_spread():
    grey = torch.full((64, 3, 32, 32), 128, dtype=torch.uint8)
    x = 128 / 255
    g = robustness.corrupt(grey, "gaussian", 5, seed=0).double() / 255
    assert float(g.std()) == pytest.approx(0.10, rel=0.03)
    s = robustness.corrupt(grey, "shot", 5, seed=0).double() / 255
    assert float(s.std()) == pytest.approx(np.sqrt(x / 50), rel=0.05)


def test_impulse_noise_sets_the_stated_fraction_to_black_or_white(images):
    out = robustness.corrupt(images, "impulse", 5, seed=0)
    changed = out != images
    assert float(changed.double().mean()) == pytest.approx(0.07, abs=0.01)
    assert set(out[changed].unique().tolist()) <= {0, 255}


def test_corrupt_rejects_bad_input(images):
    with pytest.raises(ValueError, match="unknown corruption"):
        robustness.corrupt(images, "fog", 1)
    with pytest.raises(ValueError, match="severity"):
        robustness.corrupt(images, "shot", 6)
    with pytest.raises(ValueError, match="uint8"):
        robustness.corrupt(images.float(), "shot", 1)


def test_fit_recovers_a_line_and_algorithm1_picks_by_residual():
    r = np.array([1.0, 2.0, 3.0, 4.0])
    assert robustness.fit_lambda_of_residual(r, 0.2 + 0.3 * r) == pytest.approx((0.2, 0.3))
    with pytest.raises(ValueError, match="pairs"):
        robustness.fit_lambda_of_residual(r, r[:2])
    lams = (0.1, 0.4, 0.7, 1.0)
    acc = np.zeros((1, 4, 4))
    for s in range(4):
        acc[0, s, s] = 1.0  # the best λ at severity s is lams[s]
    sweep = {"acc": acc, "residual": np.array([[1.0, 2.0, 3.0, 4.0]]), "kinds": ("gaussian",), "lams": lams}
    out = robustness.algorithm1(sweep, sweep, lam0=0.1)
    assert np.allclose(out["lam_algorithm1"], [lams]) and np.allclose(out["algorithm1"], 1.0)
    assert np.allclose(out["fixed"], [[1, 0, 0, 0]])


@pytest.mark.parametrize("norm, eps", [("linf", 8 / 255), ("l2", 0.5)])
def test_pgd_raises_loss_and_stays_in_the_ball(norm, eps):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 32), nn.ReLU(), nn.Linear(32, 10)).eval()
    x, y = torch.rand(32, 3, 8, 8), torch.randint(0, 10, (32,))
    adv = robustness.pgd(model, x, y, norm=norm, eps=eps, steps=10, restarts=2)
    loss = nn.functional.cross_entropy
    assert loss(model(adv), y) > loss(model(x), y) + 0.05
    delta = (adv - x).flatten(1)
    bound = delta.abs().max(1).values if norm == "linf" else delta.norm(dim=1)
    assert bound.max() <= eps + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    assert torch.equal(robustness.pgd(model, x, y, norm=norm, eps=0.0, steps=3), x)
    with pytest.raises(ValueError, match="norm"):
        robustness.pgd(model, x, y, norm="l1", eps=eps, steps=1)


@pytest.mark.parametrize("kind", robustness.CORRUPTIONS)
def test_noise_differs_between_validation_and_test_for_the_same_kind_and_severity(images, kind):
    val = robustness.corrupt(images, kind, 3, seed=0, split="val")
    test = robustness.corrupt(images, kind, 3, seed=0, split="test")
    assert not torch.equal(val, test)
    assert torch.equal(val, robustness.corrupt(images, kind, 3, seed=0, split="val"))
    with pytest.raises(ValueError, match="split"):
        robustness.corrupt(images, kind, 3, split="holdout")


@pytest.mark.parametrize("norm, eps, attack", [("linf", 8 / 255, "LinfPGD"), ("l2", 0.5, "L2PGD")])
def test_pgd_agrees_with_foolbox_step_for_step(norm, eps, attack):
    fb = pytest.importorskip("foolbox")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 32), nn.Tanh(), nn.Linear(32, 10)).double().eval()
    x, y = torch.rand(64, 3, 8, 8, dtype=torch.double), torch.randint(0, 10, (64,))
    steps = 10
    ours = robustness.pgd(model, x, y, norm=norm, eps=eps, steps=steps, random_start=False)
    theirs = getattr(fb.attacks, attack)(abs_stepsize=2.5 * eps / steps, steps=steps, random_start=False)
    _, adv, _ = theirs(fb.PyTorchModel(model, bounds=(0, 1)), x, y, epsilons=eps)
    same = (ours - adv).flatten(1).abs().max(1).values < 1e-6
    assert same.float().mean() >= 0.95  # a gradient component at exactly zero may take another sign
    assert (model(ours).argmax(1) == y).sum() == (model(adv).argmax(1) == y).sum()
    assert (model(ours).argmax(1) == y).float().mean() < (model(x).argmax(1) == y).float().mean()


@pytest.mark.parametrize("norm, eps", [("linf", 8 / 255), ("l2", 0.5)])
def test_pgd_random_start_fills_the_ball_and_follows_the_seed(norm, eps):
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10)).eval()
    x, y = 0.25 + 0.5 * torch.rand(64, 3, 8, 8), torch.randint(0, 10, (64,))  # far from 0 and 1: no clipping
    start = robustness.pgd(model, x, y, norm=norm, eps=eps, steps=0, seed=3)  # zero steps: the random start itself
    delta = (start - x).flatten(1)
    if norm == "linf":  # uniform in [−ε, ε] per pixel: mean 0, spread ε/√3, few entries at the boundary
        assert delta.abs().max() <= eps + 1e-7 and abs(delta.mean()) < 0.05 * eps
        assert delta.std().item() == pytest.approx(eps / 3 ** 0.5, rel=0.05)
        assert (delta.abs() > 0.99 * eps).float().mean() < 0.05
    else:  # a uniform direction at a radius drawn per image in [0, ε]
        radius = delta.norm(dim=1)
        assert radius.max() <= eps + 1e-6 and radius.std() > 0.1 * eps and radius.min() < 0.5 * eps
    assert torch.equal(start, robustness.pgd(model, x, y, norm=norm, eps=eps, steps=0, seed=3))
    assert not torch.equal(start, robustness.pgd(model, x, y, norm=norm, eps=eps, steps=0, seed=4))


def test_pgd_restarts_keep_the_strongest_perturbation_and_bad_settings_fail():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 16), nn.ReLU(), nn.Linear(16, 10)).eval()
    x, y = torch.rand(64, 3, 8, 8), torch.randint(0, 10, (64,))
    loss = nn.functional.cross_entropy
    one = robustness.pgd(model, x, y, norm="linf", eps=0.01, steps=2, restarts=1, seed=5)
    many = robustness.pgd(model, x, y, norm="linf", eps=0.01, steps=2, restarts=4, seed=5)
    fooled_one, fooled_many = model(one).argmax(1) != y, model(many).argmax(1) != y
    assert (fooled_many >= fooled_one).all()  # a restart never loses an image already fooled
    kept = ~fooled_one & ~fooled_many
    loss_one, loss_many = loss(model(one), y, reduction="none"), loss(model(many), y, reduction="none")
    assert (loss_many[kept] >= loss_one[kept] - 1e-6).all() and (loss_many[kept] > loss_one[kept] + 1e-6).any()
    assert (loss_one > loss(model(x), y, reduction="none"))[~fooled_one].float().mean() > 0.9  # never x itself
    assert torch.equal(many[fooled_one], one[fooled_one])  # the first fooling perturbation is the one kept
    assert torch.equal(robustness.pgd(model, x, y, norm="linf", eps=0.01, steps=2, restarts=1, seed=0),
                       robustness.pgd(model, x, y, norm="linf", eps=0.01, steps=2))  # defaults: one restart, seed 0
    for bad in ({"eps": -0.1, "steps": 1, "restarts": 1}, {"eps": 0.1, "steps": -1, "restarts": 1},
                {"eps": 0.1, "steps": 1, "restarts": 0}):
        with pytest.raises(ValueError, match="need eps ≥ 0, steps ≥ 0, restarts ≥ 1"):
            robustness.pgd(model, x, y, norm="linf", **bad)
    with pytest.raises(ValueError, match="norm must be 'linf' or 'l2', got 'l1'"):
        robustness.pgd(model, x, y, norm="l1", eps=0.1, steps=1)


def test_pgd_moves_only_pixels_with_a_gradient_by_the_given_step():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))
    with torch.no_grad():
        model[0 + 1].weight[:, 64:] = 0  # only the first channel matters
    x, y, eps = 0.25 + 0.5 * torch.rand(16, 3, 8, 8), torch.randint(0, 10, (16,)), 0.08
    adv = robustness.pgd(model, x, y, norm="linf", eps=eps, steps=2, step_size=eps / 4, random_start=False)
    assert torch.equal(adv[:, 1:], x[:, 1:])  # zero gradient: no step
    moved = (adv[:, 0] - x[:, 0]).abs()
    assert moved.max() <= eps / 2 + 1e-6 and moved.max() > eps / 4  # two steps of ε/4, not the default 1.25ε


def test_corrupt_defaults_to_seed_zero_and_lists_the_choices_when_refusing(images):
    assert torch.equal(robustness.corrupt(images, "shot", 2), robustness.corrupt(images, "shot", 2, seed=0))
    with pytest.raises(ValueError, match="^unknown split 'holdout': choose one of test, val, train$"):
        robustness.corrupt(images, "shot", 2, split="holdout")
    with pytest.raises(ValueError, match="^unknown corruption 'fog': choose one of gaussian, shot, speckle, impulse$"):
        robustness.corrupt(images, "fog", 2)


@pytest.mark.parametrize("level", [0, 255])
def test_gaussian_noise_is_clipped_at_black_and_white(level):
    flat = torch.full((64, 3, 32, 32), level, dtype=torch.uint8)
    out = robustness.corrupt(flat, "gaussian", 5).double()
    at_edge = float((out == level).double().mean())
    assert at_edge == pytest.approx(0.5, abs=0.02)  # the half of the noise that points out of [0, 1]
    shift = 255 * 0.10 / np.sqrt(2 * np.pi)  # E[max(0, n)] for n ~ N(0, 0.1²), in uint8 steps
    assert abs(float(out.mean()) - (shift if level == 0 else 255 - shift)) < 1.0  # within the truncation to integers


def test_speckle_noise_scales_with_the_pixel_and_keeps_black_black():
    half = torch.zeros(64, 3, 32, 32, dtype=torch.uint8)
    half[..., 16:] = 128
    out = robustness.corrupt(half, "speckle", 5).double()
    assert (out[..., :16] == 0).all()  # x + x·n is 0 where x is
    grey = out[..., 16:]
    assert float(grey.std()) == pytest.approx(0.20 * 128, rel=0.05)  # σ·x
    assert float(((grey == 0) | (grey == 255)).double().mean()) < 0.01  # not salt and pepper


def test_fit_takes_two_pairs_and_any_numeric_input():
    assert robustness.fit_lambda_of_residual([1.0, 3.0], [0.5, 0.9]) == pytest.approx((0.3, 0.2))
    with pytest.raises(ValueError, match=r"^need ≥ 2 matching \(residual, λ\) pairs, got shapes \(1,\) and \(1,\)$"):
        robustness.fit_lambda_of_residual([1.0], [0.5])
    r, lam = np.array([1.0, 2.0, 4.0], dtype=object), np.array([0.5, 0.7, 1.1], dtype=object)  # e.g. a pandas object column
    assert robustness.fit_lambda_of_residual(r, lam) == pytest.approx((0.3, 0.2))


def sweep(rng: np.random.Generator, lams: tuple[float, ...], kinds: int = 2, severities: int = 3) -> dict:
    residual = np.sort(rng.uniform(1, 5, (kinds, severities)), axis=1)
    return {"acc": rng.uniform(0, 1, (kinds, severities, len(lams))), "residual": residual,
            "kinds": robustness.CORRUPTIONS[:kinds], "lams": lams}


def test_algorithm1_returns_every_choice_against_independent_references():
    rng = np.random.default_rng(4)
    lams = (0.1, 0.3, 0.5, 0.7, 0.9)
    val, test = sweep(rng, lams), sweep(rng, lams)
    out = robustness.algorithm1(val, test, lam0=0.62)  # nearest swept λ: 0.7
    assert set(out) == {"fixed", "algorithm1", "informed", "oracle", "lam_algorithm1", "lam_informed", "lam_oracle", "coef",
                        "j_fixed", "j_algorithm1", "j_informed", "j_oracle"}
    assert out["j_fixed"].shape == (2, 3) and (out["j_fixed"] == 3).all() and np.array_equal(out["fixed"], test["acc"][:, :, 3])
    assert np.array_equal(out["oracle"], test["acc"].max(2)) and np.array_equal(out["lam_oracle"], np.take(lams, out["j_oracle"]))
    for k in range(2):
        best = [lams[int(np.argmax(val["acc"][k, s]))] for s in range(3)]
        assert np.allclose(out["lam_informed"][k], best)
        for s in range(3):  # chosen on validation, scored on test
            j = lams.index(best[s])
            assert out["j_informed"][k, s] == j and out["informed"][k, s] == test["acc"][k, s, j]
        design = np.stack([np.ones(3), val["residual"][k]], 1)  # least squares λ ≈ a + b·r
        assert np.allclose(out["coef"][k], np.linalg.lstsq(design, np.array(best), rcond=None)[0])
        for s in range(3):
            a, b = out["coef"][k]
            j = min(range(len(lams)), key=lambda j: abs(lams[j] - (a + b * test["residual"][k, s])))
            assert out["j_algorithm1"][k, s] == j and out["lam_algorithm1"][k, s] == lams[j]
            assert out["algorithm1"][k, s] == test["acc"][k, s, j]
    with pytest.raises(ValueError, match="^validation and test sweeps must use the same λ grid$"):
        robustness.algorithm1(val, {**test, "lams": lams[:-1]}, lam0=0.5)


class Classifier(nn.Module):
    """A linear classifier on [0, 1] images with an SDNet-like stem residual (‖x‖), recording its batch sizes."""

    def __init__(self, stem: bool = True):
        super().__init__()
        self.linear = nn.Linear(3 * 4 * 4, 3)
        self.stem, self.batches = stem, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.dtype == torch.float32 and x.max() <= 1  # the networks' input
        self.batches.append(len(x))
        return self.linear(x.flatten(1))

    def stem_residual(self, x: torch.Tensor) -> torch.Tensor:
        if not self.stem:
            raise ValueError("stem_residual needs an SDNet (a network with a CSC stem)")
        return x.flatten(1).norm(dim=1)


def test_evaluate_reports_accuracy_and_mean_residual_batch_by_batch():
    torch.manual_seed(5)
    model = Classifier()
    X = torch.randint(0, 256, (11, 3, 4, 4), dtype=torch.uint8)
    with torch.no_grad():
        predicted = model.linear(X.double().flatten(1).div(255).float()).argmax(1)
    y = torch.where(torch.arange(11) < 6, predicted, (predicted + 1) % 3)  # six right, five wrong
    model.batches.clear()
    acc, res = robustness.evaluate(model, X, y, batch_size=4, residual=True)
    assert acc == pytest.approx(6 / 11) and model.batches == [4, 4, 3]
    assert res == pytest.approx(float(np.linalg.norm(X.numpy().reshape(11, -1) / 255.0, axis=1).mean()), rel=1e-6)
    plain = Classifier(stem=False)  # a network without a stem: the residual is not asked for by default
    plain.load_state_dict(model.state_dict())
    acc, res = robustness.evaluate(plain, X, y)
    assert acc == pytest.approx(6 / 11) and np.isnan(res) and plain.batches == [11]


def test_pgd_restarts_keep_an_image_fooled_early_whatever_later_restarts_do():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2)).eval()
    with torch.no_grad():
        x = torch.full((1, 3, 8, 8), 0.5).expand(64, -1, -1, -1).clone()  # one image, 64 independent draws
        margin = model(x[:1])[0]
        model[1].bias[0] -= margin[0] - margin[1] + 1e-3  # class 1 ahead by 10⁻³: random starts flip it half the time
    y = torch.ones(64, dtype=torch.long)
    runs = [robustness.pgd(model, x, y, norm="linf", eps=0.05, steps=0, restarts=k, seed=9) for k in range(1, 7)]
    fooled = [model(r).argmax(1) != y for r in runs]
    assert 0.2 < fooled[0].float().mean() < 0.8
    for k in range(5):  # restarts draw the same starts in the same order: the first k are a prefix of the next
        assert torch.equal(runs[-1][fooled[k]], runs[k][fooled[k]])


def test_pgd_attacks_a_lone_image_and_stops_once_every_image_is_fooled():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2)).eval()
    x = torch.full((1, 3, 8, 8), 0.5)
    with torch.no_grad():
        margin = model(x)[0]
        model[1].bias[0] -= margin[0] - margin[1] - 1e-3  # class 0 ahead by 10⁻³: one ascent step flips it
    y = torch.zeros(1, dtype=torch.long)
    once = robustness.pgd(model, x, y, norm="linf", eps=0.05, steps=1, restarts=1, seed=4)
    assert not torch.equal(once, x) and bool(model(once).argmax(1) != y)  # the one image is attacked, and fooled
    assert torch.equal(robustness.pgd(model, x, y, norm="linf", eps=0.05, steps=1, restarts=3, seed=4), once)


def test_pgd_on_a_cpu_attacks_a_float32_model_like_its_float64_copy():
    torch.manual_seed(6)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 16), nn.Tanh(), nn.Linear(16, 10)).eval()
    x, y = torch.rand(32, 3, 8, 8), torch.randint(0, 10, (32,))
    single = robustness.pgd(model, x, y, norm="linf", eps=8 / 255, steps=5, random_start=False)
    double = robustness.pgd(model.double(), x.double(), y, norm="linf", eps=8 / 255, steps=5, random_start=False)
    same = (single.double() - double).flatten(1).abs().max(1).values < 1e-5
    assert same.float().mean() >= 0.9  # no reduced precision: only gradient components at ~0 may take another sign


def _pgd_every_image_every_restart(model, x, y, *, eps, steps, restarts, seed):
    """L∞ PGD as first written: each restart attacks the whole batch (the reference for the restart skipping)."""
    gen, step = torch.Generator().manual_seed(seed), 2.5 * eps / steps
    best, best_loss, fooled = x.clone(), torch.full((len(x),), -float("inf")), torch.zeros(len(x), dtype=torch.bool)
    for _ in range(restarts):
        delta = ((x + (torch.rand(x.shape, generator=gen) * 2 - 1) * eps).clamp(0, 1) - x)
        for _ in range(steps):
            delta.requires_grad_(True)
            (grad,) = torch.autograd.grad(nn.functional.cross_entropy(model(x + delta), y, reduction="sum"), delta)
            delta = ((x + (delta + step * grad.sign()).clamp(-eps, eps)).clamp(0, 1) - x).detach()
        with torch.no_grad():
            logits = model(x + delta)
            loss, wrong = nn.functional.cross_entropy(logits, y, reduction="none"), logits.argmax(1) != y
            take = ~fooled & (wrong | (loss > best_loss))
            best[take], best_loss[take] = (x + delta)[take], loss[take]
            fooled |= wrong
    return best


def test_pgd_restarts_attack_only_unfooled_images_and_give_what_attacking_all_gives():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 32), nn.Tanh(), nn.Linear(32, 10)).eval()
    x, y = torch.rand(96, 3, 8, 8), torch.randint(0, 10, (96,))
    calls: list[int] = []
    model.register_forward_hook(lambda _m, args, _out: calls.append(len(args[0])))
    ours = robustness.pgd(model, x, y, norm="linf", eps=0.02, steps=3, restarts=4, seed=1)
    assert calls[0] == 96 and len(calls) == 4 * 4  # (3 steps + 1 scoring) per restart
    assert 0 < calls[-1] < 96 and calls[4] < 96  # later restarts see only the images not yet fooled
    ref = _pgd_every_image_every_restart(model, x, y, eps=0.02, steps=3, restarts=4, seed=1)
    assert torch.allclose(ours, ref, atol=1e-6, rtol=0)
