"""The upscaler: super-resolution inference, separate from training.

One object serves ``ganforge.load(run).upscale(image)``, ``ganforge upscale``, the training
previews and ``ganforge eval``. Images of any size go in and come out ``scale`` times larger.
A large image is upscaled in tiles: each tile is run with ``overlap`` pixels of context on every
side and only its centre kept, so memory is bounded by the tile size and, where the overlap
covers the network's reach, the result is the whole-image result exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..data.images import to_rgb_or_gray
from ..errors import GanforgeError
from ..models.superres import bicubic_up
from ..provenance import record
from ..visual import make_grid, save_image
from .inputs import ImageInputs

DEFAULT_TILE = 256  # input pixels per tile side
DEFAULT_OVERLAP = 32  # input pixels of context around each tile


def save_output(img: Image.Image, path: Path, info: dict) -> None:
    """Every image ``upscale`` writes goes through here, with its provenance record: the fine
    detail in it was made by a network, so it is marked as made, like a translation."""
    save_image(img, path, info)


class Upscaler:
    """Super-resolution generators by role (``generator``: the published GAN model; ``psnr``:
    the model at the end of the L1 warm-up, where the run had one). Get one with
    ``ganforge.load(run_dir)``."""

    def __init__(self, nets: dict[str, nn.Module], scale: int, channels: int,
                 device: torch.device | str | None = None, size: int = 0) -> None:
        first = next(iter(nets.values()))
        self.device = torch.device(device) if device is not None else next(first.parameters()).device
        self.nets = {role: net.to(self.device) for role, net in nets.items()}
        self.scale, self.channels, self.size = int(scale), int(channels), int(size)
        self.provenance: dict = {}  # run name and weights hash (``infer.load`` fills it)

    @property
    def roles(self) -> list[str]:
        return list(self.nets)

    def _net(self, role: str) -> nn.Module:
        if role not in self.nets:
            raise GanforgeError(f"model {role!r}: this run has {', '.join(self.nets)}")
        return self.nets[role]

    @torch.no_grad()
    def run(self, x: torch.Tensor, role: str = "generator", batch_size: int = 16) -> torch.Tensor:
        """Low-resolution images (N, C, H, W) in [0, 1], whole -> (N, C, sH, sW) in [0, 1] on the
        CPU. The network's train/eval mode is restored afterwards."""
        net = self._net(role)
        was = net.training
        net.eval()
        try:
            out = [net(chunk.to(self.device).float() * 2 - 1).float().cpu() for chunk in x.split(batch_size)]
        finally:
            net.train(was)
        return ((torch.cat(out) + 1) / 2).clamp(0, 1)

    @torch.no_grad()
    def run_tiled(self, x: torch.Tensor, tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP,
                  role: str = "generator") -> torch.Tensor:
        """As :meth:`run`, tile by tile: ``tile`` input pixels a side, each run with ``overlap``
        pixels of context on every side (fewer at the image's edges) and only its own part
        kept. Memory is bounded by (tile + 2 overlap)^2 whatever the image size."""
        if tile < 1 or overlap < 0:
            raise GanforgeError(f"--tile must be >= 1 and --overlap >= 0, got {tile} and {overlap}")
        n, c, h, w = x.shape
        if h <= tile and w <= tile:
            return self.run(x, role)
        s = self.scale
        out = torch.empty(n, c, h * s, w * s)
        for y0 in range(0, h, tile):
            for x0 in range(0, w, tile):
                y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
                ya, xa = max(y0 - overlap, 0), max(x0 - overlap, 0)
                yb, xb = min(y1 + overlap, h), min(x1 + overlap, w)
                y = self.run(x[:, :, ya:yb, xa:xb], role)
                out[:, :, y0 * s : y1 * s, x0 * s : x1 * s] = \
                    y[:, :, (y0 - ya) * s : (y1 - ya) * s, (x0 - xa) * s : (x1 - xa) * s]
        return out

    def _fit(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == self.channels:
            return x
        if x.shape[1] == 1:
            return x.expand(-1, self.channels, -1, -1)
        if self.channels == 1:
            return x.mean(1, keepdim=True)
        raise GanforgeError(f"images have {x.shape[1]} channels; this model takes {self.channels}")

    def upscale(self, images: torch.Tensor | Image.Image | list[Image.Image], tile: int | None = DEFAULT_TILE,
                overlap: int = DEFAULT_OVERLAP, role: str = "generator"
                ) -> torch.Tensor | Image.Image | list[Image.Image]:
        """Upscale images of any size by the model's scale.

        ``images``: a tensor (N, C, H, W) in [0, 1], a PIL image, or a list of PIL images (the
        result is of the same kind). ``tile``: input pixels per tile side (None or 0: the whole
        image at once). ``role``: ``generator`` (the GAN model) or ``psnr`` (the warm-up model).
        """
        tile = tile or 0
        if isinstance(images, torch.Tensor):
            if images.ndim != 4:
                raise GanforgeError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
            x = self._fit(images.float().clamp(0, 1))
            return self.run_tiled(x, tile, overlap, role) if tile else self.run(x, role)
        single = isinstance(images, Image.Image)
        pils = [images] if single else list(images)  # type: ignore[list-item]
        out = [self._to_pil(self.upscale(self._to_tensor(im)[None], tile, overlap, role)[0])  # type: ignore[index]
               for im in pils]
        return out[0] if single else out

    def _to_tensor(self, img: Image.Image) -> torch.Tensor:
        a = np.asarray(to_rgb_or_gray(img, self.channels), dtype=np.float32) / 255
        return torch.from_numpy(a[None] if a.ndim == 2 else a.transpose(2, 0, 1).copy())

    @staticmethod
    def _to_pil(t: torch.Tensor) -> Image.Image:
        a = (t.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
        return Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a)

    def upscale_folder(self, src: str | Path, out: str | Path, tile: int | None = DEFAULT_TILE,
                       overlap: int = DEFAULT_OVERLAP, role: str = "generator", strict: bool = False,
                       progress: bool = False, warn: Callable[[str], None] | None = None
                       ) -> tuple[int, list[str]]:
        """Upscale an image file, every image under a folder (recursively) or in a zip into
        ``out``, keeping relative names (as PNG where the name is not already an image format);
        one image at a time, tiled, so memory stays bounded. Unreadable files are reported
        through ``warn`` and skipped (``strict``: refused before anything is written).

        Returns:
            (images written, the skipped files).
        Raises:
            GanforgeError: no such input, no image files, ``out`` is the input folder, a bad file
                with ``strict`` (or the only file given), or no readable image at all.
        """
        self._net(role)
        job = ImageInputs(src, out, self.channels, "upscaled")
        if strict:
            job.check_all()
        with job.writing(progress, f"upscale x{self.scale}") as bar:
            for name in job.names:
                img = job.load(name)
                if isinstance(img, str):
                    job.skip(name, img, warn)
                else:
                    save_output(self.upscale(img, tile, overlap, role), job.dest(name),  # type: ignore[arg-type]
                                record(**self.provenance, kind="upscale", scale=self.scale,
                                       model=role or "generator", source=name))
                    job.written += 1
                if bar is not None:
                    bar.update(1)
        return job.result()

    # ---- what the training loop and the metrics ask of every inference object -------------
    def preview_batch(self, n: int, seed: int = 0, inputs: tuple | None = None) -> torch.Tensor:
        """Upscaled copies of ``n`` held-out low-resolution images spread over the set, in [0, 1]."""
        if inputs is None:
            raise GanforgeError("an upscaler's preview needs input images")
        lo = inputs[0][np.linspace(0, len(inputs[0]) - 1, min(n, len(inputs[0]))).round().astype(int)]
        return self.run(lo.float() / 255 if lo.dtype == torch.uint8 else lo)

    def preview(self, n: int = 64, seed: int = 0, inputs: tuple | None = None, rows: int = 8) -> Image.Image:
        """The epoch grid: for ``rows`` fixed held-out images, each row
        low-res (nearest-neighbour enlarged) | bicubic | ganforge | original."""
        if inputs is None:
            raise GanforgeError("an upscaler's preview needs input images")
        held_lo, held_hi = inputs
        k = min(rows, len(held_lo))
        pick = np.linspace(0, len(held_lo) - 1, k).round().astype(int)
        lo, hi = held_lo[pick].float() / 255, held_hi[pick].float() / 255
        s = self.scale
        cols = [lo.repeat_interleave(s, 2).repeat_interleave(s, 3), bicubic_up(lo, s).clamp(0, 1),
                self.run(lo), hi]
        return make_grid(torch.stack([c[i] for i in range(k) for c in cols]), len(cols))
