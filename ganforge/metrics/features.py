"""Feature extractors for the metrics: `digits`, `inception`, `pixels`, `detail`, or any
``nn.Module``."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.download import Resource, data_dir, fetch, file_hash
from ..errors import GanforgeError
from ..registry import Registry

INCEPTION_ENV = "GANFORGE_INCEPTION_WEIGHTS"
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                 + INCEPTION_FILE)
# The published file's SHA-256 starts with the 8 digits in its name (torch.hub's convention).
INCEPTION = Resource(INCEPTION_FILE, INCEPTION_URL, md5="", sha256="6726825d")


def fetch_inception(progress: bool = True) -> Path:
    """Download the FID Inception-v3 weights once into $GANFORGE_DATA/weights (checked,
    resumable); later evaluations find them there."""
    return fetch(INCEPTION, data_dir() / "weights", progress=progress)


@dataclass
class Extractor:
    """Turns images (N, C, H, W) in [0, 1] into features, and class probabilities if it can."""

    name: str
    size: int | None  # input side it wants; None: images as they come
    channels: int | None  # 1 or 3 it wants; None: as they come
    net: nn.Module
    ident: str | None  # name + weights fingerprint: the reference-feature cache key (None: no cache)
    has_probs: bool = False
    # How this extractor's network turns prepared images into (features, class probabilities
    # or None). Default: ``net(x)`` flattened, no probabilities.
    embed: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]] | None = None

    def _prep(self, x: torch.Tensor) -> torch.Tensor:
        x = to_channels(x, self.channels)
        if self.size and x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True,
                              align_corners=False)
        return x.clamp(0, 1)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray | None]:
        feats, probs = [], []
        embed = self.embed or (lambda x: (self.net(x), None))
        for chunk in images.split(batch_size):
            x = self._prep(chunk.float())
            f, p = embed(x)
            feats.append(f.reshape(len(x), -1).double().cpu().numpy())
            if p is not None:
                probs.append(p.double().cpu().numpy())
        return np.concatenate(feats), (np.concatenate(probs) if probs else None)


def _fingerprint(path: Path) -> str:
    return file_hash(path, "sha256")[:16]


def to_channels(x: torch.Tensor, channels: int | None) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] to 1 or 3 channels; RGB -> gray with the ITU-R 601 weights
    Pillow's "L" conversion uses, so tensors and loaded files are converted alike."""
    if channels == 1 and x.shape[1] == 3:
        return (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    if channels == 3 and x.shape[1] == 1:
        return x.expand(-1, 3, -1, -1)
    return x


def digits_extractor() -> Extractor:
    from .digits import load_digits_cnn, weights_path

    net = load_digits_cnn()

    def embed(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = net.features(x)
        return f, torch.softmax(net.head(f), 1)

    return Extractor("digits", 28, 1, net, f"digits-{_fingerprint(weights_path())}",
                     has_probs=True, embed=embed)


class _Pixels(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


def pixels_extractor(size: int = 32) -> Extractor:
    return Extractor("pixels", size, None, _Pixels(), f"pixels-{size}")


class _Detail(nn.Module):
    """Detail statistics: at ``levels`` scales of a Laplacian pyramid, the log energy of each
    channel's detail layer (the image minus its Gaussian blur, sigma 1) in each cell of a
    ``grid`` x ``grid`` partition of the image: C * levels * grid^2 numbers (144 for RGB).

    Few dimensions on purpose: FID on raw high-pass pixels (thousands of dimensions, hundreds of
    images) is ruled by its bias -- a blurred set with near-zero detail variance scores *below*
    the real/real floor there (measured on CelebA: 14.9 vs 19.9). Energies per region and scale
    keep what blur changes (how much fine detail, where) in a space the sample covers."""

    def __init__(self, levels: int = 3, grid: int = 4, sigma: float = 1.0) -> None:
        super().__init__()
        r = torch.arange(7, dtype=torch.float32) - 3
        g = torch.exp(-(r**2) / (2 * sigma**2))
        self.register_buffer("kernel", (g[:, None] * g[None, :] / g.sum() ** 2)[None, None])
        self.levels, self.grid = levels, grid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        feats = []
        for _ in range(self.levels):
            blurred = F.conv2d(F.pad(x, (3, 3, 3, 3), mode="replicate"), self.kernel.expand(c, 1, 7, 7),
                               groups=c)
            energy = F.adaptive_avg_pool2d((x - blurred) ** 2, self.grid)
            feats.append(torch.log(energy + 1e-8))
            x = F.avg_pool2d(blurred, 2)
        return torch.cat(feats, 1).flatten(1)


def detail_extractor() -> Extractor:
    """Detail statistics at the images' own size (:class:`_Detail`): what blur removes. Pixel
    features (at 32 px) cannot tell a sharp image from a blurred one of the same content; these
    can, which is what scoring super-resolution needs when no Inception weights are at hand."""
    return Extractor("detail", None, None, _Detail(), "detail-l3-g4-s1")


def inception_weights(path: str | Path | None = None) -> Path:
    """Where the FID Inception-v3 weights are: --feature-weights, $GANFORGE_INCEPTION_WEIGHTS,
    else the copy `ganforge data --fetch inception` downloaded."""
    p = path or os.environ.get(INCEPTION_ENV)
    if not p:
        fetched = data_dir() / "weights" / INCEPTION_FILE
        if fetched.is_file():
            return fetched
        raise GanforgeError(
            f"inception features need the FID Inception-v3 weights file {INCEPTION_FILE}: run "
            f"`ganforge data --fetch inception` (or download {INCEPTION_URL}) and pass "
            f"--feature-weights PATH (or set {INCEPTION_ENV}); offline, use --features digits "
            "(for digits) or pixels"
        )
    p = Path(p).expanduser()
    if not p.is_file():
        raise GanforgeError(f"--feature-weights {p}: no such file (want {INCEPTION_FILE} from "
                            f"{INCEPTION_URL})")
    return p


def inception_extractor(weights: str | Path | None = None) -> Extractor:
    """The standard FID Inception-v3 (pool3, 2048-d; its logits give IS), from a local file.

    The network is ganforge's own plain-torch port (metrics/inception.py), so no torchvision;
    images go in at their own size and are resized inside as the reference pipeline does.
    """
    from .inception import load_fid_inception

    path = inception_weights(weights)
    try:
        net = load_fid_inception(str(path))
    except Exception as e:  # a wrong or corrupt file: say which
        raise GanforgeError(f"--feature-weights {path}: cannot load as FID Inception-v3 weights "
                            f"(want {INCEPTION_FILE}; {str(e).splitlines()[0][:160]})") from None

    def embed(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats, logits = net((x * 255).round())  # 8-bit pixel values, as the reference takes
        return feats, torch.softmax(logits.double(), 1)  # IS from the same network, as usual

    return Extractor("inception", None, 3, net, f"fid-inception-{_fingerprint(path)}",
                     has_probs=True, embed=embed)


def custom_extractor(module: nn.Module, name: str = "custom") -> Extractor:
    """Any ``nn.Module`` mapping (N, C, H, W) in [0, 1] to (N, ...) features.

    Its cache key is a hash of its weights and buffers, so two modules of one class with other
    weights never share cached features; a module with no weights at all cannot be told apart
    from another of its name (its code may differ), so its features are never cached.
    """
    sd = module.state_dict()
    if not sd:
        return Extractor(name, None, None, module.eval(), None)
    h = hashlib.sha256(f"{type(module).__module__}.{type(module).__qualname__}".encode())
    for k, v in sd.items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return Extractor(name, None, None, module.eval(), f"{name}-{h.hexdigest()[:16]}")


EXTRACTORS: Registry = Registry("feature extractor")
EXTRACTORS.register("digits")(lambda weights=None: digits_extractor())
EXTRACTORS.register("pixels")(lambda weights=None: pixels_extractor())
EXTRACTORS.register("inception")(lambda weights=None: inception_extractor(weights))
EXTRACTORS.register("detail")(lambda weights=None: detail_extractor())


def get_extractor(features: str | nn.Module, weights: str | Path | None = None) -> Extractor:
    """A registered extractor by name, or any ``nn.Module``.

    Add your own with ``EXTRACTORS.register("name")(factory)``, where
    ``factory(weights=None)`` returns an :class:`Extractor`.
    """
    return choose_extractor(features, "", weights)[0]


# Data sets of handwritten digits: the only data the `digits` extractor says anything about.
DIGIT_SETS = ("mnist-mini", "mnist")


def choose_extractor(features: str | nn.Module, data: str = "",
                     weights: str | Path | None = None,
                     prefer: tuple[str, str] | None = None) -> tuple[Extractor, str]:
    """The extractor for ``features`` and a few words on why it was chosen.

    ``auto``: `digits` for a registered digit set only; otherwise `inception` when its weights
    are configured; otherwise ``prefer`` (a source's (extractor, why): a super-resolution run
    asks for `detail`), else `pixels`. Any other grayscale data is not digits, and a digit
    classifier would call every image one class.
    """
    if isinstance(features, nn.Module):
        return custom_extractor(features), "your module"
    if features != "auto":
        return EXTRACTORS.get(features)(weights=weights), "asked for"
    if data in DIGIT_SETS:
        return EXTRACTORS.get("digits")(weights=None), f"auto: {data} is a digit set"
    if weights or os.environ.get(INCEPTION_ENV) or (data_dir() / "weights" / INCEPTION_FILE).is_file():
        return EXTRACTORS.get("inception")(weights=weights), "auto: Inception weights configured"
    if prefer is not None:
        return EXTRACTORS.get(prefer[0])(weights=None), f"auto: {prefer[1]}"
    return EXTRACTORS.get("pixels")(weights=None), ("auto: not a digit set and no Inception weights "
                                                    f"(set {INCEPTION_ENV} for Inception features)")
