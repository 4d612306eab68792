"""Exact lasso codes of MNIST: scpaper.lasso.solve against sklearn's sparse_encode.

Two problems: 784 unit-normalised MNIST training images as atoms (mutual coherence ≈ 0.98), non-negative
codes of the training images that follow them; or, with --learned, chapter 4's default dictionary for
each λ (learned on the first 1 500 training digits) and signed codes of the first test digits, as the
chapter computes them. Both solvers' codes are judged by the same certificate (Luther & Seung's eq 9);
where sklearn's default max_iter leaves codes uncertified it is rerun with 10× more until all pass, so
that the ratio of wall times printed for each λ compares equal certificates. With --presolve N the
exact solver is also timed started from N FISTA steps (lasso.solve's presolve) beside its cold start,
with the largest difference between the two codes. Run `python benchmarks/lasso.py` (CPU, 1 000
images, with sklearn), `python benchmarks/lasso.py --learned --presolve 300 --lams 0.03 0.1 0.3` or
`python benchmarks/lasso.py --device cuda --full` (all 60 000 images × 5 λ, scpaper only). Both
solvers get --threads threads (default 1: on a shared machine torch's spinning worker threads lose more
than they gain, and sklearn's coordinate descent is single-threaded).
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch
from sklearn.decomposition import sparse_encode
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from scpaper import lasso
from scpaper.book import runtime
from scpaper.chapters import ch4_sensitivity
from scpaper.data import load_mnist
from timing import timed

N_ATOMS = 784


def mnist_problem(n_images: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Dictionary (784 × 784, unit atoms) and n_images flattened MNIST training images (all 60 000 if 60 000)."""
    images = load_mnist("train")[0].reshape(-1, 784)
    D = images[:N_ATOMS].T / images[:N_ATOMS].norm(dim=1)
    X = images if n_images == len(images) else images[N_ATOMS: N_ATOMS + n_images]
    return D.contiguous().to(device), X.contiguous().to(device)


def learned_problem(lam: float, n_images: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Chapter 4's default dictionary for λ (cached like the chapter's) and the first n_images MNIST test digits."""
    cfg = runtime.preset("sensitivity", "default")
    D = ch4_sensitivity.mnist_dictionary(lam, cfg.dict_images, cfg.atoms, cfg.dict_steps, cfg.code_steps, 0,
                                         cfg.from_images, "cpu", cfg.dict_tol).atoms
    X = load_mnist("test")[0][:n_images].reshape(n_images, -1)
    return D.contiguous().to(device), X.contiguous().to(device)


def sklearn_certified(D: torch.Tensor, X: torch.Tensor, lam: float, nonneg: bool) -> tuple[np.ndarray, float, int, float]:
    """sparse_encode's codes, wall time, max_iter and certified fraction at the first max_iter (1 000, 10 000,
    100 000) whose codes all pass eq 9."""
    Dn, Xn = D.cpu().double().numpy(), X.cpu().double().numpy()
    for max_iter in (1_000, 10_000, 100_000):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            codes, seconds = timed(lambda: sparse_encode(Xn, Dn.T, algorithm="lasso_cd", alpha=lam, positive=nonneg,
                                                         max_iter=max_iter), "cpu")
        fraction = lasso.certify(D.cpu(), X.cpu(), torch.from_numpy(codes), lam, nonneg=nonneg).certified_fraction
        if fraction == 1.0:
            break
    return codes, seconds, max_iter, fraction


def main() -> None:
    """Parse the options, run both solvers for each λ and print one line per λ."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n", type=int, default=1000, help="number of images")
    parser.add_argument("--lams", type=float, nargs="+", default=[0.03, 0.3, 3.0])
    parser.add_argument("--full", action="store_true", help="all 60 000 images, λ ∈ {0.03, 0.1, 0.3, 0.9, 3.0}, no sklearn")
    parser.add_argument("--no-sklearn", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--presolve", type=int, default=0, help="also time the exact solver started from N FISTA steps")
    parser.add_argument("--learned", action="store_true", help="chapter 4's learned dictionaries, signed codes of test digits")
    args = parser.parse_args()
    if args.full:
        args.n, args.lams, args.no_sklearn = 60_000, [0.03, 0.1, 0.3, 0.9, 3.0], True
    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        run(args)


def run(args: argparse.Namespace) -> None:
    """Both solvers at each λ, one printed line per λ."""
    nonneg = not args.learned
    fixed = None if args.learned else mnist_problem(args.n, args.device)
    problem = lambda lam: learned_problem(lam, args.n, args.device) if args.learned else fixed  # noqa: E731
    D, X = problem(args.lams[0])
    print(f"{args.n} images, {N_ATOMS} atoms ({'learned per λ, signed' if args.learned else 'training images, non-negative'}), "
          f"{args.device}, {args.threads} threads")
    print(f"{'λ':>6} {'coherence':>9} {'scpaper s':>10} {'certified':>9} {'unique':>7} {'support':>7} {'steps':>9}"
          + ("" if args.no_sklearn else f" {'sklearn s':>10} {'max_iter':>8} {'certified':>9} {'max |Δa|':>9} {'speed-up':>8}")
          + (f" | {'presolved s':>11} {'certified':>9} {'max |Δa|':>9} {'speed-up':>8}" if args.presolve else ""))
    lasso.solve(D, X[:64], args.lams[0], nonneg=nonneg)  # warm-up: library loading and GPU initialisation
    total = 0.0
    for lam in args.lams:
        D, X = problem(lam)
        coherence = (D.T @ D - torch.eye(N_ATOMS, device=D.device)).abs().max().item()
        res, t_ours = timed(lambda: lasso.solve(D, X, lam, nonneg=nonneg), args.device)
        total += t_ours
        line = (f"{lam:6.2f} {coherence:9.3f} {t_ours:10.3f} {res.certified_fraction:9.1%} "
                f"{res.unique.double().mean().item():7.1%} {(res.codes != 0).sum(1).double().mean().item():7.1f} "
                f"{res.iterations.double().mean().item():4.1f}/{res.iterations.max().item():<4d}")
        if not args.no_sklearn:
            sk, t_sk, max_iter, fraction = sklearn_certified(D, X, lam, nonneg)
            gap = np.abs(sk - res.codes.cpu().double().numpy()).max()
            line += f" {t_sk:10.3f} {max_iter:8d} {fraction:9.1%} {gap:9.1e} {t_sk / t_ours:7.1f}×"
        if args.presolve:
            warm, t_warm = timed(lambda: lasso.solve(D, X, lam, nonneg=nonneg, presolve=args.presolve), args.device)
            gap = (warm.codes - res.codes).abs().max().item()
            line += f" | {t_warm:11.3f} {warm.certified_fraction:9.1%} {gap:9.1e} {t_ours / t_warm:7.1f}×"
        print(line, flush=True)
    print(f"scpaper total (cold starts): {total:.1f} s")


if __name__ == "__main__":
    main()
