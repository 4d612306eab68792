"""Exact lasso codes â = argmin ½‖x − Da‖² + Σᵢ λᵢ|aᵢ| (optionally a ≥ 0), each with a certificate.

`solve` runs a batched primal active-set method on the Gram matrix G = DᵀD in float64 (one
violator added per step, a line search that drops atoms whose sign would flip, Cholesky factors
grown one row at a time; optionally started from a few FISTA steps), or batched FISTA when
exact=False. Every code it returns is checked against Luther & Seung's eq 9 by `certify`, which
works on codes from any solver.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields

import torch
from tqdm.auto import tqdm

from scpaper.thresholds import Lam, check_lam, soft, soft_nonneg

INACTIVE_TOL = 1e-5  # eq 9: |dᵢ·(x − Dr)| − λᵢ < 1e-5 for every inactive atom
ACTIVE_TOL = 1e-4  # eq 9: ‖r₊ − (D₊ᵀD₊)⁻¹(D₊ᵀx − λs₊)‖/‖r₊‖ < 1e-4
RANK_TOL = 1e-10  # a new atom whose squared distance to span(D₊) is below this (times ‖dᵢ‖²) is dependent
MEMORY = 2**28  # bytes of per-sample Cholesky factors held at once on a CPU (16× that on a GPU)
ADD_TOL = 1e-11  # an atom joins the support when its violation exceeds this times max(1, ‖Dᵀx‖∞)
CHUNK = 4096  # samples solved together on a CPU (16× that on a GPU)


@dataclass(frozen=True)
class Certificate:
    """Per-sample verdicts: eq 9 holds (certified), max KKT violation, and uniqueness of the code."""

    certified: torch.Tensor  # bool (batch,)
    kkt: torch.Tensor  # float64 (batch,)
    unique: torch.Tensor  # bool (batch,): certified and D_E of full column rank, E = atoms at threshold

    @property
    def certified_fraction(self) -> float:
        """Fraction of samples whose code passes eq 9."""
        return self.certified.double().mean().item()


@dataclass(frozen=True)
class LassoResult(Certificate):
    """Codes (batch × n_atoms, in the inputs' dtype), their certificate, and solver steps per sample."""

    codes: torch.Tensor
    iterations: torch.Tensor  # int64 (batch,)


def _check(D: torch.Tensor, X: torch.Tensor, lam: Lam) -> torch.Tensor:
    """Validate solver inputs; return λ as a float64 (n_atoms,) tensor on D's device."""
    if D.ndim != 2 or X.ndim != 2:
        raise ValueError(f"D must be (dim, n_atoms) and X (batch, dim), got shapes {tuple(D.shape)} and {tuple(X.shape)}")
    if X.shape[1] != D.shape[0]:
        raise ValueError(f"shape mismatch: X has dim {X.shape[1]} but D has dim {D.shape[0]}")
    if X.shape[0] == 0:
        raise ValueError("empty batch: X has no rows")
    if D.shape[1] == 0:
        raise ValueError("D has no atoms")
    if X.device != D.device:
        raise ValueError(f"D is on {D.device} but X on {X.device}")
    for name, t in (("D", D), ("X", X)):
        if not t.is_floating_point():
            raise ValueError(f"{name} must be a float tensor, got {t.dtype}")
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} contains NaN or inf")
    zero = (D.norm(dim=0) == 0).nonzero()
    if len(zero):
        raise ValueError(f"atom {zero[0, 0].item()} of D has zero norm")
    return check_lam(lam, D.shape[1], torch.empty(0, dtype=torch.float64, device=D.device)).expand(D.shape[1])


def gram(D: torch.Tensor) -> torch.Tensor:
    """G = DᵀD in float64, bordered by a zero row and column (index n_atoms pads supports); solve(gram=) reuses it."""
    D64 = D.double()
    return torch.nn.functional.pad(D64.T @ D64, (0, 1, 0, 1))


def _checked_gram(G: torch.Tensor | None, D: torch.Tensor) -> torch.Tensor:
    """gram(D), or the given G after checking that it has gram(D)'s shape, dtype and device."""
    if G is None:
        return gram(D)
    n = D.shape[1] + 1
    if G.shape != (n, n) or G.dtype != torch.float64 or G.device != D.device:
        raise ValueError(f"gram must be lasso.gram(D): float64 {n}×{n} on {D.device}, got {G.dtype} "
                         f"{'×'.join(map(str, G.shape))} on {G.device}")
    return G


def _pad(v: torch.Tensor) -> torch.Tensor:
    """Append a zero entry on the last dimension (the padding atom)."""
    return torch.nn.functional.pad(v, (0, 1))


def _support(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Active atoms of each row first, padded with index n_atoms: (index, valid), both (rows, max support)."""
    rows, n = mask.shape
    k = mask.sum(1)
    width = max(int(k.max()), 1)
    r, col = mask.nonzero(as_tuple=True)
    idx = torch.full((rows, width), n, dtype=torch.long, device=mask.device)
    idx[r, torch.arange(len(r), device=mask.device) - (k.cumsum(0) - k)[r]] = col
    return idx, torch.arange(width, device=mask.device) < k[:, None]


def _solve_factored(L: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """z with L Lᵀ z = rhs for batched lower factors L (rows × width × width) and rhs (rows × width)."""
    y = torch.linalg.solve_triangular(L, rhs[..., None], upper=False)
    return torch.linalg.solve_triangular(L.mT, y, upper=True)[..., 0]


def _cholesky(G: torch.Tensor, idx: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cholesky factors of the supports' Gram blocks (identity on padding) and whether each has full rank."""
    both = valid[:, :, None] & valid[:, None, :]
    eye = torch.eye(idx.shape[1], dtype=G.dtype, device=G.device)
    L, info = torch.linalg.cholesky_ex(torch.where(both, G[idx[:, :, None], idx[:, None, :]], eye))
    pivots = torch.diagonal(L, dim1=1, dim2=2) ** 2
    full = (info == 0) & (torch.where(valid, pivots / G.diagonal()[idx], 1.0) > RANK_TOL).all(1)
    return L, full


def _sparse_times_gram(idx: torch.Tensor, coef: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """Rows of A·G for codes A given on padded supports (rows × width), as a sparse product."""
    rows, width = idx.shape
    crow = torch.arange(0, rows * width + 1, width, device=G.device)
    with warnings.catch_warnings():  # torch flags its sparse CSR support as beta
        warnings.simplefilter("ignore", UserWarning)
        A = torch.sparse_csr_tensor(crow, idx.reshape(-1), coef.reshape(-1), size=(rows, G.shape[0]),
                                    check_invariants=False)
        return A @ G


def _dense_times_gram(idx: torch.Tensor, coef: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """Rows of A·G for codes A given on padded supports (rows × width), as a dense product."""
    A = torch.zeros(idx.shape[0], G.shape[0], dtype=G.dtype, device=G.device)
    return A.scatter_add_(1, idx, coef) @ G


def _times_gram(idx: torch.Tensor, coef: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """Rows of A·G: the sparse product on CPUs, the dense one on GPUs, where it is faster."""
    return (_sparse_times_gram if G.device.type == "cpu" else _dense_times_gram)(idx, coef, G)


def _violation(g: torch.Tensor, lam: torch.Tensor, nonneg: bool) -> torch.Tensor:
    """How far each atom's correlation with the residual exceeds its threshold (≤ 0 when allowed at zero)."""
    return (g if nonneg else g.abs()) - lam


def _kkt(g: torch.Tensor, codes: torch.Tensor, lam: torch.Tensor, nonneg: bool) -> torch.Tensor:
    """Max KKT violation per row from the residual correlations g = Dᵀ(x − Da)."""
    active = codes != 0
    over = torch.where(active, (g - lam * torch.sign(codes)).abs(), _violation(g, lam, nonneg).clamp(min=0))
    if nonneg:
        over = torch.where(codes < 0, math.inf, over)
    return over.max(1).values


def _setup(D: torch.Tensor, X: torch.Tensor, lam: Lam) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validated padded problem in float64: Gram matrix, correlations Dᵀx per row, λ per atom."""
    lam_t = _check(D, X, lam)
    return gram(D), _pad(X.double() @ D.double()), _pad(lam_t)


def _check_codes(codes: torch.Tensor, X: torch.Tensor, D: torch.Tensor, name: str = "codes") -> torch.Tensor:
    """codes as float64 after checking they are (batch, n_atoms) and finite."""
    if codes.shape != (X.shape[0], D.shape[1]):
        raise ValueError(f"{name} must have shape {(X.shape[0], D.shape[1])}, got {tuple(codes.shape)}")
    if not torch.isfinite(codes).all():
        raise ValueError(f"{name} contains NaN or inf")
    return codes.to(device=D.device, dtype=torch.float64)


def _residual_correlations(G: torch.Tensor, c: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """g = Dᵀx − DᵀD a for dense codes a (rows × n_atoms); padded like c."""
    idx, valid = _support(a != 0)
    return c - _times_gram(idx, _pad(a).gather(1, idx), G)


def kkt_residual(D: torch.Tensor, X: torch.Tensor, codes: torch.Tensor, lam: Lam, nonneg: bool = False) -> torch.Tensor:
    """Max violation of the lasso's optimality conditions per sample (float64; inf where a ≥ 0 is broken)."""
    G, c, lam_p = _setup(D, X, lam)
    a = _check_codes(codes, X, D)
    return _kkt(_residual_correlations(G, c, a)[:, :-1], a, lam_p[:-1], nonneg)


def certify(D: torch.Tensor, X: torch.Tensor, codes: torch.Tensor, lam: Lam, nonneg: bool = False) -> Certificate:
    """Check Luther & Seung's eq 9 for every code, in float64, whatever solver produced the codes."""
    G, c, lam_p = _setup(D, X, lam)
    return _certify(G, c, lam_p, _check_codes(codes, X, D), nonneg)


def _certify(G: torch.Tensor, c: torch.Tensor, lam_p: torch.Tensor, a: torch.Tensor, nonneg: bool) -> Certificate:
    """eq 9, the KKT violation and uniqueness for float64 codes a of a padded problem."""
    g = _residual_correlations(G, c, a)[:, :-1]
    over = _violation(g, lam_p[:-1], nonneg)
    inactive_ok = torch.where(a == 0, over, -math.inf).max(1).values < INACTIVE_TOL
    feasible = ~(a < 0).any(1) if nonneg else torch.ones_like(inactive_ok)
    active = a != 0
    at_threshold = active | (over > -INACTIVE_TOL)
    active_ok = torch.zeros_like(inactive_ok)
    full_rank = torch.zeros_like(inactive_ok)
    for rows in _blocks(at_threshold.sum(1)):
        idx, valid = _support(active[rows])
        L, full = _cholesky(G, idx, valid)
        r = _pad(a[rows]).gather(1, idx)
        rhs = c[rows].gather(1, idx) - lam_p[idx] * torch.sign(r)
        r_hat = _solve_factored(L, rhs)
        err = (r - r_hat).norm(dim=1) / r.norm(dim=1).clamp(min=torch.finfo(r.dtype).tiny)
        active_ok[rows] = full & (err < ACTIVE_TOL)
        wider = (at_threshold[rows] != active[rows]).any(1)
        full_rank[rows] = full
        if wider.any():
            full_rank[rows[wider]] = _cholesky(G, *_support(at_threshold[rows[wider]]))[1]
    certified = inactive_ok & active_ok & feasible
    return Certificate(certified, _kkt(g, a, lam_p[:-1], nonneg), certified & full_rank)


def _on_device(budget: int, device: torch.device) -> int:
    """A CPU budget (MEMORY, CHUNK) scaled up 16× on a GPU."""
    return budget if device.type == "cpu" else 16 * budget


def _blocks(k: torch.Tensor) -> list[torch.Tensor]:
    """Rows grouped by support size (powers of two), each group small enough for its Cholesky factors."""
    width = 2 ** torch.ceil(torch.log2(k.clamp(min=1).double())).long()
    groups = []
    for w in torch.unique(width).tolist():
        rows = (width == w).nonzero()[:, 0]
        groups += list(rows.split(max(1, _on_device(MEMORY, k.device) // (8 * w * w))))
    return groups


def power_lipschitz(D: torch.Tensor, n_iter: int = 100) -> float:
    """Largest eigenvalue of DᵀD (the gradient's Lipschitz constant) by power iteration, 1% margin.

    The iteration starts from a fixed Gaussian vector: a structured start such as all ones lies in the null
    space of every D whose rows sum to zero (atoms of balanced sign), where the iteration would give NaN.
    """
    v = torch.randn(D.shape[1], generator=torch.Generator().manual_seed(0), dtype=torch.float64).to(D.device)
    D64 = D.double()
    for _ in range(n_iter):
        v = D64.T @ (D64 @ v)
        v = v / v.norm()
    return 1.01 * (D64 @ v).norm().item() ** 2


def _fista(G: torch.Tensor, C: torch.Tensor, lam: torch.Tensor, nonneg: bool, a0: torch.Tensor,
           lipschitz: float, tol: float, max_iter: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched FISTA with adaptive restart on one chunk; returns codes and iterations per row."""
    shrink = soft_nonneg if nonneg else soft
    a, y = a0.clone(), a0.clone()
    t = torch.ones(C.shape[0], 1, dtype=C.dtype, device=C.device)
    iters = torch.full((C.shape[0],), max_iter, dtype=torch.long, device=C.device)
    running = torch.ones(C.shape[0], dtype=torch.bool, device=C.device)
    for it in range(1, max_iter + 1):
        a_new = shrink(y - (y @ G - C) / lipschitz, lam / lipschitz)
        restart = ((y - a_new) * (a_new - a)).sum(1, keepdim=True) > 0
        t_new = torch.where(restart, 1.0, (1 + torch.sqrt(1 + 4 * t * t)) / 2)
        y = torch.where(restart, a_new, a_new + (t - 1) / t_new * (a_new - a))
        a = torch.where(running[:, None], a_new, a)
        t = t_new
        if it % 10 == 0:
            done = running & (_kkt(C - a @ G, a, lam, nonneg) < tol)
            iters[done] = it
            running &= ~done
            if not running.any():
                break
    return a, iters


@dataclass
class _Block:
    """Per-row state of the active-set method: padded supports, signs, codes, Cholesky factors of G₊."""

    c: torch.Tensor  # (rows, n_atoms + 1) Dᵀx, padded
    scale: torch.Tensor  # (rows,) max(1, ‖Dᵀx‖∞)
    idx: torch.Tensor  # (rows, width) atom indices, n_atoms on padding
    valid: torch.Tensor  # (rows, width)
    coef: torch.Tensor  # (rows, width) float64, 0 on padding
    sign: torch.Tensor  # (rows, width) float64 in {-1, 0, 1}
    L: torch.Tensor  # (rows, width, width) lower Cholesky factor of G₊, identity on padding
    stationary: torch.Tensor  # (rows,) the codes minimise the objective on their support and signs
    single: torch.Tensor  # (rows,) add one atom per step (after two added at once could not both move)

    @classmethod
    def start(cls, G: torch.Tensor, c: torch.Tensor, a: torch.Tensor) -> _Block:
        """State at codes a; rows whose support is rank-deficient start from zero instead."""
        idx, valid = _support(a != 0)
        coef = _pad(a).gather(1, idx)
        L, full = _cholesky(G, idx, valid)
        st = cls(c, c.abs().amax(1).clamp(min=1), idx, valid, coef, torch.sign(coef), L, ~valid.any(1),
                 torch.zeros(len(a), dtype=torch.bool, device=a.device))
        bad = (~full).nonzero()[:, 0]
        _refactor(G, st, bad, torch.zeros_like(valid[bad]))
        st.stationary[bad] = True
        return st

    def take(self, keep: torch.Tensor) -> _Block:
        """The state of some rows only."""
        return _Block(*(getattr(self, f.name)[keep] for f in fields(self)))

    def resize(self, width: int, n: int) -> None:
        """Pad or cut the supports to a width (cutting only padding)."""
        w = min(width, self.idx.shape[1])
        grow = width - w
        self.idx = torch.nn.functional.pad(self.idx[:, :w], (0, grow), value=n)
        self.valid = torch.nn.functional.pad(self.valid[:, :w], (0, grow))
        self.coef = torch.nn.functional.pad(self.coef[:, :w], (0, grow))
        self.sign = torch.nn.functional.pad(self.sign[:, :w], (0, grow))
        L = torch.eye(width, dtype=self.L.dtype, device=self.L.device).repeat(len(self.idx), 1, 1)
        L[:, :w, :w] = self.L[:, :w, :w]
        self.L = L

    def forget_last(self, rows: torch.Tensor, count: int, n: int) -> None:
        """Remove the last `count` atoms of some rows' supports (their factor rows are the last ones too)."""
        k = self.valid[rows].sum(1)
        for back in range(1, count + 1):
            p = k - back
            self.valid[rows, p] = False
            self.idx[rows, p] = n
            self.coef[rows, p] = self.sign[rows, p] = 0.0
            self.L[rows, p] = 0.0
            self.L[rows, p, p] = 1.0

    def shrink(self, n: int) -> None:
        """Cut padding beyond the next multiple of 8 above the largest support."""
        width = 8 * (int(self.valid.sum(1).max()) // 8 + 1)
        if width < self.idx.shape[1]:
            self.resize(width, n)

    def dense(self, n: int, rows: torch.Tensor) -> torch.Tensor:
        """Codes of some rows as dense rows (rows × n)."""
        out = torch.zeros(len(rows), n + 1, dtype=self.coef.dtype, device=self.coef.device)
        return out.scatter_(1, self.idx[rows], self.coef[rows])[:, :n]


def _refactor(G: torch.Tensor, st: _Block, rows: torch.Tensor, keep: torch.Tensor) -> None:
    """Keep only the `keep` atoms of some rows (moved to the front) and refactor their Cholesky factors."""
    order = torch.sort(keep.to(torch.int8), dim=1, descending=True, stable=True).indices
    valid = torch.arange(keep.shape[1], device=keep.device) < keep.sum(1, keepdim=True)
    st.idx[rows] = torch.where(valid, st.idx[rows].gather(1, order), G.shape[0] - 1)
    st.coef[rows] = torch.where(valid, st.coef[rows].gather(1, order), 0)
    st.sign[rows] = torch.where(valid, st.sign[rows].gather(1, order), 0)
    st.valid[rows] = valid
    st.L[rows] = _cholesky(G, st.idx[rows], valid)[0]


def _append(G: torch.Tensor, st: _Block, s: torch.Tensor, atom: torch.Tensor, theta: torch.Tensor,
            swap: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Add one atom of sign theta to the supports of rows s; return masks over s: appended, and stuck.

    An atom in the span of the support is swapped in (swap=True, rows at a stationary point) or skipped."""
    n = G.shape[0] - 1
    k = st.valid[s].sum(1)
    if int(k.max()) == st.idx.shape[1]:
        st.resize(st.idx.shape[1] + max(8, st.idx.shape[1] // 2), n)
    col = G[st.idx[s], atom[:, None]]
    l = torch.linalg.solve_triangular(st.L[s], col[..., None], upper=False)[..., 0]
    gii = G[atom, atom]
    d2 = gii - (l * l).sum(1)
    indep = d2 > RANK_TOL * gii
    r, kr = s[indep], k[indep]
    st.L[r, kr] = l[indep]
    st.L[r, kr, kr] = d2[indep].sqrt()
    st.idx[r, kr] = atom[indep]
    st.valid[r, kr] = True
    st.coef[r, kr] = 0.0
    st.sign[r, kr] = theta[indep]
    stuck = torch.zeros_like(indep)
    if swap:
        stuck[~indep] = _swap(G, st, s[~indep], atom[~indep], theta[~indep], l[~indep])
    return indep, stuck


def _swap(G: torch.Tensor, st: _Block, p: torch.Tensor, atom: torch.Tensor, theta: torch.Tensor,
          l: torch.Tensor) -> torch.Tensor:
    """Bring an atom dᵢ = D₊w lying in span(D₊) into rows p's supports along the direction that keeps Da
    fixed and lowers Σλ|a|, until an old atom reaches zero and leaves; return rows where none can leave."""
    if len(p) == 0:
        return torch.zeros(0, dtype=torch.bool, device=p.device)
    move = theta[:, None] * torch.linalg.solve_triangular(st.L[p].mT, l[..., None], upper=True)[..., 0]
    coef = st.coef[p]
    t, j = torch.where(st.valid[p] & (coef * move > 0), coef / move, math.inf).min(1)
    ok = torch.isfinite(t)
    p, atom, theta, t, j, coef, move = p[ok], atom[ok], theta[ok], t[ok], j[ok], coef[ok], move[ok]
    coef = coef - t[:, None] * move
    coef[torch.arange(len(p), device=p.device), j] = theta * t
    st.coef[p] = coef
    st.idx[p, j] = atom
    st.sign[p, j] = theta
    st.L[p] = _cholesky(G, st.idx[p], st.valid[p])[0]
    return ~ok


@dataclass(frozen=True)
class _Problem:
    """What every row shares: padded Gram matrix (float64, and the copy violators are screened with),
    padded λ per atom, the sign constraint, and the screening precision's unit roundoff."""

    G: torch.Tensor
    G_screen: torch.Tensor
    lam: torch.Tensor
    nonneg: bool
    unit: float

    @classmethod
    def of(cls, G: torch.Tensor, lam_p: torch.Tensor, nonneg: bool) -> _Problem:
        """Screen in float32 on a CPU (sparse products are memory-bound); GPUs run float64 products as fast."""
        G_screen = G.float() if G.device.type == "cpu" else G
        return cls(G, G_screen, lam_p, nonneg, torch.finfo(G_screen.dtype).eps / 2)

    def top_two(self, g: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The two most violating atoms outside the supports idx: violations, atoms and signs (rows × 2)."""
        lam = self.lam.to(g.dtype)
        best, atoms = _violation(g, lam, self.nonneg).scatter_(1, idx, -math.inf).topk(min(2, g.shape[1]), dim=1)
        theta = torch.ones_like(best) if self.nonneg else torch.sign(g.gather(1, atoms))
        return best.double(), atoms, theta.double()


def _next_atoms(pb: _Problem, st: _Block) -> tuple[torch.Tensor, ...]:
    """Stationary rows; for each, the two most violating atoms (rows × 2), their violations and signs.

    Correlations are computed in the screening precision first (for every row: cheaper than picking
    rows out); rows whose best violation lies within its error bound are redone in float64, so that
    an atom joins only when it truly violates."""
    g = st.c.to(pb.G_screen.dtype) - _times_gram(st.idx, st.coef.to(pb.G_screen.dtype), pb.G_screen)
    s = st.stationary.nonzero()[:, 0]
    best, atoms, theta = pb.top_two(g[s], st.idx[s])
    size = st.scale[s] + pb.lam.max() + st.coef[s].abs().sum(1) * pb.G.diagonal().max()
    slack = pb.unit * (st.idx.shape[1] + 4) * size
    best[:, 1:] = torch.where(best[:, 1:] > slack[:, None], best[:, 1:], -math.inf)
    unsure = (best[:, 0] <= slack).nonzero()[:, 0]
    if len(unsure):
        u = s[unsure]
        g = st.c[u] - _times_gram(st.idx[u], st.coef[u], pb.G)
        best[unsure], atoms[unsure], theta[unsure] = pb.top_two(g, st.idx[u])
    return s, atoms, best, theta


def _prune(G: torch.Tensor, st: _Block, lam_p: torch.Tensor) -> torch.Tensor:
    """Move each row to the minimiser on its starting support and signs, first removing, all at once, the
    atoms whose sign that minimiser would flip; return the number of solves per row."""
    solves = torch.zeros(len(st.c), dtype=torch.long, device=G.device)
    while True:
        st.stationary |= ~st.valid.any(1)
        busy = (~st.stationary).nonzero()[:, 0]
        if len(busy) == 0:
            return solves
        solves[busy] += 1
        rhs = st.c[busy].gather(1, st.idx[busy]) - lam_p[st.idx[busy]] * st.sign[busy]
        z = _solve_factored(st.L[busy], rhs)
        wrong = st.valid[busy] & (z * st.sign[busy] <= 0)
        ok = ~wrong.any(1)
        st.coef[busy[ok]] = z[ok]
        st.stationary[busy[ok]] = True
        _refactor(G, st, busy[~ok], st.valid[busy[~ok]] & ~wrong[~ok])


def _too_wide(rows: int, width: int, device: torch.device) -> bool:
    """Whether the Cholesky factors of so many rows of that width exceed MEMORY."""
    return rows > 1 and rows * width**2 * 8 > _on_device(MEMORY, device)


def _split(pb: _Problem, c: torch.Tensor, a: torch.Tensor, max_iter: int, bar: tqdm) -> tuple[torch.Tensor, torch.Tensor]:
    """_exact on the two halves of a block, one after the other."""
    halves = [_exact(pb, c[h], a[h], max_iter, bar) for h in torch.arange(len(a), device=a.device).tensor_split(2)]
    return torch.cat([h[0] for h in halves]), torch.cat([h[1] for h in halves])


def _exact(pb: _Problem, c: torch.Tensor, a0: torch.Tensor, max_iter: int, bar: tqdm) -> tuple[torch.Tensor, torch.Tensor]:
    """Active-set lasso codes (float64) and steps per row from codes a0; splits blocks too wide for MEMORY."""
    G, lam_p = pb.G, pb.lam
    n = G.shape[0] - 1
    if _too_wide(len(a0), int((a0 != 0).sum(1).max()), G.device):
        return _split(pb, c, a0, max_iter, bar)
    st = _Block.start(G, c, a0)
    out = torch.zeros_like(a0)
    iters = _prune(G, st, lam_p)
    st.shrink(n)
    local = torch.arange(len(a0), device=G.device)  # position of each row of st in out
    done = torch.zeros(len(a0), dtype=torch.bool, device=G.device)  # finished rows not yet dropped from st
    for it in range(max_iter):
        if len(local) == 0:
            break
        if _too_wide(len(local), st.idx.shape[1], G.device):
            live = (~done).nonzero()[:, 0]
            out[local[live]], more = _split(pb, st.c[live], st.dense(n, live), max_iter - it, bar)
            iters[local[live]] += more
            return out, iters
        iters[local[~done]] += 1
        finished = torch.zeros_like(st.stationary)
        added = torch.zeros_like(st.stationary)
        st.stationary &= ~done
        paired = torch.zeros_like(st.stationary)
        if st.stationary.any():
            s, atoms, best, theta = _next_atoms(pb, st)
            over = best > ADD_TOL * st.scale[s, None]
            finished[s[~over[:, 0]]] = True
            s, atoms, over, theta = s[over[:, 0]], atoms[over[:, 0]], over[over[:, 0]], theta[over[:, 0]]
            if len(s):
                appended, stuck = _append(G, st, s, atoms[:, 0], theta[:, 0])
                added[s[appended]] = True
                finished[s[stuck]] = True
                two = (appended & ~st.single[s] & over[:, -1]).nonzero()[:, 0]
                if len(two) and atoms.shape[1] == 2:
                    paired[s[two]] = _append(G, st, s[two], atoms[two, 1], theta[two, 1], swap=False)[0]
        rhs = st.c.gather(1, st.idx) - lam_p[st.idx] * st.sign
        z = _solve_factored(st.L, rhs)
        blocked = st.valid & (z * st.sign <= 0)
        diff = st.coef - z
        t_hit = torch.where(blocked, torch.where(diff != 0, st.coef / diff, 0.0), math.inf)
        t = torch.where(finished | done, 0.0, t_hit.min(1).values.clamp(max=1))
        st.coef += t[:, None] * (z - st.coef)
        finished |= added & ~paired & (t <= 0)  # the new atom cannot move: its violation is rounding noise
        st.stationary = t >= 1
        failed = (paired & (t <= 0)).nonzero()[:, 0]  # a pair of new atoms that cannot both move:
        if len(failed):  # back to the stationary point before them, adding one atom at a time from now on
            st.forget_last(failed, 2, n)
            st.stationary[failed] = st.single[failed] = True
        drop = blocked & (t_hit <= t[:, None]) & (~finished & ~done & ~st.stationary)[:, None]
        r = drop.any(1).nonzero()[:, 0]
        if len(r):
            _refactor(G, st, r, st.valid[r] & ~drop[r])
        if finished.any():
            f = finished.nonzero()[:, 0]
            out[local[f]] = st.dense(n, f)
            bar.update(len(f))
            done |= finished
        if 8 * done.sum() >= len(done):  # drop finished rows once they are an eighth of the block
            keep = (~done).nonzero()[:, 0]
            local, st, done = local[keep], st.take(keep), done[keep]
            if len(keep):
                st.shrink(n)
    live = ~done
    out[local[live]] = st.dense(n, live)
    bar.update(int(live.sum()))
    return out, iters


def solve(D: torch.Tensor, X: torch.Tensor, lam: Lam, *, nonneg: bool = False, tol: float = 1e-5,
          max_iter: int | None = None, exact: bool = True, init: torch.Tensor | None = None,
          lipschitz: float | None = None, progress: bool = False, gram: torch.Tensor | None = None,
          presolve: int = 0) -> LassoResult:
    """Lasso codes of the rows of X over the atoms (columns) of D, each with Luther & Seung's certificate.

    exact=True: active-set method in float64 from init (or zero), at most max_iter steps per sample
    (default 10·n_atoms + 100); with presolve > 0 it starts instead from the codes of that many FISTA
    steps from init, which find most of a large support at once where the active-set method adds its atoms
    one or two per step (iterations then count the active-set steps only). exact=False: FISTA in the
    inputs' dtype, step 1/lipschitz (power iteration if None), until every sample's KKT violation is below
    tol or max_iter (default 10 000). init (batch × n_atoms) warm-starts either. gram, the result of
    gram(D), saves recomputing DᵀD when the same D codes many batches. Codes come back in the inputs' dtype.
    """
    lam_t = _check(D, X, lam)
    a_init = None if init is None else _check_codes(init, X, D, "init")
    if nonneg and a_init is not None and (a_init < 0).any():
        raise ValueError("init must be non-negative when nonneg=True")
    n = D.shape[1]
    max_iter = (10 * n + 100 if exact else 10_000) if max_iter is None else max_iter
    if max_iter < 0 or tol <= 0 or presolve < 0:
        raise ValueError(f"max_iter and presolve must be >= 0 and tol > 0, got {max_iter}, {presolve} and {tol}")
    if presolve and not exact:
        raise ValueError("presolve starts the exact solver; with exact=False raise max_iter instead")
    dtype = torch.result_type(D, X)
    G, lam_p, D64 = _checked_gram(gram, D), _pad(lam_t), D.double()
    step = lipschitz if lipschitz is not None or (exact and not presolve) else power_lipschitz(D)
    fista = lambda c, a0, steps: _fista(G[:-1, :-1].to(dtype), c[:, :-1].to(dtype), lam_t.to(dtype), nonneg,
                                        a0.to(dtype), step, tol, steps)
    chunk = _on_device(CHUNK, D.device)
    pb = _Problem.of(G, lam_p, nonneg)
    parts = []
    with tqdm(total=len(X), disable=not progress, desc="lasso", unit="code") as bar:
        for rows in torch.arange(len(X), device=X.device).split(chunk):
            c = _pad(X[rows].double() @ D64)
            a0 = torch.zeros(len(rows), n, dtype=torch.float64, device=D.device) if a_init is None else a_init[rows]
            if exact:
                a, it = _exact(pb, c, fista(c, a0, presolve)[0].double() if presolve else a0, max_iter, bar)
            else:
                a, it = fista(c, a0, max_iter)
                bar.update(len(rows))
            a = a.to(dtype)
            parts.append((a, it, _certify(G, c, lam_p, a.double(), nonneg)))
    return LassoResult(torch.cat([p[2].certified for p in parts]), torch.cat([p[2].kkt for p in parts]),
                       torch.cat([p[2].unique for p in parts]), torch.cat([p[0] for p in parts]),
                       torch.cat([p[1] for p in parts]))


def active_jacobian(D: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """dr/dx at a code whose support is fixed near x: J₊ = (D₊ᵀD₊)⁻¹D₊ᵀ on the support rows, zero elsewhere."""
    if D.ndim != 2 or code.shape != (D.shape[1],):
        raise ValueError(f"code must have shape ({D.shape[1]},) for D of shape {tuple(D.shape)}, got {tuple(code.shape)}")
    idx, valid = _support((code != 0)[None])
    L, full = _cholesky(gram(D), idx, valid)
    if not full.item():
        raise ValueError("the active dictionary D₊ is rank-deficient: the code has no unique Jacobian")
    J = torch.zeros(D.shape[1], D.shape[0], dtype=torch.float64, device=D.device)
    support = idx[0, valid[0]]
    J[support] = torch.cholesky_solve(D.double()[:, support].T, L[0, : len(support), : len(support)])
    return J
