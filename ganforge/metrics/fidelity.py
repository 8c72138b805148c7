"""PSNR and SSIM as the super-resolution literature reports them.

Both on images in [0, 1], per image, then averaged over images (as BasicSR and the SR papers
average per-image scores). ``crop`` pixels are cut from every border first (the literature cuts
``scale`` pixels). ``y=True`` scores the luma of ITU-R BT.601 (the Y of YCbCr on the
16..235 range, MATLAB's ``rgb2ycbcr``), the channel most SR tables use. SSIM: Wang et al. 2004,
an 11x11 Gaussian window of sigma 1.5, K1 0.01, K2 0.03, over the window positions that fit in
the image (no padding), the map averaged over positions and channels. Tested against
torchmetrics' values (tests/test_superres.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def to_y(x: torch.Tensor) -> torch.Tensor:
    """RGB (N, 3, H, W) in [0, 1] -> BT.601 luma (N, 1, H, W), still on the [0, 1] scale
    (16/255..235/255); a gray image is returned as it is."""
    if x.shape[1] == 1:
        return x
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return (16.0 + 65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def _prepare(x: torch.Tensor, y: torch.Tensor, crop: int, luma: bool) -> tuple[torch.Tensor, torch.Tensor]:
    if x.shape != y.shape:
        raise ValueError(f"images differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
    x, y = x.double(), y.double()
    if crop:
        x, y = x[..., crop:-crop, crop:-crop], y[..., crop:-crop, crop:-crop]
    return (to_y(x), to_y(y)) if luma else (x, y)


def psnr(x: torch.Tensor, y: torch.Tensor, crop: int = 0, luma: bool = False) -> torch.Tensor:
    """Per-image PSNR in dB (N,) of ``x`` against ``y``, (N, C, H, W) in [0, 1] (infinite
    where they are equal)."""
    x, y = _prepare(x, y, crop, luma)
    mse = (x - y).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(x: torch.Tensor, y: torch.Tensor, crop: int = 0, luma: bool = False) -> torch.Tensor:
    """Per-image SSIM (N,) of ``x`` against ``y``, (N, C, H, W) in [0, 1]."""
    x, y = _prepare(x, y, crop, luma)
    c = x.shape[1]
    if min(x.shape[-2:]) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 after the crop, got {tuple(x.shape[-2:])}")
    g = _gaussian_window().to(x)[5:6]  # the separable 1-D window (the 2-D one is its outer product)
    g = g / g.sum()
    wy, wx = g.reshape(1, 1, 11, 1).expand(c, 1, 11, 1), g.reshape(1, 1, 1, 11).expand(c, 1, 1, 11)
    blur = lambda t: F.conv2d(F.conv2d(t, wy, groups=c), wx, groups=c)  # noqa: E731
    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return m.flatten(1).mean(1)


def to_8bit(x: torch.Tensor) -> torch.Tensor:
    """Round images in [0, 1] to the 256 levels a saved image has: the literature scores files."""
    return (x.clamp(0, 1) * 255).round() / 255


def fidelity(x: torch.Tensor, truth: torch.Tensor, crop: int) -> dict[str, float]:
    """Mean PSNR and SSIM on RGB and on Y, both sets rounded to 8 bits first."""
    x, truth = to_8bit(x), to_8bit(truth)
    return {"psnr": float(psnr(x, truth, crop).mean()), "ssim": float(ssim(x, truth, crop).mean()),
            "psnr_y": float(psnr(x, truth, crop, luma=True).mean()),
            "ssim_y": float(ssim(x, truth, crop, luma=True).mean())}
