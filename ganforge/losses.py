"""GAN losses as small pure functions of discriminator logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def d_bce_loss(
    real_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    real_target: torch.Tensor | float = 1.0,
    fake_target: torch.Tensor | float = 0.0,
) -> torch.Tensor:
    """Discriminator BCE: -log D(x) - log(1 - D(G(z))), with optional soft/noisy targets."""
    rt = torch.as_tensor(real_target, dtype=real_logits.dtype, device=real_logits.device)
    ft = torch.as_tensor(fake_target, dtype=fake_logits.dtype, device=fake_logits.device)
    return F.binary_cross_entropy_with_logits(
        real_logits, rt.expand_as(real_logits)
    ) + F.binary_cross_entropy_with_logits(fake_logits, ft.expand_as(fake_logits))


def g_nonsaturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator's non-saturating loss -log D(G(z)) (Goodfellow et al. 2014, sec. 3)."""
    return F.softplus(-fake_logits).mean()


def smooth_targets(
    n: int,
    real: bool,
    smoothing: float,
    noise: float,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor | float:
    """Targets for D: one-sided label smoothing (real 1 -> 1 - smoothing) plus ``noise * U(0,1)``.

    The Keras face-GAN tutorial adds 0.05 * U(0, 1) to both real and fake labels. Returns a plain
    float when no randomness is asked for, so the common case draws no random numbers.
    """
    base = (1.0 - smoothing) if real else 0.0
    if noise <= 0:
        return base
    return base + noise * torch.rand(n, device=device, dtype=dtype)
