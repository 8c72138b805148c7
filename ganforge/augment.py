"""Differentiable augmentation for data-efficient GAN training (DiffAugment, Zhao et al. 2020).

D sees every image, real or generated, through the same random translation/cutout/colour
jitter, and G's gradient flows through it. On small data sets (the 5,000 digits of mnist-mini)
this keeps D from memorising the real images, the usual cause of GAN collapse with little data.
The policies follow the paper's reference implementation (github.com/mit-han-lab/data-efficient-gans).
"""

from __future__ import annotations

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
