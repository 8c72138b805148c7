"""Checks beside the metrics that only some sources can answer, registered by name in ``CHECKS``.

A metric compares two image sets and works for any source; a check asks something only a kind
of run or one data set can answer: does a conditional run draw the class it was asked for, did
a translation land in domain B, did the digit pair's translation keep its digit. Each check says
which source kinds and data sets it is for; ``evaluate`` runs every check that applies to its
source (or the ones asked for by name), so the generic path never compares data set names.

Add your own with ``CHECKS.register("name")(Check(run, kinds=("translation",), datasets=(...)))``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import GanforgeError
from ..registry import Registry
from . import stats
from .base import Row, Sample, Say, Sets, real_row
from .features import Extractor, get_extractor, to_channels


@dataclass
class Scored:
    """What a check reads: the source (with what it loaded: ``source.pair``, ``source.sampler``,
    ...), its sets, the extractor and the generated images' features, the real/real splits
    (split 0: ``[:n]`` is the half the images were compared with, ``[n:2n]`` a disjoint half),
    the real images the extractor never saw (or None), the seed and ``say`` for its stage line."""

    source: Any
    sets: Sets
    ext: Extractor
    fakes: Sample
    splits: list[np.ndarray]
    unseen: np.ndarray | None
    seed: int
    say: Say


@dataclass(frozen=True)
class Check:
    """``run(scored)`` -> {entry: {"value", "real", "n", ...}}: ``value`` for the scored images,
    ``real`` what real images (or the right answers) get. It returns {} when the source cannot
    answer it after all, having said why through ``scored.say``.

    It runs for sources of one of ``kinds`` (``sampling``, ``conditional``, ``translation``,
    ``images``) and, when ``datasets`` is not empty, of one of those data sets only. ``rows``:
    its lines in the printed table.
    """

    run: Callable[[Scored], dict[str, Any]]
    kinds: tuple[str, ...]
    datasets: tuple[str, ...] = ()
    rows: tuple[Row, ...] = ()

    def applies(self, source: Any) -> bool:
        return (any(k in source.kinds for k in self.kinds)
                and (not self.datasets or source.dataset in self.datasets))

    def scope(self) -> str:
        of = f" of {', '.join(self.datasets)}" if self.datasets else ""
        return f"{' or '.join(self.kinds)} sources{of}"


CHECKS: Registry[Check] = Registry("check")


def pick_checks(source: Any, names: Sequence[str] | str | None) -> list[str]:
    """The checks to run on ``source``: every registered one that applies to it (``names``
    None), or exactly ``names`` -- each must be registered and apply, else a clear error."""
    if names is None:
        return [name for name, check in CHECKS.items() if check.applies(source)]
    if isinstance(names, str):
        names = [c.strip() for c in names.split(",") if c.strip()]
    for name in names:
        check = CHECKS.get(name)  # unknown: an error that lists the known checks
        if not check.applies(source):
            raise GanforgeError(f"check {name!r} is for {check.scope()}; this is {source}")
    return list(names)


# ---- a conditional run: the class asked for ------------------------------------------------
def _class_agreement(s: Scored) -> dict[str, Any]:
    """Does the extractor's classifier see the class each image was asked for? Beside it, the
    classifier's own accuracy on real images of the set that were not compared (never-seen
    ones where there are)."""
    src, n, probs = s.source, s.sets.n, s.fakes.probs
    classes = src.sampler.classes
    why = None
    if probs is None:
        why = f"the {s.ext.name} extractor has no class probabilities"
    elif probs.shape[1] != len(classes):
        why = f"the {s.ext.name} classifier knows {probs.shape[1]} classes, the run {len(classes)}"
    elif src.real_set.labels is None:
        why = f"{src.dataset} has no class labels"
    if why:
        s.say(f"skipping class_agreement: {why}")
        return {}
    s.say(f"checking class_agreement: the {s.ext.name} classifier on the class asked for in {n} images")
    b = s.unseen[:n] if s.unseen is not None else s.splits[0][n : 2 * n]
    _, real_probs = s.ext(src.real_set.images[torch.from_numpy(b)].float() / 255)
    real_acc = float((real_probs.argmax(1) == src.real_set.labels.numpy()[b]).mean())
    return {"class_accuracy": {"value": float((probs.argmax(1) == src.asked.numpy()).mean()),
                               "real": real_acc, "n": n}}


CHECKS.register("class_agreement")(Check(
    _class_agreement, kinds=("conditional",),
    rows=(real_row("class_accuracy", "class asked = class seen", ".3f", "(real labels)"),)))


# ---- the digit pair: the digit kept, the distance to the right answer -----------------------
def digit_reading(gray: torch.Tensor, floor: float = 0.2) -> torch.Tensor:
    """Gray digits (N, 1, S, S) in [0, 1] as the digits classifier learned them: a black
    background and white strokes. Each image's median (its background: strokes cover about a
    fifth of a digit) goes to 0 and its 99th percentile (its strokes) to 1; an image with less
    contrast than ``floor`` is only shifted, so a blank one stays blank.

    Why: the classifier learned from MNIST's exactly black backgrounds and reads nearly any
    digit on a background lifted by 0.1 as an "8". A translation whose colours are 0.1 off
    decodes to just that, so without this "digit kept" measured the colours, not the digit
    (on the right answers lifted by 0.1: 0.102, chance; with it: 0.991, the ceiling).
    """
    flat = gray.flatten(1).float()
    lo = flat.median(1).values.view(-1, 1, 1, 1)
    hi = torch.quantile(flat, 0.99, dim=1).view(-1, 1, 1, 1)
    return ((gray - lo) / (hi - lo).clamp_min(floor)).clamp(0, 1)


def _digit_kept(s: Scored) -> dict[str, Any]:
    """Does the translation keep the source's digit? The digits classifier reads the digit an
    a2b translation draws (the known colouring undone) and a b2a translation of the right
    answer (CycleGAN), against the source digit's label; beside each, the same reading of the
    right answers (a2b) and of the sources (b2a): the classifier's ceiling."""
    from ..data import decode_digits

    src, n = s.source, s.sets.n
    if src.pair.held_labels is None:
        s.say(f"skipping digit_kept: {src.dataset} has no labels for its held-out images")
        return {}
    b2a = "b2a" in src.model.directions
    s.say(f"checking digit_kept: the digits classifier reads {n} a2b translations (colouring undone)"
          + (f" and {n} b2a translations of their right answers" if b2a else ""))
    digits = get_extractor("digits")
    labels = src.pair.held_labels[src.pick].numpy()
    right = src.pair.held_targets[src.pick].float() / 255

    def agree(gray: torch.Tensor) -> float:
        return float((digits(digit_reading(gray))[1].argmax(1) == labels).mean())

    out = {"digit_agreement": {"value": agree(decode_digits(s.sets.fake)),
                               "real": agree(decode_digits(right)), "n": n, "direction": "a2b"}}
    if b2a:
        out["digit_agreement_b2a"] = {"value": agree(src.model.run(right, "b2a").mean(1, keepdim=True)),
                                      "real": agree(src.inputs.mean(1, keepdim=True)), "n": n,
                                      "direction": "b2a"}
    return out


def _l1_to_truth(s: Scored) -> dict[str, Any]:
    """Mean absolute distance of the a2b translations to the known right answers; beside it,
    the distance of the inputs left as they are."""
    src = s.source
    s.say(f"checking l1_to_truth: {s.sets.n} translations against their right answers")
    right = src.pair.held_targets[src.pick].float() / 255
    return {"l1_to_truth": {"value": float((s.sets.fake - right).abs().mean()),
                            "real": float((src.inputs.expand_as(right) - right).abs().mean()),
                            "n": s.sets.n}}


# ---- any translation: did it land in domain B -----------------------------------------------
def _domain(s: Scored) -> dict[str, Any]:
    """A classifier of real A vs real B (on the extractor's features), asked about the
    translations: the share it calls B, beside held-out real B and real A."""
    src, n, seed = s.source, s.sets.n, s.seed
    s.say("checking domain: a classifier of real A vs real B, asked about the translations")
    pair = src.pair
    real_a, real_b = torch.cat([pair.images, pair.held]), s.sets.real
    pick_a = torch.randperm(len(real_a), generator=torch.Generator().manual_seed(seed))[: 2 * n]
    pick_b = torch.randperm(len(real_b), generator=torch.Generator().manual_seed(seed + 1))[: 2 * n]
    fa, _ = s.ext(to_channels(real_a[pick_a].float() / 255, src.model.channels))
    fb, _ = s.ext(real_b[pick_b].float() / 255)
    return {"domain": stats.domain_share(fa, fb, s.fakes.feats, seed)}


# Registered in the order of the table: the digit pair's reading, the domain, the distance.
CHECKS.register("digit_kept")(Check(
    _digit_kept, kinds=("translation",), datasets=("mnist2color",),
    rows=(real_row("digit_agreement", "digit kept (a2b)", ".3f", "(right answers)"),
          real_row("digit_agreement_b2a", "digit kept (b2a)", ".3f", "(right answers)"))))
CHECKS.register("domain")(Check(
    _domain, kinds=("translation",),
    rows=(real_row("domain", "called B by an A-vs-B classifier", ".3f", "(held-out real B)"),)))
CHECKS.register("l1_to_truth")(Check(
    _l1_to_truth, kinds=("translation",), datasets=("mnist2color",),
    rows=(real_row("l1_to_truth", "L1 to the right answer", ".4f", "(input as is)"),)))


# ---- a super-resolution run: beside bicubic on the same images ---------------------------------
FIDELITY = (("psnr", "PSNR RGB (dB)", ".2f"), ("ssim", "SSIM RGB", ".4f"), ("psnr_y", "PSNR Y (dB)", ".2f"),
            ("ssim_y", "SSIM Y", ".4f"))
MODELS = (("", "GAN model"), ("_warmup", "warm-up (L1) model"))


def _beside_bicubic(s: Scored) -> dict[str, Any]:
    """PSNR and SSIM (RGB and Y, ``scale`` pixels of border cropped, both sets rounded to 8 bits)
    of the upscaled held-out images against their originals, for the GAN model, the warm-up
    model where the run has one, and bicubic upscaling of the same inputs; and the FID and KID
    of the bicubic and warm-up images against the same real half the model was compared with."""
    from ..models.superres import bicubic_up
    from .fidelity import fidelity

    src, n, seed = s.source, s.sets.n, s.seed
    model, scale = src.model, src.model.scale
    s.say(f"checking fidelity: PSNR/SSIM of {n} upscaled images against their originals, beside bicubic")
    bicubic = bicubic_up(src.low, scale).clamp(0, 1)
    outs = {"": s.sets.fake, "_warmup": model.run(src.low, "psnr") if "psnr" in model.roles else None}
    if min(src.high.shape[-2:]) - 2 * scale < 11:
        s.say("skipping fidelity: the images are under 11 px after the border crop (SSIM's window)")
        return {}
    base = fidelity(bicubic, src.high, scale)
    out: dict[str, Any] = {}
    for suffix, images in outs.items():
        if images is None:
            continue
        for key, value in fidelity(images, src.high, scale).items():
            out[key + suffix] = {"value": value, "bicubic": base[key], "n": n, "crop": scale}
    real_a, _ = s.ext(s.sets.real[torch.from_numpy(s.splits[0][:n])].float() / 255)
    for suffix, images in (("_bicubic", bicubic), ("_warmup", outs["_warmup"])):
        if images is None:
            continue
        feats, _ = s.ext(to_channels(images, s.sets.real.shape[1]))
        out["fid" + suffix] = {"value": stats.fid_from_features(feats, real_a), "n": n}
        out["kid" + suffix] = {"value": stats.kid(feats, real_a, seed=seed)[0], "n": n}
    return out


def _vs_bicubic(fmt: str) -> Callable[[dict[str, Any]], tuple[str, str]]:
    return lambda e: (f"{e['value']:{fmt}}", f"{e['bicubic']:{fmt}} (bicubic)")


def _same_floor(fmt: str) -> Callable[[dict[str, Any]], tuple[str, str]]:
    return lambda e: (f"{e['value']:{fmt}}", "(the floor above)")


CHECKS.register("fidelity")(Check(
    _beside_bicubic, kinds=("superres",),
    rows=(Row("fid_bicubic", "FID, bicubic", _same_floor(".4g")),
          Row("fid_warmup", "FID, warm-up (L1) model", _same_floor(".4g")),
          Row("kid_bicubic", "KID, bicubic", _same_floor(".4g")),
          Row("kid_warmup", "KID, warm-up (L1) model", _same_floor(".4g")),
          *(Row(key + suffix, f"{label}, {who}", _vs_bicubic(fmt))
            for suffix, who in MODELS for key, label, fmt in FIDELITY))))
