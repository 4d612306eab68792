"""Dictionary learning with unit-norm atoms: alternating ISTA on the codes and a projected gradient step
on the dictionary, each with the adaptive step of Luther & Seung (×1.1 on accept, ×0.5 on reject)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from scpaper.thresholds import soft, soft_nonneg


class Learned(NamedTuple):
    """A learned dictionary (dim × n_atoms, unit-norm columns) and the objective per image after each step."""

    atoms: torch.Tensor
    objective: torch.Tensor


def _unit(D: torch.Tensor) -> torch.Tensor:
    """Scale every column of D to unit ℓ2 norm."""
    return D / D.norm(dim=0, keepdim=True).clamp_min(1e-12)


def objective(D: torch.Tensor, X: torch.Tensor, codes: torch.Tensor, lam: float) -> float:
    """Mean over images of ½‖x − D r‖² + λ‖r‖₁ (eq 1 of Luther & Seung divided by the number of images)."""
    return float((0.5 * (X - codes @ D.T).double().pow(2).sum() + lam * codes.double().abs().sum()) / len(X))


def learn(X: torch.Tensor, n_atoms: int, lam: float, *, steps: int, code_steps: int = 1, nonneg: bool = False,
          seed: int = 0, init: torch.Tensor | None = None, zero_codes: bool = False, device: torch.device | str = "cpu",
          progress: bool = True, tol: float = 0.0, window: int = 10) -> Learned:
    """Learn n_atoms unit-norm atoms for the rows of X (N × dim) by minimising ½‖x − Dr‖² + λ‖r‖₁.

    Each step runs code_steps ISTA updates of all codes (kept between steps) and one
    gradient step on D followed by renormalising every atom. Every update is kept only if it lowers the
    objective; its step size is then multiplied by 1.1, otherwise the update is dropped and the step
    halved. Atoms (or init) and codes start from N(0, 1), as in the paper (|N(0, 1)| codes when nonneg),
    or codes from zero if zero_codes (then atoms with |dᵢ·x| < λ for every x never move: pair it with an
    init drawn from the data). Stopping rule: with tol > 0, stop before `steps` once the objective fell by
    less than tol (relative) over the last `window` steps (a plateau); objective then has fewer entries.
    Cached on the content of X.
    """
    if X.ndim != 2 or len(X) == 0:
        raise ValueError(f"X must be a non-empty (N, dim) matrix, got shape {tuple(X.shape)}")
    if not torch.isfinite(X).all():
        raise ValueError("X contains NaN or infinite values")
    if tol < 0 or window < 1:
        raise ValueError(f"need tol ≥ 0 and window ≥ 1, got tol={tol}, window={window}")
    if lam < 0 or n_atoms < 1 or steps < 0 or code_steps < 1:
        raise ValueError(f"need lam ≥ 0, n_atoms ≥ 1, steps ≥ 0, code_steps ≥ 1; got {lam}, {n_atoms}, {steps}, {code_steps}")
    dim = X.shape[1]
    if init is not None and tuple(init.shape) != (dim, n_atoms):
        raise ValueError(f"init must have shape {(dim, n_atoms)}, got {tuple(init.shape)}")
    device = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    D = _unit((init if init is not None else torch.randn(dim, n_atoms, generator=gen)).float()).to(device)
    X = X.float().to(device)
    N = len(X)
    R = torch.zeros(N, n_atoms) if zero_codes else torch.randn(N, n_atoms, generator=gen)
    R = (R.abs() if nonneg else R).to(device)
    xx = float(X.double().pow(2).sum())
    shrink = soft_nonneg if nonneg else soft

    def energy(R: torch.Tensor, RG: torch.Tensor, B: torch.Tensor) -> float:
        """Objective per image from codes R, R·DᵀD and X·D without forming the residual."""
        return (0.5 * xx - float((R * B).double().sum()) + 0.5 * float((RG * R).double().sum())
                + lam * float(R.double().abs().sum())) / N

    G, B = D.T @ D, X @ D
    RG = R @ G
    f = energy(R, RG, B)
    eta_r = eta_d = 1.0 / float(G.norm())  # ‖G‖_F ≥ ‖G‖₂: a safe first step, then adapted
    history = [f]
    for _ in tqdm(range(steps), desc=f"dictionary λ={lam:g}", disable=not progress, leave=False):
        for _ in range(code_steps):
            R_new = shrink(R - eta_r * (RG - B), eta_r * lam)
            RG_new = R_new @ G
            f_new = energy(R_new, RG_new, B)
            if f_new <= f:
                R, RG, f, eta_r = R_new, RG_new, f_new, eta_r * 1.1
            else:
                eta_r *= 0.5
        C, P = R.T @ R, X.T @ R
        grad = D @ C - P
        D_new = _unit(D - eta_d * grad)
        G_new = D_new.T @ D_new
        f_new = (0.5 * xx - float((P * D_new).double().sum()) + 0.5 * float((G_new * C).double().sum())
                 + lam * float(R.double().abs().sum())) / N
        if f_new <= f:
            D, G, f, eta_d = D_new, G_new, f_new, eta_d * 1.1
            B, RG = X @ D, R @ G
        else:
            eta_d *= 0.5
        history.append(f)
        if tol > 0 and len(history) > window and history[-1 - window] - f < tol * abs(f):
            break
    return Learned(D.cpu(), torch.tensor(history, dtype=torch.float64))
