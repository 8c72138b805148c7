"""Differentiable augmentation for data-efficient GAN training (DiffAugment, Zhao et al. 2020).

D sees every image, real or generated, through the same random translation/cutout/colour
jitter, and G's gradient flows through it. On small data sets (the 5,000 digits of mnist-mini)
this keeps D from memorising the real images, the usual cause of GAN collapse with little data.
The policies follow the paper's reference implementation (github.com/mit-han-lab/data-efficient-gans).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .errors import GanforgeError


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its side, filling with zeros."""
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (n, 1, 1), device=x.device)
    tx = torch.randint(-sw, sw + 1, (n, 1, 1), device=x.device)
    gb, gy, gx = torch.meshgrid(torch.arange(n, device=x.device), torch.arange(h, device=x.device),
                                torch.arange(w, device=x.device), indexing="ij")
    gy = (gy + ty + 1).clamp(0, h + 1)
    gx = (gx + tx + 1).clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)
    return padded[gb, gy, gx].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero one random square of ``ratio`` of the side in each image."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
    gb, gy, gx = torch.meshgrid(torch.arange(n, device=x.device), torch.arange(ch, device=x.device),
                                torch.arange(cw, device=x.device), indexing="ij")
    gy = (gy + oy - ch // 2).clamp(0, h - 1)
    gx = (gx + ox - cw // 2).clamp(0, w - 1)
    mask = torch.ones(n, h, w, dtype=x.dtype, device=x.device)
    mask[gb, gy, gx] = 0
    return x * mask.unsqueeze(1)


def color(x: torch.Tensor) -> torch.Tensor:
    """Random brightness, saturation and contrast per image."""
    n = x.shape[0]
    x = x + (torch.rand(n, 1, 1, 1, dtype=x.dtype, device=x.device) - 0.5)
    if x.shape[1] > 1:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (torch.rand(n, 1, 1, 1, dtype=x.dtype, device=x.device) * 2) + mean
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (torch.rand(n, 1, 1, 1, dtype=x.dtype, device=x.device) + 0.5) + mean


POLICIES = {"color": color, "translation": translation, "cutout": cutout}


def parse_policy(policy: str) -> list[str]:
    """'translation,cutout' -> ['translation', 'cutout'], with a clear error for unknown names."""
    names = [p.strip() for p in policy.split(",") if p.strip()]
    bad = [p for p in names if p not in POLICIES]
    if bad:
        raise GanforgeError(f"--diffaug: unknown policy {', '.join(bad)}; "
                            f"use a comma-separated subset of {', '.join(POLICIES)}")
    return names


def augmenter(policy: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The comma-separated ``policy`` (e.g. ``"translation,cutout"``) as one function, parsed
    once (the training loop calls it every step); '' gives the identity."""
    steps = [POLICIES[name] for name in parse_policy(policy)]
    if not steps:
        return lambda x: x

    def apply(x: torch.Tensor) -> torch.Tensor:
        for f in steps:
            x = f(x)
        return x.contiguous(memory_format=torch.channels_last)  # D's layout

    return apply


def diff_augment(x: torch.Tensor, policy: str) -> torch.Tensor:
    """Apply the comma-separated ``policy`` to a batch once; '' is the identity."""
    return augmenter(policy)(x)


def jitter(*batches: torch.Tensor, ratio: float = 286 / 256, flip: bool = True) -> tuple[torch.Tensor, ...]:
    """Random jitter of CycleGAN and pix2pix: upscale by ``ratio`` (256 -> 286), take a random
    crop of the original size, mirror half of the images. Image i of every batch gets the same
    crop and flip, so an (input, target) pair stays aligned. Draws from torch's global RNG."""
    n, _, h, w = batches[0].shape
    bh, bw = max(h, round(h * ratio)), max(w, round(w * ratio))
    big = [F.interpolate(b, size=(bh, bw), mode="bilinear", align_corners=False) for b in batches]
    oy = torch.randint(0, bh - h + 1, (n,)).tolist()
    ox = torch.randint(0, bw - w + 1, (n,)).tolist()
    mirror = (torch.rand(n) < 0.5).tolist() if flip else [False] * n
    out = []
    for b in big:
        crops = [b[i, :, oy[i] : oy[i] + h, ox[i] : ox[i] + w] for i in range(n)]
        out.append(torch.stack([c.flip(-1) if m else c for c, m in zip(crops, mirror)]))
    return tuple(out)


# ---- adaptive discriminator augmentation (ADA; Karras et al. 2020, "Training Generative
# Adversarial Networks with Limited Data") ------------------------------------------------------
def _affine(n: int, p: float, device: torch.device) -> torch.Tensor:
    """Per-image 3x3 matrices in [-1, 1] image coordinates: each of x-flip, a quarter turn,
    translation (up to 1/8 of the side), isotropic scale, rotation, anisotropic scale and a
    small extra translation applied to an image with probability ``p`` (the paper's 'bgc'
    geometric pipeline, with its translations not snapped to whole pixels)."""
    def on() -> torch.Tensor:
        return (torch.rand(n, device=device) < p).float()

    def eye() -> torch.Tensor:
        return torch.eye(3, device=device).repeat(n, 1, 1)

    def scale(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
        m = eye()
        m[:, 0, 0], m[:, 1, 1] = sx, sy
        return m

    def rotate(a: torch.Tensor) -> torch.Tensor:
        m = eye()
        m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = a.cos(), -a.sin(), a.sin(), a.cos()
        return m

    def shift(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
        m = eye()
        m[:, 0, 2], m[:, 1, 2] = tx, ty
        return m

    flip = 1 - 2 * on() * torch.randint(0, 2, (n,), device=device)
    m = scale(flip.float(), torch.ones(n, device=device))
    m = m @ rotate(on() * torch.randint(0, 4, (n,), device=device) * (math.pi / 2))
    t = (torch.rand(n, 2, device=device) * 2 - 1) * 0.25 * on()[:, None]  # up to 1/8 of the side
    m = m @ shift(t[:, 0], t[:, 1])
    s = torch.exp2(torch.randn(n, device=device) * 0.2 * on())
    m = m @ scale(s, s)
    m = m @ rotate((torch.rand(n, device=device) * 2 - 1) * math.pi * on())
    a = torch.exp2(torch.randn(n, device=device) * 0.2 * on())
    m = m @ scale(a, 1 / a)
    f = torch.randn(n, 2, device=device) * 0.25 * on()[:, None]  # std 1/8 of the side
    return m @ shift(f[:, 0], f[:, 1])


def ada_augment(x: torch.Tensor, p: float) -> torch.Tensor:
    """ADA's differentiable augmentation of a batch in [-1, 1]: geometric (one bilinear resample
    with reflection at the borders) then colour (brightness, contrast, saturation), each
    transform applied to each image with probability ``p``. Gradients flow to ``x``, so G
    learns through it; ``p`` 0 is the identity."""
    if p <= 0:
        return x
    n, c = x.shape[:2]
    dev = x.device
    theta = _affine(n, p, dev)[:, :2].to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    def on() -> torch.Tensor:
        return (torch.rand(n, 1, 1, 1, device=dev) < p).to(x.dtype)

    x = x + torch.randn(n, 1, 1, 1, device=dev, dtype=x.dtype) * 0.2 * on()  # brightness
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * torch.exp2(torch.randn(n, 1, 1, 1, device=dev, dtype=x.dtype) * 0.5 * on()) + mean
    if c > 1:  # saturation: scale the distance from each pixel's grey
        grey = x.mean(dim=1, keepdim=True)
        x = (x - grey) * torch.exp2(torch.randn(n, 1, 1, 1, device=dev, dtype=x.dtype) * on()) + grey
    return x


def ada_update(p: float, sign_mean: float, target: float, images: int, kimg: float) -> float:
    """ADA's controller: after ``images`` real images whose D outputs had mean sign
    ``sign_mean`` (r_t, how confidently D calls the reals real), move p by images / (kimg*1000)
    towards more augmentation if r_t is above ``target`` (D overfits), less if below."""
    step = images / (kimg * 1000)
    return min(max(p + (step if sign_mean > target else -step if sign_mean < target else 0.0), 0.0), 1.0)
