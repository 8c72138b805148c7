"""What people use a style-based generator for, beyond sampling: style-mixing grids, walks in
W, and projecting a real image into W. Works on any generator that exposes ``mapping``
(with its tracked ``w_avg``), ``ws(z, psi)``, ``synthesis(ws)`` and ``num_ws`` (StyleGAN2's).

Projection (after Karras et al. 2020, sec. 5) optimises one w, starting from the average w with
a little noise that decays, towards an image under a multi-scale pixel loss (squared error on an
image pyramid down to 8 px): nothing is downloaded, so it runs offline, at the price of matching
colours and layout better than fine texture (a perceptual network such as LPIPS/VGG would need
weights from the internet).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ..errors import GanforgeError
from ..visual import make_grid
from .sampler import latents


def style_net(net: nn.Module, what: str) -> nn.Module:
    """``net`` if it is a style-based generator, else a one-line error naming ``what`` needs it."""
    if not all(hasattr(net, a) for a in ("mapping", "ws", "synthesis", "num_ws")):
        raise GanforgeError(f"{what} needs a style-based generator (a stylegan2 run); this run's "
                            f"generator is a {type(net).__name__}")
    return net


def _images(net: nn.Module, ws: torch.Tensor) -> torch.Tensor:
    dev = next(net.parameters()).device
    return ((net.synthesis(ws.to(dev)).float().cpu() + 1) / 2).clamp(0, 1)


def class_labels(net: nn.Module, n: int, label: int | None = None) -> torch.Tensor | None:
    """``n`` labels of class ``label`` for a class-conditional style net (class 0 when None),
    None for an unconditional one (which refuses a label in one line)."""
    k = int(getattr(net, "num_classes", 0))
    if not k:
        if label is not None:
            raise GanforgeError("this model is not class-conditional; drop --class / label")
        return None
    if not 0 <= int(label or 0) < k:
        raise GanforgeError(f"class {label}: this model knows classes 0-{k - 1}")
    return torch.full((n,), int(label or 0), dtype=torch.long)


def ws_of(net: nn.Module, z: torch.Tensor, psi: float = 1.0,
          labels: torch.Tensor | None = None) -> torch.Tensor:
    """The per-layer ws (N, num_ws, w_dim) of latents ``z`` (and classes ``labels``)."""
    dev = next(net.parameters()).device
    return net.ws(z.to(dev), psi, labels=None if labels is None else labels.to(dev))


@torch.no_grad()
def render_ws(net: nn.Module, ws: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Images in [0, 1] on the CPU from per-layer ws, in chunks, the net in eval mode."""
    was = net.training
    net.eval()
    try:
        return torch.cat([_images(net, chunk) for chunk in ws.split(batch_size)])
    finally:
        net.train(was)


@torch.no_grad()
def mix_grid(net: nn.Module, rows: Sequence[int], cols: Sequence[int], styles: Sequence[int] | None = None,
             psi: float = 1.0, label: int | None = None) -> Image.Image:
    """A style-mixing grid: the top row draws the ``cols`` seeds, the left column the ``rows``
    seeds, and cell (r, c) takes row r's w with the layers ``styles`` (default: the coarse half,
    pose and face shape) replaced by column c's. The corner is left grey. A class-conditional
    net draws every seed as class ``label`` (default 0)."""
    style_net(net, "a style-mixing grid")
    if not rows or not cols:
        raise GanforgeError("--rows and --cols each need at least one seed")
    styles = list(range(net.num_ws // 2)) if styles is None else list(styles)
    bad = [s for s in styles if not 0 <= s < net.num_ws]
    if bad:
        raise GanforgeError(f"--styles {bad[0]}: this generator has layers 0-{net.num_ws - 1}")
    class_labels(net, 1, label)  # an unknown class: one line, before any work
    was = net.training
    net.eval()

    def seeds_ws(seeds: Sequence[int]) -> torch.Tensor:
        z = torch.cat([latents(1, net.z_dim, s) for s in seeds])
        return ws_of(net, z, psi, class_labels(net, len(seeds), label))

    wr, wc = seeds_ws(rows), seeds_ws(cols)
    tiles = [torch.full((1, net.channels, net.size, net.size), 0.5)]
    tiles.append(_images(net, wc))
    for r in range(len(rows)):
        mixed = wr[r : r + 1].repeat(len(cols), 1, 1)
        mixed[:, styles] = wc[:, styles]
        tiles += [_images(net, wr[r : r + 1]), _images(net, mixed)]
    net.train(was)
    return make_grid(torch.cat(tiles), nrow=len(cols) + 1)


@torch.no_grad()
def w_walk(net: nn.Module, seeds: Sequence[int], steps: int = 8, psi: float = 1.0,
           label: int | None = None) -> torch.Tensor:
    """Images along straight lines in W between consecutive seeds' ws (W is where StyleGAN2's
    paths are short: the walk changes the image smoothly), ``steps`` per segment. A
    class-conditional net walks within class ``label`` (default 0)."""
    style_net(net, "a walk in W")
    if len(seeds) < 2:
        raise GanforgeError("a walk needs at least two seeds")
    was = net.training
    net.eval()
    z = torch.cat([latents(1, net.z_dim, s) for s in seeds])
    w = ws_of(net, z, psi, class_labels(net, len(seeds), label))
    frames = [torch.lerp(w[i], w[i + 1], t / steps)[None]
              for i in range(len(seeds) - 1) for t in range(steps)] + [w[-1:]]
    out = _images(net, torch.cat(frames))
    net.train(was)
    return out


def _pyramid_loss(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error summed over an image pyramid (full size, then halves down to 8 px)."""
    loss = x.new_zeros(())
    while True:
        loss = loss + F.mse_loss(x, target)
        if x.shape[-1] <= 8:
            return loss
        x, target = F.avg_pool2d(x, 2), F.avg_pool2d(target, 2)


def project(net: nn.Module, target: torch.Tensor, steps: int = 500, seed: int = 0, lr: float = 0.1,
            noise: float = 0.05, progress: Callable[[int, float], None] | None = None
            ) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    """The w (1, w_dim) whose image is closest to ``target`` (1, C, H, W) in [0, 1] at the
    generator's size; returns (w, its image in [0, 1], the loss at each step).

    Adam on w from the average w, plus Gaussian noise of ``noise`` times W's spread that decays
    to 0 over the first 3/4 of the steps; the learning rate ramps up over the first 5% and down
    (cosine) over the last 25%, as in the paper's projector.
    """
    style_net(net, "projection")
    if steps < 1:
        raise GanforgeError(f"--steps must be >= 1, got {steps}")
    if target.shape[1:] != (net.channels, net.size, net.size):
        raise GanforgeError(f"the image is {tuple(target.shape[1:])}; this generator makes "
                            f"{(net.channels, net.size, net.size)} (resize it first)")
    was, grads = net.training, [p.requires_grad for p in net.parameters()]
    net.eval()
    net.requires_grad_(False)
    dev = next(net.parameters()).device
    g = torch.Generator().manual_seed(seed)
    k = int(getattr(net, "num_classes", 0))  # a conditional net: W's spread over every class
    with torch.no_grad():
        z = torch.randn(2000, net.z_dim, generator=g).to(dev)
        w_samples = net.mapping(z, (torch.arange(2000) % k).to(dev) if k else None)
        w_std = float((w_samples - net.mapping.w_avg).square().sum(1).mean().sqrt())
    w = net.mapping.w_avg.detach().clone()[None].requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr, betas=(0.9, 0.999))
    goal = (target.to(dev).float() * 2 - 1)
    losses: list[float] = []
    try:
        for i in range(steps):
            t = i / steps
            ramp = min(1.0, (1 - t) / 0.25) * min(1.0, t / 0.05) if steps > 1 else 1.0
            for group in opt.param_groups:
                group["lr"] = lr * (0.5 - 0.5 * math.cos(ramp * math.pi))
            scale = w_std * noise * max(0.0, 1 - t / 0.75) ** 2
            wn = w + torch.randn(w.shape, generator=g).to(dev) * scale
            img = net.synthesis(wn[:, None].expand(-1, net.num_ws, -1))
            loss = _pyramid_loss(img.float(), goal)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if progress is not None:
                progress(i, losses[-1])
    finally:
        for p, r in zip(net.parameters(), grads):
            p.requires_grad_(r)
        net.train(was)
    w = w.detach()
    with torch.no_grad():
        image = _images(net, w[:, None].expand(-1, net.num_ws, -1))
    return w.cpu(), image, losses
