"""Low-resolution copies made on the fly: the training pairs of super-resolution.

Two degradation models, each a ``Derive`` (``data.kinds``): a batch of high-resolution images in
[-1, 1] and a generator seeded from (seed, step) -> (low-resolution inputs, the images). Every
random choice is drawn from that generator, so the pairs of a step are a pure function of
(seed, step) and a resumed run makes the same ones.

- ``bicubic``: the classic set-up of the SR benchmarks: an antialiased bicubic downscale (as
  MATLAB's ``imresize``), rounded to 8 bits as a saved image would be.
- ``realesrgan``: Real-ESRGAN's second-order model (Wang et al. 2021, section 3.1; the default
  settings of its training options): twice blur (isotropic / anisotropic Gaussian, generalised
  Gaussian, plateau, or a sinc filter), random resize (area, bilinear or bicubic), Gaussian or
  Poisson noise (colour or gray), JPEG; then the final resize with a sinc filter and JPEG in
  random order. JPEG is Pillow's encoder and decoder, image by image: the pairs are made
  without gradients, so a differentiable stand-in (Real-ESRGAN's DiffJPEG) buys nothing here
  and Pillow's is the real codec. Left out: Real-ESRGAN's unsharp masking of the targets.
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import GanforgeError

KERNEL_MAX = 21  # the largest blur kernel; all are zero-padded to this side
KERNEL_TYPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
KERNEL_PROBS = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)  # Real-ESRGAN's kernel_prob
RESIZE_MODES = ("area", "bilinear", "bicubic")


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] rounded to the 256 levels of an 8-bit file (what inference reads)."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1


def bicubic_down(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Antialiased bicubic downscale by ``scale`` (PyTorch's antialias matches PIL's and
    MATLAB's ``imresize`` kernels)."""
    return F.interpolate(x, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)


class BicubicPairs:
    """(bicubic-downscaled and 8-bit-rounded copies, the images): no randomness."""

    def __init__(self, scale: int) -> None:
        self.scale = scale

    def __call__(self, images: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        _check_side(images, self.scale)
        return quantize(bicubic_down(images, self.scale)), images


# ---- blur kernels -------------------------------------------------------------------------
def _grid(size: int) -> torch.Tensor:
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    return torch.stack([xx, yy], -1)  # (size, size, 2): x, y offsets from the centre


def _quad(size: int, sigma_x: float, sigma_y: float, theta: float) -> torch.Tensor:
    """d^T Sigma^-1 d on the grid, Sigma = R diag(sx^2, sy^2) R^T rotated by ``theta``."""
    c, s = math.cos(theta), math.sin(theta)
    rot = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    cov = rot @ torch.diag(torch.tensor([sigma_x**2, sigma_y**2], dtype=torch.float64)) @ rot.T
    d = _grid(size)
    return torch.einsum("hwi,ij,hwj->hw", d, torch.linalg.inv(cov), d)


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float, theta: float, beta: float = 1.0,
                    plateau: bool = False) -> torch.Tensor:
    """A blur kernel summing to 1: Gaussian exp(-q/2) (``beta`` 1), generalised Gaussian
    exp(-q^beta / 2) or plateau 1 / (1 + q^beta), with q = d^T Sigma^-1 d."""
    q = _quad(size, sigma_x, sigma_y, theta)
    k = 1 / (1 + q.pow(beta)) if plateau else torch.exp(-0.5 * q.pow(beta))
    return (k / k.sum()).float()


def sinc_kernel(size: int, cutoff: float) -> torch.Tensor:
    """The 2-D ideal low-pass filter with cutoff ``cutoff`` (radians per pixel): cutoff *
    J1(cutoff * r) / (2 pi r), its limit cutoff^2 / (4 pi) at the centre; sums to 1. Ringing and
    overshoot, as a sharpening camera pipeline makes."""
    r = _grid(size).norm(dim=-1)
    safe = torch.where(r == 0, torch.ones_like(r), r)
    k = cutoff * torch.special.bessel_j1(cutoff * safe) / (2 * math.pi * safe)
    k = torch.where(r == 0, torch.full_like(r, cutoff**2 / (4 * math.pi)), k)
    return (k / k.sum()).float()


def _pad_kernel(k: torch.Tensor) -> torch.Tensor:
    p = (KERNEL_MAX - k.shape[-1]) // 2
    return F.pad(k, (p, p, p, p))


def blur(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Each image (N, C, H, W) filtered with its own kernel (N, K, K), K odd; reflected borders
    (replicated where an image is smaller than the kernel's reach)."""
    n, c, h, w = x.shape
    k = kernels.shape[-1]
    p = k // 2
    mode = "reflect" if p < h and p < w else "replicate"
    xp = F.pad(x.reshape(1, n * c, h, w), (p, p, p, p), mode=mode)
    weight = kernels.to(x).repeat_interleave(c, 0).unsqueeze(1)  # (N*C, 1, K, K)
    return F.conv2d(xp, weight, groups=n * c).reshape(n, c, h, w)


# ---- noise and JPEG -------------------------------------------------------------------------
def gaussian_noise(x: torch.Tensor, sigma: torch.Tensor, gray: torch.Tensor,
                   g: torch.Generator) -> torch.Tensor:
    """x + N(0, sigma^2) per image (``sigma`` (N,) on the [0, 1] scale); where ``gray`` (N,)
    is true, one noise map shared by every channel."""
    n, c, h, w = x.shape
    colour = torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)
    mono = torch.randn((n, 1, h, w), generator=g, device=x.device, dtype=x.dtype).expand(-1, c, -1, -1)
    noise = torch.where(gray.view(-1, 1, 1, 1), mono, colour)
    return x + noise * sigma.view(-1, 1, 1, 1).to(x)


def poisson_noise(x: torch.Tensor, scale: torch.Tensor, gray: torch.Tensor,
                  g: torch.Generator) -> torch.Tensor:
    """Shot noise: (Poisson(255 x) / 255 - x) * ``scale`` per image, its variance growing with
    the brightness; where ``gray``, drawn on the luma and shared by every channel."""
    x = x.clamp(0, 1)
    colour = torch.poisson(x * 255, generator=g) / 255 - x
    luma = x.mean(1, keepdim=True) if x.shape[1] != 3 else (
        0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:])
    mono = (torch.poisson(luma * 255, generator=g) / 255 - luma).expand_as(x)
    noise = torch.where(gray.view(-1, 1, 1, 1), mono, colour)
    return x + noise * scale.view(-1, 1, 1, 1).to(x)


def jpeg(x: torch.Tensor, quality: list[int]) -> torch.Tensor:
    """Each image (in [0, 1]) through Pillow's JPEG encoder and decoder at its own quality."""
    out = []
    arr = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    for a, q in zip(arr, quality):
        buf = io.BytesIO()
        Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a).save(buf, "JPEG", quality=int(q))
        buf.seek(0)
        with Image.open(buf) as im:
            b = np.asarray(im.convert("L" if a.shape[-1] == 1 else "RGB"))
        out.append(torch.from_numpy(b.reshape(a.shape).copy()))
    return torch.stack(out).permute(0, 3, 1, 2).to(x.device, x.dtype) / 255


# ---- the second-order model -----------------------------------------------------------------
class _Draw:
    """Random numbers from the (seed, step) generator, as Python values (drawn on its device)."""

    def __init__(self, g: torch.Generator) -> None:
        self.g = g

    def uniform(self, lo: float, hi: float, n: int | None = None) -> torch.Tensor | float:
        u = torch.rand(n or 1, generator=self.g, device=self.g.device).cpu().double() * (hi - lo) + lo
        return u if n is not None else float(u[0])

    def chance(self, p: float, n: int | None = None) -> torch.Tensor | bool:
        u = self.uniform(0, 1, n)
        return u < p if n is not None else bool(u < p)

    def choice(self, options: tuple, probs: tuple[float, ...] | None = None):
        probs = probs or tuple(1 / len(options) for _ in options)
        u, acc = self.uniform(0, 1), 0.0
        for opt, p in zip(options, probs):
            acc += p
            if u < acc:
                return opt
        return options[-1]

    def odd(self, lo: int, hi: int) -> int:
        return self.choice(tuple(range(lo, hi + 1, 2)))


class RealESRGANPairs:
    """Real-ESRGAN's second-order degradation at ``scale`` (its default ranges; see the module
    docstring for what is left out)."""

    # (first order, second order): Real-ESRGAN's train_realesrnet_x4plus.yml
    SIGMA = ((0.2, 3.0), (0.2, 1.5))
    SINC_PROB = (0.1, 0.1)
    BLUR_PROB = (1.0, 0.8)
    RESIZE_PROB = ((0.2, 0.7, 0.1), (0.3, 0.4, 0.3))  # up, down, keep
    RESIZE_RANGE = ((0.15, 1.5), (0.3, 1.2))
    GAUSSIAN_PROB = (0.5, 0.5)
    NOISE_RANGE = ((1.0, 30.0), (1.0, 25.0))  # Gaussian sigma, on the 0-255 scale
    POISSON_RANGE = ((0.05, 3.0), (0.05, 2.5))
    GRAY_NOISE_PROB = (0.4, 0.4)
    JPEG_RANGE = ((30, 95), (30, 95))
    FINAL_SINC_PROB = 0.8

    def __init__(self, scale: int) -> None:
        self.scale = scale

    def kernel(self, d: _Draw, order: int) -> torch.Tensor:
        """One blur kernel of the ``order``-th degradation (0 or 1), at its own odd size."""
        size = d.odd(7, KERNEL_MAX)
        if d.chance(self.SINC_PROB[order]):
            cutoff = d.uniform(math.pi / 3, math.pi) if size < 13 else d.uniform(math.pi / 5, math.pi)
            return sinc_kernel(size, cutoff)
        kind = d.choice(KERNEL_TYPES, KERNEL_PROBS)
        sx = d.uniform(*self.SIGMA[order])
        sy, theta = (sx, 0.0) if kind.endswith("iso") and not kind.endswith("aniso") else (
            d.uniform(*self.SIGMA[order]), d.uniform(-math.pi, math.pi))
        if kind.startswith("generalized"):
            return gaussian_kernel(size, sx, sy, theta, beta=d.uniform(0.5, 4.0))
        if kind.startswith("plateau"):
            return gaussian_kernel(size, sx, sy, theta, beta=d.uniform(1.0, 2.0), plateau=True)
        return gaussian_kernel(size, sx, sy, theta)

    def _kernels(self, d: _Draw, n: int, order: int) -> torch.Tensor:
        out = []
        for _ in range(n):
            keep = d.chance(self.BLUR_PROB[order])
            out.append(_pad_kernel(self.kernel(d, order)) if keep else _pulse())
        return torch.stack(out)

    def _resize(self, x: torch.Tensor, d: _Draw, order: int, base: tuple[int, int]) -> torch.Tensor:
        how = d.choice(("up", "down", "keep"), self.RESIZE_PROB[order])
        lo, hi = self.RESIZE_RANGE[order]
        f = d.uniform(1, hi) if how == "up" else d.uniform(lo, 1) if how == "down" else 1.0
        mode = d.choice(RESIZE_MODES)
        size = (max(2, int(base[0] * f)), max(2, int(base[1] * f)))
        return _interp(x, size, mode)

    def _noise(self, x: torch.Tensor, d: _Draw, order: int) -> torch.Tensor:
        n = len(x)
        gaussian = d.chance(self.GAUSSIAN_PROB[order], n)
        gray = d.chance(self.GRAY_NOISE_PROB[order], n)
        sigma = d.uniform(*self.NOISE_RANGE[order], n) / 255
        pscale = d.uniform(*self.POISSON_RANGE[order], n)
        dev = x.device
        with_gauss = gaussian_noise(x, sigma.float().to(dev), gray.to(dev), d.g)
        with_poisson = poisson_noise(x, pscale.float().to(dev), gray.to(dev), d.g)
        return torch.where(gaussian.to(dev).view(-1, 1, 1, 1), with_gauss, with_poisson).clamp(0, 1)

    def _jpeg(self, x: torch.Tensor, d: _Draw, order: int) -> torch.Tensor:
        lo, hi = self.JPEG_RANGE[order]
        q = d.uniform(lo, hi + 1, len(x)).floor().clamp(lo, hi).long().tolist()
        return jpeg(x, q)

    def __call__(self, images: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        _check_side(images, self.scale)
        d, n = _Draw(g), len(images)
        h, w = images.shape[-2:]
        target = (h // self.scale, w // self.scale)
        x = (images.float() + 1) / 2
        # first order: blur, resize (relative to the image), noise, JPEG
        x = blur(x, self._kernels(d, n, 0))
        x = self._resize(x, d, 0, (h, w))
        x = self._jpeg(self._noise(x, d, 0), d, 0)
        # second order: blur, resize (relative to the target size), noise
        x = blur(x, self._kernels(d, n, 1))
        x = self._resize(x, d, 1, target)
        x = self._noise(x, d, 1)
        # last: resize to the target + sinc filter, and JPEG, in random order
        sinc = torch.stack([_pad_kernel(sinc_kernel(d.odd(7, KERNEL_MAX), d.uniform(math.pi / 3, math.pi)))
                            if d.chance(self.FINAL_SINC_PROB) else _pulse() for _ in range(n)])
        mode = d.choice(RESIZE_MODES)
        if d.chance(0.5):
            x = self._jpeg(blur(_interp(x, target, mode), sinc).clamp(0, 1), d, 1)
        else:
            x = blur(_interp(self._jpeg(x, d, 1), target, mode), sinc)
        return quantize(x * 2 - 1), images


def _pulse() -> torch.Tensor:
    k = torch.zeros(KERNEL_MAX, KERNEL_MAX)
    k[KERNEL_MAX // 2, KERNEL_MAX // 2] = 1
    return k


def _interp(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    if mode == "area":
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode=mode, align_corners=False)


def _check_side(images: torch.Tensor, scale: int) -> None:
    h, w = images.shape[-2:]
    if h % scale or w % scale:
        raise GanforgeError(f"--size {h}: super-resolution x{scale} needs a size divisible by {scale}")


DEGRADATIONS = {"bicubic": BicubicPairs, "realesrgan": RealESRGANPairs}


def make_pairs(degradation: str, scale: int):
    """The ``Derive`` of a degradation model by name at ``scale``."""
    if degradation not in DEGRADATIONS:
        raise GanforgeError(f"--degradation {degradation!r}: choose {', '.join(DEGRADATIONS)}")
    return DEGRADATIONS[degradation](scale)
