"""The sources ``ganforge.evaluate`` scores: a sampling run, a translation run, a super-resolution
run, a folder / zip / tensor of images. Each says what it is (``kinds``, ``dataset``: the checks are picked by
them) and, once the metrics and extractor are settled, gives the images to score, the real images
they are compared with and what the protocol says about both (``load`` -> :class:`Sets`).

Everything a source refuses (a wrong ``--size``, no real data, ``--real`` for a translation
run) it refuses when it is opened, before any image is made or loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import load_data, native_size
from ..errors import GanforgeError
from .base import Say, Sets
from .features import to_channels

DEFAULT_METRICS = ("fid", "kid", "is", "pr")
# A translation is scored as an image set against domain B, and C2ST asks whether a simple
# classifier can tell translations from real B images.
TRANSLATION_METRICS = ("fid", "kid", "c2st")


class Source:
    """Where the images to score come from.

    ``kinds``: what it is -- ``sampling`` (a generator makes the images; also ``conditional``
    when it takes class labels), ``translation`` (a translator translates held-out A images;
    the real images are domain B), ``images`` (a folder, zip or tensor). ``dataset``: the data
    the images are compared with (a registered name, a folder or a zip).
    """

    kinds: frozenset[str] = frozenset()
    dataset: str = ""
    size: int = 0
    default_metrics: tuple[str, ...] = DEFAULT_METRICS
    auto_features: tuple[str, str] | None = None  # (extractor, why) for --features auto, or None

    def load(self, n: int, seed: int, say: Say) -> Sets:
        """The ``n`` images to score (fewer when the real set is small, said through ``say``)
        and the real images, ready for the extractor."""
        raise NotImplementedError

    def __str__(self) -> str:
        return f"{'+'.join(sorted(self.kinds))} of {self.dataset}"


def open_source(run: str | Path | None, fake: str | Path | torch.Tensor | None, real: str | Path | None,
                size: int | None, device: str) -> Source:
    """The source for ``evaluate``'s arguments: a run folder (its model decides sampling or
    translation) or images (``fake``)."""
    if run is None:
        return ImageSource(fake, real, size)  # type: ignore[arg-type]
    from ..infer import Translator, Upscaler, load
    from ..rundir import RunDir

    rd = RunDir.of(run)
    model = load(run, device)
    if isinstance(model, Translator):
        return TranslationSource(model, rd, real, size)
    if isinstance(model, Upscaler):
        return SuperResSource(model, rd, real, size)
    return SamplingSource(model, rd, run, real, size)


def _check_size(size: int | None, native: int) -> int:
    if size is not None and size != native:
        raise GanforgeError(f"--size {size}: the generated images are {native}px; both sets are "
                            f"scored at that size (omit --size)")
    return native


def _real_set(real: Any, size: int, n: int, say: Say) -> tuple[Any, int]:
    """The real set at ``size`` and ``n`` capped at half of it (the other half is the floor)."""
    real_set = load_data(real, size=size, cache=True)  # the training run's prepared set, if any
    total = len(real_set)
    if total < 4:
        raise GanforgeError(f"--real {real}: {total} images; need at least 4 (two halves)")
    n_eff = min(n, total // 2)
    if n_eff < n:
        say(f"--n {n} capped at {n_eff}: half of the {total} real images (the other half is the floor)")
    return real_set, n_eff


class SamplingSource(Source):
    """A sampling run: its generator makes ``n`` images (seed ``seed``; a conditional run draws
    its classes in turn); the real images are its training data, or ``real``."""

    def __init__(self, sampler: Any, rd: Any, run: str | Path, real: str | Path | None,
                 size: int | None) -> None:
        if rd.config_file.is_file():  # a bare model folder has no training data to default to
            real = real or rd.config().run.data
        self.size = _check_size(size, sampler.image_shape[-1])
        if real is None:
            raise GanforgeError("--real is needed: a data set name, image folder or zip")
        self.sampler, self.run, self.real = sampler, run, real
        self.kinds = frozenset({"sampling", "conditional"} if sampler.conditional else {"sampling"})
        self.dataset = str(real)
        self.real_set: Any = None  # set by load: what the class check reads
        self.asked: torch.Tensor | None = None  # a conditional run's classes, one per image

    def load(self, n: int, seed: int, say: Say) -> Sets:
        self.real_set, n_eff = _real_set(self.real, self.size, n, say)
        say(f"generating {n_eff} images")
        fake = self.sampler.generate(n_eff, seed=seed)  # a conditional run: classes in turn
        self.asked = self.sampler.labels(n_eff)
        return Sets(to_channels(fake, self.real_set.channels), self.real_set.images, n_eff,
                    {"real": self.real_set.name,
                     "real_images": len(self.real_set), "fake": str(self.run)})


class ImageSource(Source):
    """Images already made: a folder or zip (read at its own size unless ``size``), or a tensor
    (N, C, H, W) in [0, 1]; a seeded random subset of ``n`` is scored, not the first ``n``."""

    kinds = frozenset({"images"})

    def __init__(self, fake: str | Path | torch.Tensor, real: str | Path | None, size: int | None) -> None:
        native = int(fake.shape[-1]) if isinstance(fake, torch.Tensor) else size or native_size(fake)
        self.size = _check_size(size, native)
        if real is None:
            raise GanforgeError("--real is needed: a data set name, image folder or zip")
        self.fake, self.real, self.dataset = fake, real, str(real)

    def load(self, n: int, seed: int, say: Say) -> Sets:
        real_set, n_eff = _real_set(self.real, self.size, n, say)
        fake = self.fake
        if isinstance(fake, torch.Tensor):
            pool = fake
        else:
            pool = load_data(fake, size=self.size).images.float() / 255
        if len(pool) < n_eff:
            raise GanforgeError(f"--fake has {len(pool)} images; need {n_eff} (or lower --n)")
        pick = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))[:n_eff]
        images = pool.float().clamp(0, 1)[pick]  # a seeded random subset, not file order
        return Sets(to_channels(images, real_set.channels), real_set.images, n_eff,
                    {"real": real_set.name,
                     "real_images": len(real_set),
                     "fake": "tensor" if isinstance(fake, torch.Tensor) else str(fake)})


class TranslationSource(Source):
    """A translation run: its a2b translations of held-out A images (evenly spaced: the set may
    be sorted by class) against real B images (training and held-out together; the floor splits
    them). The held-out pair stays on the source for the checks (``pair``, ``pick``, ``inputs``)."""

    kinds = frozenset({"translation"})
    default_metrics = TRANSLATION_METRICS

    def __init__(self, model: Any, rd: Any, real: str | Path | None, size: int | None) -> None:
        if not rd.config_file.is_file():
            raise GanforgeError(f"{rd.path}: a translation model without its run folder; score its "
                                "translations with --fake DIR --real DIR")
        if real is not None:
            raise GanforgeError("--real: a translation run is scored against its own domain B "
                                "(the held-out images of its data); drop --real")
        if size is not None and size != model.size:
            raise GanforgeError(f"--size {size}: this run translates at {model.size}px (omit --size)")
        self.model, self.rd, self.cfg = model, rd, rd.config()
        self.size = model.size
        self.dataset = self.cfg.run.data
        self.pair: Any = None
        self.pick: torch.Tensor | None = None  # which held-out pairs were translated
        self.inputs: torch.Tensor | None = None  # those A images, float in [0, 1]

    def load(self, n: int, seed: int, say: Say) -> Sets:
        from ..data import load_domains
        from ..families import FAMILIES

        cfg = self.cfg
        say(f"loading {cfg.run.data}" + (f" and {cfg.run.data_b}" if cfg.run.data_b else ""))
        paired = FAMILIES.get(cfg.family).data_kind(cfg.model) == "paired"
        pair = load_domains(cfg.run.data, cfg.run.data_b, paired, self.size, self.model.channels,
                            cfg.run.fit, quiet=True, cache=cfg.run.cache,
                            side_by_side=cfg.run.side_by_side)
        real_b = torch.cat([pair.targets, pair.held_targets])
        n_eff = min(n, len(pair.held), len(real_b) // 2)
        if n_eff < 2:
            raise GanforgeError(f"{pair.name}: {len(pair.held)} held-out images; need at least 2")
        if n_eff < n:
            say(f"--n {n} capped at {n_eff}: the held-out A images (or half of B)")
        say(f"translating {n_eff} held-out {pair.domains[0]} images (a2b)")
        pick = torch.from_numpy(np.linspace(0, len(pair.held) - 1, n_eff).round().astype(np.int64))
        self.pair, self.pick, self.inputs = pair, pick, pair.held[pick].float() / 255
        held_by = pair.source.get("held_out_by") or pair.source.get("held_out_from")
        return Sets(self.model.run(self.inputs, "a2b"), real_b, n_eff,
                    {"translation": f"a2b of {n_eff} held-out {pair.domains[0]} images, evenly "
                                    f"spaced ({held_by})",
                     "real": f"{pair.name}: domain B ({pair.domains[1]}), training + held-out",
                     "real_images": len(real_b), "fake": str(self.rd.path)})


class SuperResSource(Source):
    """A super-resolution run: its upscaled copies of held-out low-resolution images (the run's
    held-out images, degraded as in training from the run's seed; evenly spaced) against the
    real high-resolution images of its data (training + held-out; the floor splits them). The
    held-out pairs stay on the source for the ``fidelity`` check (``low``, ``high``)."""

    kinds = frozenset({"superres"})
    default_metrics = ("fid", "kid")
    # Pixel features (32 px) see an upscaled image at about its input's size, where bicubic is
    # as good as the original (measured: bicubic's pixel FID sat inside the real/real floor).
    auto_features = ("detail", "a super-resolution run (pixels at 32 px cannot see sharpness; "
                               "the detail layer can)")

    def __init__(self, model: Any, rd: Any, real: str | Path | None, size: int | None) -> None:
        if not rd.config_file.is_file():
            raise GanforgeError(f"{rd.path}: a super-resolution model without its run folder; upscale "
                                "your images with ganforge upscale and score them with --fake DIR --real DIR")
        if real is not None:
            raise GanforgeError("--real: a super-resolution run is scored against its own held-out "
                                "high-resolution images; drop --real")
        self.model, self.rd, self.cfg = model, rd, rd.config()
        self.size = _check_size(size, self.cfg.run.size)
        self.dataset = self.cfg.run.data
        self.low: torch.Tensor | None = None  # the held-out inputs scored, float in [0, 1]
        self.high: torch.Tensor | None = None  # their originals

    def load(self, n: int, seed: int, say: Say) -> Sets:
        from ..data.kinds import DataSpec, open_data
        from ..families import FAMILIES

        cfg, run = self.cfg, self.cfg.run
        say(f"loading {run.data} and degrading its held-out images as training did")
        family = FAMILIES.get(cfg.family)
        spec = DataSpec(run.data, run.size, None, run.channels, run.fit, run.strict, run.cache, True,
                        run.seed)
        data = open_data(family.data_kind(cfg.model), spec, torch.device("cpu"),
                         family.pairing(cfg.model))
        low, high = data.preview_inputs
        real = data.images  # type: ignore[attr-defined]  # the derived kind's whole set, on the CPU
        n_eff = min(n, len(low), len(real) // 2)
        if n_eff < 2:
            raise GanforgeError(f"{data.name}: {len(low)} held-out images; need at least 2")
        if n_eff < n:
            say(f"--n {n} capped at {n_eff}: the held-out images (or half of the real set)")
        pick = torch.from_numpy(np.linspace(0, len(low) - 1, n_eff).round().astype(np.int64))
        self.low, self.high = low[pick].float() / 255, high[pick].float() / 255
        say(f"upscaling {n_eff} held-out images x{self.model.scale}")
        return Sets(self.model.run(self.low), real.cpu(), n_eff,
                    {"upscaled": f"x{self.model.scale} of {n_eff} held-out images, evenly spaced, "
                                 f"degraded by {cfg.model.degradation} (seed {run.seed})",
                     "real": f"{data.name}: the high-resolution images, training + held-out",
                     "real_images": len(real), "fake": str(self.rd.path)})
