"""Checksummed, resumable downloads into the data dir, with a clear error when offline."""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import GanforgeError

CHUNK = 1 << 20


def data_dir() -> Path:
    """Where data sets are cached: $GANFORGE_DATA, else ~/.cache/ganforge/data."""
    env = os.environ.get("GANFORGE_DATA")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "ganforge" / "data"


@dataclass(frozen=True)
class Resource:
    """One file of a public data set: where to get it and its published checksum (MD5, or
    SHA-256 where the catalogue gives that; neither: downloaded unverified, said so). A SHA-256
    shorter than 64 digits is a published prefix (torch.hub's file-name convention)."""

    filename: str
    url: str
    md5: str
    sha256: str = ""
    size: int | None = None  # bytes, where the catalogue gives it

    @property
    def checksum(self) -> tuple[str, str]:
        """(algorithm, hex digest) to verify with; ("", "") when none is published."""
        if self.md5:
            return "md5", self.md5
        if self.sha256:
            return "sha256", self.sha256
        return "", ""


def file_hash(path: Path, algorithm: str = "md5") -> str:
    """Hex digest of a file, read in 1 MB blocks (data sets are GBs)."""
    h = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _matches(got: str, digest: str) -> bool:
    return got == digest or (len(digest) >= 8 and got.startswith(digest))


def md5sum(path: Path) -> str:
    return file_hash(path, "md5")


def _manual_hint(res: Resource, dest: Path) -> str:
    algo, digest = res.checksum
    check = f" ({algo} {digest})" if algo else ""
    return (f"download {res.url} elsewhere and place it as {dest}{check}, "
            "or set GANFORGE_DATA to a folder that holds it")


def fetch(res: Resource, folder: Path, timeout: float = 60.0, progress: bool = True) -> Path:
    """Return ``folder/res.filename``, downloading it first if absent.

    A partial download is kept as ``.part`` and continued with an HTTP Range request next time.
    The finished file's MD5 must match the published one; a mismatch deletes it and raises.
    A verified file gets a ``.md5`` (or ``.sha256``) marker, so later runs skip re-hashing big
    archives. A resource with no published checksum is accepted as downloaded, with a warning.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GanforgeError(f"{folder}: cannot create the download folder ({e.strerror}); set "
                            "GANFORGE_DATA to a writable folder") from None
    if not os.access(folder, os.W_OK):
        raise GanforgeError(f"{folder}: the download folder is read-only; set GANFORGE_DATA to a "
                            "writable folder")
    dest = folder / res.filename
    algo, digest = res.checksum
    marker = dest.with_name(dest.name + "." + (algo or "unverified"))
    if dest.exists():
        if not algo or (marker.exists() and marker.read_text().strip() == digest):
            return dest
        if _matches(file_hash(dest, algo), digest):
            marker.write_text(digest)
            return dest
        raise GanforgeError(
            f"{dest}: checksum mismatch (expected {algo} {digest}); delete it and run again to "
            "download a fresh copy"
        )

    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(res.url, headers={"User-Agent": "ganforge"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            if have and resp.status != 206:
                have = 0  # the server ignored Range: start over
            total = resp.headers.get("Content-Length")
            total = int(total) + have if total else None
            bar = None
            if progress and sys.stderr.isatty():
                from tqdm import tqdm

                bar = tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=res.filename)
            with open(part, "ab" if have else "wb") as f:
                for block in iter(lambda: resp.read(CHUNK), b""):
                    f.write(block)
                    if bar:
                        bar.update(len(block))
            if bar:
                bar.close()
        got_size = part.stat().st_size
        if total is not None and got_size < total:
            raise GanforgeError(f"download of {res.url} was cut off at {got_size} of {total} bytes; "
                                f"run again to resume it (kept in {part})")
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # asked past the end: the .part is already complete
            pass
        else:
            raise GanforgeError(f"could not download {res.url} (HTTP {e.code}); "
                                + _manual_hint(res, dest)) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError) as e:
        reason = getattr(e, "reason", e)
        raise GanforgeError(f"could not download {res.url} ({reason}; offline?); "
                            + _manual_hint(res, dest)) from None

    if not algo:
        print(f"warning: {res.filename}: no published checksum to verify it against; accepted as "
              "downloaded", file=sys.stderr)
        os.replace(part, dest)
        return dest
    got = file_hash(part, algo)
    if not _matches(got, digest):
        part.unlink()
        raise GanforgeError(
            f"{res.url}: checksum mismatch ({algo} {got}, expected {digest}); the partial file was "
            "deleted, run again to retry, or " + _manual_hint(res, dest)
        )
    os.replace(part, dest)
    marker.write_text(digest)
    return dest
