"""Exact non-negative lasso codes of MNIST: scpaper.lasso.solve against sklearn's sparse_encode.

The dictionary is 784 unit-normalised MNIST training images (mutual coherence ≈ 0.98) until a
learned one exists; the codes are of the training images that follow them. Both solvers' codes
are judged by the same certificate (Luther & Seung's eq 9); where sklearn's default max_iter leaves
codes uncertified it is rerun with 10× more until all pass, so that the ratio of wall times printed
for each λ compares equal certificates. Run `python benchmarks/lasso.py` (CPU, 1 000 images, with
sklearn) or `python benchmarks/lasso.py --device cuda --full` (all 60 000 images × 5 λ, scpaper only).
Both solvers get --threads threads (default 1: on a shared machine torch's spinning worker threads
lose more than they gain, and sklearn's coordinate descent is single-threaded).
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
from scpaper.data import load_mnist
from timing import timed

N_ATOMS = 784


def mnist_problem(n_images: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Dictionary (784 × 784, unit atoms) and n_images flattened MNIST training images (all 60 000 if 60 000)."""
    images = load_mnist("train")[0].reshape(-1, 784)
    D = images[:N_ATOMS].T / images[:N_ATOMS].norm(dim=1)
    X = images if n_images == len(images) else images[N_ATOMS: N_ATOMS + n_images]
    return D.contiguous().to(device), X.contiguous().to(device)


def sklearn_certified(D: torch.Tensor, X: torch.Tensor, lam: float) -> tuple[np.ndarray, float, int, float]:
    """sparse_encode's codes, wall time, max_iter and certified fraction at the first max_iter (1 000, 10 000,
    100 000) whose codes all pass eq 9."""
    Dn, Xn = D.cpu().double().numpy(), X.cpu().double().numpy()
    for max_iter in (1_000, 10_000, 100_000):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            codes, seconds = timed(lambda: sparse_encode(Xn, Dn.T, algorithm="lasso_cd", alpha=lam, positive=True,
                                                         max_iter=max_iter), "cpu")
        fraction = lasso.certify(D.cpu(), X.cpu(), torch.from_numpy(codes), lam, nonneg=True).certified_fraction
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
    args = parser.parse_args()
    if args.full:
        args.n, args.lams, args.no_sklearn = 60_000, [0.03, 0.1, 0.3, 0.9, 3.0], True
    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        run(args)


def run(args: argparse.Namespace) -> None:
    """Both solvers at each λ, one printed line per λ."""
    D, X = mnist_problem(args.n, args.device)
    coherence = (D.T @ D - torch.eye(N_ATOMS, device=D.device)).abs().max().item()
    print(f"{args.n} images, {N_ATOMS} atoms (coherence {coherence:.3f}), non-negative, {args.device}, {args.threads} threads")
    print(f"{'λ':>6} {'scpaper s':>10} {'certified':>9} {'unique':>7} {'support':>7} {'steps':>9} "
          f"{'sklearn s':>10} {'max_iter':>8} {'certified':>9} {'max |Δa|':>9} {'speed-up':>8}")
    lasso.solve(D, X[:64], args.lams[0], nonneg=True)  # warm-up: library loading and GPU initialisation
    total = 0.0
    for lam in args.lams:
        res, t_ours = timed(lambda: lasso.solve(D, X, lam, nonneg=True), args.device)
        total += t_ours
        line = (f"{lam:6.2f} {t_ours:10.3f} {res.certified_fraction:9.1%} {res.unique.double().mean().item():7.1%} "
                f"{(res.codes != 0).sum(1).double().mean().item():7.1f} "
                f"{res.iterations.double().mean().item():4.1f}/{res.iterations.max().item():<4d}")
        if not args.no_sklearn:
            sk, t_sk, max_iter, fraction = sklearn_certified(D, X, lam)
            gap = np.abs(sk - res.codes.cpu().double().numpy()).max()
            line += f" {t_sk:10.3f} {max_iter:8d} {fraction:9.1%} {gap:9.1e} {t_sk / t_ours:7.1f}×"
        print(line, flush=True)
    print(f"scpaper total: {total:.1f} s")


if __name__ == "__main__":
    main()
