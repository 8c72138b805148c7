"""``ganforge.evaluate``: one evaluator over three sources, every metric with its real-vs-real
floor and its protocol.

Sources (``sources.py``): a sampling run (its generator makes the images), a translation run
(its translator translates held-out A images; the real images are domain B), images (a folder,
zip or tensor). Each gives the images to score, the real images and what the protocol says
about them; the rest is the same for all three: the metrics (``METRICS``), then the checks that
apply to the source's kind and data set (``CHECKS``, ``checks.py``), then one table whose rows
the registered metrics and checks give.

Protocol: both sets are scored at the generator's own image size (folders: the fakes' native
size). The real set is shuffled (seeded) and split into two disjoint halves A and B of ``n``
images each (``n`` capped at half the real set, and said so). The ``n`` generated images (a
seeded random subset, for a folder) are compared with A; B compared with A is the floor -- the
score two samples of the *same* distribution get at this ``n`` -- repeated over several seeded
splits, so the floor comes with its spread. A score is never read without its floor.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data import data_dir
from ..errors import GanforgeError
from ..registry import Registry
from ..serialization import check_writable, write_json
from . import stats
from .base import Row, Sample, Say, floor_row, plain_row
from .checks import CHECKS, Scored, pick_checks
from .features import Extractor, choose_extractor
from .sources import DEFAULT_METRICS, TRANSLATION_METRICS, open_source

__all__ = ["DEFAULT_METRICS", "METRICS", "TRANSLATION_METRICS", "Metric", "QuickEval", "Sample",
           "evaluate", "format_table"]


@dataclass(frozen=True)
class Metric:
    """``score(scored, reference, seed)`` -> {entry: number, or a dict of details}.

    ``needs_probs``: it reads the extractor's class probabilities. ``rows``: its lines in the
    printed table (default: one, its name beside its floor). ``caveats``: extractor name -> why
    the metric says little on that extractor's features; by default it is then skipped (and
    said), asked for by name it is computed and the note travels with it (table and JSON).
    """

    score: Callable[[Sample, Sample, int], dict[str, Any]]
    needs_probs: bool = False
    rows: tuple[Row, ...] = ()
    caveats: Mapping[str, str] = field(default_factory=dict)


# Register your own with METRICS.register("name")(Metric(score, rows=(...))). The table lists
# rows in the order metrics were registered.
METRICS: Registry[Metric] = Registry("metric")
METRICS.register("fid")(Metric(lambda x, ref, seed: {"fid": stats.fid_from_features(x.feats, ref.feats)},
                               rows=(floor_row("fid", "FID"),)))
METRICS.register("kid")(Metric(lambda x, ref, seed: {"kid": stats.kid(x.feats, ref.feats, seed=seed)[0]},
                               rows=(floor_row("kid", "KID"),)))


def _pr(x: Sample, ref: Sample, seed: int) -> dict[str, Any]:
    p, r = stats.precision_recall(ref.feats, x.feats)
    return {"precision": p, "recall": r}


METRICS.register("pr")(Metric(
    _pr, rows=(floor_row("precision", "precision"), floor_row("recall", "recall")),
    # Measured on the test blobs: a noisy copy of the real images' mean scores precision 1.0
    # against 12 of them (0.44 against 200), while a channel-swapped copy of real blobs scores 0.
    caveats={"pixels": "on raw pixels nearness is not likeness: blurry, mean-like images fall "
                       "inside the real images' k-NN balls, so precision can read 1.0 for them "
                       "(use digits or inception features)"}))
METRICS.register("c2st")(Metric(lambda x, ref, seed: {"c2st": stats.c2st(x.feats, ref.feats, seed=seed)},
                                rows=(floor_row("c2st", "C2ST accuracy"),)))
METRICS.register("mmd")(Metric(lambda x, ref, seed: {"mmd": stats.mmd_rbf(x.feats, ref.feats, seed=seed)[0]},
                               rows=(floor_row("mmd", "MMD^2 (rbf)"),)))


def _is(x: Sample, ref: Sample, seed: int) -> dict[str, Any]:
    """Reference-free: the floor of IS is the score of real images (the B halves)."""
    return {"is": stats.inception_score(x.probs, seed=seed)[0], "coverage": stats.class_coverage(x.probs)}


METRICS.register("is")(Metric(_is, needs_probs=True, rows=(
    floor_row("is", "IS", ".3f", "(real)"),
    Row("coverage", "classes covered", lambda c: (f"{c['classes_covered']}/{c['num_classes']}",
                                                  f"{c['real']['classes_covered']}/{c['num_classes']}")),
    Row("coverage", "class entropy", lambda c: (f"{c['entropy']:.3f}", f"{c['real']['entropy']:.3f}")))))


def _heldout_digits(total: int) -> np.ndarray:
    from .digits_split import heldout_split

    return heldout_split(total)[1]


# A real image an extractor was trained on says little about its IS: for these (extractor, data
# set) pairs the real IS is scored on the images it never saw -> (their indices in the real set
# of ``total`` images, the words the protocol says it with).
UNSEEN: dict[tuple[str, str], tuple[Callable[[int], np.ndarray], str]] = {
    ("digits", "mnist-mini"): (_heldout_digits, "held-out digits only (never seen by the digits extractor)"),
}


def _cached_features(ext: Extractor, images: torch.Tensor, use_cache: bool, say: Say) -> Sample:
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


def _plan_metrics(names: list[str], explicit: bool, ext: Extractor,
                  say: Say) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """The metrics this extractor can give: (names, notes, skipped), the same for every source.

    A metric that needs class probabilities the extractor lacks is refused when asked for by
    name (one line, before any image is made) and skipped, said, by default. A metric with a
    caveat for this extractor is skipped, said, by default; asked for, it is computed with the
    caveat as its note."""
    needy = [m for m in names if METRICS.get(m).needs_probs and not ext.has_probs]
    if needy and explicit:
        raise GanforgeError(f"--metrics {','.join(needy)} needs class probabilities; the {ext.name} "
                            "extractor has none (use --features digits or inception, or drop it)")
    skipped = {m: f"the {ext.name} extractor has no class probabilities" for m in needy}
    if needy:
        say(f"skipping {','.join(needy)}: {skipped[needy[0]]}")
    names = [m for m in names if m not in needy]
    caveats = {m: METRICS.get(m).caveats[ext.name] for m in names if ext.name in METRICS.get(m).caveats}
    if explicit:
        return names, caveats, skipped
    for m, why in caveats.items():
        say(f"skipping {m}: {why}; ask for it with --metrics {m} to compute it anyway")
    return [m for m in names if m not in caveats], {}, {**skipped, **caveats}


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
    checks: Sequence[str] | str | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Compare generated (or translated) images with real ones.

    Args:
        run: a run folder (or its ``best/``). A sampling run's generator makes ``n`` images (seed
            ``seed``); a translation run translates ``n`` held-out A images, scored against
            its domain B.
        fake: instead of ``run``: an image folder / zip, or a tensor (N, C, H, W) in [0, 1].
        real: data set name, folder or zip (default: the run's training data; a translation
            run takes none).
        metrics: any of fid, kid, is, pr, c2st, mmd (a list or a comma-separated string).
            Default: fid, kid, pr, and is where the extractor has class probabilities (a
            translation run: fid, kid, c2st); pr is skipped by default on pixel features.
        features: auto, digits, inception, pixels, or any ``nn.Module``.
        n: images per set (capped at half the real set: the other half is the floor).
        size: image side of both sets. A run is scored at its generator's size (a different
            ``size`` is refused); folders default to the fakes' native size.
        floor_splits: seeded real/real splits the floor is averaged over (its spread is reported).
        checks: names from ``CHECKS`` to run beside the metrics (default: every check
            registered for this source's kind and data set, e.g. the digit pair's
            ``digit_kept``; ``()`` for none).
        say: called with a progress line per stage (the CLI prints them).
    Returns:
        {"metrics": {name: {"value", "real_vs_real", "real_vs_real_std", ...}}, "protocol": {...}}
    Raises:
        GanforgeError: bad arguments (checked before any expensive step), missing data, or an
            extractor that cannot load.
    """
    say = say or (lambda msg: None)
    explicit = metrics is not None
    asked = _metric_names(metrics) if explicit else None
    if (run is None) == (fake is None):
        raise GanforgeError("give either a run folder or --fake (images to score), not both/neither")
    if n < 2:
        raise GanforgeError(f"--n must be >= 2, got {n}")
    if floor_splits < 1:
        raise GanforgeError(f"floor_splits must be >= 1, got {floor_splits}")
    if json_out:
        check_writable(Path(json_out), "--json")  # before any expensive step

    # What is scored, with what, and which checks: all settled before any image is made or loaded.
    source = open_source(run, fake, real, size, device)
    ext, why = choose_extractor(features, source.dataset, feature_weights, source.auto_features)
    say(f"features: {ext.name} ({why})")
    names, notes, skipped = _plan_metrics(asked or list(source.default_metrics), explicit, ext, say)
    check_names = pick_checks(source, checks)

    sets = source.load(n, seed, say)
    held, held_words = UNSEEN.get((ext.name, source.dataset), (None, ""))
    unseen = None if held is None else held(len(sets.real))
    out, fakes, splits = _score(names, ext, sets.real, sets.fake, sets.n, seed, floor_splits, unseen,
                                cache, say)
    scored = Scored(source, sets, ext, fakes, splits, unseen, seed, say)
    for name in check_names:
        out.update(CHECKS.get(name).run(scored))

    protocol = _protocol(ext, why, sets.n, seed, source.size, floor_splits,
                         resize=f"both sets at {source.size}px (real images: PIL Lanczos; generator "
                                f"output as is), then bilinear antialiased to the extractor's "
                                f"{ext.size or source.size}px", **sets.what)
    if unseen is not None and "is" in out:
        protocol["is_real"] = held_words
    if notes:
        protocol["notes"] = notes
    if skipped:
        protocol["skipped"] = skipped
    result = {"metrics": out, "protocol": protocol}
    if json_out:
        write_json(Path(json_out), result)
    return result


def _score(names: list[str], ext: Extractor, real_images: torch.Tensor, fake_images: torch.Tensor,
           n_eff: int, seed: int, floor_splits: int, is_pool: np.ndarray | None, cache: bool,
           say: Say) -> tuple[dict[str, Any], Sample, list[np.ndarray]]:
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
        say(f"computing {name} (and its floor: {floor_splits} real/real split{'s' * (floor_splits > 1)})")
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


def _protocol(ext: Extractor, why: str, n: int, seed: int, size: int, floor_splits: int,
              **what: Any) -> dict[str, Any]:
    """How a score was made, saved beside it: the extractor, n, seed, sizes and the floor's
    splits, plus ``what`` was compared (the real and fake sets, how they were resized)."""
    return {"features": ext.name, "features_why": why, "extractor_id": ext.ident, "n": n,
            "seed": seed, "image_size": size, "extractor_input": ext.size or size, **what,
            "floor": f"real half B vs real half A (disjoint, same n), mean and std over {floor_splits} "
                     "seeded splits",
            "floor_splits": floor_splits, "name": f"{ext.name}-fid{_short(n)}"}


def _short(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 and n >= 1000 else str(n)


def format_table(result: dict[str, Any]) -> str:
    """A small human table: metric, value, real-vs-real floor. Its rows are the ones the
    registered metrics and then checks give (in their registration order) for the entries the
    result holds; an entry none of them claims gets a plain row of its own."""
    m = result["metrics"]
    rows = [("metric", "value", "real vs real")]
    registered = [rw for name, metric in METRICS.items() for rw in metric.rows or (floor_row(name, name),)]
    registered += [rw for _, check in CHECKS.items() for rw in check.rows]
    for row in registered:
        if row.key in m:
            rows.append((row.label, *row.cells(m[row.key])))
    claimed = {row.key for row in registered}
    rows += [plain_row(key, e) for key, e in m.items() if key not in claimed and isinstance(e, dict)]
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    p = result["protocol"]
    lines = [f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:>{w[2]}}" for r in rows]
    lines.insert(1, "-" * (sum(w) + 4))
    lines.append(f"({p['features']} features, n={p['n']} per set, {p['image_size']}px, real={p['real']}; "
                 f"floor: mean ± std over {p['floor_splits']} real/real splits)")
    lines += [f"note: {name} on {p['features']} features: {why}" for name, why in p.get("notes", {}).items()]
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
