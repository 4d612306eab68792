import pytest
import torch

from scpaper import dictionary, lasso


def planted(n: int = 300, dim: int = 20, atoms: int = 10, k: int = 2, seed: int = 0):
    """Signals that are exactly k-sparse over a random unit-norm dictionary."""
    g = torch.Generator().manual_seed(seed)
    D = torch.randn(dim, atoms, generator=g)
    D = D / D.norm(dim=0)
    codes = torch.zeros(n, atoms)
    support = torch.rand(n, atoms, generator=g).argsort(1)[:, :k]
    codes.scatter_(1, support, (1 + torch.rand(n, k, generator=g)) * torch.sign(torch.randn(n, k, generator=g)))
    return D, codes @ D.T


def test_learn_recovers_a_planted_dictionary_with_unit_atoms_and_monotone_objective():
    D, X = planted()
    out = dictionary.learn(X, 10, 0.05, steps=150, code_steps=3, seed=1, progress=False)
    assert torch.allclose(out.atoms.norm(dim=0), torch.ones(10), atol=1e-5)
    assert (out.objective.diff() <= 1e-12).all()  # rejected steps keep the objective
    match = (D.T @ out.atoms).abs().max(1).values
    assert match.min() > 0.98


def test_exact_codes_do_not_raise_the_learned_objective():
    D, X = planted(seed=3)
    out = dictionary.learn(X, 10, 0.1, steps=20, seed=2, progress=False)
    exact = lasso.solve(out.atoms, X, 0.1)
    assert exact.certified.all()
    assert dictionary.objective(out.atoms, X, exact.codes, 0.1) <= out.objective[-1].item() + 1e-9


def test_nonneg_learning_keeps_codes_nonnegative_and_lowers_the_objective():
    _, X = planted(seed=4)
    out = dictionary.learn(X.abs(), 10, 0.1, steps=10, nonneg=True, progress=False)
    assert out.objective[-1] < out.objective[0]


@pytest.mark.parametrize("kwargs, match", [({"lam": -1.0}, "lam"), ({"steps": -1}, "steps")])
def test_learn_rejects_bad_arguments(kwargs, match):
    args = {"lam": 0.1, "steps": 1} | kwargs
    with pytest.raises(ValueError, match=match):
        dictionary.learn(torch.zeros(5, 4), 3, args["lam"], steps=args["steps"], progress=False)


def test_learn_rejects_nan_images_and_bad_init():
    with pytest.raises(ValueError, match="NaN"):
        dictionary.learn(torch.full((5, 4), float("nan")), 3, 0.1, steps=1, progress=False)
    with pytest.raises(ValueError, match="init"):
        dictionary.learn(torch.zeros(5, 4), 3, 0.1, steps=1, init=torch.zeros(4, 2), progress=False)


def test_learn_stops_at_a_plateau_and_rejects_a_negative_tolerance():
    D, X = planted()
    long = dictionary.learn(X[:60], 10, 0.05, steps=60, seed=1, progress=False)
    short = dictionary.learn(X[:60], 10, 0.05, steps=60, seed=1, progress=False, tol=0.05, window=5)
    assert len(short.objective) < len(long.objective) == 61
    assert torch.equal(short.objective, long.objective[: len(short.objective)])  # same path until it stops
    window = short.objective[-6:]
    assert window[0] - window[-1] < 0.05 * window[-1]
    with pytest.raises(ValueError, match="tol"):
        dictionary.learn(X, 10, 0.05, steps=1, tol=-1.0, progress=False)
