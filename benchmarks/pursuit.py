"""Exact basis-pursuit recovery decisions: scpaper.pursuit.bp_certificates against Fuchs + sklearn's LARS.

For each ‖x‖₀ the same random sparse codes on the chapter's Gaussian 64 × 128 dictionary are decided twice:
batched (Fuchs' certificate, then ADMM with a dual certificate for recovery or a feasible point of smaller
ℓ1 norm for failure) and by the baseline (Fuchs' certificate, then one LARS path per remaining signal,
`pursuit.basis_pursuit`, compared with the code). The line prints both decisions' counts, their
disagreements on the signals both saw, and the ratio of time per signal; then the same for OMP, batched
(`pursuit.omp`) against sklearn's OrthogonalMatchingPursuit. Run `python benchmarks/pursuit.py` (CPU; the
baseline and sklearn on the first 300 signals of each ‖x‖₀) or
`python benchmarks/pursuit.py --device cuda --n 100000 --lars 0` (the batched side only).
"""

from __future__ import annotations

import argparse

import torch
from sklearn.linear_model import OrthogonalMatchingPursuit
from threadpoolctl import threadpool_limits

from scpaper import pursuit
from timing import timed


def baseline(D: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """Recovery decided by Fuchs' certificate, else by solving with LARS and comparing with the code."""
    ok = pursuit.dual_certificate(D, X)
    rest = (~ok).nonzero()[:, 0]
    if len(rest):
        ok[rest] = pursuit.recovered(X[rest], pursuit.basis_pursuit(D, X[rest] @ D.T).to(X.device))
    return ok


def sklearn_omp(D: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """Recovery by sklearn's OMP (run until ‖y − Dx‖² ≤ 1e-10), one signal after another inside sklearn."""
    coef = OrthogonalMatchingPursuit(tol=1e-10, fit_intercept=False).fit(D.cpu().numpy(), (X @ D.T).cpu().numpy().T).coef_
    return pursuit.recovered(X.cpu(), torch.as_tensor(coef).reshape(len(X), D.shape[1]))


def main() -> None:
    """Parse the options and print one line per ‖x‖₀."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n", type=int, default=2000, help="signals per ‖x‖₀")
    parser.add_argument("--lars", type=int, default=300, help="of them, how many the baseline also decides (0: none)")
    parser.add_argument("--sparsities", type=int, nargs="+", default=[4, 8, 16, 20, 24, 32])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        run(args)


def run(args: argparse.Namespace) -> None:
    """BP decided both ways, then OMP both ways, at each ‖x‖₀: one printed line each."""
    D = pursuit.gaussian_dictionary(64, 128, seed=0).double().to(args.device)
    gen = torch.Generator().manual_seed(0)
    print(f"Gaussian 64 × 128 dictionary, {args.n} signals per ‖x‖₀, baseline on {args.lars}, {args.device}, {args.threads} threads")
    print(f"{'‖x‖₀':>5} {'batched s':>9} {'recovered':>9} {'failed':>7} {'open':>5} {'Fuchs+LARS s':>12} {'recovered':>9} "
          f"{'differ':>6} {'speed-up':>8} | {'OMP s':>6} {'recovered':>9} {'sklearn s':>9} {'differ':>6} {'speed-up':>8}")
    pursuit.bp_certificates(D, pursuit.random_sparse(128, 20, 64, torch.Generator()).to(args.device))  # warm-up
    for k in args.sparsities:
        X = pursuit.random_sparse(128, k, args.n, gen).to(args.device)
        (won, lost), t_ours = timed(lambda: pursuit.bp_certificates(D, X), args.device)
        line = f"{k:5d} {t_ours:9.2f} {int(won.sum()):9d} {int(lost.sum()):7d} {int((~won & ~lost).sum()):5d}"
        if args.lars:
            Xl = X[:args.lars]
            lars, t_lars = timed(lambda: baseline(D, Xl), "cpu")
            decided = won[:args.lars] | lost[:args.lars]
            differ = int((won[:args.lars][decided] != lars[decided]).sum())
            line += f" {t_lars:12.2f} {int(lars.sum()):9d} {differ:6d} {(t_lars / args.lars) / (t_ours / args.n):7.1f}×"
        omp, t_omp = timed(lambda: pursuit.recovered(X, pursuit.omp(D, X @ D.T)), args.device)
        line += f" | {t_omp:6.2f} {int(omp.sum()):9d}"
        if args.lars:
            sk, t_sk = timed(lambda: sklearn_omp(D, X[:args.lars]), "cpu")
            line += f" {t_sk:9.2f} {int((sk != omp[:args.lars].cpu()).sum()):6d} {(t_sk / args.lars) / (t_omp / args.n):7.1f}×"
        print(line, flush=True)


if __name__ == "__main__":
    main()
