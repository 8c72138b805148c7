"""One training-data object per data kind, behind a registry: what the training shell iterates.

The shell asks the family which kind it trains on (``Family.data``), opens it here, and from then
on sees only this interface: ``len(data)`` items an epoch, ``batch(idx, epoch, step)`` -> a
:class:`Batch` on the run's device, ``info`` for building networks, ``preview_inputs`` for the
epoch grids, ``reference`` (the real images outputs should look like) and ``describe()`` for
config.json. Which items make up a batch is the shell's (a pure function of seed and epoch);
what an item *is* -- an image, an image and its label, an A/B pair, a pair made on the fly -- is
the kind's.

Kinds: ``images`` (labels ride along where the data has them), ``labelled`` (labels required),
``paired`` and ``unpaired`` (two domains), ``derived`` (pairs made on the fly from one image set
by a function the family supplies: super-resolution's low-resolution copy of each image).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from ..errors import GanforgeError
from ..registry import Registry

# Above this many bytes a set stays memory-mapped on the host and each batch is gathered there;
# below it, on a GPU, the whole set is copied to the device once (today's fastest path).
DEVICE_COPY_LIMIT = 2 << 30


@dataclass(frozen=True)
class DataInfo:
    """What a family may know about its data when it builds its networks."""

    name: str
    size: int
    channels: int
    images: int
    classes: tuple[str, ...] = ()  # class names of labelled data, label i -> classes[i]
    domains: tuple[str, ...] = ()  # translation data: the names of domains A and B


@dataclass
class Batch:
    """One training batch: images in [-1, 1], (N, C, H, W), channels-last, on the run's device."""

    images: torch.Tensor
    labels: torch.Tensor | None = None
    targets: torch.Tensor | None = None  # translation: domain B (paired: the right answers)


@dataclass(frozen=True)
class DataSpec:
    """Where the data comes from and how it is read: the data settings of a run."""

    data: str
    size: int
    data_b: str | None = None
    channels: int | None = None
    fit: str = "crop"
    strict: bool = False
    cache: bool = True  # folders and zips through the prepared-set cache
    quiet: bool = False
    seed: int = 0
    side_by_side: bool | None = None  # one folder of A|B pairs (--pairs); None: by aspect ratio


# (images in [-1, 1] on the device, a generator seeded from (seed, step)) -> (inputs, targets)
Derive = Callable[[torch.Tensor, torch.Generator], tuple[torch.Tensor, torch.Tensor]]


class TrainData(Protocol):
    name: str
    info: DataInfo
    preview_inputs: tuple[torch.Tensor, torch.Tensor] | None  # uint8 (inputs, right answers)
    reference: torch.Tensor  # uint8 (N, C, H, W): what the outputs should look like

    def __len__(self) -> int: ...
    def batch(self, idx: torch.Tensor, epoch: int, step: int) -> Batch: ...
    def describe(self) -> dict[str, Any]: ...


Opener = Callable[..., TrainData]
DATA_KINDS: Registry[Opener] = Registry("data kind")


def to_unit(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 images -> float in [-1, 1] on ``device``, channels-last. The copy to a GPU goes
    as uint8 (a quarter of the bytes), from pinned memory, without blocking."""
    if x.device != device:
        if device.type == "cuda":
            x = x.pin_memory().to(device, non_blocking=True)
        else:
            x = x.to(device)
    return x.float().div_(127.5).sub_(1.0).contiguous(memory_format=torch.channels_last)


def _placed(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Where batches are gathered from: the device for a set small enough to copy there once,
    else the host (a memory-mapped set is then read row by row, as batches ask)."""
    if device.type != "cpu" and images.numel() <= DEVICE_COPY_LIMIT:
        return images.to(device)
    return images


class ImageData:
    """One image set; labels ride along where the data has them (one sub-folder per class)."""

    def __init__(self, spec: DataSpec, device: torch.device, need_labels: bool = False) -> None:
        from . import load_data

        ds = load_data(spec.data, spec.size, spec.channels, spec.fit, spec.strict, quiet=spec.quiet,
                       cache=spec.cache)
        if need_labels and ds.labels is None:
            raise GanforgeError(f"a conditional model needs labelled data; {ds.name} has no labels "
                                "(use mnist-mini or a folder with one sub-folder per class)")
        self.name, self.device, self._set = ds.name, device, ds
        self.info = DataInfo(ds.name, ds.size, ds.channels, len(ds), tuple(ds.classes or ()))
        self.images = _placed(ds.images, device)
        self.labels = None if ds.labels is None else ds.labels.to(self.images.device)
        self.reference = ds.images
        self.preview_inputs = None

    def __len__(self) -> int:
        return len(self._set)

    def batch(self, idx: torch.Tensor, epoch: int, step: int) -> Batch:
        idx = idx.to(self.images.device)
        return Batch(to_unit(self.images[idx], self.device),
                     None if self.labels is None else self.labels[idx].to(self.device))

    def describe(self) -> dict[str, Any]:
        ds = self._set
        return {"name": ds.name, "images": len(ds), "channels": ds.channels, "size": ds.size,
                "classes": ds.classes, "fingerprint": fingerprint(ds.images, ds.labels)}


class PairData:
    """Two domains: unpaired (B drawn from its own permutation per epoch) or paired by position."""

    def __init__(self, spec: DataSpec, device: torch.device, paired: bool) -> None:
        from .pairs import load_domains

        pair = load_domains(spec.data, spec.data_b, paired, spec.size, spec.channels, spec.fit,
                            spec.strict, spec.quiet, spec.cache, spec.side_by_side)
        self.name, self.device, self.pair, self.seed = pair.name, device, pair, spec.seed
        self.info = DataInfo(pair.name, pair.size, pair.channels, len(pair), (), tuple(pair.domains))
        self.a, self.b = _placed(pair.images, device), _placed(pair.targets, device)
        self.preview_inputs = (pair.held, pair.held_targets)
        self.reference = pair.held_targets

    def __len__(self) -> int:
        return len(self.pair)

    def batch(self, idx: torch.Tensor, epoch: int, step: int) -> Batch:
        a, b = self.pair.pick(idx, epoch, self.seed, self.a, self.b)
        return Batch(to_unit(a, self.device), targets=to_unit(b, self.device))

    def describe(self) -> dict[str, Any]:
        return {**self.pair.describe(), "fingerprint": fingerprint(self.pair.images, self.pair.targets)}


class DerivedData:
    """Pairs made on the fly from one image set: ``derive`` turns a batch of images into
    (inputs, targets), drawing its randomness from a generator seeded by (seed, step), so a
    resumed run makes the same pairs. Every 10th image is held out for previews and metrics."""

    def __init__(self, spec: DataSpec, device: torch.device, derive: Derive | None) -> None:
        if derive is None:
            raise GanforgeError("data kind 'derived' needs the family's derive function")
        from . import load_data
        from .pairs import HOLD_EVERY, _every

        ds = load_data(spec.data, spec.size, spec.channels, spec.fit, spec.strict, quiet=spec.quiet,
                       cache=spec.cache)
        train, held = (torch.from_numpy(i) for i in _every(HOLD_EVERY, len(ds)))
        if len(train) == 0 or len(held) == 0:
            raise GanforgeError(f"--data {spec.data}: {len(ds)} images; need at least 2 (one held out)")
        self.name, self.device, self.derive, self.seed = ds.name, device, derive, spec.seed
        self.info = DataInfo(ds.name, ds.size, ds.channels, len(train))
        self.train, self.images = train, _placed(ds.images, device)
        held_images = ds.images[held]
        g = torch.Generator().manual_seed(spec.seed)
        inputs, targets = derive(to_unit(held_images, torch.device("cpu")), g)
        self.preview_inputs = (_to_uint8(inputs), _to_uint8(targets))
        self.reference = held_images

    def __len__(self) -> int:
        return len(self.train)

    def batch(self, idx: torch.Tensor, epoch: int, step: int) -> Batch:
        rows = self.train[idx.cpu()].to(self.images.device)
        g = torch.Generator(self.device).manual_seed(self.seed * 1_000_003 + step)
        inputs, targets = self.derive(to_unit(self.images[rows], self.device), g)
        return Batch(inputs.contiguous(memory_format=torch.channels_last),
                     targets=targets.contiguous(memory_format=torch.channels_last))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "images": len(self.train), "held_out": len(self.preview_inputs[0]),
                "channels": self.info.channels, "size": self.info.size, "pairs": "made on the fly",
                "fingerprint": fingerprint(self.images)}


def fingerprint(*sets: torch.Tensor | None, sample: int = 1024) -> str:
    """What identifies a data set's contents wherever it lies (a folder moved keeps it): a hash
    of each tensor's shape and of up to ``sample`` evenly spaced decoded images (all of a 1-D
    tensor: labels). Cheap at any size; a resumed run compares it with the one it recorded."""
    h = hashlib.sha256()
    for x in sets:
        if x is None:
            continue
        h.update(str(tuple(x.shape)).encode())
        if x.dim() > 1 and len(x) > sample:
            x = x[torch.linspace(0, len(x) - 1, sample).round().long().to(x.device)]
        h.update(x.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return ((x.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).cpu()


DATA_KINDS.register("images")(lambda spec, device, derive=None: ImageData(spec, device))
DATA_KINDS.register("labelled")(lambda spec, device, derive=None: ImageData(spec, device, True))
DATA_KINDS.register("paired")(lambda spec, device, derive=None: PairData(spec, device, True))
DATA_KINDS.register("unpaired")(lambda spec, device, derive=None: PairData(spec, device, False))
DATA_KINDS.register("derived")(lambda spec, device, derive=None: DerivedData(spec, device, derive))


def open_data(kind: str, spec: DataSpec, device: torch.device, derive: Derive | None = None) -> TrainData:
    """The training data of ``kind`` (a name in ``DATA_KINDS``)."""
    return DATA_KINDS.get(kind)(spec, device, derive)


__all__ = ["DATA_KINDS", "Batch", "DataInfo", "DataSpec", "Derive", "TrainData", "fingerprint", "open_data",
           "to_unit"]
