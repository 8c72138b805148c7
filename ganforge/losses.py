"""GAN losses and penalties as small pure functions of discriminator outputs.

``LOSSES`` names each adversarial objective as a pair (D's loss, G's loss) over D's raw outputs
(logits for the BCE pair, scores for the others); ``--loss NAME`` picks one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .registry import Registry

Target = torch.Tensor | float


def d_bce_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, real_target: Target = 1.0,
               fake_target: Target = 0.0) -> torch.Tensor:
    """Discriminator BCE: -log D(x) - log(1 - D(G(z))), with optional soft/noisy targets."""
    rt = torch.as_tensor(real_target, dtype=real_logits.dtype, device=real_logits.device)
    ft = torch.as_tensor(fake_target, dtype=fake_logits.dtype, device=fake_logits.device)
    return F.binary_cross_entropy_with_logits(
        real_logits, rt.expand_as(real_logits)
    ) + F.binary_cross_entropy_with_logits(fake_logits, ft.expand_as(fake_logits))


def g_nonsaturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator's non-saturating loss -log D(G(z)) (Goodfellow et al. 2014, sec. 3)."""
    return F.softplus(-fake_logits).mean()


def g_minimax_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's side of the original minimax game: minimise log(1 - D(G(z))).

    Its gradient vanishes when D rejects the fakes confidently -- why the tutorials use the
    non-saturating form; here for completeness and comparison.
    """
    return -F.softplus(fake_logits).mean()


def d_ls_loss(real: torch.Tensor, fake: torch.Tensor, real_target: Target = 1.0,
              fake_target: Target = 0.0) -> torch.Tensor:
    """Least squares (Mao et al. 2017, a=0, b=c=1): 1/2 (D(x)-1)^2 + 1/2 D(G(z))^2."""
    return 0.5 * ((real - real_target) ** 2).mean() + 0.5 * ((fake - fake_target) ** 2).mean()


def g_ls_loss(fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((fake - 1.0) ** 2).mean()


def d_wasserstein_loss(real: torch.Tensor, fake: torch.Tensor, *_: Target) -> torch.Tensor:
    """The critic's side of the Wasserstein GAN (Arjovsky et al. 2017): E[D(G(z))] - E[D(x)].

    Needs a Lipschitz critic: pair it with a gradient penalty (``gp``) or spectral norm.
    """
    return fake.mean() - real.mean()


def g_wasserstein_loss(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def d_hinge_loss(real: torch.Tensor, fake: torch.Tensor, *_: Target) -> torch.Tensor:
    """Hinge (Lim & Ye 2017; SNGAN, BigGAN): E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]."""
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def g_hinge_loss(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def d_rp_loss(real: torch.Tensor, fake: torch.Tensor, *_: Target) -> torch.Tensor:
    """Relativistic pairing (RpGAN; R3GAN, Huang et al. 2024): D scores each real above the fake
    it is paired with, softplus(D(G(z)) - D(x)). With R1 and R2 it converges locally."""
    return F.softplus(fake - real).mean()


def g_rp_loss(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """RpGAN's generator side: each fake scored above its paired real, softplus(D(x) - D(G(z)))."""
    return F.softplus(real - fake).mean()


def d_ragan_loss(real: torch.Tensor, fake: torch.Tensor, *_: Target) -> torch.Tensor:
    """Relativistic average (Jolicoeur-Martineau 2018; ESRGAN, Wang et al. 2018 eq. 1-2): D
    judges each real as more real than the average fake, and each fake as less real than the
    average real: BCE(D(x) - E[D(G)], 1) and BCE(D(G) - E[D(x)], 0), averaged."""
    return 0.5 * (F.softplus(-(real - fake.mean())).mean() + F.softplus(fake - real.mean()).mean())


def g_ragan_loss(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """The generator's side of the relativistic average loss: the same two terms, roles swapped."""
    return 0.5 * (F.softplus(real - fake.mean()).mean() + F.softplus(-(fake - real.mean())).mean())


@dataclass(frozen=True)
class GANLoss:
    """One adversarial objective. ``targets``: whether D's loss takes (smoothed, noisy) targets;
    ``probabilities``: whether sigmoid(D) is a probability worth logging as d_real / d_fake;
    ``relativistic``: G's loss also takes D's scores of real images, ``g(fake_out, real_out)``."""

    d: Callable[..., torch.Tensor]  # (real_out, fake_out, real_target, fake_target) -> loss
    g: Callable[..., torch.Tensor]  # fake_out (, real_out) -> loss
    targets: bool
    probabilities: bool
    doc: str
    relativistic: bool = False


LOSSES: Registry[GANLoss] = Registry("loss")
LOSSES.register("bce")(GANLoss(d_bce_loss, g_nonsaturating_loss, True, True,
                               "non-saturating BCE (the tutorials', the default)"))
LOSSES.register("minimax")(GANLoss(d_bce_loss, g_minimax_loss, True, True,
                                   "the original minimax game (saturates; for comparison)"))
LOSSES.register("ls")(GANLoss(d_ls_loss, g_ls_loss, True, False, "least squares (LSGAN)"))
LOSSES.register("wasserstein")(GANLoss(d_wasserstein_loss, g_wasserstein_loss, False, False,
                                       "Wasserstein; use with --gp or --sn"))
LOSSES.register("hinge")(GANLoss(d_hinge_loss, g_hinge_loss, False, False, "hinge (SNGAN, BigGAN)"))
LOSSES.register("rpgan")(GANLoss(d_rp_loss, g_rp_loss, False, False,
                                 "relativistic pairing (R3GAN); use with --r1 and --r2", True))
LOSSES.register("ragan")(GANLoss(d_ragan_loss, g_ragan_loss, False, False,
                                 "relativistic average (ESRGAN's)", True))


def smooth_targets(n: int, real: bool, smoothing: float, noise: float, device: torch.device,
                   dtype: torch.dtype = torch.float32) -> Target:
    """Targets for D: one-sided label smoothing (real 1 -> 1 - smoothing) plus ``noise * U(0,1)``.

    The Keras face-GAN tutorial adds 0.05 * U(0, 1) to both real and fake labels. Returns a plain
    float when no randomness is asked for, so the common case draws no random numbers.
    """
    base = (1.0 - smoothing) if real else 0.0
    if noise <= 0:
        return base
    return base + noise * torch.rand(n, device=device, dtype=dtype)


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad D(x_hat)||_2 - 1)^2] at random points x_hat
    on the lines between real and fake images. Multiply by lambda (10 in the paper)."""
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).float().sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()


def r1_penalty(real_out: torch.Tensor, real_in: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): E[||grad D(x)||^2] on real images; ``real_in`` must have
    required grad when ``real_out`` was computed. Multiply by gamma / 2."""
    (grad,) = torch.autograd.grad(real_out.float().sum(), real_in, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).mean()


def path_lengths(images: torch.Tensor, ws: torch.Tensor) -> torch.Tensor:
    """StyleGAN2's path length per image: |J_w^T y| for y ~ N(0, I) / sqrt(H*W), the Jacobian of
    the images with respect to the per-layer ws (N, L, D), averaged over layers as the paper's
    implementation does: sqrt(mean_l sum_d g^2). ``ws`` must be part of the images' graph; the
    penalty is (length - running mean)^2, kept differentiable (create_graph)."""
    noise = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
    (grad,) = torch.autograd.grad((images * noise).sum(), ws, create_graph=True)
    return grad.float().square().sum(2).mean(1).sqrt()
