import elasticdeform
import numpy as np
import pytest
import torch

from scpaper import distortion


def blob() -> torch.Tensor:
    """A smooth 28 × 28 bump away from the border."""
    r = torch.arange(28.0)
    return torch.exp(-((r[:, None] - 14) ** 2 + (r[None, :] - 13) ** 2) / 18)[None]


def test_zero_displacement_is_the_identity():
    x = blob()
    out = distortion.elastic(x, np.random.default_rng(0), sigma=0.0)
    assert torch.allclose(out, x, atol=1e-6)


def test_quarter_pixel_warps_are_small_seeded_and_vary():
    x = blob().repeat(2, 1, 1)
    a = distortion.elastic(x, np.random.default_rng(1))
    b = distortion.elastic(x, np.random.default_rng(1))
    assert torch.equal(a, b)
    assert not torch.allclose(a[0], a[1])
    change = (a - x).norm(dim=(1, 2)) / x.norm(dim=(1, 2))
    # a shift by δ pixels changes a smooth image by about δ‖∇x‖/‖x‖; with σ = 1/4 this stays below 0.2
    assert (change > 1e-3).all() and (change < 0.2).all()


def test_a_uniform_shift_moves_the_bump_by_that_many_pixels():
    x = blob()
    displacement = np.zeros((2, 5, 5))
    displacement[1] = 1.0  # every control point moves one pixel along the columns
    out = torch.from_numpy(elasticdeform.deform_grid(x[0].double().numpy(), displacement, order=3))
    centre = lambda im: (im.sum(0) * torch.arange(28.0, dtype=im.dtype)).sum() / im.sum()
    assert abs(centre(x[0].double()) - centre(out) - 1.0) < 0.05


def test_rejects_wrong_shapes_and_nan():
    with pytest.raises(ValueError, match="shaped"):
        distortion.elastic(torch.zeros(28, 28), np.random.default_rng(0))
    with pytest.raises(ValueError, match="NaN"):
        distortion.elastic(torch.full((1, 28, 28), float("nan")), np.random.default_rng(0))
