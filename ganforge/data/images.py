"""Image folders and zip archives of images, decoded once into a uint8 tensor at training size.

Every file is fully decoded up front: that is how truncated or corrupt files are found (a header
check misses them), and a GAN reads each image hundreds of times, so decoding once is also the
fast path. Bad files are skipped with one warning line each and a summary, or refused (strict).
"""

from __future__ import annotations

import io
import os
import sys
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import GanforgeError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
Warn = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def to_rgb_or_gray(img: Image.Image, channels: int) -> Image.Image:
    """Any PIL image -> mode ``L`` (``channels`` 1) or ``RGB`` (3), at its own size: the one
    mode normalisation training, translation and evaluation all read images with.

    Transparency is composited over white; 16-bit grayscale is scaled to 8 bits (not clipped:
    a 30% gray 16-bit PNG stays 30% gray); float images are stretched to their range.
    """
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        img = Image.fromarray(((arr - lo) / max(hi - lo, 1e-12) * 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    mode = "L" if channels == 1 else "RGB"
    return img if img.mode == mode else img.convert(mode)


def to_array(img: Image.Image, size: int, channels: int, fit: str = "crop") -> np.ndarray:
    """Any PIL image -> (channels, size, size) uint8: mode normalised (:func:`to_rgb_or_gray`),
    squared, resized."""
    img = to_rgb_or_gray(img, channels)
    w, h = img.size
    if w != h:
        if fit == "crop":
            s = min(w, h)
            left, top = (w - s) // 2, (h - s) // 2
            img = img.crop((left, top, left + s, top + s))
        else:
            s = max(w, h)
            canvas = Image.new(img.mode, (s, s), 0)
            canvas.paste(img, ((s - w) // 2, (s - h) // 2))
            img = canvas
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.LANCZOS)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1).copy()


def _is_gray(img: Image.Image) -> bool:
    return img.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")


class _Source:
    """A list of named image files in a folder or a zip archive, opened as bytes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self.is_zip = False
        if path.is_dir():
            self.names = sorted(
                str(p.relative_to(path))
                for p in path.rglob("*")
                if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
            )
        elif path.is_file() and zipfile.is_zipfile(path):
            self._zip = zipfile.ZipFile(path)
            self.is_zip = True
            self.names = sorted(
                n
                for n in self._zip.namelist()
                if n.lower().endswith(IMAGE_EXTENSIONS)
                and not n.endswith("/")
                and "__MACOSX/" not in n
                and not Path(n).name.startswith("._")
            )
        elif path.is_file() and path.suffix.lower() == ".zip":
            raise GanforgeError(f"{path}: a damaged zip archive (truncated or corrupt); copy it again")
        elif path.exists():
            raise GanforgeError(f"{path}: not a folder or a zip archive of images")
        else:
            raise GanforgeError(
                f"{path}: no such folder or file (nor a known data set name; "
                "see `ganforge data`)"
            )

    def read(self, name: str) -> bytes:
        if self._zip is not None:
            return self._zip.read(name)
        return (self.path / name).read_bytes()

    def open(self, name: str) -> IO[bytes]:
        """The file as a stream (a zip member is decompressed as it is read)."""
        if self._zip is not None:
            return self._zip.open(name)
        return open(self.path / name, "rb")

    def size_of(self, name: str) -> tuple[int, int] | None:
        """(width, height) from the image's header, without decoding it; None if unreadable."""
        try:
            with self.open(name) as f, Image.open(f) as img:
                return img.size
        except (OSError, ValueError, SyntaxError, zipfile.BadZipFile, Image.DecompressionBombError):
            return None


def image_names(path: str | os.PathLike) -> list[str]:
    """The image files under a folder or inside a zip, sorted, relative to it."""
    return _Source(Path(path)).names


def native_size(path: str | os.PathLike) -> int:
    """The side images in a folder or zip are scored at by default: the shorter side of the
    first readable image (a folder of generated images is all one size)."""
    src = _Source(Path(path))
    for name in src.names:
        try:
            with Image.open(io.BytesIO(src.read(name))) as img:
                return min(img.size)
        except (OSError, ValueError, UnidentifiedImageError, zipfile.BadZipFile):
            continue
    raise GanforgeError(f"{path}: no readable image files found ({', '.join(IMAGE_EXTENSIONS)})")


def decode_image(data: bytes) -> Image.Image:
    """The bytes of an image file, fully decoded (a truncated file fails here, not later).

    Raises:
        OSError, ValueError, SyntaxError, Image.DecompressionBombError: not a readable image.
    """
    if not data:
        raise ValueError("empty file (0 bytes)")
    img = Image.open(io.BytesIO(data))
    img.load()  # full decode: a truncated file fails here, not later in training
    return img


def decode_files(
    src: _Source,
    names: list[str],
    size: int,
    channels: int,
    fit: str = "crop",
    strict: bool = False,
    warn: Warn = _stderr,
    workers: int | None = None,
    crop: Callable[[Image.Image], Image.Image] | None = None,
    progress: Callable[[int], None] | None = None,
    skipped: list[list[str]] | None = None,
) -> Iterator[tuple[str, bool, np.ndarray]]:
    """Decode ``names`` of ``src`` in parallel, in order: (name, was it grayscale, (channels,
    size, size) uint8) for each readable image. A bad file is one warning line (or, strict, an
    error naming it) and, with ``skipped``, a [name, reason] appended to it; a summary line
    follows. Memory stays bounded by one chunk of images.

    Raises:
        GanforgeError: a bad file with ``strict``, or no usable image at all.
    """

    def decode_one(data: bytes) -> tuple[bool, np.ndarray] | str:
        try:
            img = decode_image(data)
            gray = _is_gray(img)
            return gray, to_array(crop(img) if crop is not None else img, size, channels, fit)
        except UnidentifiedImageError:
            return "not an image in a format Pillow can read"
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            return (str(e).splitlines()[0] if str(e) else type(e).__name__)

    # PIL releases the GIL while decoding and resizing, so threads give a real speed-up.
    # Bytes are read in this thread: a ZipFile is not safe to read from several threads.
    bad = kept = 0
    chunk = 256
    with ThreadPoolExecutor(workers or min(8, os.cpu_count() or 1)) as pool:
        for start in range(0, len(names), chunk):
            part = names[start : start + chunk]
            blobs = []
            for name in part:
                try:
                    blobs.append(src.read(name))
                except (OSError, zipfile.BadZipFile) as e:
                    blobs.append(f"unreadable ({e})")
            jobs = [b if isinstance(b, str) else pool.submit(decode_one, b) for b in blobs]
            for name, job in zip(part, jobs):
                res = job if isinstance(job, str) else job.result()
                if isinstance(res, str):
                    where = f"{src.path}{'!' if src.is_zip else os.sep}{name}"
                    if strict:
                        raise GanforgeError(f"{where}: cannot read image ({res}); "
                                            "fix or remove it, or drop --strict to skip bad files")
                    warn(f"warning: skipping {where}: {res}")
                    if skipped is not None:
                        skipped.append([name, res])
                    bad += 1
                    continue
                kept += 1
                yield name, res[0], res[1]
            if progress is not None:
                progress(len(part))
    if bad:
        warn(f"warning: skipped {bad} of {len(names)} files in {src.path}: not readable images")
    if not kept:
        raise GanforgeError(f"{src.path}: none of its {len(names)} image files could be read")


def list_images(path: str | os.PathLike, select: Callable[[str], bool] | None = None,
                limit: int | None = None) -> tuple[_Source, list[str]]:
    """The source and the (selected, limited) image names under a folder or inside a zip."""
    src = _Source(Path(path))
    names = [n for n in src.names if select(n)] if select is not None else src.names
    names = names[:limit] if limit else names
    if not names:
        raise GanforgeError(
            f"{path}: no image files found ({', '.join(IMAGE_EXTENSIONS)}, searched recursively)"
        )
    return src, names


def load_image_files(
    path: str | os.PathLike,
    size: int,
    channels: int | None = None,
    fit: str = "crop",
    strict: bool = False,
    limit: int | None = None,
    warn: Warn = _stderr,
    workers: int | None = None,
    select: Callable[[str], bool] | None = None,
    crop: Callable[[Image.Image], Image.Image] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Decode every image under a folder (recursively) or inside a zip archive, into memory.

    Args:
        path: folder or .zip archive.
        size: output side in pixels.
        channels: 1 or 3; None picks 1 if every image is grayscale, else 3.
        fit: "crop" (center crop) or "pad" (center on black) for non-square images.
        strict: raise on the first bad file instead of skipping it.
        limit: only the first ``limit`` files (sorted by name).
        select: only the files whose name (relative to ``path``) it accepts.
        crop: applied to each decoded image before it is squared and resized (e.g. one half of
            a side-by-side pair).
    Returns:
        (N, C, size, size) uint8 array and the names of the images kept.
    Raises:
        GanforgeError: missing path, a bad file with ``strict``, or no usable image at all.
    """
    src, names = list_images(path, select, limit)
    kept: list[str] = []
    arrays: list[np.ndarray] = []
    all_gray = True
    for name, gray, arr in decode_files(src, names, size, channels or 3, fit, strict, warn, workers,
                                        crop):
        all_gray &= gray
        kept.append(name)
        arrays.append(arr)
    if channels is None and all_gray:
        arrays = [a[:1] for a in arrays]  # grayscale replicated to RGB: keep one plane
    return np.stack(arrays), kept
