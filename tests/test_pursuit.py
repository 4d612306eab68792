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


@pytest.mark.filterwarnings("ignore:Orthogonal matching pursuit ended prematurely")  # sklearn, on the tall case
def test_batched_omp_matches_sklearn():
    from sklearn.linear_model import OrthogonalMatchingPursuit

    D = pursuit.gaussian_dictionary(24, 48, seed=6)
    x = torch.cat([pursuit.random_sparse(48, k, 20, torch.Generator().manual_seed(k)) for k in (1, 4, 8, 12)])
    tall = pursuit.gaussian_dictionary(8, 5, seed=7).double()  # 5 atoms in ℝ⁸: y off their span, all 5 chosen
    y_off = torch.randn(6, 8, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    for A, Y in ((D, x @ D.double().T), (tall, y_off)):
        ref = OrthogonalMatchingPursuit(tol=1e-10, fit_intercept=False).fit(A.double().numpy(), Y.numpy().T).coef_
        ours = pursuit.omp(A, Y, chunk=32)  # several chunks
        assert torch.allclose(ours, torch.as_tensor(ref).reshape(ours.shape), atol=1e-9)
    assert pursuit.recovered(x, pursuit.omp(D, x @ D.double().T)).any()


def test_fuchs_certificate_implies_recovery():
    D = pursuit.gaussian_dictionary(32, 64, seed=3)
    x = pursuit.random_sparse(64, 3, 20, torch.Generator().manual_seed(3))
    cert = pursuit.dual_certificate(D, x)
    assert cert.any()
    assert pursuit.recovered(x[cert], pursuit.basis_pursuit_lp(D, x[cert] @ D.T)).all()


def test_bp_certificates_agree_with_linprog_near_the_phase_transition():
    D = pursuit.gaussian_dictionary(24, 48, seed=4)
    x = torch.cat([pursuit.random_sparse(48, k, 15, torch.Generator().manual_seed(k)) for k in (4, 6, 8, 10)])
    won, lost = pursuit.bp_certificates(D, x)
    truth = pursuit.recovered(x, pursuit.basis_pursuit_lp(D, x @ D.T))
    assert not (won & lost).any()
    assert truth[won].all() and not truth[lost].any()  # every certificate is right
    assert won.any() and lost.any() and (won | lost).float().mean() >= 0.95  # and they decide nearly all rows
    assert won.sum() > pursuit.dual_certificate(D, x).sum()  # ADMM's dual certifies rows Fuchs' cannot


def test_bp_recovers_solves_the_rows_no_certificate_decides(monkeypatch):
    D = pursuit.gaussian_dictionary(24, 48, seed=4)
    x = pursuit.random_sparse(48, 8, 12, torch.Generator().manual_seed(8))
    none = torch.zeros(len(x), dtype=torch.bool)
    monkeypatch.setattr(pursuit, "bp_certificates", lambda D, X: (none.clone(), none.clone()))
    truth = pursuit.recovered(x, pursuit.basis_pursuit_lp(D, x @ D.T))
    assert truth.any() and not truth.all()
    assert pursuit.bp_recovers(D, x).equal(truth)


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
    with pytest.raises(ValueError, match="rows"):
        pursuit.omp(torch.eye(3, dtype=torch.float64), torch.ones(1, 4))
    with pytest.raises(ValueError, match="atoms"):
        pursuit.bp_certificates(torch.eye(3, dtype=torch.float64), torch.ones(1, 4))
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
