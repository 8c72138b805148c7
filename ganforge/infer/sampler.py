"""The sampler: z -> image inference, separate from training.

One object serves the API, the CLI, the training previews, ``--eval-every`` and the metrics.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from .. import watermark
from ..errors import GanforgeError
from ..provenance import record
from ..visual import make_grid, save_animation, save_image, to_pil


def latents(n: int, z_dim: int, seed: int) -> torch.Tensor:
    """Seeded normal latents made on the CPU, so a seed gives the same images on any device."""
    if not 0 <= seed < 2**63:
        raise GanforgeError(f"seed must be in [0, 2^63), got {seed}")
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, z_dim, generator=g)


@torch.no_grad()
def render(net: nn.Module, z: torch.Tensor, batch_size: int = 256,
           labels: torch.Tensor | None = None, psi: float | None = None) -> torch.Tensor:
    """Run a generator in eval mode over latents (and class labels) in chunks: images in [0, 1]
    on the CPU. The network's train/eval mode is restored afterwards, so training can call it.
    ``psi``: truncation, for generators that track an average latent (StyleGAN2)."""
    dev = next(net.parameters()).device
    was_training = net.training
    net.eval()
    kw = {} if psi is None else {"psi": psi}
    if labels is None:
        out = [net(chunk.to(dev), **kw).float().cpu() for chunk in z.split(batch_size)]
    else:
        out = [net(c.to(dev), y.to(dev), **kw).float().cpu()
               for c, y in zip(z.split(batch_size), labels.split(batch_size))]
    net.train(was_training)
    return ((torch.cat(out) + 1) / 2).clamp_(0, 1)  # a tanh G is in range; StyleGAN2's is not


class Sampler:
    """A generator, ready to make images. Get one with ``ganforge.load(run_dir)``.

    It never changes the network's train/eval mode for longer than a call, so the training
    loop draws its previews through the same object users load.
    """

    def __init__(self, generator: nn.Module, z_dim: int, device: torch.device | str | None = None,
                 classes: list[str] | None = None) -> None:
        self.device = torch.device(device) if device is not None else next(generator.parameters()).device
        self.net = generator.to(self.device)
        self.z_dim = int(z_dim)
        self.classes = list(classes) if classes else None  # a class-conditional generator's classes
        self.batch_size = 256  # images rendered at once (``generate --batch-size``): memory vs speed
        self.psi: float | None = None  # truncation applied to every image (``truncate``)
        # What every image this sampler writes says about its model (``infer.load`` fills it:
        # run name and weights hash); a sampler over live training networks has none.
        self.provenance: dict = {}
        self.watermark = False  # ``generate --watermark``: still images >= 256x256 get ganforge.watermark
        self.watermark_missed: list[str] = []  # files that could not carry it (written unmarked)

    def record(self, **fields: object) -> dict:
        """The provenance record of an image this sampler made (``provenance.record``)."""
        return record(**self.provenance, psi=self.psi, **fields)

    def _marked(self, img: Image.Image, name: str) -> tuple[Image.Image, str | None]:
        """A still image with the watermark when asked for, and what its record says of it.

        Each mark is read back before the image is written: an image with too little texture
        (a flat or tiny-tiled grid) cannot carry it, and is then written unmarked, its record
        saying so, and ``name`` listed in ``watermark_missed``."""
        if not self.watermark:
            return img, None
        marked = watermark.embed(img)
        if watermark.detect(marked)["found"]:
            return marked, watermark.NAME
        self.watermark_missed.append(name)
        return img, None

    def _class_name(self, label: int | str | None) -> str | None:
        return None if label is None or self.classes is None else self.classes[self.label(label)]

    @property
    def conditional(self) -> bool:
        return self.classes is not None

    def label(self, name: int | str) -> int:
        """A class index from an index or a class name (``7``, ``"7"``, ``"cat"``).

        Raises:
            GanforgeError: an unconditional model, or a class the model does not know.
        """
        if self.classes is None:
            raise GanforgeError("this model is not class-conditional; drop --class / label")
        if isinstance(name, str) and name in self.classes:
            return self.classes.index(name)
        try:
            i = int(name)
        except (TypeError, ValueError):
            i = -1
        if not 0 <= i < len(self.classes) or (isinstance(name, float) and name != i):
            raise GanforgeError(f"class {name!r} is not one this model knows: "
                                f"{', '.join(self.classes)} (or 0-{len(self.classes) - 1})")
        return i

    def labels(self, n: int, label: int | str | list | None = None) -> torch.Tensor | None:
        """``n`` class labels: all ``label``, one each from a list, or (None) the classes in turn,
        so any ``generate(n)`` of a conditional model is balanced over its classes."""
        if self.classes is None:
            if label is not None:
                self.label(label)  # raises: not conditional
            return None
        if label is None:
            return torch.arange(n) % len(self.classes)
        if isinstance(label, (list, tuple)):
            if len(label) != n:
                raise GanforgeError(f"{len(label)} labels given for {n} images")
            return torch.tensor([self.label(x) for x in label])
        return torch.full((n,), self.label(label), dtype=torch.long)

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str = "auto") -> Sampler:
        from . import load

        s = load(run_dir, device)
        if not isinstance(s, cls):
            raise GanforgeError(f"{run_dir}: holds a {type(s).__name__}, not a Sampler")
        return s

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of the images, from one forward pass."""
        y = None if self.classes is None else torch.zeros(1, dtype=torch.long)
        return tuple(render(self.net, torch.zeros(1, self.z_dim), labels=y).shape[1:])  # type: ignore[return-value]

    @property
    def truncatable(self) -> bool:
        """Whether the generator tracks an average latent that ``psi`` can pull towards."""
        return hasattr(getattr(self.net, "mapping", None), "w_avg")

    def truncate(self, psi: float | None) -> Sampler:
        """Truncate every image this sampler makes from now on by ``psi`` (None: none); returns
        the sampler. What ``ganforge generate --psi`` uses for grids, folders and walks alike."""
        if psi is not None:
            self.from_latents(torch.zeros(1, self.z_dim), psi=psi)  # checked before any work
        self.psi = psi
        return self

    def from_latents(self, z: torch.Tensor, batch_size: int | None = None,
                     labels: torch.Tensor | None = None, psi: float | None = None) -> torch.Tensor:
        """Images in [0, 1], (N, C, H, W), on the CPU."""
        psi = psi if psi is not None else self.psi
        batch_size = batch_size or self.batch_size
        if psi is not None and not self.truncatable:
            raise GanforgeError(f"--psi {psi}: this generator has no average latent to truncate "
                                "towards (truncation is for StyleGAN2 runs)")
        if labels is None and self.classes is not None:
            labels = self.labels(len(z))
        return render(self.net, z, batch_size, labels, psi)

    def generate(self, n: int, seed: int = 0, pil: bool = False,
                 label: int | str | list | None = None,
                 psi: float | None = None) -> torch.Tensor | list[Image.Image]:
        """``n`` new images; the same seed gives the same images.

        ``label`` (class-conditional models): a class index or name for all ``n`` images, a list
        of ``n``, or None for the classes in turn. ``psi`` (StyleGAN2): truncation, 1 = none,
        0 = the average image; 0.5-0.7 trades variety for typical, cleaner images. Returns a
        float tensor (N, C, H, W) in [0, 1], or a list of PIL images with ``pil=True``.
        """
        if n < 1:
            raise GanforgeError(f"n must be >= 1, got {n}")
        images = self.from_latents(latents(n, self.z_dim, seed), labels=self.labels(n, label), psi=psi)
        return to_pil(images) if pil else images

    def grid(self, n: int = 64, seed: int = 0, nrow: int | None = None,
             label: int | str | None = None) -> Image.Image:
        """A grid of ``generate(n, seed)``; a conditional model without ``label`` draws a block
        per class, captioned with its name, the same latents at the same places in each block.

        Each class gets ceil(n / classes) images; the blocks are as wide as keeps the whole
        grid about square (10 digit classes at n 64: a row of 7 each; 2 classes: 4 rows of 8
        each, not one 1090-pixel strip of 32)."""
        if self.classes is None or label is not None:
            return make_grid(self.generate(n, seed, label=label), nrow)
        k = len(self.classes)
        per = max(1, -(-n // k))
        cols = nrow or min(per, math.ceil(math.sqrt(k * per)))
        rows = -(-per // cols)  # rows of each class's block
        z = latents(per, self.z_dim, seed).repeat(k, 1)
        y = torch.arange(k).repeat_interleave(per)
        empty = [c * rows * cols + i for c in range(k) for i in range(per, rows * cols)]
        captions = [self.classes[r // rows] if r % rows == 0 else "" for r in range(k * rows)]
        return make_grid(self.from_latents(z, labels=y), cols, row_labels=captions, skip=empty)

    # ---- what the training loop and the metrics ask of every inference object -------------
    def preview(self, n: int = 64, seed: int = 0, inputs: tuple | None = None) -> Image.Image:
        """The epoch grid: ``grid(n, seed)`` (a sampler takes no inputs)."""
        return self.grid(n, seed)

    def preview_batch(self, n: int, seed: int = 0, inputs: tuple | None = None) -> torch.Tensor:
        """``generate(n, seed)``: the images the guard and ``--eval-every`` score."""
        return self.generate(n, seed)  # type: ignore[return-value]

    def save_grid(self, path: str | Path, n: int = 64, seed: int = 0,
                  label: int | str | None = None) -> Path:
        grid, mark = self._marked(self.grid(n, seed, label=label), str(path))
        save_image(grid, Path(path), self.record(kind="grid", n=n, seed=seed, watermark=mark,
                                                 **{"class": self._class_name(label)}))
        return Path(path)

    def save_images(self, folder: str | Path, n: int, seed: int = 0, progress: bool = False,
                    label: int | str | None = None) -> int:
        """``n`` images (those of ``generate(n, seed, label=label)``) as one PNG each, rendered and
        written in batches, so memory stays flat for any ``n``. Returns how many were written."""
        z = latents(n, self.z_dim, seed)
        about = [{"seed": seed, "index": i} for i in range(n)]  # image i of generate(n, seed)
        return self._write_each(Path(folder), z, [f"{seed:04d}_{i:05d}.png" for i in range(n)],
                                progress, self.labels(n, label), about)

    def save_seeds(self, folder: str | Path, seeds: list[int], progress: bool = False,
                   label: int | str | None = None) -> int:
        """One PNG per seed, ``seedSSSS.png``, each the image ``generate(1, seed=S, label=label)``
        gives (a conditional model without a label: class 0)."""
        z = torch.cat([latents(1, self.z_dim, s) for s in seeds])
        y = self.labels(len(seeds), label)
        if y is not None and label is None:
            y = torch.zeros_like(y)
        return self._write_each(Path(folder), z, [f"seed{s:04d}.png" for s in seeds], progress, y,
                                [{"seed": s, "index": 0} for s in seeds])

    def _write_each(self, folder: Path, z: torch.Tensor, names: list[str], progress: bool,
                    labels: torch.Tensor | None, about: list[dict]) -> int:
        batch_size = self.batch_size
        if self.watermark:  # said before any image is written
            _, h, w = self.image_shape
            watermark.check_size(w, h, "each image")
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(names), unit="img", desc="generate", dynamic_ncols=True)
        done = 0
        try:
            for start in range(0, len(names), batch_size):
                y = None if labels is None else labels[start : start + batch_size]
                for img in to_pil(self.from_latents(z[start : start + batch_size], batch_size, y)):
                    cls = None if labels is None else self.classes[int(labels[done])]  # type: ignore[index]
                    img, mark = self._marked(img, str(folder / names[done]))
                    save_image(img, folder / names[done], self.record(kind="image", **about[done],
                                                                      watermark=mark, **{"class": cls}))
                    done += 1
                if bar is not None:
                    bar.update(min(batch_size, len(names) - start))
        except GanforgeError as e:
            raise GanforgeError(f"wrote {done} of {len(names)} images to {folder}, then: {e}") from None
        finally:
            if bar is not None:
                bar.close()
        return done

    def walk_spaces(self) -> tuple[str, ...]:
        """The spaces ``interpolate`` can walk: ("w", "z") for a generator with a mapping network
        (StyleGAN2's; W first, its default), ("z",) for any other."""
        return ("w", "z") if self.truncatable and hasattr(self.net, "synthesis") else ("z",)

    def interpolate(self, path: str | Path, n: int = 16, seed: int = 0, keyframes: int = 4,
                    steps: int = 12, label: int | str | None = None, space: str | None = None) -> Path:
        """An animation (.gif, .webp, .mp4) that walks the latent space: ``n`` images, each visiting
        ``keyframes`` latents and looping back to the first.

        ``space`` "z": spherical interpolation between the latents (it keeps in-between latents
        at a typical norm for a Gaussian). "w" (generators with a mapping network; their
        default): straight lines between the latents' ws, where StyleGAN2's paths are short, so
        the images change evenly; truncation (``psi``) applies to the ws.
        """
        if keyframes < 2 or steps < 1:
            raise GanforgeError("interpolation needs >= 2 keyframes and >= 1 step")
        space = space or self.walk_spaces()[0]
        if space not in self.walk_spaces():
            raise GanforgeError(f"--walk-space {space}: " + (
                "this generator has no mapping network (no W); walk in z" if space == "w"
                else "choose w or z"))
        keys = latents(keyframes * n, self.z_dim, seed).view(keyframes, n, self.z_dim)
        keys = torch.cat([keys, keys[:1]])  # loop back to the start
        y = self.labels(n, label)
        frames = []
        if space == "w":
            from .style import render_ws, ws_of

            psi = self.psi if self.psi is not None else 1.0
            with torch.no_grad():
                was = self.net.training
                self.net.eval()  # the average w and fixed noise of inference
                wk = [ws_of(self.net, k, psi, y) for k in keys]
                self.net.train(was)
            for a, b in zip(wk[:-1], wk[1:]):
                for t in torch.arange(steps) / steps:
                    frames.append(make_grid(render_ws(self.net, torch.lerp(a, b, float(t)),
                                                      self.batch_size)))
        else:
            for a, b in zip(keys[:-1], keys[1:]):
                for t in torch.arange(steps) / steps:
                    frames.append(make_grid(self.from_latents(slerp(a, b, float(t)), labels=y)))
        save_animation(frames, Path(path), ms_per_frame=80,
                       info=self.record(kind="walk", n=n, seed=seed, keyframes=keyframes, space=space,
                                        **{"class": self._class_name(label)}))
        return Path(path)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    an, bn = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((an * bn).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b
