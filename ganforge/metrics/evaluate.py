"""``ganforge.evaluate``: every metric with its real-vs-real floor and its protocol.

Protocol: the real set is shuffled (seeded) and split into two disjoint halves A and B of ``n``
images each (``n`` capped at half the real set). The generated set (``n`` images) is compared
with A; B compared with A is the floor -- the score two samples of the *same* distribution get
at this ``n``. A score is never read without its floor.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data import data_dir, load_data
from ..errors import GanforgeError
from ..registry import Registry
from . import stats
from .features import Extractor, get_extractor, to_channels


def _real_halves(real: str | Path, size: int, channels: int | None, n: int, seed: int,
                 limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor, str]:
    ds = load_data(real, size=size, channels=channels, limit=limit)
    if len(ds) < 4:
        raise GanforgeError(f"--real {real}: {len(ds)} images; need at least 4 (two halves)")
    perm = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))
    n = min(n, len(ds) // 2)
    a, b = ds.images[perm[:n]], ds.images[perm[n : 2 * n]]
    return a, b, ds.name


def _cached_features(ext: Extractor, images: torch.Tensor, tag: str, use_cache: bool) -> np.ndarray:
    """Real-set features, cached under a hash of (pixels, extractor, n, size)."""
    h = hashlib.sha256()
    h.update(images.numpy().tobytes())
    h.update(f"{ext.ident}|{tuple(images.shape)}|{tag}".encode())
    path = data_dir() / "ref_stats" / f"{h.hexdigest()[:32]}.npz"
    if use_cache and path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return z["features"]
    feats, _ = ext(images.float() / 255)
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, features=feats)
        tmp.replace(path)
    return feats


@dataclass
class FeatureSets:
    """What every metric reads: features of the fakes and of the two disjoint real halves."""

    fake: np.ndarray
    real_a: np.ndarray  # the reference half
    real_b: np.ndarray  # the floor half: scored against A like the fakes are
    fake_probs: np.ndarray | None
    real_b_probs: Callable[[], np.ndarray | None]  # computed only by metrics that need it
    seed: int


# name -> function of the feature sets giving {"entry": {"value", "real_vs_real", ...}}.
# Register your own with METRICS.register("name")(fn).
METRICS: Registry[Callable[[FeatureSets], dict[str, dict[str, Any]]]] = Registry("metric")


@METRICS.register("fid")
def _fid(f: FeatureSets) -> dict[str, dict[str, Any]]:
    return {"fid": {"value": stats.fid_from_features(f.fake, f.real_a),
                    "real_vs_real": stats.fid_from_features(f.real_b, f.real_a)}}


@METRICS.register("kid")
def _kid(f: FeatureSets) -> dict[str, dict[str, Any]]:
    (kv, ks), (rv, rs) = stats.kid(f.fake, f.real_a, seed=f.seed), stats.kid(f.real_b, f.real_a, seed=f.seed)
    return {"kid": {"value": kv, "std": ks, "real_vs_real": rv, "real_vs_real_std": rs}}


@METRICS.register("is")
def _is(f: FeatureSets) -> dict[str, dict[str, Any]]:
    real_probs = f.real_b_probs()
    iv, istd = stats.inception_score(f.fake_probs)
    rv, rstd = stats.inception_score(real_probs)
    return {"is": {"value": iv, "std": istd, "real": rv, "real_std": rstd},
            "coverage": {**stats.class_coverage(f.fake_probs), "real": stats.class_coverage(real_probs)}}


@METRICS.register("pr")
def _pr(f: FeatureSets) -> dict[str, dict[str, Any]]:
    p, r = stats.precision_recall(f.real_a, f.fake)
    p0, r0 = stats.precision_recall(f.real_a, f.real_b)
    return {"precision": {"value": p, "real_vs_real": p0}, "recall": {"value": r, "real_vs_real": r0}}


@METRICS.register("c2st")
def _c2st(f: FeatureSets) -> dict[str, dict[str, Any]]:
    return {"c2st": {"value": stats.c2st(f.fake, f.real_a, seed=f.seed),
                     "real_vs_real": stats.c2st(f.real_b, f.real_a, seed=f.seed), "ideal": 0.5}}


@METRICS.register("mmd")
def _mmd(f: FeatureSets) -> dict[str, dict[str, Any]]:
    v, bw = stats.mmd_rbf(f.fake, f.real_a, seed=f.seed)
    v0, _ = stats.mmd_rbf(f.real_b, f.real_a, bandwidth=bw, seed=f.seed)
    return {"mmd": {"value": v, "real_vs_real": v0, "bandwidth": bw, "kernel": "rbf"}}


def evaluate(
    run: str | Path | None = None,
    *,
    fake: str | Path | torch.Tensor | None = None,
    real: str | Path | None = None,
    metrics: tuple[str, ...] | list[str] | str = ("fid", "kid", "is", "pr"),
    features: str | nn.Module = "auto",
    n: int = 5000,
    seed: int = 0,
    feature_weights: str | Path | None = None,
    size: int | None = None,
    cache: bool = True,
    device: str = "auto",
    json_out: str | Path | None = None,
) -> dict[str, Any]:
    """Compare generated images with real ones.

    Args:
        run: a run folder; its generator makes ``n`` images (seed ``seed``).
        fake: instead of ``run``: an image folder / zip, or a tensor (N, C, H, W) in [0, 1].
        real: data set name, folder or zip (default: the run's training data).
        metrics: any of fid, kid, is, pr, c2st, mmd (a list or a comma-separated string).
        features: auto, digits, inception, pixels, or any ``nn.Module``.
        n: images per set (capped at half the real set: the other half is the floor).
        size: image side both sets are loaded at (default: the run's, or 28/64).
    Returns:
        {"metrics": {name: {"value", "real_vs_real", ...}}, "protocol": {...}}
    Raises:
        GanforgeError: bad arguments, missing data, or an extractor that cannot load.
    """
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    bad = [m for m in metrics if m not in METRICS]
    if bad or not metrics:
        raise GanforgeError(f"--metrics {','.join(bad) or '(none)'}: choose from {','.join(METRICS.names())}")
    if (run is None) == (fake is None):
        raise GanforgeError("give either a run folder or --fake (images to score), not both/neither")
    if n < 2:
        raise GanforgeError(f"--n must be >= 2, got {n}")

    sampler = None
    if run is not None:
        from ..infer import load
        from ..rundir import RunDir

        rd = RunDir.of(run)
        if rd.config_file.is_file():  # a bare model folder has no training data to default to
            saved = rd.config().run
            real, size = real or saved.data, size or saved.size
        sampler = load(run, device)
    if real is None:
        raise GanforgeError("--real is needed: a data set name, image folder or zip")

    fake_images: torch.Tensor | None = None
    if isinstance(fake, torch.Tensor):
        fake_images = fake.float().clamp(0, 1)
        size = size or fake_images.shape[-1]
    elif fake is not None:
        size = size or 64
        fake_images = load_data(fake, size=size).images.float() / 255
    assert size is not None

    # Both sets go through the same path: loaded at `size`, then the extractor's own resize.
    a, b, real_name = _real_halves(real, size, None, n, seed)
    n_eff = len(a)
    channels = a.shape[1]
    ext = get_extractor(features, channels, feature_weights)
    if sampler is not None:
        fake_images = sampler.generate(n_eff, seed=seed)
    assert fake_images is not None
    if len(fake_images) < n_eff:
        raise GanforgeError(f"--fake has {len(fake_images)} images; need {n_eff} (or lower --n)")
    fake_images = fake_images[:n_eff]
    fake_images = to_channels(fake_images, channels)

    fa = _cached_features(ext, a, f"A{seed}", cache)
    fb = _cached_features(ext, b, f"B{seed}", cache)
    ff, fake_probs = ext(fake_images)

    if "is" in metrics and not ext.has_probs:
        raise GanforgeError(f"--metrics is needs class probabilities; the {ext.name} extractor "
                            "has none (use --features digits, or drop is)")
    sets = FeatureSets(ff, fa, fb, fake_probs, lambda: ext(b.float() / 255)[1], seed)
    out: dict[str, Any] = {}
    for m in metrics:
        out.update(METRICS.get(m)(sets))

    result = {
        "metrics": out,
        "protocol": {
            "features": ext.name, "extractor_id": ext.ident, "n": n_eff, "seed": seed,
            "image_size": size, "extractor_input": ext.size or size,
            "resize": f"both sets: PIL Lanczos to {size}px (generator output as is), then bilinear "
                      f"antialiased to the extractor's {ext.size or size}px",
            "real": real_name, "fake": str(run if run is not None else
                                          (fake if not isinstance(fake, torch.Tensor) else "tensor")),
            "floor": "real half B vs real half A (disjoint, same n)",
            "name": f"{ext.name}-fid{_short(n_eff)}",
        },
    }
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(result, indent=2) + "\n")
    return result


def _short(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 and n >= 1000 else str(n)


def format_table(result: dict[str, Any]) -> str:
    """A small human table: metric, value, real-vs-real floor."""
    rows = [("metric", "value", "real vs real")]
    m = result["metrics"]
    for key, label in (("fid", "FID"), ("kid", "KID"), ("precision", "precision"),
                       ("recall", "recall"), ("c2st", "C2ST accuracy"), ("mmd", "MMD^2 (rbf)")):
        if key in m:
            rows.append((label, f"{m[key]['value']:.4g}", f"{m[key]['real_vs_real']:.4g}"))
    if "is" in m:
        rows.append(("IS", f"{m['is']['value']:.3f}", f"{m['is']['real']:.3f} (real)"))
        c = m["coverage"]
        rows.append(("classes covered", f"{c['classes_covered']}/{c['num_classes']}",
                     f"{c['real']['classes_covered']}/{c['num_classes']}"))
        rows.append(("class entropy", f"{c['entropy']:.3f}", f"{c['real']['entropy']:.3f}"))
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    p = result["protocol"]
    lines = [f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:>{w[2]}}" for r in rows]
    lines.insert(1, "-" * (sum(w) + 4))
    lines.append(f"({p['features']} features, n={p['n']} per set, {p['image_size']}px, real={p['real']})")
    return "\n".join(lines)


class QuickEval:
    """The cheap metric for ``--eval-every``: digits-FID for grayscale data, else KID on
    pixels (or Inception when its weights are configured), on ``n`` real vs ``n`` generated."""

    def __init__(self, images: torch.Tensor, n: int = 2000, seed: int = 0) -> None:
        self.ext = get_extractor("auto", images.shape[1])
        self.kind = "fid" if self.ext.name in ("digits", "inception") else "kid"
        perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
        self.n = min(n, len(images))
        self.ref, _ = self.ext(images[perm[: self.n]].float() / 255)
        self.name = f"{self.ext.name}-{self.kind}{_short(self.n)}"
        self.seed = seed

    def __call__(self, sampler: Any) -> float:
        """Score a :class:`~ganforge.infer.Sampler` (the training loop's preview object)."""
        imgs = sampler.generate(self.n, seed=self.seed + 1)
        feats, _ = self.ext(imgs)
        if self.kind == "fid":
            return stats.fid_from_features(feats, self.ref)
        return stats.kid(feats, self.ref, subsets=20, subset_size=min(1000, self.n), seed=self.seed)[0]
