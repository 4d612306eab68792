"""Multi-layer convolutional sparse coding (ML-CSC) of Papyan, Romano & Elad: signals X = D₁Γ₁,
Γᵢ₋₁ = DᵢΓᵢ with locally sparse Γᵢ; the layered pursuits that estimate them (thresholding = the CNN
forward pass, ISTA/FISTA unrolled k times, a LASSO per layer); their metrics; and the theorems' conditions.

Signals are 1-D and circular with N positions. A code with m channels is a vector of length N·m indexed
position·m + channel, so a stripe (all channels of a run of positions) is a contiguous slice. Every
batched function takes codes as (trials × N·m) tensors and works on any device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import torch
from tqdm.auto import tqdm

from scpaper import coherence, thresholds
from scpaper.fista import iterate


def conv_dictionary(filters: torch.Tensor, n_positions: int) -> torch.Tensor:
    """Dense circulant dictionary (N·c × N·m) of m filters (m × c × n): column p·m+k is filter k placed at p."""
    if filters.ndim != 3:
        raise ValueError(f"filters must be (atoms, channels, length), got shape {tuple(filters.shape)}")
    m, c, n = filters.shape
    if n > n_positions:
        raise ValueError(f"filter length {n} exceeds the {n_positions} positions of the signal")
    D = filters.new_zeros(n_positions, c, n_positions, m)
    p = torch.arange(n_positions, device=filters.device)
    for k in range(n):
        D[(p + k) % n_positions, :, p, :] += filters[:, :, k].T
    return D.reshape(n_positions * c, n_positions * m)


def gaussian_filters(m: int, c: int, n: int, gen: torch.Generator) -> torch.Tensor:
    """m filters of c channels × n taps with i.i.d. Gaussian entries, each scaled to unit ℓ2 norm."""
    f = torch.randn(m, c, n, generator=gen, dtype=torch.float64)
    return f / f.flatten(1).norm(dim=1)[:, None, None]


def sparse_filters(m: int, c: int, n: int, s: int, gen: torch.Generator, min_gap: int = 1) -> torch.Tensor:
    """m unit-norm filters of c channels × n taps, each with s non-zeros ±1/√s at random taps whose
    offsets lie at least min_gap apart."""
    if not 1 <= s or (s - 1) * min_gap >= n:
        raise ValueError(f"s={s} taps at least {min_gap} apart do not fit in {n} taps")
    f = torch.zeros(m, c, n, dtype=torch.float64)
    slack = n - 1 - (s - 1) * min_gap
    for k in range(m):
        spare = torch.sort(torch.randint(0, slack + 1, (s,), generator=gen)).values
        offsets = spare + min_gap * torch.arange(s)
        chans = torch.randint(0, c, (s,), generator=gen)
        signs = torch.randint(0, 2, (s,), generator=gen).double() * 2 - 1
        f[k, chans, offsets] = signs / math.sqrt(s)
    return f


def low_coherence_filters(m: int, n: int, seed: int = 0, steps: int = 300) -> torch.Tensor:
    """m single-channel unit-norm filters of n taps whose circulant dictionary has low μ (Adam on a soft max of |G|).

    The off-diagonal Gram entries of a circulant dictionary are the filters' cross-correlations at every lag,
    each repeated once per position, so the soft max is taken over those (one conv1d) rather than over the
    (2n·m)² dense Gram: the same loss, without building the dictionary.
    """
    gen = torch.Generator().manual_seed(seed)
    f = gaussian_filters(m, 1, n, gen).requires_grad_(True)
    opt = torch.optim.Adam([f], lr=0.02)
    off = torch.ones(m, m, 2 * n - 1, dtype=torch.bool)
    off[range(m), range(m), n - 1] = False  # an atom with itself at lag 0: the Gram's diagonal
    for _ in tqdm(range(steps), desc="low-coherence filters", leave=False):
        g = f / f.flatten(1).norm(dim=1)[:, None, None]
        corr = torch.nn.functional.conv1d(g, g, padding=n - 1)  # (m, m, 2n − 1): ⟨g_k, g_l shifted⟩ per lag
        loss = (corr[off].abs().pow(16).sum() / (2 * n * m * m)).pow(1 / 16)  # mean over the Gram on 2n positions
        opt.zero_grad()
        loss.backward()
        opt.step()
    f = f.detach()
    return f / f.flatten(1).norm(dim=1)[:, None, None]


@dataclass(frozen=True)
class Model:
    """An L-layer ML-CSC model: dictionaries D₁..D_L (dense), channels m₀..m_L, filter lengths n₁..n_L."""

    dictionaries: tuple[torch.Tensor, ...]
    channels: tuple[int, ...]
    lengths: tuple[int, ...]
    n_positions: int

    @property
    def depth(self) -> int:
        """Number of layers L."""
        return len(self.dictionaries)

    @cached_property
    def _coherences(self) -> tuple[float, ...]:
        """μ(Dᵢ), computed once per model."""
        return tuple(coherence.mutual_coherence(D) for D in self.dictionaries)

    def coherences(self) -> list[float]:
        """μ(Dᵢ) of every layer's global dictionary."""
        return list(self._coherences)

    @cached_property
    def footprints(self) -> tuple[torch.Tensor, ...]:
        """For every layer l = 1..L, the rows that each top-layer atom touches in Γ_l (N·m_L × count), computed once."""
        out = []
        for level in range(1, self.depth + 1):
            P = None
            for D in reversed(self.dictionaries[level:]):
                P = D if P is None else D @ P
            if P is None:
                P = torch.eye(self.dictionaries[-1].shape[1], dtype=torch.float64, device=self.dictionaries[0].device)
            out.append((P.abs().T > 1e-12).nonzero()[:, 1].reshape(P.shape[1], -1))
        return tuple(out)

    @cached_property
    def grams(self) -> tuple[torch.Tensor, ...]:
        """lasso.gram(Dᵢ) of every layer, computed once for the many LASSO batches a sweep codes."""
        from scpaper.lasso import gram

        return tuple(gram(D) for D in self.dictionaries)

    @cached_property
    def step_sizes(self) -> tuple[float, ...]:
        """step_size(Dᵢ) of every layer, computed once for the many layered ISTA runs a sweep makes."""
        return tuple(step_size(D) for D in self.dictionaries)

    def to(self, device: torch.device | str) -> "Model":
        """The same model with its dictionaries on device."""
        return Model(tuple(D.to(device) for D in self.dictionaries), self.channels, self.lengths, self.n_positions)


def make_model(n_positions: int, channels: tuple[int, ...], lengths: tuple[int, ...], sparsity: tuple[int, ...],
               gaps: tuple[int, ...] | None = None, seed: int = 0, max_tries: int = 500) -> Model:
    """A model whose D₁ has low-coherence filters and whose D₂..D_L have sparse filters (sᵢ taps, gaps apart).

    The sparse filters are redrawn until μ(Dᵢ) ≤ 1/sᵢ (two atoms share at most one tap at any shift) and
    every column of D₂·…·D_L has exactly ∏sᵢ non-zeros of equal magnitude, so a top-layer atom leaves
    equal entries that never collide in every layer below.
    """
    L = len(lengths)
    gaps = gaps or (1,) * (L - 1)
    if len(channels) != L + 1 or len(sparsity) != L - 1 or len(gaps) != L - 1 or channels[0] != 1:
        raise ValueError("need channels (1, m1, …, mL), lengths (n1, …, nL), sparsity and gaps (layers 2..L)")
    gen = torch.Generator().manual_seed(seed)
    small = min(n_positions, 2 * sum(lengths))  # circulant inner products are those of any N ≥ 2n − 1
    filters = [low_coherence_filters(channels[1], lengths[0], seed)]
    for i in range(1, L):
        s = sparsity[i - 1]
        for _ in range(max_tries):
            f = sparse_filters(channels[i + 1], channels[i], lengths[i], s, gen, gaps[i - 1])
            P = conv_dictionary(f, small)
            for below in reversed(filters[1:]):
                P = conv_dictionary(below, small) @ P
            nnz = (P.abs() > 1e-12).sum(0)
            if coherence.mutual_coherence(conv_dictionary(f, small)) <= 1 / s + 1e-9 and bool((nnz == math.prod(sparsity[:i])).all()):
                break
        else:
            raise ValueError(f"could not draw layer {i + 1} with μ ≤ 1/s and non-colliding atoms in {max_tries} tries")
        filters.append(f)
    return Model(tuple(conv_dictionary(f, n_positions) for f in filters), tuple(channels), tuple(lengths), n_positions)


def window_sums(x: torch.Tensor, width: int) -> torch.Tensor:
    """Sums of x (trials × N) over every circular run of width positions (trials × N), from prefix sums."""
    wrapped = torch.cat([x, x[:, : width - 1]], dim=1)
    prefix = torch.nn.functional.pad(wrapped.cumsum(1), (1, 0))
    return prefix[:, width:] - prefix[:, :-width]


def local_l0(codes: torch.Tensor, channels: int, width: int) -> torch.Tensor:
    """‖Γ‖0,∞ over windows of width positions (all channels): the most non-zeros in any window, per trial."""
    per_position = (codes != 0).reshape(codes.shape[0], -1, channels).sum(-1).to(codes.dtype)
    return window_sums(per_position, width).amax(1).round().long()


def local_l2(codes: torch.Tensor, channels: int, width: int) -> torch.Tensor:
    """‖Γ‖2,∞ over windows of width positions: the largest ℓ2 norm of any window, per trial."""
    per_position = codes.reshape(codes.shape[0], -1, channels).pow(2).sum(-1)
    return window_sums(per_position, width).amax(1).clamp_min(0).sqrt()


def stripe_width(model: Model, layer: int) -> int:
    """Positions in a stripe of Γ_layer: 2nᵢ − 1, the atoms that overlap one patch of the layer below."""
    return 2 * model.lengths[layer - 1] - 1


def _room(model: Model, foots: list[torch.Tensor], occupied: list[torch.Tensor], counts: list[torch.Tensor],
          rows: torch.Tensor, max_local: tuple[int, ...]) -> torch.Tensor:
    """Whether any top-layer atom could still be added to each of the given trials without a collision or a
    ‖Γᵢ‖0,∞ above its bound in any layer (every candidate tried at once, in chunks of trials)."""
    n_cand = foots[0].shape[0]
    added = []  # per layer: the window sums that each candidate atom adds (candidates × N), the same for every trial
    for level, idx in enumerate(foots):
        inc = torch.zeros(n_cand, model.n_positions, dtype=counts[level].dtype, device=rows.device)
        inc.scatter_add_(1, idx // model.channels[level + 1], torch.ones_like(idx, dtype=inc.dtype))
        added.append(window_sums(inc, stripe_width(model, level + 1)))
    found = []
    for part in rows.split(max(1, 2**24 // (n_cand * model.n_positions))):
        fits = torch.ones(len(part), n_cand, dtype=torch.bool, device=rows.device)
        for level, idx in enumerate(foots):
            fits &= ~occupied[level][part][:, idx].any(-1)
            after = window_sums(counts[level][part], stripe_width(model, level + 1))[:, None, :] + added[level][None]
            fits &= after.amax(-1) <= max_local[level]
        found.append(fits.any(1))
    return torch.cat(found)


def sample_supports(model: Model, n_trials: int, n_nonzeros: int, max_local: tuple[int, ...], gen: torch.Generator,
                    attempts: int = 30, cluster: int = 0) -> torch.Tensor:
    """Supports of Γ_L (trials × N·m_L, bool) with up to n_nonzeros atoms, kept only while no two atoms'
    entries collide in any layer below and every layer keeps ‖Γᵢ‖0,∞ ≤ max_local[i−1] (stripe widths 2nᵢ−1).

    Each trial draws up to attempts·n_nonzeros random candidates. While more draws remain than there are
    candidate atoms, a trial that has failed `attempts` draws in a row is checked against every candidate and
    stops drawing once none fits: it is as full as it can be, so the supports are those of the full draw.
    The first `cluster` atoms of each trial are drawn inside one random top-layer stripe, so that
    ‖Γ_L‖0,∞ reaches `cluster` (exactly, when max_local[-1] = cluster and every atom finds room).
    """
    if len(max_local) != model.depth:
        raise ValueError(f"max_local needs one bound per layer ({model.depth}), got {len(max_local)}")
    if cluster > min(n_nonzeros, max_local[-1]):
        raise ValueError(f"a cluster of {cluster} atoms exceeds n_nonzeros={n_nonzeros} or max_local={max_local[-1]}")
    device = model.dictionaries[0].device
    foots = [f.to(device) for f in model.footprints]
    occupied = [torch.zeros(n_trials, model.n_positions * m, dtype=torch.bool, device=device) for m in model.channels[1:]]
    counts = [torch.zeros(n_trials, model.n_positions, device=device) for _ in model.channels[1:]]
    placed = torch.zeros(n_trials, dtype=torch.long, device=device)
    stalled = torch.zeros(n_trials, dtype=torch.long, device=device)
    full = torch.zeros(n_trials, dtype=torch.bool, device=device)
    m_top, width_top = model.channels[-1], stripe_width(model, model.depth)
    start = torch.randint(model.n_positions, (n_trials,), generator=gen).to(device)
    for step in range(attempts * n_nonzeros):
        active = (placed < n_nonzeros) & ~full
        if not active.any():
            break
        free = torch.randint(model.n_positions * m_top, (n_trials,), generator=gen).to(device)
        near = torch.randint(width_top * m_top, (n_trials,), generator=gen).to(device)
        near = ((start + near // m_top) % model.n_positions) * m_top + near % m_top
        cand = torch.where(placed < cluster, near, free)
        ok, rows, incs = active.clone(), [], []
        for level in range(model.depth):
            idx = foots[level][cand]
            ok &= ~occupied[level].gather(1, idx).any(1)
            inc = torch.zeros_like(counts[level]).scatter_add_(1, idx // model.channels[level + 1], torch.ones_like(idx, dtype=counts[level].dtype))
            width = stripe_width(model, level + 1)
            ok &= window_sums(counts[level] + inc, width).amax(1) <= max_local[level]
            rows.append(idx)
            incs.append(inc)
        for level in range(model.depth):
            occupied[level][ok] = occupied[level][ok].scatter(1, rows[level][ok], True)
            counts[level] += incs[level] * ok[:, None]
        placed += ok
        stalled = torch.where(ok, 0, stalled + 1)
        if (step + 1) % attempts == 0 and attempts * n_nonzeros - step - 1 > foots[0].shape[0]:
            suspect = (active & ~ok & (stalled >= attempts)).nonzero()[:, 0]
            if len(suspect):
                full[suspect] = ~_room(model, foots, occupied, counts, suspect, max_local)
    return occupied[-1]


def contrast_magnitudes(support: torch.Tensor, contrast: float, gen: torch.Generator) -> torch.Tensor:
    """Magnitudes on a support whose smallest/largest ratio is exactly `contrast` in every row with ≥ 2
    non-zeros: uniform draws mapped affinely so that the row's minimum is `contrast` and its maximum 1."""
    u = torch.rand(support.shape, generator=gen, dtype=torch.float64).to(support.device)
    lo = torch.where(support, u, torch.inf).amin(1, keepdim=True)
    hi = torch.where(support, u, -torch.inf).amax(1, keepdim=True)
    spread = (hi - lo).clamp_min(1e-300)
    mags = torch.where(hi > lo, contrast + (1 - contrast) * (u - lo) / spread, torch.ones_like(u))
    return mags * support


def sample_signals(model: Model, n_trials: int, n_nonzeros: int, max_local: tuple[int, ...], ratio: float,
                   noise: float, seed: int, cluster: int = 0) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Draw [Γ₁, …, Γ_L] with Γᵢ₋₁ = DᵢΓᵢ exactly and Y = D₁Γ₁ + noise·E (E standard Gaussian).

    Γ_L has random signs and, in every signal with at least two atoms, magnitudes whose contrast
    |Γmin|/|Γmax| is exactly `ratio`; the sparse, non-colliding lower dictionaries carry that contrast to
    every layer. The same seed draws the same supports, signs, uniforms and E for every ratio and noise,
    so sweeps over them are paired. `cluster` atoms share one top-layer stripe (sample_supports).
    """
    if not 0 < ratio <= 1 or noise < 0:
        raise ValueError(f"need 0 < ratio ≤ 1 and noise ≥ 0, got ratio={ratio}, noise={noise}")
    gen = torch.Generator().manual_seed(seed)
    device = model.dictionaries[0].device
    support = sample_supports(model, n_trials, n_nonzeros, max_local, gen, cluster=cluster)
    signs = (torch.randint(0, 2, support.shape, generator=gen).double() * 2 - 1).to(device)
    codes = [contrast_magnitudes(support, ratio, gen) * signs]
    for D in reversed(model.dictionaries[1:]):
        codes.insert(0, codes[0] @ D.T)
    Y = codes[0] @ model.dictionaries[0].T
    E = torch.randn(Y.shape, generator=gen, dtype=torch.float64).to(device)
    return codes, Y + noise * E


def contrast(code: torch.Tensor) -> torch.Tensor:
    """|Γmin|/|Γmax| over the non-zeros of each row (1 for rows with one non-zero or none)."""
    mags = code.abs()
    gmax = mags.amax(1)
    gmin = torch.where(code != 0, mags, torch.inf).amin(1)
    return torch.where(gmax > 0, gmin / gmax.clamp_min(1e-300), torch.ones_like(gmax))


def step_size(D: torch.Tensor) -> float:
    """1/L with L ≥ ‖D‖₂² (power iteration, 1 % margin), the ISTA step that guarantees descent."""
    from scpaper.lasso import power_lipschitz

    return 1.0 / power_lipschitz(D)


def layered_thresholding(model: Model, Y: torch.Tensor, betas: list[float | torch.Tensor]) -> list[torch.Tensor]:
    """The forward pass Γ̂ᵢ = S_βᵢ(DᵢᵀΓ̂ᵢ₋₁), Γ̂₀ = Y (soft thresholding, signed codes); βᵢ a float or one per trial (T × 1)."""
    out, x = [], Y
    for D, beta in zip(model.dictionaries, betas, strict=True):
        u = x @ D
        x = thresholds.soft(u, beta) if isinstance(beta, float) else torch.sign(u) * torch.relu(u.abs() - beta.clamp_min(0))
        out.append(x)
    return out


def ista(D: torch.Tensor, X: torch.Tensor, lam: float, n_iter: int, *, fista: bool = False,
         init: torch.Tensor | None = None, eta: float | None = None) -> torch.Tensor:
    """n_iter ISTA (or FISTA) steps on ½‖X − DΓ‖² + λ‖Γ‖₁ from Γ⁰ = init (zero when None), of size
    eta (step_size(D) when None)."""
    if n_iter < 1:
        raise ValueError(f"n_iter must be at least 1, got {n_iter}")
    eta = step_size(D) if eta is None else eta
    z = torch.zeros(X.shape[0], D.shape[1], dtype=X.dtype, device=X.device) if init is None else init
    return iterate(lambda z: thresholds.soft(z + eta * (X - z @ D.T) @ D, lam * eta), z, n_iter, momentum=fista)


def layered_ista(model: Model, Y: torch.Tensor, lams: list[float], n_iter: int, *, fista: bool = False,
                 init: str = "zero") -> list[torch.Tensor]:
    """Layered ISTA/FISTA: n_iter steps per layer on the LASSO of Γ̂ᵢ₋₁ over Dᵢ.

    init="zero" starts every layer at Γ⁰ = 0 (one step is a scaled forward pass); init="previous" starts
    layer i at the previous layer's estimate Γ̂ᵢ₋₁ wherever the shapes agree (the Res-CSC initialisation).
    """
    if init not in ("zero", "previous"):
        raise ValueError(f"init must be 'zero' or 'previous', got {init!r}")
    out, x = [], Y
    for D, lam, eta in zip(model.dictionaries, lams, model.step_sizes, strict=True):
        start = x if init == "previous" and x.shape[1] == D.shape[1] else None
        x = ista(D, x, lam, n_iter, fista=fista, init=start, eta=eta)
        out.append(x)
    return out


def lasso_layer(D: torch.Tensor, X: torch.Tensor, lam: float | torch.Tensor, tol: float = 1e-7,
                gram: torch.Tensor | None = None) -> tuple[torch.Tensor, float]:
    """Certified LASSO codes of the rows of X over D and the certified fraction; λ a float or one per row (T,).
    gram: lasso.gram(D) when the caller holds it (Model.grams).

    The LASSO is homogeneous, x(cy, cλ) = c·x(y, λ), so rows with their own λ are solved at a common λ
    after scaling each by λ/λᵢ, and scaled back.
    """
    from scpaper import lasso

    if not isinstance(lam, torch.Tensor):
        res = lasso.solve(D, X, lam, tol=tol, gram=gram)
        return res.codes, float(res.certified_fraction)
    if lam.shape != (X.shape[0],) or (lam <= 0).any():
        raise ValueError(f"per-row λ must be positive with shape ({X.shape[0]},), got {tuple(lam.shape)}")
    ref = float(lam.max())
    scale = (ref / lam)[:, None].to(X.dtype)
    res = lasso.solve(D, X * scale, ref, tol=tol, gram=gram)
    return res.codes / scale, float(res.certified_fraction)


def layered_bp(model: Model, Y: torch.Tensor, lams: list[float | torch.Tensor], tol: float = 1e-7) -> tuple[list[torch.Tensor], list[float]]:
    """Layered basis pursuit: a certified LASSO per layer on the previous estimate (lasso_layer); codes and certified fractions."""
    out, certified, x = [], [], Y
    for D, G, lam in zip(model.dictionaries, model.grams, lams, strict=True):
        x, frac = lasso_layer(D, x, lam, tol, gram=G)
        out.append(x)
        certified.append(frac)
    return out, certified


def relative_error(true: torch.Tensor, est: torch.Tensor) -> torch.Tensor:
    """‖Γ̂ − Γ‖² / ‖Γ‖² per trial (Aberdam et al.'s metric)."""
    return (est - true).pow(2).sum(1) / true.pow(2).sum(1).clamp_min(1e-300)


def exact_support(true: torch.Tensor, est: torch.Tensor) -> torch.Tensor:
    """Per trial: the estimate's support equals the true one."""
    return ((true != 0) == (est != 0)).all(1)


def support_recovery(true: torch.Tensor, est: torch.Tensor, tol: float = 0.0) -> torch.Tensor:
    """|S ∩ Ŝ| / max(|S|, |Ŝ|) per trial (1 when both are empty); Ŝ counts entries with |value| > tol."""
    S, Sh = true != 0, est.abs() > tol
    inter = (S & Sh).sum(1).double()
    denom = torch.maximum(S.sum(1), Sh.sum(1)).double()
    return torch.where(denom > 0, inter / denom.clamp_min(1), torch.ones_like(inter))


def error_window(model: Model, layer: int) -> int:
    """Positions of the patches of Γ_layer whose ℓ2 norm the stability bound εᵢ controls: the next layer's filter
    length (the patch one of its atoms sees), and the stripe for the deepest layer."""
    return model.lengths[layer] if layer < model.depth else stripe_width(model, layer)


def local_error(model: Model, layer: int, true: torch.Tensor, est: torch.Tensor) -> torch.Tensor:
    """‖Γ̂ᵢ − Γᵢ‖2,∞ over the patches of error_window positions that εᵢ bounds, per trial."""
    return local_l2(est - true, model.channels[layer], error_window(model, layer))


@dataclass(frozen=True)
class Conditions:
    """Per trial and layer (trials × L): whether each theorem's condition holds, the β interval and εᵢ."""

    thresholding: torch.Tensor
    beta_low: torch.Tensor
    beta_high: torch.Tensor
    eps: torch.Tensor
    bp: torch.Tensor
    unique: torch.Tensor  # ‖Γᵢ‖0,∞ < ½(1 + 1/μᵢ): uniqueness, and layered BP/ISTA recovery without noise (Zhang, Theorem 8)
    local: torch.Tensor  # ‖Γᵢ‖0,∞ (long)
    eps0: torch.Tensor  # ‖E‖2,∞ over patches of n₁ samples (T,)
    beta: torch.Tensor  # the β of each layer that εᵢ was computed with (trials × L)


def conditions(model: Model, codes: list[torch.Tensor], noise: torch.Tensor, betas: list[float] | None = None,
               position: float = 0.5) -> Conditions:
    """Evaluate, per trial, the layered-thresholding theorem (condition and β interval, εᵢ recursion) and the
    layered-BP condition ‖Γᵢ‖0,∞ < ⅓(1 + 1/μ(Dᵢ)) of Papyan, Romano & Elad, as stated in the slides.

    noise is E = Y − D₁Γ₁; ε₀ = ‖E‖2,∞ over patches of n₁ samples. With betas None the β of each layer sits
    at `position` within its interval (0.5: the middle; near 0: the smallest admissible β, which keeps the
    next layers' εᵢ smallest); εᵢ = √‖Γᵢ‖ᴾ0,∞ (εᵢ₋₁ + μᵢ(‖Γᵢ‖0,∞ − 1)|Γᵢmax| + βᵢ)
    with the patch norm over the next layer's filter length.
    """
    mus = model.coherences()
    eps = eps0 = local_l2(noise, 1, model.lengths[0])
    th, lo, hi, es, bp, un, ks, bs = [], [], [], [], [], [], [], []
    for i, (code, mu) in enumerate(zip(codes, mus), start=1):
        m = model.channels[i]
        k = local_l0(code, m, stripe_width(model, i)).double()
        mags = code.abs()
        gmax = mags.amax(1)
        gmin = torch.where(code != 0, mags, torch.full_like(mags, math.inf)).amin(1)
        cond = k < 0.5 * (1 + gmin / (mu * gmax)) - eps / (mu * gmax)
        low = k * mu * gmax + eps
        high = gmin - (k - 1) * mu * gmax - eps
        beta = low + position * (high - low) if betas is None else torch.full_like(low, betas[i - 1])
        th.append(cond & (low < high) & (beta > low) & (beta < high))
        lo.append(low)
        hi.append(high)
        bp.append(k < (1 + 1 / mu) / 3)
        un.append(k < (1 + 1 / mu) / 2)
        bs.append(beta)
        ks.append(k.long())
        eps = local_l0(code, m, error_window(model, i)).double().sqrt() * (eps + mu * (k - 1) * gmax + beta)
        es.append(eps)
    stack = lambda xs: torch.stack(xs, 1)  # noqa: E731
    return Conditions(stack(th), stack(lo), stack(hi), stack(es), stack(bp), stack(un), stack(ks), eps0, stack(bs))


def recovery_on_grid(true: torch.Tensor, u: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Mean support recovery of the soft threshold S_β(u) at every β of an ascending grid, from one bucketing of
    |u|: entry j is in the support of S_β(u) exactly when |u_j| > β, i.e. when its bucket lies above β's."""
    grid = grid.to(u.device, u.dtype).contiguous()
    if (grid[1:] <= grid[:-1]).any():
        raise ValueError("grid must be strictly ascending")
    bucket = torch.searchsorted(grid, u.abs().contiguous())  # |u_j| > grid[b] ⇔ bucket > b

    def above(member: torch.Tensor) -> torch.Tensor:
        """(trials × grid) counts of members with |u_j| > β."""
        hist = torch.zeros(len(u), len(grid) + 1, dtype=torch.long, device=u.device).scatter_add_(1, bucket, member.long())
        return hist.flip(1).cumsum(1).flip(1)[:, 1:]

    S = true != 0
    inter, est = above(S).double(), above(torch.ones_like(S)).double()
    denom = torch.maximum(S.sum(1, keepdim=True).double(), est)
    return torch.where(denom > 0, inter / denom.clamp_min(1), torch.ones_like(inter)).mean(0)


def tune_thresholds(model: Model, Y: torch.Tensor, codes: list[torch.Tensor], grid: torch.Tensor) -> list[float]:
    """Per layer, greedily, the β on grid that maximises mean support recovery (the best bias a trained net could have)."""
    betas, x = [], Y
    for i, D in enumerate(model.dictionaries):
        u = x @ D
        scores = recovery_on_grid(codes[i], u, grid)
        best = float(grid[int(scores.argmax())])
        betas.append(best)
        x = thresholds.soft(u, best)
    return betas
