"""The translator: image -> image inference (CycleGAN, pix2pix), separate from training.

One object serves ``ganforge.load(run).translate(...)``, ``ganforge translate``, the training
previews and ``ganforge eval``. Images of any size go in; each is read as training reads images
(``data.images.to_rgb_or_gray``), resized to the model's size, translated, and resized back to
its own size. A folder or zip is streamed: read, translated and written a batch at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ..data.images import to_rgb_or_gray
from ..errors import GanforgeError
from ..provenance import record
from ..visual import make_grid, save_image
from .inputs import ImageInputs

DIRECTIONS = ("a2b", "b2a")


class Translator:
    """Generators by direction (``a2b``, and ``b2a`` for CycleGAN), ready to translate images.
    Get one with ``ganforge.load(run_dir)``."""

    def __init__(self, nets: dict[str, nn.Module], size: int, channels: int,
                 device: torch.device | str | None = None, domains: tuple[str, str] = ("A", "B")) -> None:
        first = next(iter(nets.values()))
        self.device = torch.device(device) if device is not None else next(first.parameters()).device
        self.nets = {d: net.to(self.device) for d, net in nets.items()}
        self.size, self.channels = int(size), int(channels)
        self.domains = tuple(domains)
        self.provenance: dict = {}  # run name and weights hash (``infer.load`` fills it)

    @property
    def directions(self) -> list[str]:
        return [d for d in DIRECTIONS if d in self.nets]

    def _net(self, direction: str) -> nn.Module:
        if direction not in DIRECTIONS:
            raise GanforgeError(f"--direction {direction!r}: choose a2b or b2a")
        if direction not in self.nets:
            raise GanforgeError(f"--direction {direction}: this model translates "
                                f"{' and '.join(self.directions)} only (pix2pix learns one direction)")
        return self.nets[direction]

    @torch.no_grad()
    def run(self, x: torch.Tensor, direction: str = "a2b", batch_size: int = 16) -> torch.Tensor:
        """Images (N, C, S, S) in [0, 1] at a size the network takes -> translations in [0, 1],
        on the CPU. The network's train/eval mode is restored afterwards."""
        net = self._net(direction)
        was = net.training
        net.eval()
        try:
            out = [net(chunk.to(self.device).float() * 2 - 1).float().cpu()
                   for chunk in x.split(batch_size)]
        finally:
            net.train(was)
        return (torch.cat(out) + 1) / 2

    def _fit(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.channels:
            if x.shape[1] == 1:
                x = x.expand(-1, self.channels, -1, -1)
            elif self.channels == 1:
                x = x.mean(1, keepdim=True)
        return x

    def translate(self, images: torch.Tensor | Image.Image | list[Image.Image], direction: str = "a2b",
                  size: int | None = None, batch_size: int = 16
                  ) -> torch.Tensor | Image.Image | list[Image.Image]:
        """Translate images of any size; each comes back at its own size.

        ``images``: a tensor (N, C, H, W) in [0, 1], a PIL image, or a list of PIL images (the
        result is of the same kind). ``size``: translate at this side instead of the training
        size (the networks are fully convolutional).
        """
        side = size or self.size
        if isinstance(images, torch.Tensor):
            if images.ndim != 4:
                raise GanforgeError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
            h, w = images.shape[-2:]
            x = self._fit(images.float())
            if (h, w) != (side, side):
                x = F.interpolate(x, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
            y = self.run(x.clamp(0, 1), direction, batch_size)
            if (h, w) != (side, side):
                y = F.interpolate(y, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
            return y.clamp(0, 1)
        single = isinstance(images, Image.Image)
        pils = [images] if single else list(images)  # type: ignore[list-item]
        out = []
        for start in range(0, len(pils), batch_size):
            part = pils[start : start + batch_size]
            x = torch.stack([self._to_tensor(im, side) for im in part])
            y = self.run(x, direction, batch_size)
            out += [self._to_pil(t, im.size) for t, im in zip(y, part)]
        return out[0] if single else out

    def _to_tensor(self, img: Image.Image, side: int) -> torch.Tensor:
        """A PIL image of any mode and size -> (C, side, side) in [0, 1], its mode normalised
        exactly as training data's (16-bit gray scaled, transparency over white)."""
        img = to_rgb_or_gray(img, self.channels).resize((side, side), Image.Resampling.LANCZOS)
        a = np.asarray(img, dtype=np.float32) / 255
        return torch.from_numpy(a[None] if a.ndim == 2 else a.transpose(2, 0, 1).copy())

    @staticmethod
    def _to_pil(t: torch.Tensor, size: tuple[int, int]) -> Image.Image:
        a = (t.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
        img = Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a)
        return img if img.size == size else img.resize(size, Image.Resampling.LANCZOS)

    def translate_folder(self, src: str | Path, out: str | Path, direction: str = "a2b",
                         size: int | None = None, strict: bool = False, progress: bool = False,
                         batch_size: int = 8, warn: Callable[[str], None] | None = None
                         ) -> tuple[int, list[str]]:
        """Translate an image file, every image under a folder (recursively) or every image in
        a zip, into ``out``, keeping relative names (a zip's: the names inside it) and each
        image's size.

        Images are read, translated and written ``batch_size`` at a time, and each full-size
        image is dropped once it is shrunk to the model's size: memory stays bounded whatever
        the number of images. Unreadable files are reported through ``warn`` and skipped (with
        ``strict``, every file is decoded once before any is translated and a bad one refused
        before anything is written).

        Returns:
            (images written, the skipped files).
        Raises:
            GanforgeError: no such input, no image files, ``out`` is the input folder, a bad file
                with ``strict``, or no readable image at all (nothing was translated).
        """
        self._net(direction)
        if batch_size < 1:
            raise GanforgeError(f"--batch-size must be >= 1, got {batch_size}")
        side = size or self.size
        job = ImageInputs(src, out, self.channels, "translated")
        if strict:  # refuse a bad file before anything is written: each is decoded twice
            job.check_all()
        with job.writing(progress, f"translate {direction}") as bar:
            for start in range(0, len(job.names), batch_size):
                part = job.names[start : start + batch_size]
                xs, kept = [], []
                for name in part:
                    img = job.load(name)
                    if isinstance(img, str):
                        job.skip(name, img, warn)
                        continue
                    xs.append(self._to_tensor(img, side))
                    kept.append((name, img.size))
                    del img  # only the model-size copy is kept until the batch is written
                if xs:
                    y = self.run(torch.stack(xs), direction, batch_size)
                    for (name, own), t in zip(kept, y):
                        save_image(self._to_pil(t, own), job.dest(name),
                                   record(**self.provenance, kind="translation", direction=direction,
                                          source=name))  # its name under the input
                        job.written += 1
                if bar is not None:
                    bar.update(len(part))
        return job.result()

    # ---- what the training loop and the metrics ask of every inference object -------------
    def preview_batch(self, n: int, seed: int = 0, inputs: tuple | None = None) -> torch.Tensor:
        """Translations (a2b) of ``n`` held-out A images spread over the set, in [0, 1]."""
        if inputs is None:
            raise GanforgeError("a translator's preview needs input images")
        a = inputs[0][np.linspace(0, len(inputs[0]) - 1, min(n, len(inputs[0]))).round().astype(int)]
        return self.run(a.float() / 255 if a.dtype == torch.uint8 else a)

    def preview(self, n: int = 64, seed: int = 0, inputs: tuple | None = None, rows: int = 8) -> Image.Image:
        """The epoch grid: for ``rows`` fixed held-out images spread over the set, each row
        input | translation | reconstruction (CycleGAN: then the same from B), or
        input | translation | target (pix2pix, whose held-out B are the right answers)."""
        if inputs is None:
            raise GanforgeError("a translator's preview needs input images")
        held_a, held_b = inputs
        k = min(rows, len(held_a), len(held_b))
        pick = lambda t: t[np.linspace(0, len(t) - 1, k).round().astype(int)]  # noqa: E731
        a, b = (pick(t).float() / 255 for t in (held_a, held_b))
        tiles = []
        fake_b = self.run(a, "a2b")
        if "b2a" in self.nets:
            rec_a = self.run(fake_b, "b2a")
            fake_a = self.run(b, "b2a")
            rec_b = self.run(fake_a, "a2b")
            cols = [a, fake_b, rec_a, b, fake_a, rec_b]
        else:
            cols = [a, fake_b, b]
        for i in range(k):
            tiles += [c[i] for c in cols]
        return make_grid(torch.stack(tiles), len(cols))
