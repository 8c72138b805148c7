"""``ganforge.evaluate``: every metric with its real-vs-real floor and its protocol.

Protocol: both sets are scored at the generator's own image size (folders: the fakes' native
size). The real set is shuffled (seeded) and split into two disjoint halves A and B of ``n``
images each (``n`` capped at half the real set, and said so). The ``n`` generated images (a
seeded random subset, for a folder) are compared with A; B compared with A is the floor -- the
score two samples of the *same* distribution get at this ``n`` -- repeated over several seeded
splits, so the floor comes with its spread. A score is never read without its floor.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data import data_dir, load_data, native_size
from ..errors import GanforgeError
from ..registry import Registry
from ..serialization import check_writable, write_json
from . import stats
from .features import Extractor, choose_extractor, to_channels

DEFAULT_METRICS = ("fid", "kid", "is", "pr")
# A translation is scored as an image set against domain B, and C2ST asks whether a simple
# classifier can tell translations from real B images.
TRANSLATION_METRICS = ("fid", "kid", "c2st")


@dataclass
class Sample:
    """Features of one image set, and the extractor's class probabilities when it has them."""

    feats: np.ndarray
    probs: np.ndarray | None = None

    def __getitem__(self, idx: np.ndarray) -> Sample:
        return Sample(self.feats[idx], None if self.probs is None else self.probs[idx])


@dataclass(frozen=True)
class Metric:
    """``score(scored, reference, seed)`` -> {entry: number, or a dict of details}."""

    score: Callable[[Sample, Sample, int], dict[str, Any]]
    needs_probs: bool = False


# Register your own with METRICS.register("name")(Metric(score)).
METRICS: Registry[Metric] = Registry("metric")
METRICS.register("fid")(Metric(lambda x, ref, seed: {"fid": stats.fid_from_features(x.feats, ref.feats)}))
METRICS.register("kid")(Metric(lambda x, ref, seed: {"kid": stats.kid(x.feats, ref.feats, seed=seed)[0]}))
METRICS.register("c2st")(Metric(lambda x, ref, seed: {"c2st": stats.c2st(x.feats, ref.feats, seed=seed)}))
METRICS.register("mmd")(Metric(lambda x, ref, seed: {"mmd": stats.mmd_rbf(x.feats, ref.feats, seed=seed)[0]}))


@METRICS.register("pr")
@lambda score: Metric(score)
def _pr(x: Sample, ref: Sample, seed: int) -> dict[str, Any]:
    p, r = stats.precision_recall(ref.feats, x.feats)
    return {"precision": p, "recall": r}


@METRICS.register("is")
@lambda score: Metric(score, needs_probs=True)
def _is(x: Sample, ref: Sample, seed: int) -> dict[str, Any]:
    """Reference-free: the floor of IS is the score of real images (the B halves)."""
    return {"is": stats.inception_score(x.probs, seed=seed)[0], "coverage": stats.class_coverage(x.probs)}


def _cached_features(ext: Extractor, images: torch.Tensor, use_cache: bool,
                     say: Callable[[str], None]) -> Sample:
    """Real-set features, cached under a hash of (pixels, extractor); an extractor with no
    weights fingerprint (``ident`` None) is never cached."""
    h = hashlib.sha256()
    h.update(images.numpy().tobytes())
    h.update(f"{ext.ident}|{tuple(images.shape)}".encode())
    path = data_dir() / "ref_stats" / f"{h.hexdigest()[:32]}.npz"
    if use_cache and ext.ident and path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return Sample(z["features"], z["probs"] if "probs" in z else None)
    feats, probs = ext(images.float() / 255)
    if use_cache and ext.ident:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, features=feats, **({} if probs is None else {"probs": probs}))
            tmp.replace(path)
        except OSError as e:  # a read-only cache costs time, not the evaluation
            say(f"warning: cannot cache reference features in {path.parent} ({e.strerror})")
    return Sample(feats, probs)


def _metric_names(metrics: Any) -> list[str]:
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    names = list(metrics)
    bad = [m for m in names if m not in METRICS]
    if bad or not names:
        raise GanforgeError(f"--metrics {','.join(bad) or '(none)'}: choose from {','.join(METRICS.names())}")
    return names


def evaluate(
    run: str | Path | None = None,
    *,
    fake: str | Path | torch.Tensor | None = None,
    real: str | Path | None = None,
    metrics: tuple[str, ...] | list[str] | str | None = None,
    features: str | nn.Module = "auto",
    n: int = 5000,
    seed: int = 0,
    feature_weights: str | Path | None = None,
    size: int | None = None,
    cache: bool = True,
    device: str = "auto",
    json_out: str | Path | None = None,
    floor_splits: int = 5,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Compare generated images with real ones.

    Args:
        run: a run folder (or its ``best/``); its generator makes ``n`` images (seed ``seed``).
        fake: instead of ``run``: an image folder / zip, or a tensor (N, C, H, W) in [0, 1].
        real: data set name, folder or zip (default: the run's training data).
        metrics: any of fid, kid, is, pr, c2st, mmd (a list or a comma-separated string).
            Default: fid, kid, pr, and is where the extractor has class probabilities.
        features: auto, digits, inception, pixels, or any ``nn.Module``.
        n: images per set (capped at half the real set: the other half is the floor).
        size: image side of both sets. A run is scored at its generator's size (a different
            ``size`` is refused); folders default to the fakes' native size.
        floor_splits: seeded real/real splits the floor is averaged over (its spread is reported).
        say: called with a progress line per stage (the CLI prints them).
    Returns:
        {"metrics": {name: {"value", "real_vs_real", "real_vs_real_std", ...}}, "protocol": {...}}
    Raises:
        GanforgeError: bad arguments (checked before any expensive step), missing data, or an
            extractor that cannot load.
    """
    say = say or (lambda msg: None)
    explicit = metrics is not None
    names = _metric_names(DEFAULT_METRICS if metrics is None else metrics)
    if (run is None) == (fake is None):
        raise GanforgeError("give either a run folder or --fake (images to score), not both/neither")
    if n < 2:
        raise GanforgeError(f"--n must be >= 2, got {n}")
    if floor_splits < 1:
        raise GanforgeError(f"floor_splits must be >= 1, got {floor_splits}")
    if json_out:
        check_writable(Path(json_out), "--json")  # before any expensive step

    sampler = None
    if run is not None:
        from ..infer import Translator, load
        from ..rundir import RunDir

        rd = RunDir.of(run)
        sampler = load(run, device)
        if isinstance(sampler, Translator):
            if not rd.config_file.is_file():
                raise GanforgeError(f"{run}: a translation model without its run folder; score its "
                                    "translations with --fake DIR --real DIR")
            if real is not None:
                raise GanforgeError("--real: a translation run is scored against its own domain B "
                                    "(the held-out images of its data); drop --real")
            return _evaluate_translation(sampler, rd, _metric_names(metrics or TRANSLATION_METRICS),
                                         features, n, seed, feature_weights, size, cache, json_out,
                                         floor_splits, say)
        if rd.config_file.is_file():  # a bare model folder has no training data to default to
            real = real or rd.config().run.data
        native = sampler.image_shape[-1]
    elif isinstance(fake, torch.Tensor):
        native = int(fake.shape[-1])
    else:
        native = size or native_size(fake)
    if size is not None and size != native:
        raise GanforgeError(f"--size {size}: the generated images are {native}px; both sets are "
                            f"scored at that size (omit --size)")
    size = native
    if real is None:
        raise GanforgeError("--real is needed: a data set name, image folder or zip")
    # The extractor and what it can compute are settled before any image is loaded or made.
    ext, why = choose_extractor(features, str(real), feature_weights)
    say(f"features: {ext.name} ({why})")
    if any(METRICS.get(m).needs_probs for m in names) and not ext.has_probs:
        needy = [m for m in names if METRICS.get(m).needs_probs]
        if explicit:
            raise GanforgeError(f"--metrics {','.join(needy)} needs class probabilities; the {ext.name} "
                                "extractor has none (use --features digits or inception, or drop it)")
        names = [m for m in names if m not in needy]
        say(f"skipping {','.join(needy)}: the {ext.name} extractor has no class probabilities")

    real_set = load_data(real, size=size)
    total = len(real_set)
    if total < 4:
        raise GanforgeError(f"--real {real}: {total} images; need at least 4 (two halves)")
    n_eff = min(n, total // 2)
    if n_eff < n:
        say(f"--n {n} capped at {n_eff}: half of the {total} real images (the other half is the floor)")
    channels = real_set.channels

    asked = None  # a conditional run's requested classes, one per generated image
    if sampler is not None:
        say(f"generating {n_eff} images")
        fake_images = sampler.generate(n_eff, seed=seed)  # a conditional run: classes in turn
        asked = sampler.labels(n_eff)
    else:
        pool = fake if isinstance(fake, torch.Tensor) else load_data(fake, size=size).images.float() / 255
        if len(pool) < n_eff:
            raise GanforgeError(f"--fake has {len(pool)} images; need {n_eff} (or lower --n)")
        pick = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))[:n_eff]
        fake_images = pool.float().clamp(0, 1)[pick]  # a seeded random subset, not file order
    fake_images = to_channels(fake_images, channels)

    # IS of real digits: only digits the digits extractor never saw in training (README).
    is_pool = _heldout_digits(real, total) if ext.name == "digits" else None
    out, fakes, splits = _score(names, ext, real_set.images, fake_images, n_eff, seed, floor_splits,
                                is_pool, cache, say)

    if asked is not None and fakes.probs is not None and fakes.probs.shape[1] == len(sampler.classes) \
            and real_set.labels is not None:
        # Content check of a conditional run: does the classifier see the class that was asked
        # for? Beside it, the classifier's own accuracy on held-out real images of the set.
        b = is_pool[:n_eff] if is_pool is not None else splits[0][n_eff : 2 * n_eff]
        _, real_probs = ext(real_set.images[torch.from_numpy(b)].float() / 255)
        real_acc = float((real_probs.argmax(1) == real_set.labels.numpy()[b]).mean())
        out["class_accuracy"] = {"value": float((fakes.probs.argmax(1) == asked.numpy()).mean()),
                                 "real": real_acc, "n": n_eff}
    result = {
        "metrics": out,
        "protocol": _protocol(
            ext, why, n_eff, seed, size, floor_splits,
            resize=f"both sets at {size}px (real images: PIL Lanczos; generator output as is), "
                   f"then bilinear antialiased to the extractor's {ext.size or size}px",
            real=real_set.name, real_images=total,
            fake="tensor" if isinstance(fake, torch.Tensor) else str(run if run is not None else fake)),
    }
    if is_pool is not None and "is" in out:
        result["protocol"]["is_real"] = "held-out digits only (never seen by the digits extractor)"
    if json_out:
        write_json(Path(json_out), result)
    return result


def _score(names: list[str], ext: Extractor, real_images: torch.Tensor, fake_images: torch.Tensor,
           n_eff: int, seed: int, floor_splits: int, is_pool: np.ndarray | None, cache: bool,
           say: Callable[[str], None]) -> tuple[dict[str, Any], Sample, list[np.ndarray]]:
    """Every metric of ``fake_images`` against real half A, beside real half B against A over
    ``floor_splits`` seeded splits: ({entry: {value, real_vs_real, ...}}, fake features, splits)."""
    total = len(real_images)
    splits = [np.random.default_rng(seed + k).permutation(total) for k in range(floor_splits)]
    used = np.unique(np.concatenate([p[: 2 * n_eff] for p in splits]))  # only what is scored
    say(f"extracting features: {len(used)} real and {n_eff} generated images")
    reals = _cached_features(ext, real_images[torch.from_numpy(used)], cache, say)
    at = np.full(total, -1)
    at[used] = np.arange(len(used))  # real-set index -> row of `reals`
    fakes = Sample(*ext(fake_images))
    out: dict[str, Any] = {}
    for name in names:
        say(f"computing {name}")
        a0 = reals[at[splits[0][:n_eff]]]
        value = METRICS.get(name).score(fakes, a0, seed)
        floors = []
        for perm in splits:
            a, b = perm[:n_eff], perm[n_eff : 2 * n_eff]
            if METRICS.get(name).needs_probs and is_pool is not None:
                b = np.concatenate([b[np.isin(b, is_pool)], a[np.isin(a, is_pool)]])
            floors.append(METRICS.get(name).score(reals[at[b]], reals[at[a]], seed))
        for entry, v in value.items():
            if isinstance(v, dict):
                out[entry] = {**v, "real": floors[0][entry]}
                continue
            fl = [f[entry] for f in floors]
            out[entry] = {"value": v, "real_vs_real": float(np.mean(fl)),
                          "real_vs_real_std": float(np.std(fl)), "real_vs_real_splits": fl}

    return out, fakes, splits


def _evaluate_translation(model: Any, rd: Any, names: list[str], features: str | nn.Module, n: int,
                          seed: int, feature_weights: str | Path | None, size: int | None, cache: bool,
                          json_out: str | Path | None, floor_splits: int,
                          say: Callable[[str], None]) -> dict[str, Any]:
    """A translation run: its a2b translations of held-out A images against real B images (the
    training and held-out B together; the floor splits them), plus, for the digit pair, whether
    the digit survived the translation (the digits classifier on the source's label and on the
    digit the translation draws) and the distance to the known right answer."""
    from ..data import decode_digits, load_domains
    from ..families import FAMILIES

    cfg = rd.config()
    if size is not None and size != model.size:
        raise GanforgeError(f"--size {size}: this run translates at {model.size}px (omit --size)")
    say(f"loading {cfg.run.data}" + (f" and {cfg.run.data_b}" if cfg.run.data_b else ""))
    pair = load_domains(cfg.run.data, cfg.run.data_b, FAMILIES.get(cfg.family).data == "paired",
                        model.size, model.channels, cfg.run.fit, quiet=True)
    ext, why = choose_extractor(features, pair.name, feature_weights)
    say(f"features: {ext.name} ({why})")
    names = [m for m in names if not METRICS.get(m).needs_probs or ext.has_probs]
    real_b = torch.cat([pair.targets, pair.held_targets])
    n_eff = min(n, len(pair.held), len(real_b) // 2)
    if n_eff < 2:
        raise GanforgeError(f"{pair.name}: {len(pair.held)} held-out images; need at least 2")
    if n_eff < n:
        say(f"--n {n} capped at {n_eff}: the held-out A images (or half of B)")
    say(f"translating {n_eff} held-out {pair.domains[0]} images")
    pick = torch.from_numpy(np.linspace(0, len(pair.held) - 1, n_eff).round().astype(np.int64))
    src = pair.held[pick].float() / 255  # spread over the held-out set (it may be sorted by class)
    fake_b = model.run(src, "a2b")
    out, fakes, _ = _score(names, ext, real_b, fake_b, n_eff, seed, floor_splits, None, cache, say)
    say("computing domain: a classifier of real A vs real B, asked about the translations")
    real_a = torch.cat([pair.images, pair.held])
    pick_a = torch.randperm(len(real_a), generator=torch.Generator().manual_seed(seed))[: 2 * n_eff]
    pick_b = torch.randperm(len(real_b), generator=torch.Generator().manual_seed(seed + 1))[: 2 * n_eff]
    fa, _ = ext(to_channels(real_a[pick_a].float() / 255, model.channels))
    fb, _ = ext(real_b[pick_b].float() / 255)
    out["domain"] = stats.domain_share(fa, fb, fakes.feats, seed)
    if pair.truth == "mnist2color" and pair.held_labels is not None:
        from .features import get_extractor

        digits = get_extractor("digits")
        labels = pair.held_labels[pick].numpy()
        right = pair.held_targets[pick].float() / 255

        def agree(gray: torch.Tensor) -> float:
            return float((digits(gray)[1].argmax(1) == labels).mean())

        out["digit_agreement"] = {"value": agree(decode_digits(fake_b)),
                                  "real": agree(decode_digits(right)), "n": n_eff,
                                  "direction": "a2b"}
        out["l1_to_truth"] = {"value": float((fake_b - right).abs().mean()),
                              "real": float((src.expand_as(right) - right).abs().mean()), "n": n_eff}
        if "b2a" in model.directions:
            out["digit_agreement_b2a"] = {"value": agree(model.run(right, "b2a").mean(1, keepdim=True)),
                                          "real": agree(src.mean(1, keepdim=True)), "n": n_eff,
                                          "direction": "b2a"}
    result = {
        "metrics": out,
        "protocol": _protocol(
            ext, why, n_eff, seed, model.size, floor_splits,
            translation=f"a2b of {n_eff} held-out {pair.domains[0]} images, evenly spaced "
                        f"({pair.source.get('held_out_by') or pair.source.get('held_out_from')})",
            real=f"{pair.name}: domain B ({pair.domains[1]}), training + held-out",
            real_images=len(real_b), fake=str(rd.path)),
    }
    if json_out:
        write_json(Path(json_out), result)
    return result


def _protocol(ext: Extractor, why: str, n: int, seed: int, size: int, floor_splits: int,
              **what: Any) -> dict[str, Any]:
    """How a score was made, saved beside it: the extractor, n, seed, sizes and the floor's
    splits, plus ``what`` was compared (the real and fake sets, how they were resized)."""
    return {"features": ext.name, "features_why": why, "extractor_id": ext.ident, "n": n,
            "seed": seed, "image_size": size, "extractor_input": ext.size or size, **what,
            "floor": f"real half B vs real half A (disjoint, same n), mean and std over {floor_splits} "
                     "seeded splits",
            "floor_splits": floor_splits, "name": f"{ext.name}-fid{_short(n)}"}


def _heldout_digits(real: Any, total: int) -> np.ndarray | None:
    """Indices of mnist-mini digits the digits extractor was not trained on (None: not mnist-mini)."""
    if str(real) != "mnist-mini":
        return None
    from .digits_split import heldout_split

    return heldout_split(total)[1]


def _short(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 and n >= 1000 else str(n)


def format_table(result: dict[str, Any]) -> str:
    """A small human table: metric, value, real-vs-real floor."""
    rows = [("metric", "value", "real vs real")]
    m = result["metrics"]
    for key, label in (("fid", "FID"), ("kid", "KID"), ("precision", "precision"),
                       ("recall", "recall"), ("c2st", "C2ST accuracy"), ("mmd", "MMD^2 (rbf)")):
        if key in m:
            rows.append((label, f"{m[key]['value']:.4g}",
                         f"{m[key]['real_vs_real']:.4g} ± {m[key]['real_vs_real_std']:.2g}"))
    if "is" in m:
        rows.append(("IS", f"{m['is']['value']:.3f}",
                     f"{m['is']['real_vs_real']:.3f} ± {m['is']['real_vs_real_std']:.2g} (real)"))
        c = m["coverage"]
        rows.append(("classes covered", f"{c['classes_covered']}/{c['num_classes']}",
                     f"{c['real']['classes_covered']}/{c['num_classes']}"))
        rows.append(("class entropy", f"{c['entropy']:.3f}", f"{c['real']['entropy']:.3f}"))
    if "class_accuracy" in m:
        c = m["class_accuracy"]
        rows.append(("class asked = class seen", f"{c['value']:.3f}", f"{c['real']:.3f} (real labels)"))
    for key, label in (("digit_agreement", "digit kept (a2b)"), ("digit_agreement_b2a", "digit kept (b2a)")):
        if key in m:
            rows.append((label, f"{m[key]['value']:.3f}", f"{m[key]['real']:.3f} (right answers)"))
    if "domain" in m:
        rows.append(("called B by an A-vs-B classifier", f"{m['domain']['value']:.3f}",
                     f"{m['domain']['real']:.3f} (held-out real B)"))
    if "l1_to_truth" in m:
        rows.append(("L1 to the right answer", f"{m['l1_to_truth']['value']:.4f}",
                     f"{m['l1_to_truth']['real']:.4f} (input as is)"))
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    p = result["protocol"]
    lines = [f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:>{w[2]}}" for r in rows]
    lines.insert(1, "-" * (sum(w) + 4))
    lines.append(f"({p['features']} features, n={p['n']} per set, {p['image_size']}px, real={p['real']}; "
                 f"floor: mean ± std over {p['floor_splits']} real/real splits)")
    return "\n".join(lines)


class QuickEval:
    """The cheap metric for ``--eval-every``: FID on digits (or Inception) features, else KID on
    pixels, on ``n`` real vs ``n`` generated images."""

    def __init__(self, images: torch.Tensor, n: int = 2000, seed: int = 0, data: str = "",
                 inputs: tuple | None = None) -> None:
        self.ext, _ = choose_extractor("auto", data)
        self.inputs = inputs  # a translator's held-out inputs: its outputs are what is scored
        if inputs is not None:
            n = min(n, len(inputs[0]))
        self.kind = "fid" if self.ext.name in ("digits", "inception") else "kid"
        perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
        self.n = min(n, len(images))
        self.ref, _ = self.ext(images[perm[: self.n]].float() / 255)
        self.name = f"{self.ext.name}-{self.kind}{_short(self.n)}"
        self.seed = seed

    def __call__(self, sampler: Any) -> float:
        """Score the training loop's preview object (a Sampler or a Translator)."""
        imgs = sampler.preview_batch(self.n, self.seed + 1, self.inputs)
        feats, _ = self.ext(imgs)
        if self.kind == "fid":
            return stats.fid_from_features(feats, self.ref)
        return stats.kid(feats, self.ref, subsets=20, subset_size=min(1000, self.n), seed=self.seed)[0]
