"""Two image domains for translation: unpaired (CycleGAN) or paired (pix2pix).

Sources, all becoming a :class:`DomainPair` (uint8 tensors held in memory, like ``ImageSet``):

- registered sets (``PAIRSETS``): the offline digit pair ``mnist2color`` and the public archives
  ``horse2zebra``, ``monet2photo`` (CycleGAN's), ``facades``, ``edges2shoes`` (pix2pix's);
- a folder or zip in CycleGAN's layout (``trainA/ trainB/ [testA/ testB/]``);
- a folder or zip of side-by-side ``A|B`` images, as the pix2pix sets ship (``train/ [val/|test/]``):
  read so when asked for (``side_by_side=True``: ``--pairs``, the registered pix2pix sets) or
  when every image is about twice as wide as tall (said in one line); any other single folder
  is refused, naming ``--data-b`` and ``--pairs`` -- it used to be cut silently into left halves
  (A) and right halves (B);
- two folders or zips (``--data A --data-b B``): unpaired, or paired by matching file names.

Every source keeps some images out of training for the previews and ``ganforge eval``: its own
test split when it has one, else every 10th image (by sorted name).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from ..errors import GanforgeError
from ..registry import Registry
from . import builtin
from .download import Resource, data_dir, fetch
from .images import _Source, _stderr, image_names, load_image_files
from .prepared import prepared_images

HOLD_EVERY = 10  # without a test split, every 10th image is held out


@dataclass
class DomainPair:
    """Training images of domain A (``images``) and B (``targets``), and held-out images of both.

    Paired: ``targets[i]`` is the right answer for ``images[i]`` (and ``held_targets[i]`` for
    ``held[i]``). ``held_labels``: the held-out A images' classes, where the source has them
    (the digit pair). ``truth``: the name of B's known rendering of A, if any (``mnist2color``).
    """

    name: str
    images: torch.Tensor  # (N, C, H, W) uint8, domain A
    targets: torch.Tensor  # (M, C, H, W) uint8, domain B
    paired: bool
    held: torch.Tensor
    held_targets: torch.Tensor
    domains: tuple[str, str] = ("A", "B")
    held_labels: torch.Tensor | None = None
    truth: str | None = None
    source: dict = field(default_factory=dict)  # where the data came from, for config.json
    labels: None = None  # translation data carries no class labels for training
    classes: None = None

    def __len__(self) -> int:
        """Pairs per epoch: all A (paired), else the larger domain, the other one cycled."""
        return len(self.images) if self.paired else max(len(self.images), len(self.targets))

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def size(self) -> int:
        return self.images.shape[-1]

    def pick(self, idx: torch.Tensor, epoch: int, seed: int, a: torch.Tensor | None = None,
             b: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The (A, B) uint8 batch for positions ``idx`` of epoch ``epoch``, gathered from ``a``
        and ``b`` (this pair's images and targets, wherever the caller placed them). Unpaired B
        images come from a second permutation, a pure function of (seed, epoch), so resume stays
        exact."""
        a = self.images if a is None else a
        b = self.targets if b is None else b
        idx = idx.to(a.device)
        x = a[idx % len(a)]
        if self.paired:
            return x, b[idx.to(b.device)]
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch + 1)
        perm = torch.randperm(len(self), generator=g).to(b.device)
        return x, b[perm[idx.to(b.device)] % len(b)]

    def describe(self) -> dict:
        return {"name": self.name, "images": len(self.images), "images_b": len(self.targets),
                "held_out": len(self.held), "held_out_b": len(self.held_targets),
                "paired": self.paired, "domains": list(self.domains), "channels": self.channels,
                "size": self.size, **self.source}


Loader = Callable[..., DomainPair]
PAIRSETS: Registry[Loader] = Registry("translation data set")


# ---- the offline digit pair ----------------------------------------------------------------
def _texture(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """mnist2color's domain B: the background (diagonal blue stripes) and the stroke colour
    (orange at the top to yellow at the bottom), each (3, size, size) in [0, 1]."""
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float64),
                            torch.arange(size, dtype=torch.float64), indexing="ij")
    t = 0.5 + 0.5 * torch.sin(2 * math.pi * (xx + yy) / max(size / 4, 2))
    bg = torch.stack([0.10 + 0.15 * t, 0.25 + 0.20 * t, 0.45 + 0.25 * t])
    v = yy / max(size - 1, 1)
    col = torch.stack([torch.ones_like(v), 0.45 + 0.45 * v, 0.10 + 0.10 * v])
    return bg, col


def render_digits(digits: torch.Tensor) -> torch.Tensor:
    """Gray digits (N, 1|3, S, S) uint8 -> domain B of mnist2color: the strokes in an orange-to-
    yellow gradient over a striped blue background, (N, 3, S, S) uint8. The known right answer
    of every A -> B translation."""
    s = digits.float().mean(1, keepdim=True).double() / 255
    bg, col = _texture(digits.shape[-1])
    out = bg * (1 - s) + col * s
    return (out * 255).round().clamp(0, 255).to(torch.uint8)


def decode_digits(images: torch.Tensor) -> torch.Tensor:
    """mnist2color domain-B images (N, 3, S, S) in [0, 1] -> the gray digits drawn in them
    (N, 1, S, S) in [0, 1]: each pixel's position between background and stroke colour. The
    exact inverse of :func:`render_digits` (up to rounding); on a translation, the digit the
    generator drew, ready for the digits classifier."""
    bg, col = (t.float() for t in _texture(images.shape[-1]))
    d = col - bg
    s = ((images.float() - bg) * d).sum(1, keepdim=True) / (d * d).sum(0, keepdim=True)
    return s.clamp(0, 1)


@PAIRSETS.register("mnist2color")
def _mnist2color(size: int, paired: bool, channels: int | None = None, **_: object) -> DomainPair:
    """Offline digit pair: mnist-mini digits <-> the same digits in colour on stripes."""
    from . import _resize_all

    x, y = builtin.mnist_mini()
    x = torch.from_numpy(np.ascontiguousarray(_resize_all(x, size, 1)))
    y = torch.from_numpy(y).long()
    # held out: the 1,000 digits the digits classifier never saw
    train, held = (torch.from_numpy(i) for i in builtin.heldout_split(len(x)))
    if paired:  # every training digit and its rendering
        a_idx, b_idx = train, train
    else:  # A and B hold *different* digits: no image appears in both domains
        perm = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))]
        a_idx, b_idx = perm[: len(perm) // 2].sort().values, perm[len(perm) // 2 :].sort().values
    gray3 = x.expand(-1, 3, -1, -1).contiguous()
    return DomainPair("mnist2color", gray3[a_idx], render_digits(x[b_idx]), paired, gray3[held],
                      render_digits(x[held]), ("digit", "color"), y[held], "mnist2color",
                      {"held_out_from": "the digits classifier's held-out split"})


# ---- the public archives -------------------------------------------------------------------
# CycleGAN's archives: URLs and SHA-256 from TensorFlow Datasets' checksum file
# (tensorflow_datasets/url_checksums/cycle_gan.txt); the authors' server is also reachable as
# efrosgans.eecs.berkeley.edu/cyclegan/datasets/.
_CYCLEGAN = "https://people.eecs.berkeley.edu/~taesung_park/CycleGAN/datasets/"
HORSE2ZEBRA = Resource("horse2zebra.zip", _CYCLEGAN + "horse2zebra.zip", "",
                       sha256="a74d9d392eecca9966b51287a76ca126af473d9de4f3e8fc0e9cda08fa1730a1",
                       size=116_867_962)
MONET2PHOTO = Resource("monet2photo.zip", _CYCLEGAN + "monet2photo.zip", "",
                       sha256="88f91b00fc228f97c9411fbf1880ec1d119c98f1722e4cfcfaa2fb35fac05b04",
                       size=305_231_073)
# pix2pix's archives: no public catalogue we could find publishes their checksums, so these are
# downloaded unverified (said on the console) and checked only for being readable archives.
_PIX2PIX = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/"
FACADES = Resource("facades.tar.gz", _PIX2PIX + "facades.tar.gz", "")
EDGES2SHOES = Resource("edges2shoes.tar.gz", _PIX2PIX + "edges2shoes.tar.gz", "")


def _archive(res: Resource, name: str) -> Path:
    path = fetch(res, data_dir() / name)
    if path.name.endswith(".tar.gz"):  # the image loader reads folders and zips: unpack once
        folder = path.with_name(name + "-unpacked")
        if not (folder / ".complete").is_file():
            import tarfile

            try:
                with tarfile.open(path, "r:gz") as tar:
                    tar.extractall(folder, filter="data")
            except (tarfile.TarError, OSError, EOFError) as e:
                raise GanforgeError(f"{path}: not a readable .tar.gz ({e}); delete it and run again "
                                    "to download a fresh copy") from None
            (folder / ".complete").write_text("ok")
        return folder
    return path


def _registered(res: Resource, name: str, domains: tuple[str, str], doc: str,
                side_by_side: bool | None = None) -> None:
    def load(size: int, paired: bool, channels: int | None = None, fit: str = "crop",
             strict: bool = False, quiet: bool = False, cache: bool = False, **_: object) -> DomainPair:
        pair = load_pair(_archive(res, name), None, paired, size, channels, fit, strict, quiet, cache,
                         side_by_side=side_by_side)
        pair.name, pair.domains = name, domains
        return pair

    load.__doc__ = doc
    PAIRSETS.register(name)(load)


_registered(HORSE2ZEBRA, "horse2zebra", ("horse", "zebra"),
            "CycleGAN's horses <-> zebras, unpaired (download, 112 MB)")
_registered(MONET2PHOTO, "monet2photo", ("monet", "photo"),
            "CycleGAN's Monet paintings <-> photos, unpaired (download, 291 MB)")
_registered(FACADES, "facades", ("labels", "photo"),
            "pix2pix's facade label maps -> photos, paired A|B (download, 29 MB)", side_by_side=True)
_registered(EDGES2SHOES, "edges2shoes", ("edges", "shoe"),
            "pix2pix's shoe edge maps -> photos, paired A|B (download, 2 GB)", side_by_side=True)


# ---- folders and zips ----------------------------------------------------------------------
def _top(names: list[str]) -> tuple[int, set[str]]:
    """(depth of the folders every image shares, the names one level below them)."""
    parts = [PurePosixPath(n.replace("\\", "/")).parts for n in names]
    common = 0
    while all(len(p) > common + 1 for p in parts) and len({p[common] for p in parts}) == 1:
        common += 1
    return common, {p[common] for p in parts if len(p) > common + 1}


def _under(common: int, folder: str) -> Callable[[str], bool]:
    def keep(name: str) -> bool:
        p = PurePosixPath(name.replace("\\", "/")).parts
        return len(p) > common + 1 and p[common] == folder

    return keep


def _every(k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, held) indices: every ``k``-th of ``n`` held out, at least 1 when n >= 2."""
    held = np.arange(k // 2, n, k) if n >= k else np.arange(min(1, n - 1))
    return np.setdiff1d(np.arange(n), held), held


PAIR_RATIO = 2.0  # width / height of a side-by-side A|B image with square halves
PAIR_SLACK = 0.1  # how far from 2:1 an image may be and still count as a pair
PAIR_SAMPLE = 64  # headers read (evenly spread over the sorted names) to decide


def _not_a_pair(path: Path, names: list[str]) -> str | None:
    """None if the images look like side-by-side A|B pairs (every sampled one about 2:1, read
    from headers only), else the first that does not, as "NAME is WxH"."""
    src = _Source(path)
    pick = np.unique(np.linspace(0, len(names) - 1, min(PAIR_SAMPLE, len(names))).round().astype(int))
    for i in pick:
        wh = src.size_of(names[i])
        if wh is not None and wh[1] > 0 and abs(wh[0] / wh[1] - PAIR_RATIO) > PAIR_SLACK:
            return f"{names[i]} is {wh[0]}x{wh[1]}"
    return None  # unreadable files are left to the decoder, which names each one


def load_pair(a: str | Path, b: str | Path | None, paired: bool, size: int,
              channels: int | None = None, fit: str = "crop", strict: bool = False,
              quiet: bool = False, cache: bool = False, side_by_side: bool | None = None) -> DomainPair:
    """Two domains from folders or zips (see the module's docstring for the layouts); ``cache``:
    through the prepared-set cache (decoded once; data/prepared.py).

    ``side_by_side``: a single folder (no ``b``, no ``trainA/ trainB/``) holds A|B images, left
    half A, right half B: True reads it so (``--pairs``); None (default) reads it so only when
    every image is about twice as wide as tall, and says so; False never.

    Raises:
        GanforgeError: a missing path, no images, mismatched pair names, an unknown layout, a
            single folder that is not side-by-side pairs.
    """
    warn = (lambda msg: None) if quiet else _stderr
    ch = channels or 3

    def read(path: Path, part: str = "", **kw: object) -> tuple[np.ndarray, list[str]]:
        """One domain's images; ``part`` names what ``select``/``crop`` in ``kw`` pick."""
        if cache:
            arr, names = prepared_images(path, size, ch, fit, strict, warn, part=part, **kw)  # type: ignore[arg-type]
            return np.asarray(arr), names
        return load_image_files(path, size, ch, fit=fit, strict=strict, warn=warn, **kw)  # type: ignore[arg-type]

    pa = Path(a).expanduser()
    if b is not None:
        if side_by_side:
            raise GanforgeError(f"--pairs {pa}: side-by-side A|B images hold both domains; drop "
                                "--data-b (or drop --pairs: --data A --data-b B)")
        pb = Path(b).expanduser()
        names = (pa.stem, pb.stem)  # the domains are named after their folders
        xa, na = read(pa)
        xb, nb = read(pb)
        if paired:
            stems_b = {PurePosixPath(n).with_suffix("").as_posix(): i for i, n in enumerate(nb)}
            missing = [n for n in na if PurePosixPath(n).with_suffix("").as_posix() not in stems_b]
            extra = len(nb) - (len(na) - len(missing))
            if missing or extra:
                raise GanforgeError(
                    f"--data {pa} and --data-b {pb} are not pairs: {len(missing)} file(s) of A have no "
                    f"B of the same name (e.g. {missing[0] if missing else '-'}) and {max(extra, 0)} "
                    "of B no A; paired data needs one B image per A image, same file name")
            xb = xb[[stems_b[PurePosixPath(n).with_suffix("").as_posix()] for n in na]]
            tr, he = _every(HOLD_EVERY, len(xa))
            return _pair(f"{pa}+{pb}", xa[tr], xb[tr], True, xa[he], xb[he], {"held_out_by": "every 10th"},
                         names)
        tra, hea = _every(HOLD_EVERY, len(xa))
        trb, heb = _every(HOLD_EVERY, len(xb))
        return _pair(f"{pa}+{pb}", xa[tra], xb[trb], False, xa[hea], xb[heb], {"held_out_by": "every 10th"},
                     names)

    names = image_names(pa)
    if not names:
        raise GanforgeError(f"{pa}: no image files found")
    common, subs = _top(names)
    if {"trainA", "trainB"} <= subs:  # CycleGAN's layout
        if side_by_side:
            raise GanforgeError(f"--pairs {pa}: it holds trainA/ and trainB/ (two unpaired domains), "
                                "not side-by-side A|B images; pass it as --data")
        if paired:
            raise GanforgeError(f"{pa}: unpaired domains (trainA/, trainB/); pix2pix needs pairs: "
                                "side-by-side A|B images or --data A --data-b B with matching names")
        xa, _ = read(pa, "trainA", select=_under(common, "trainA"))
        xb, _ = read(pa, "trainB", select=_under(common, "trainB"))
        if {"testA", "testB"} <= subs:
            ha, _ = read(pa, "testA", select=_under(common, "testA"))
            hb, _ = read(pa, "testB", select=_under(common, "testB"))
            return _pair(str(pa), xa, xb, False, ha, hb, {"held_out_by": "testA/, testB/"})
        tra, hea = _every(HOLD_EVERY, len(xa))
        trb, heb = _every(HOLD_EVERY, len(xb))
        return _pair(str(pa), xa[tra], xb[trb], False, xa[hea], xb[heb], {"held_out_by": "every 10th"})
    # Side-by-side A|B images (pix2pix's sets): train/ and val/ or test/, or one folder.
    if not side_by_side:
        odd = _not_a_pair(pa, names) if side_by_side is None else None
        if side_by_side is False or odd is not None:
            why = f" ({odd}, not an A|B pair twice as wide as tall)" if odd else ""
            two = sorted(subs)  # a folder holding two folders: most likely A/ and B/
            base = pa.joinpath(*PurePosixPath(names[0].replace("\\", "/")).parts[:common])
            eg = (f" (e.g. --data {base / two[0]} --data-b {base / two[1]})"
                  if len(two) == 2 and pa.is_dir() else "")
            raise GanforgeError(f"{pa}: one set of images and no domain B{why}; give domain B with "
                                f"--data-b DIR{eg}, or side-by-side A|B images with --pairs DIR")
        warn(f"{pa}: every image is about twice as wide as tall: reading each as a side-by-side "
             "pair, left half A, right half B (--data-b DIR gives B as a folder of its own)")
    left = lambda im: im.crop((0, 0, im.width // 2, im.height))  # noqa: E731
    right = lambda im: im.crop((im.width // 2, 0, im.width - im.width % 2, im.height))  # noqa: E731
    test = "test" if "test" in subs else "val" if "val" in subs else None
    train_sel = _under(common, "train") if "train" in subs else None
    xa, _ = read(pa, "train:left", select=train_sel, crop=left)
    xb, _ = read(pa, "train:right", select=train_sel, crop=right)
    if train_sel is not None and test is not None:
        ha, _ = read(pa, f"{test}:left", select=_under(common, test), crop=left)
        hb, _ = read(pa, f"{test}:right", select=_under(common, test), crop=right)
        return _pair(str(pa), xa, xb, paired, ha, hb, {"held_out_by": f"{test}/", "layout": "A|B"})
    tr, he = _every(HOLD_EVERY, len(xa))
    return _pair(str(pa), xa[tr], xb[tr], paired, xa[he], xb[he], {"held_out_by": "every 10th",
                                                                  "layout": "A|B"})


def _pair(name: str, xa: np.ndarray, xb: np.ndarray, paired: bool, ha: np.ndarray, hb: np.ndarray,
          source: dict, domains: tuple[str, str] = ("A", "B")) -> DomainPair:
    t = [torch.from_numpy(np.ascontiguousarray(v)) for v in (xa, xb, ha, hb)]
    if len(t[0]) == 0 or len(t[1]) == 0:
        raise GanforgeError(f"{name}: no training images left in one domain after holding out "
                            "the test images")
    if len(t[2]) == 0 or len(t[3]) == 0:
        raise GanforgeError(f"{name}: too few images to hold any out for previews and eval (need >= 2 "
                            "per domain)")
    return DomainPair(name, t[0], t[1], paired, t[2], t[3], domains, source=source)


def load_domains(spec: str, spec_b: str | None, paired: bool, size: int, channels: int | None = None,
                 fit: str = "crop", strict: bool = False, quiet: bool = False,
                 cache: bool = False, side_by_side: bool | None = None) -> DomainPair:
    """A registered translation set by name, or folders/zips (``spec_b``: domain B's).
    ``side_by_side``: see :func:`load_pair` (a registered set knows its own layout)."""
    if spec in PAIRSETS:
        if spec_b:
            raise GanforgeError(f"--data {spec} is a registered set with both domains; drop --data-b")
        return PAIRSETS.get(spec)(size=size, paired=paired, channels=channels, fit=fit, strict=strict,
                                  quiet=quiet, cache=cache)
    p = Path(spec).expanduser()
    if not p.exists() and "/" not in spec and not p.suffix:
        raise GanforgeError(f"--data {spec!r}: not a known translation set ({', '.join(PAIRSETS.names())}) "
                            "nor an existing folder or zip")
    return load_pair(spec, spec_b, paired, size, channels, fit, strict, quiet, cache, side_by_side)


def describe_pairs() -> list[tuple[str, str]]:
    return [(n, (PAIRSETS.get(n).__doc__ or "").strip().splitlines()[0]) for n in PAIRSETS.names()]
