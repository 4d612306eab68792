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
