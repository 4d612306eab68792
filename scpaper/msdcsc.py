"""MSD-CSC: a mixed-scale dense layer read as thresholding with the dictionary Dᵢ = [I  (Fᵢ^{sᵢ})ᵀ].

Fᵢ^{sᵢ} is a convolution with dilation sᵢ (weights W of shape (g, n, k, k): n input maps, g new maps). The
layer's code is Γᵢ = [carried part; new part] with n + g channels, and

    Dᵢᵀ Γᵢ₋₁ = [Γᵢ₋₁ ; Fᵢ Γᵢ₋₁],      Dᵢ Γᵢ = Γᵢ[:n] + Fᵢᵀ Γᵢ[n:],

so one thresholding step with no threshold on the carried part is MSDNet's dense layer (Zhang & Zhang's
Proposition 1): the identity block is the dense concatenation, the dilated atoms are the dilated filters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from scpaper.fista import iterate
from scpaper.rescsc import READOUT_GRID, analysis, lipschitz, synthesis


def msd_analysis(G: torch.Tensor, W: torch.Tensor, dilation: int) -> torch.Tensor:
    """Dᵢᵀ Γᵢ₋₁ = [Γᵢ₋₁ ; Fᵢ^{sᵢ} Γᵢ₋₁] (channels concatenated)."""
    if G.shape[1] != W.shape[1]:
        raise ValueError(f"Γᵢ₋₁ has {G.shape[1]} channels but the dilated atoms expect {W.shape[1]}")
    return torch.cat([G, analysis(G, W, dilation)], dim=1)


def msd_synthesis(code: torch.Tensor, W: torch.Tensor, dilation: int) -> torch.Tensor:
    """Dᵢ Γᵢ = Γᵢ[:n] + (Fᵢ^{sᵢ})ᵀ Γᵢ[n:]."""
    n = W.shape[1]
    if code.shape[1] != n + W.shape[0]:
        raise ValueError(f"an MSD-CSC code has {n + W.shape[0]} channels, got {code.shape[1]}")
    return code[:, :n] + synthesis(code[:, n:], W, dilation)


def msd_thresholds(beta_carried: torch.Tensor | float, beta_new: torch.Tensor, n: int) -> torch.Tensor:
    """The (1, n + g, 1, 1) threshold vector β̃ = [β_I·1ₙ ; β] of one MSD-CSC layer; ValueError if negative."""
    beta_new = torch.as_tensor(beta_new)
    carried = torch.as_tensor(beta_carried, dtype=beta_new.dtype, device=beta_new.device).expand(n)
    full = torch.cat([carried, beta_new.reshape(-1)])
    if (full < 0).any():
        raise ValueError("thresholds β must be non-negative")
    return full.view(1, -1, 1, 1)


def msdcsc_step(G: torch.Tensor, W: torch.Tensor, beta: torch.Tensor, dilation: int,
                beta_carried: torch.Tensor | float = 0.0) -> torch.Tensor:
    """Layered thresholding Γᵢ = S⁺_{β̃}(Dᵢᵀ Γᵢ₋₁) with the MSD-CSC dictionary (Proposition 1's propagation)."""
    return F.relu(msd_analysis(G, W, dilation) - msd_thresholds(beta_carried, beta, W.shape[1]).to(G))


def msdcsc_ista(G: torch.Tensor, W: torch.Tensor, beta: torch.Tensor, dilation: int, n_iter: int,
                beta_carried: torch.Tensor | float = 0.0, L: torch.Tensor | float | None = None,
                start: torch.Tensor | None = None) -> torch.Tensor:
    """n_iter non-negative ISTA steps on ½‖Γᵢ₋₁ − DᵢΓ‖² + ‖β̃⊙Γ‖₁ from start (default: the thresholding step)."""
    if n_iter < 0:
        raise ValueError(f"n_iter must be ≥ 0, got {n_iter}")
    L = 1 + lipschitz(W.detach(), tuple(G.shape[-2:]), dilation) if L is None else L  # λ_max(DDᵀ) = 1 + ‖F‖²
    thresholds = msd_thresholds(beta_carried, beta, W.shape[1]).to(G)
    code = msdcsc_step(G, W, beta, dilation, beta_carried) if start is None else start
    for _ in range(n_iter):
        residual = G - msd_synthesis(code, W, dilation)
        code = F.relu(code + (msd_analysis(residual, W, dilation) - thresholds) / L)
    return code


class MSDLayer(nn.Module):
    """MSDNet's layer (Pelt & Sethian): a dilated convolution of all earlier maps, ReLU, concatenated on."""

    def __init__(self, n_in: int, growth: int, dilation: int, k: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(n_in, growth, k, dilation=dilation, padding=dilation * (k // 2), padding_mode="circular")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[x ; ReLU(conv_s(x) + b)]."""
        return torch.cat([x, F.relu(self.conv(x))], dim=1)


@torch.no_grad()
def msdlayer_from_msdcsc(W: torch.Tensor, beta: torch.Tensor, dilation: int) -> MSDLayer:
    """The table's mapping: dilated conv = the atoms Fᵢ^{sᵢ}, bias = −β, dense concatenation = identity block."""
    layer = MSDLayer(W.shape[1], W.shape[0], dilation, W.shape[-1]).to(W.dtype)
    layer.conv.weight.copy_(W)
    layer.conv.bias.copy_(-torch.as_tensor(beta, dtype=W.dtype).expand(W.shape[0]))
    return layer


def dilation_of(i: int, max_dilation: int) -> int:
    """MSDNet's dilation schedule sᵢ = (i mod max_dilation) + 1."""
    return i % max_dilation + 1


class MSDCSCNet(nn.Module):
    """MSD-CSC layers unfolded n_iter ISTA steps each (n_iter = 0: MSDNet's forward), 4×4-pooled, read out.

    Thresholds are learned as softplus(ρ) ≥ 0: one β_I per layer on the carried maps, one β per new map.
    carried_threshold=False fixes β_I = 0, which with n_iter = 0 is MSDNet itself (Proposition 1).
    """

    def __init__(self, n_layers: int, growth: int, max_dilation: int, n_iter: int, in_channels: int = 3,
                 n_classes: int = 10, k: int = 3, carried_threshold: bool = True) -> None:
        super().__init__()
        if n_layers <= 0 or growth <= 0 or max_dilation <= 0 or n_iter < 0:
            raise ValueError(f"n_layers, growth, max_dilation must be > 0 and n_iter ≥ 0, got {n_layers}, {growth}, {max_dilation}, {n_iter}")
        self.n_iter, self.max_dilation = n_iter, max_dilation
        widths = [in_channels + growth * i for i in range(n_layers)]
        self.atoms = nn.ParameterList([nn.Parameter(torch.randn(growth, n, k, k) / (n * k * k) ** 0.5) for n in widths])
        self.rho_new = nn.ParameterList([nn.Parameter(torch.full((growth,), -4.0)) for _ in widths])
        self.rho_carried = nn.Parameter(torch.full((n_layers,), -6.0), requires_grad=carried_threshold)
        self.carried_threshold = carried_threshold
        self.readout = nn.Linear((in_channels + growth * n_layers) * READOUT_GRID ** 2, n_classes)

    def codes(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Γ₀ = x (non-negative images) and every layer's code Γ₁ … Γ_N, in the weights' dtype even under autocast."""
        with torch.autocast(x.device.type, enabled=False):
            return self._codes(x.to(self.atoms[0].dtype))

    def _codes(self, x: torch.Tensor) -> list[torch.Tensor]:
        """codes() without the autocast guard."""
        out = [x]
        for i, W in enumerate(self.atoms):
            beta_carried = F.softplus(self.rho_carried[i]) if self.carried_threshold else 0.0
            out.append(msdcsc_ista(out[-1], W, F.softplus(self.rho_new[i]), dilation_of(i, self.max_dilation),
                                   self.n_iter, beta_carried))
        return out

    @torch.no_grad()
    def new_map_share(self, x: torch.Tensor) -> float:
        """Share of the last code's energy carried by the maps the layers added (not the input channels)."""
        last = self.codes(x)[-1]
        n_in = self.atoms[0].shape[1]
        return float(last[:, n_in:].pow(2).sum() / last.pow(2).sum().clamp_min(1e-30))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores of images x (B, C, H, W) with values in [0, 1]."""
        return self.readout(F.adaptive_avg_pool2d(self.codes(x)[-1], READOUT_GRID).flatten(1))


class UnitImages(nn.Module):
    """uint8 images → floats in [0, 1] (non-negative, as Γ₀ must be), average-pooled by pool."""

    def __init__(self, pool: int) -> None:
        super().__init__()
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale and pool one batch."""
        z = x.float() / 255
        return F.avg_pool2d(z, self.pool) if self.pool > 1 else z


def nonneg_lasso(G: torch.Tensor, apply_D, apply_Dt, L: float, thresholds: torch.Tensor, shape: tuple[int, ...],
                 n_iter: int) -> torch.Tensor:
    """FISTA (Beck & Teboulle) for min_{Γ≥0} ½‖G − DΓ‖² + ‖β⊙Γ‖₁ with D given as operators; returns Γ."""
    return iterate(lambda z: F.relu(z + (apply_Dt(G - apply_D(z)) - thresholds) / L), G.new_zeros(shape), n_iter,
                   desc="FISTA")


def lasso_report(G: torch.Tensor, code: torch.Tensor, apply_D, apply_Dt, thresholds: torch.Tensor) -> dict[str, float]:
    """Objective ½‖G−DΓ‖² + ‖β⊙Γ‖₁, relative error ‖G−DΓ‖²/‖G‖², and the KKT residual ‖Γ − ReLU(Γ − ∇)‖∞."""
    residual = G - apply_D(code)
    grad = -apply_Dt(residual) + thresholds
    return {"objective": float(0.5 * residual.pow(2).sum() + (thresholds * code).sum()),
            "relative_error": float(residual.pow(2).sum() / G.pow(2).sum()),
            "kkt": float((code - F.relu(code - grad)).abs().max())}


def relative_errors(G: torch.Tensor, code: torch.Tensor, apply_D) -> torch.Tensor:
    """Per-item relative reconstruction error ‖Gₙ − DΓₙ‖² / ‖Gₙ‖² (one value per row of the batch)."""
    return (G - apply_D(code)).flatten(1).pow(2).sum(1) / G.flatten(1).pow(2).sum(1).clamp_min(1e-30)


def random_atoms(n: int, channels: int, k: int, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """n random atoms (n, channels, k, k) of unit ℓ₂ norm, like the identity block's atoms (matched atom counts)."""
    W = torch.randn(n, channels, k, k, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    return W / W.flatten(1).norm(dim=1).view(-1, 1, 1, 1)


def random_layer_outputs(channels: int, growth: int, size: int, dilation: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs of a random MSDNet layer (float64) and of the MSD-CSC thresholding step it maps to, on random maps."""
    gen = torch.Generator().manual_seed(seed)
    W = torch.randn(growth, channels, 3, 3, generator=gen, dtype=torch.float64)
    beta = torch.rand(growth, generator=gen, dtype=torch.float64)
    G = torch.rand(4, channels, size, size, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        return msdlayer_from_msdcsc(W, beta, dilation)(G), msdcsc_step(G, W, beta, dilation)
