"""Image files in, one output each: what `translate` and `upscale` share.

A single file, a folder (recursively) or a zip; names kept under the output folder; bad files
reported and skipped, or refused before anything is written (``strict``); memory bounded by
reading one image at a time.
"""

from __future__ import annotations

import contextlib
import os
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from PIL import Image, UnidentifiedImageError

from ..data.images import IMAGE_EXTENSIONS, decode_image, list_images, to_rgb_or_gray
from ..errors import GanforgeError


class ImageInputs:
    """The images under ``src`` for a job that writes one output per input into ``out``.

    ``verb`` ("translated", "upscaled") words the messages. Construction refuses a missing
    input, a folder with no images, and ``out`` equal to the input folder.
    """

    def __init__(self, src: str | Path, out: str | Path, channels: int, verb: str) -> None:
        self.src, self.out, self.channels, self.verb = Path(src), Path(out), channels, verb
        self.read, self.names, root, self.where = _open_input(self.src)
        if root is not None and self.out.resolve() == root.resolve():
            raise GanforgeError(f"--out {self.out}: the same folder as the input; {verb} images "
                                "would overwrite the originals, choose another")
        self.single = self.src.is_file() and not _is_zip(self.src)
        self.bad: list[str] = []
        self.written = 0

    def load(self, name: str) -> Image.Image | str:
        """The image, mode-normalised to the model's channels, or why it cannot be read."""
        if not _safe_name(name):
            return "its name leads outside --out (an absolute path or '..')"
        try:
            return to_rgb_or_gray(decode_image(self.read(name)), self.channels)
        except UnidentifiedImageError:
            return "not an image in a format Pillow can read"
        except (OSError, ValueError, SyntaxError, RuntimeError, NotImplementedError,
                zipfile.BadZipFile, Image.DecompressionBombError) as e:  # (a zip: encrypted, odd codec)
            return str(e).splitlines()[0] if str(e) else type(e).__name__

    def refuse(self, name: str, why: str) -> GanforgeError:
        if self.single:
            return GanforgeError(f"{self.src}: not a readable image ({why}); nothing {self.verb}")
        return GanforgeError(f"{self.where(name)}: cannot read image ({why}); fix or remove it, "
                             "or drop --strict to skip bad files")

    def check_all(self) -> None:
        """``--strict``: decode every file once and refuse a bad one before anything is written."""
        for name in self.names:
            if isinstance(why := self.load(name), str):
                raise self.refuse(name, why)

    def skip(self, name: str, why: str, warn: Callable[[str], None] | None) -> None:
        """A file that cannot be read: refused when it was the only one given, else skipped
        and said."""
        if self.single:
            raise self.refuse(name, why)
        self.bad.append(self.where(name))
        if warn is not None:
            warn(f"warning: skipping {self.where(name)}: not a readable image ({why})")

    def dest(self, name: str) -> Path:
        return _dest(self.out, name)

    @contextlib.contextmanager
    def writing(self, progress: bool, desc: str) -> Iterator[Any]:
        """Around the write loop: a progress bar (None without ``progress``), closed however the
        loop ends; an error mid-way says how many images were written before it."""
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(self.names), unit="img", desc=desc, dynamic_ncols=True)
        try:
            yield bar
        except GanforgeError as e:
            if not self.written:
                raise
            raise GanforgeError(f"wrote {self.written} of {len(self.names)} images to {self.out}, "
                                f"then: {e}") from None
        finally:
            if bar is not None:
                bar.close()

    def result(self) -> tuple[int, list[str]]:
        """(images written, the skipped files); refuses a job that wrote nothing."""
        if not self.written:
            raise GanforgeError(f"{self.src}: none of its {len(self.names)} image files could be "
                                f"read; nothing {self.verb}")
        return self.written, self.bad


def _is_zip(path: Path) -> bool:
    suffix = path.suffix.lower()
    return suffix == ".zip" or (suffix not in IMAGE_EXTENSIONS and zipfile.is_zipfile(path))


def _open_input(src: Path) -> tuple[Callable[[str], bytes], list[str], Path | None,
                                    Callable[[str], str]]:
    """(read(name) -> bytes, the names, the folder outputs must not be written into (None for
    a zip), name -> where it is, for messages)."""
    if src.is_file() and not _is_zip(src):
        return (lambda _: src.read_bytes()), [src.name], src.parent, lambda _: str(src)
    if not src.exists():
        raise GanforgeError(f"{src}: no such file or folder")
    source, names = list_images(src)  # a folder (recursively) or a zip; refuses one with none
    sep = "!" if source.is_zip else os.sep
    return source.read, names, (None if source.is_zip else src), lambda n: f"{src}{sep}{n}"


def _safe_name(name: str) -> bool:
    """A relative name that stays under the output folder (a zip may hold '../x' or '/x')."""
    p = PurePosixPath(name.replace("\\", "/"))
    return not p.is_absolute() and ".." not in p.parts and ":" not in (p.parts[0] if p.parts else "")


def _dest(out: Path, name: str) -> Path:
    dest = out / PurePosixPath(name.replace("\\", "/"))
    return dest if dest.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp") else dest.with_suffix(".png")
