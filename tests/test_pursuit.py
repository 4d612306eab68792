import math

import pytest
import torch

from scpaper import coherence, pursuit


def test_dct_identity_coherence_and_welch_example():
    D = pursuit.dct_identity(16)
    assert coherence.mutual_coherence(D) == pytest.approx(D[:, 16:].abs().max().item())  # μ = max |C_ij|
    assert coherence.mutual_coherence(D) <= math.sqrt(2 / 16)
    mu = pursuit.conv_welch_bound(2, 64)
    assert mu == pytest.approx(0.063, abs=5e-4)
    assert pursuit.donoho_elad_bound(0.063) == pytest.approx(8.437, abs=1e-3)  # the slides' 8.43
    assert pursuit.donoho_elad_bound(mu) > 8.43
    D = pursuit.gaussian_dictionary(8, 20)
    assert coherence.mutual_coherence(D) >= pursuit.welch_bound(8, 20)


def test_bp_and_omp_recover_below_the_bound():
    D = pursuit.dct_identity(16)  # bound ½(1 + 1/√(1/8)) ≈ 1.91: one non-zero is guaranteed
    x = pursuit.random_sparse(32, 1, 10, torch.Generator().manual_seed(0))
    Y = x @ D.T
    assert pursuit.recovered(x, pursuit.basis_pursuit(D, Y)).all()
    assert pursuit.recovered(x, pursuit.omp(D, Y)).all()


def test_bp_is_feasible_and_no_worse_in_l1():
    D = pursuit.gaussian_dictionary(10, 20, seed=1)
    x = pursuit.random_sparse(20, 8, 3, torch.Generator().manual_seed(1))
    est = pursuit.basis_pursuit(D, x @ D.T)
    assert torch.allclose(est @ D.T, x @ D.T, atol=1e-7)
    assert (est.abs().sum(1) <= x.abs().sum(1) + 1e-7).all()


def test_batched_bp_matches_linprog_on_a_sample():
    D = pursuit.gaussian_dictionary(24, 48, seed=2)
    for k in (2, 6, 10):
        x = pursuit.random_sparse(48, k, 8, torch.Generator().manual_seed(k))
        Y = x @ D.T
        lars, lp = pursuit.basis_pursuit(D, Y), pursuit.basis_pursuit_lp(D, Y)
        assert torch.allclose(lars @ D.T, Y, atol=1e-8)
        assert torch.allclose(lars.abs().sum(1), lp.abs().sum(1), rtol=1e-7)  # same optimal ℓ1 norm
        assert pursuit.bp_recovers(D, x).equal(pursuit.recovered(x, lp))


def test_fuchs_certificate_implies_recovery():
    D = pursuit.gaussian_dictionary(32, 64, seed=3)
    x = pursuit.random_sparse(64, 3, 20, torch.Generator().manual_seed(3))
    cert = pursuit.fuchs_certificate(D, x)
    assert cert.any()
    assert pursuit.recovered(x[cert], pursuit.basis_pursuit_lp(D, x[cert] @ D.T)).all()


def test_uniqueness_bound_on_a_constructed_case():
    D = pursuit.dirac_hadamard(16)
    mu = coherence.mutual_coherence(D)
    assert mu == pytest.approx(0.25)
    a, b = pursuit.twin_representations(16)
    assert (a != 0).sum() == (b != 0).sum() == 4 and not torch.equal(a, b)
    assert torch.allclose(D @ a, D @ b, atol=1e-12)  # one signal, two 4-sparse codes: 4 ≥ ½(1 + 1/μ) = 2.5
    assert pursuit.donoho_elad_bound(mu) == pytest.approx(2.5)
    x = pursuit.random_sparse(32, 2, 20, torch.Generator().manual_seed(5))  # below the bound: BP finds the code
    assert pursuit.bp_recovers(D, x).all()


def test_bad_inputs():
    with pytest.raises(ValueError, match="μ"):
        pursuit.donoho_elad_bound(0.0)
    with pytest.raises(ValueError, match="m > n"):
        pursuit.welch_bound(8, 4)
    with pytest.raises(ValueError, match="rows"):
        pursuit.basis_pursuit(torch.eye(3, dtype=torch.float64), torch.ones(1, 4))
    with pytest.raises(ValueError, match="power of 4"):
        pursuit.dirac_hadamard(8)


def test_basis_pursuit_solves_a_row_on_which_lars_breaks_by_the_linear_programme(monkeypatch):
    D = pursuit.gaussian_dictionary(16, 32, seed=3)
    x = torch.zeros(2, 32, dtype=torch.float64)
    x[0, [1, 7]] = torch.tensor([1.0, -0.5], dtype=torch.float64)
    x[1, [4, 20, 30]] = torch.tensor([0.8, 1.2, -1.0], dtype=torch.float64)
    Y = x @ D.double().T
    real = pursuit.lars_path

    def breaks_on_the_second(A, y, **kwargs):
        if abs(y - Y[1].numpy()).max() < 1e-12:
            raise ValueError("shapes (16,4) and (3,) not aligned")
        return real(A, y, **kwargs)

    monkeypatch.setattr(pursuit, "lars_path", breaks_on_the_second)
    assert torch.allclose(pursuit.basis_pursuit(D, Y), pursuit.basis_pursuit_lp(D, Y), atol=1e-7)
