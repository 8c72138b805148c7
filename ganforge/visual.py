"""Pictures of a run: image grids, GIFs and the loss plot."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from . import provenance
from .errors import GanforgeError
from .provenance import IMAGE_FORMATS, image_format  # noqa: F401 -- re-exported: callers check names here
from .serialization import atomic_write


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) floats in [0, 1] -> (N, H, W, C) uint8."""
    x = (images.detach().float().clamp(0, 1) * 255 + 0.5).to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def to_pil(images: torch.Tensor) -> list[Image.Image]:
    arr = to_uint8(images)
    return [Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a) for a in arr]


def make_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 2,
              pad_value: int = 128, row_labels: Sequence[str] | None = None,
              skip: Sequence[int] = ()) -> Image.Image:
    """Tile (N, C, H, W) images in [0, 1] into one picture, ``nrow`` per row (default: square).

    The separator is mid-gray, so tiles stay apart on black digits and on white faces alike.
    ``row_labels``: a caption left of each row ('' for none), e.g. the class a row draws.
    ``skip``: tile positions left empty (the images fill the others, in order).
    """
    arr = to_uint8(images)
    n, h, w, c = arr.shape
    empty = set(skip)
    places = [i for i in range(n + len(empty)) if i not in empty][:n]
    nrow = nrow or math.ceil(math.sqrt(n + len(empty)))
    rows = math.ceil((places[-1] + 1 if places else 1) / nrow)
    grid = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, c), pad_value, dtype=np.uint8)
    for i, at in enumerate(places):
        r, col = divmod(at, nrow)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y : y + h, x : x + w] = arr[i]
    img = Image.fromarray(grid[..., 0] if c == 1 else grid)
    return caption_rows(img, row_labels, h, pad, pad_value) if row_labels else img


def caption_rows(grid: Image.Image, labels: Sequence[str], tile: int, pad: int = 2,
                 pad_value: int = 128) -> Image.Image:
    """``grid`` with a margin on its left holding ``labels[r]`` beside tile row ``r``."""
    from PIL import ImageDraw, ImageFont

    font = ImageFont.load_default()
    boxes = [font.getbbox(t) if t else (0, 0, 0, 0) for t in labels]
    margin = max(b[2] for b in boxes) + 2 * pad + 2
    fill = pad_value if grid.mode == "L" else (pad_value,) * 3
    out = Image.new(grid.mode, (grid.width + margin, grid.height), fill)
    out.paste(grid, (margin, 0))
    draw = ImageDraw.Draw(out)
    ink = 0 if grid.mode == "L" else (0, 0, 0)  # black on the mid-gray margin
    for r, (text, box) in enumerate(zip(labels, boxes)):
        if text:
            y = pad + r * (tile + pad) + (tile - (box[3] - box[1])) // 2 - box[1]
            draw.text((pad + 1, y), text, fill=ink, font=font)
    return out


CAPTION_PX = 12  # the strip under a training preview that says its step and epoch


def add_caption(grid: Image.Image, text: str) -> Image.Image:
    """``grid`` with a ``CAPTION_PX`` strip below it holding ``text`` (e.g. "step 1200 · epoch 3"),
    light on dark; a grid too narrow for the text drops the words ("1200 · 3"), then clips.
    What ``preview_region`` takes off again."""
    from PIL import ImageDraw, ImageFont

    font = ImageFont.load_default()
    short = " · ".join(w for w in text.split(" ") if any(ch.isdigit() for ch in w))
    line = text if font.getlength(text) + 4 <= grid.width else short
    dark, light = (32, 224) if grid.mode == "L" else ((32,) * 3, (224,) * 3)
    out = Image.new(grid.mode, (grid.width, grid.height + CAPTION_PX), dark)
    out.paste(grid, (0, 0))
    box = font.getbbox(line)
    ImageDraw.Draw(out).text((2, grid.height + (CAPTION_PX - (box[3] - box[1])) // 2 - box[1]), line,
                             fill=light, font=font)
    return out


def preview_region(img: Image.Image) -> Image.Image:
    """The grid of a saved training preview without its caption strip: the strip's height is
    read from the file's own provenance record (``caption_px``), so an uncaptioned grid (older
    runs, other images) comes back whole."""
    rec = provenance.of_image(img)["record"]
    px = int(rec.get("caption_px", 0)) if rec else 0
    return img.crop((0, 0, img.width, img.height - px)) if px else img


ANIMATION_FORMATS = (".gif", ".webp", ".mp4")


def check_animation_name(path: Path) -> None:
    """Raise GanforgeError unless the file name is an animation format ganforge writes, and
    (MP4) its writer is installed: said before any image is made."""
    if Path(path).suffix.lower() not in ANIMATION_FORMATS:
        raise GanforgeError(f"{path}: a walk is an animation; name it {', '.join(ANIMATION_FORMATS)}")
    if Path(path).suffix.lower() == ".mp4" and not _has_mp4_writer():
        raise _no_mp4(path)


def _has_mp4_writer() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("imageio", "imageio_ffmpeg"))


def _no_mp4(path: Path) -> GanforgeError:
    return GanforgeError(f"{path}: MP4 needs imageio with ffmpeg, not installed: pip install "
                         "'ganforge[video]' (or name the walk .gif or .webp)")


def save_image(img: Image.Image, path: Path, info: dict[str, Any] | None) -> None:
    """Write a picture in the format its name says (PNG, JPEG or WebP), atomically, carrying the
    provenance record ``info`` (``provenance.record``; None only for an image that is not
    synthetic, such as the user's own photo).

    Raises:
        GanforgeError: another extension, or a file that cannot be written (named).
    """
    provenance.save_image(img, path, info)


def save_gif(frames: Sequence[Image.Image], path: Path, ms_per_frame: int = 200,
             info: dict[str, Any] | None = None) -> None:
    """An endlessly looping GIF; the last frame is held a little longer. ``info``: the
    provenance record, written as a GIF comment."""
    frames = [f.convert("RGB") if f.mode not in ("L", "RGB", "P") else f for f in frames]
    durations = [ms_per_frame] * (len(frames) - 1) + [ms_per_frame * 5]
    atomic_write(
        Path(path),
        lambda p: frames[0].save(p, format="GIF", save_all=True, append_images=list(frames[1:]),
                                 duration=durations, loop=0, **provenance.save_kwargs("GIF", info)),
    )


def save_animation(frames: Sequence[Image.Image], path: Path, ms_per_frame: int = 80,
                   info: dict[str, Any] | None = None) -> None:
    """An animation in the format its name says: GIF, animated WebP, or MP4 (needs imageio
    with its ffmpeg plugin: ``pip install 'ganforge[video]'``). ``info``, the provenance
    record, goes into a GIF comment or the WebP's XMP and EXIF; MP4 carries none.

    Raises:
        GanforgeError: a still-image or unknown extension, or MP4 without imageio-ffmpeg.
    """
    path = Path(path)
    check_animation_name(path)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        return save_gif(frames, path, ms_per_frame, info)
    if suffix == ".webp":
        rgb = [f.convert("RGB") for f in frames]
        return atomic_write(path, lambda p: rgb[0].save(p, format="WEBP", save_all=True,
                                                        append_images=rgb[1:], duration=ms_per_frame,
                                                        loop=0, quality=90,
                                                        **provenance.save_kwargs("WEBP", info)))
    # .mp4, the one name left
    try:
        import imageio.v3 as iio
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        raise _no_mp4(path) from None
    arr = np.stack([np.asarray(f.convert("RGB")) for f in frames])
    return atomic_write(path, lambda p: iio.imwrite(p, arr, extension=".mp4", fps=1000 / ms_per_frame))


def plot_losses(records: Sequence[dict], path: Path) -> None:
    """losses.png: every logged ``*_loss`` against step, and the evaluations beside them.

    Drawn with matplotlib's object API on an Agg canvas: no pyplot, so a notebook user's
    backend is never switched.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    logs = [r for r in records if any(k.endswith("_loss") for k in r)]
    keys = list(dict.fromkeys(k for r in logs for k in r if k.endswith("_loss")))
    evals = [r for r in records if "eval" in r]
    fig = Figure(figsize=(11, 3.5) if evals else (7, 3.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 2, 1) if evals else fig.add_subplot(1, 1, 1)
    if evals:
        ax2 = fig.add_subplot(1, 2, 2)
        ax2.plot([r["step"] for r in evals], [r["value"] for r in evals], "o-", color="C2")
        ax2.set_xlabel("step")
        ax2.set_ylabel(evals[-1]["eval"])
        ax2.set_title("evaluation (lower is better)")
        ax2.grid(alpha=0.3)
    for key in keys:
        pts = [(r["step"], r[key]) for r in logs if key in r]
        label = _LABELS.get(key, key.removesuffix("_loss"))
        # A short run logs a point or two (every 20 steps and at each epoch end): a line needs
        # two points to show, so few points are drawn as dots too.
        marker = "o" if len(pts) <= MARKERS_UP_TO else None
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=label, lw=1.2, marker=marker, ms=5)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    if keys:
        ax.legend()
    fig.tight_layout()
    atomic_write(Path(path), lambda p: fig.savefig(p, format="png"))


_LABELS = {"d_loss": "discriminator", "g_loss": "generator"}
MARKERS_UP_TO = 30  # logged points per curve drawn with a dot each
