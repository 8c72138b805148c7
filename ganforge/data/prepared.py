"""Prepared data sets: a folder or zip decoded once, at one (size, channels, fit), into a
memory-mapped uint8 array under the data directory.

Decoding is the slow part of every start (19,000 faces: ~20 s; FFHQ at 256 px: 13.7 GB that
would not fit in RAM), so the first use decodes in parallel and writes ``images.u8`` plus a small
``index.json`` (file names, skipped files, a fingerprint of the source). Later runs open it in
well under a second and read only the rows they index. A changed source is prepared again with
one line saying why; a half-written cache (killed, disk full) is never used: it is built in a
temporary folder and renamed into place only when complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import GanforgeError
from .download import data_dir
from .images import Warn, _Source, _stderr, decode_files, list_images, load_image_files

VERSION = 1
IMAGES, INDEX = "images.u8", "index.json"


def prepared_dir() -> Path:
    """Where prepared sets live: ``<data dir>/prepared`` ($GANFORGE_DATA moves it too)."""
    return data_dir() / "prepared"


def fingerprint(src: _Source, names: list[str]) -> dict[str, Any]:
    """What identifies the source's contents without decoding it: every file's name, size and
    modification time (a folder), or name, size and CRC from the zip's directory."""
    h = hashlib.sha256()
    total = 0
    if src.is_zip:
        assert src._zip is not None
        infos = {i.filename: i for i in src._zip.infolist()}
        for n in names:
            i = infos[n]
            h.update(f"{n}\0{i.file_size}\0{i.CRC}\n".encode())
            total += i.file_size
    else:
        for n in names:
            st = (src.path / n).stat()
            h.update(f"{n}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            total += st.st_size
    return {"files": len(names), "bytes": total, "sha256": h.hexdigest()}


def cache_key(path: Path, size: int, channels: int | None, fit: str, part: str) -> str:
    ident = json.dumps([VERSION, str(path.resolve()), size, channels, fit, part])
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


@contextlib.contextmanager
def _locked(root: Path, key: str) -> Iterator[None]:
    """One process prepares a key at a time (DDP ranks starting together wait for the first)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{key}.lock", "w") as f:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory lock; the atomic rename still protects
            yield
            return
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _read_index(folder: Path) -> dict[str, Any] | None:
    """The index of a complete prepared set, or None when it is missing or damaged."""
    try:
        index = json.loads((folder / INDEX).read_text())
        shape = [int(v) for v in index["shape"]]
        if (folder / IMAGES).stat().st_size != int(np.prod(shape)) or index.get("version") != VERSION:
            return None
        return index
    except (OSError, ValueError, KeyError, TypeError):
        return None


def open_images(folder: Path, index: dict[str, Any]) -> np.ndarray:
    """The prepared array, memory-mapped copy-on-write: rows are read from disk when indexed,
    and nothing a caller writes reaches the file."""
    return np.memmap(folder / IMAGES, dtype=np.uint8, mode="c", shape=tuple(index["shape"]))


def prepared_images(
    path: str | os.PathLike,
    size: int,
    channels: int | None = None,
    fit: str = "crop",
    strict: bool = False,
    warn: Warn = _stderr,
    select: Callable[[str], bool] | None = None,
    crop: Callable[[Image.Image], Image.Image] | None = None,
    part: str = "",
    progress: bool = False,
) -> tuple[np.ndarray, list[str]]:
    """Like :func:`load_image_files`, through the prepared-set cache: a memory-mapped
    (N, C, size, size) uint8 array and the names of the images kept.

    ``part`` names what ``select``/``crop`` pick (``"trainA"``, ``"train:left"``): it is part of
    the cache key, since the callables themselves cannot be.
    """
    p = Path(path).expanduser()
    src, names = list_images(p, select)
    root = prepared_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
        writable = os.access(root, os.W_OK)
    except OSError:
        writable = False
    if not writable:  # a read-only data directory: decode into memory, as --no-cache does
        warn(f"warning: cannot write prepared sets into {root} (read-only?); decoding {p} into "
             "memory (set GANFORGE_DATA to a writable folder, or pass --no-cache)")
        return load_image_files(p, size, channels, fit, strict, warn=warn, select=select, crop=crop)
    fp = fingerprint(src, names)
    auto = cache_key(p, size, None, fit, part)
    with _locked(root, auto):
        # A set prepared with channels chosen from the data holds what asking for that channel
        # count decodes to (RGB as RGB; all-gray as the one gray plane), so it serves both.
        folder = root / auto
        index = _read_index(folder)
        if channels is not None and (index is None or index["shape"][1] != channels
                                     or index["fingerprint"] != fp):
            folder = root / cache_key(p, size, channels, fit, part)
            index = _read_index(folder)
        if index is not None and index["fingerprint"] != fp:
            was = index["fingerprint"]
            why = (f"{was['files']} -> {fp['files']} files" if was["files"] != fp["files"]
                   else "files were changed or replaced")
            warn(f"{p} changed since it was prepared ({why}); preparing it again")
            index = None
        fresh = index is None
        if index is None:
            index = _prepare(src, names, fp, folder, size, channels, fit, strict, warn, crop, part,
                             progress)
    skipped = index["skipped"]
    if skipped:
        first = f"{p}{'!' if src.is_zip else os.sep}{skipped[0][0]}"
        if strict:
            raise GanforgeError(f"{first}: cannot read image ({skipped[0][1]}); fix or remove it, "
                                "or drop --strict to skip bad files")
        if not fresh:
            warn(f"warning: {len(skipped)} of {fp['files']} files in {p} were skipped when it was "
                 f"prepared (not readable images; e.g. {first})")
    return open_images(folder, index), index["names"]


def _prepare(src: _Source, names: list[str], fp: dict[str, Any], folder: Path, size: int,
             channels: int | None, fit: str, strict: bool, warn: Warn,
             crop: Callable[[Image.Image], Image.Image] | None, part: str,
             progress: bool) -> dict[str, Any]:
    """Decode ``names`` into a temporary folder, then rename it to ``folder`` (complete or never)."""
    for stale in folder.parent.glob(f"{folder.name}.tmp-*"):  # left by a killed preparation
        shutil.rmtree(stale, ignore_errors=True)
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    tmp.mkdir(parents=True)
    kept: list[str] = []
    skipped: list[list[str]] = []
    bar = None
    if progress and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(names), unit="img", desc="prepare", dynamic_ncols=True)
    else:
        warn(f"preparing {src.path} ({len(names)} files at {size}px) in {folder}: decoded once, "
             "later runs open it at once (--no-cache skips this)")

    t0 = time.time()
    try:
        all_gray = True
        with open(tmp / IMAGES, "wb") as f:
            for name, gray, arr in decode_files(src, names, size, channels or 3, fit, strict, warn,
                                                crop=crop, progress=bar.update if bar else None,
                                                skipped=skipped):
                f.write(arr.tobytes())
                kept.append(name)
                all_gray &= gray
        ch = channels or 3
        if channels is None and all_gray:  # grayscale replicated to RGB: keep one plane
            _keep_first_plane(tmp / IMAGES, len(kept), size)
            ch = 1
        index = {"version": VERSION, "source": str(src.path.resolve()), "part": part, "size": size,
                 "channels": channels, "fit": fit, "shape": [len(kept), ch, size, size],
                 "names": kept, "skipped": skipped, "fingerprint": fp,
                 "seconds": round(time.time() - t0, 2)}
        (tmp / INDEX).write_text(json.dumps(index))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise GanforgeError(f"preparing {src.path} in {folder} failed ({e.strerror or e}); free "
                            "space (`ganforge data --delete`), or pass --no-cache to decode into "
                            "memory") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if bar is not None:
            bar.close()
    return index


def _keep_first_plane(file: Path, n: int, size: int) -> None:
    """Rewrite an (n, 3, size, size) file as (n, 1, size, size), in chunks of bounded memory."""
    src = np.memmap(file, dtype=np.uint8, mode="r", shape=(n, 3, size, size))
    out = file.with_suffix(".gray")
    step = max(1, (64 << 20) // (3 * size * size))
    with open(out, "wb") as f:
        for i in range(0, n, step):
            f.write(np.ascontiguousarray(src[i : i + step, :1]).tobytes())
    del src
    os.replace(out, file)


def list_prepared() -> list[dict[str, Any]]:
    """Every complete prepared set: key, source, part, size, channels, images and bytes on disk."""
    root = prepared_dir()
    out = []
    for folder in sorted(root.glob("*")) if root.is_dir() else []:
        if not folder.is_dir() or ".tmp-" in folder.name:
            continue
        index = _read_index(folder)
        if index is None:
            continue
        out.append({"key": folder.name, "source": index["source"], "part": index["part"],
                    "size": index["size"], "channels": index["shape"][1], "images": index["shape"][0],
                    "bytes": sum(f.stat().st_size for f in folder.iterdir())})
    return out


def delete_prepared(which: str) -> list[str]:
    """Delete the prepared sets whose key or source is ``which`` (``all``: every one); returns
    the keys deleted.

    Raises:
        GanforgeError: nothing matches, listing what there is.
    """
    sets = list_prepared()
    src = str(Path(which).expanduser().resolve()) if which != "all" else ""
    gone = [s["key"] for s in sets if which in ("all", s["key"]) or s["source"] == src]
    if not gone and which != "all":
        known = ", ".join(f"{s['key']} ({s['source']})" for s in sets) or "none"
        raise GanforgeError(f"--delete {which}: no prepared set has that key or source; prepared: {known}")
    root = prepared_dir()
    for key in gone:
        shutil.rmtree(root / key, ignore_errors=True)
        with contextlib.suppress(OSError):
            (root / f"{key}.lock").unlink()
    return gone


__all__ = ["delete_prepared", "fingerprint", "list_prepared", "open_images", "prepared_dir",
           "prepared_images"]
