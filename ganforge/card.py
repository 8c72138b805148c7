"""MODEL_CARD.md: what a run's model is, what it learned from, how well, and what not to do with it.

Written into every run folder when training finishes (and when a resumed run finishes), from
the run's own files only (config.json, metrics.jsonl, best/score.json), so ``ganforge export RUN
--format card`` writes the same card for an older run. A full evaluation (``ganforge eval RUN
--json FILE``) can be added with its real-vs-real floors; without one the card says no floor
was measured rather than print a score alone.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import GanforgeError
from .rundir import RunDir

FACE_WORDS = ("celeb", "face", "ffhq", "portrait", "anime")

ETHICS = """\
- Every image this model makes is **synthetic**: no such person, place or object was ever
  photographed. Synthetic images can deceive. ganforge marks its exports as synthetic (an ONNX
  file carries `synthetic: true` in its metadata); keep such marks, and say that the images are
  generated wherever they are shown.
- Do not use the model or its images to impersonate real people, to make images of a real person
  without their consent, or to pass generated images off as evidence of real events.
- A generative model reproduces its training data's biases, and may reproduce training images
  themselves (memorisation), most of all when the data set is small."""

FACES = """\
- This model was trained on images of faces. The people in a face data set rarely consented to
  this use; the set's make-up (age, skin tone, gender presentation, pose, lighting) is not that of
  any population, and the model will make some kinds of faces better and more often than others.
  Do not use it for anything that judges or identifies people."""


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    return str(v)


def _eval_rows(records: list[dict[str, Any]], best: dict[str, Any] | None) -> list[str]:
    evals = [r for r in records if "eval" in r and "value" in r]
    if not evals:
        return ["- No metric was measured during training (`--eval-every` was off)."]
    name = evals[-1]["eval"]
    first, last = evals[0], evals[-1]
    lines = [f"- `{name}` (`--eval-every`, lower is better): {_fmt(first['value'])} at step "
             f"{first['step']}, {_fmt(last['value'])} at step {last['step']} (the final model); "
             f"{len(evals)} evaluation{'s' * (len(evals) > 1)}."]
    if best is not None and "value" in best:
        lines.append(f"- Best: {_fmt(best['value'])} at step {best.get('step', '?')}, kept in `best/`.")
    lines.append("- Floor: not measured during training. The floor is the same metric between two "
                 "disjoint halves of the real images; `ganforge eval RUN --json FILE` prints each "
                 "score beside it, and `ganforge export RUN --format card --eval FILE` adds them here.")
    return lines


def _full_eval(result: dict[str, Any], where: str) -> list[str]:
    try:
        metrics, protocol = result["metrics"], result["protocol"]
    except (KeyError, TypeError):
        raise GanforgeError(f"--eval {where}: not a `ganforge eval --json` result (no metrics/"
                            "protocol)") from None
    lines = [f"Full evaluation ({protocol.get('features', '?')} features, n={protocol.get('n', '?')} "
             f"per set, {protocol.get('image_size', '?')} px, seed {protocol.get('seed', '?')}; "
             f"floor: {protocol.get('floor', 'real vs real')}):", "",
             "| metric | value | floor (real vs real) |", "|---|---|---|"]
    for key, e in metrics.items():
        if not isinstance(e, dict) or "value" not in e:
            continue
        floor = "-"
        if "real_vs_real" in e:
            floor = f"{_fmt(e['real_vs_real'])} ± {_fmt(e.get('real_vs_real_std', float('nan')))}"
        elif "real" in e:
            floor = _fmt(e["real"])
        lines.append(f"| {key} | {_fmt(e['value'])} | {floor} |")
    return lines


def model_card(rd: RunDir, evaluation: dict[str, Any] | None = None, eval_source: str = "") -> str:
    """The card's Markdown for run folder ``rd`` (plus a ``ganforge eval --json`` result)."""
    cfg = rd.raw_config()
    family = str(cfg.get("family", "gan"))
    run, model, data = cfg.get("run") or {}, cfg.get("model") or {}, cfg.get("data") or {}
    records = rd.metrics()
    steps = max((int(r["step"]) for r in records if isinstance(r.get("step"), (int, float))), default=0)
    batch = int(run.get("batch_size") or 0)
    translation = bool(run.get("data_b")) or family in ("cyclegan", "pix2pix")
    source = run.get("data", "?") + (f" -> {run['data_b']}" if run.get("data_b") else "")
    name = rd.path.resolve().name
    lines = [f"# Model card: {name}", "",
             f"Written by ganforge {__version__} from the run's own files. The model is **{family}** "
             + ("(image-to-image translation)." if translation else "(it makes new images from noise)."),
             "", "## Data", "",
             f"- Source: `{source}`" + (f" (data set `{data['name']}`)" if data.get("name") else "")]
    if data.get("images") is not None:
        what = [f"{data['channels']} channel(s)"] if data.get("channels") else []
        what += [f"{data['size']} px"] if data.get("size") else []
        lines.append(f"- Images: {data['images']}" + "".join(f", {w}" for w in what))
    else:
        lines.append(f"- Size: {run.get('size', '?')} px")
    if data.get("classes"):
        lines.append(f"- Classes: {', '.join(map(str, data['classes']))}")
    if data.get("fingerprint"):
        lines.append(f"- Fingerprint: `{data['fingerprint']}` (the same images give the same fingerprint)")
    lines += ["", "## Recipe", "",
              f"- Family: `{family}`" + (f", preset `{run['preset']}`" if run.get("preset") else "")]
    keys = ", ".join(f"{k}={_fmt(v)}" for k, v in model.items() if not isinstance(v, (dict, list)))
    if keys:
        lines.append(f"- Settings: {keys}")
    lines.append(f"- Run: batch size {batch or '?'}, seed {run.get('seed', '?')}, precision "
                 f"{run.get('precision', 'fp32')}, {cfg.get('world_size', 1)} process(es)")
    lines.append(f"- Trained: {steps} step{'s' * (steps != 1)}"
                 + (f", {steps * batch:,} images seen" if batch else ""))
    lines += ["", "## Measured", ""] + _eval_rows(records, rd.best_record())
    if evaluation is not None:
        lines += [""] + _full_eval(evaluation, eval_source)
    use = ("translating images of domain A into the style of domain B" if translation
           else "making new images like the training set's")
    lines += ["", "## Intended use", "",
              f"Research, teaching and art: {use}, at {run.get('size', '?')} px. Load it with "
              "`ganforge.load(RUN)`, or export it with `ganforge export RUN --format onnx`.",
              "", "## Limits", "",
              f"- The images are {run.get('size', '?')} px and only as varied as "
              f"{data.get('images', 'the')} training images allow; a score above its floor means "
              "the images are told apart from real ones by that measure.",
              "- GANs can drop parts of the data (mode collapse) without any loss showing it; look "
              "at the samples (`samples/`, `progress.gif`)."]
    if translation:
        lines.append("- A translator only knows images like its domain A; others give unreliable output.")
    lines += ["", "## Ethics", "", ETHICS]
    if any(w in str(source).lower() or w in str(data.get("name", "")).lower() for w in FACE_WORDS) \
            or model.get("model") == "facegan":
        lines.append(FACES)
    return "\n".join(lines) + "\n"


def write_model_card(run: str | Path, eval_json: str | Path | None = None) -> Path:
    """Write RUN/MODEL_CARD.md (with a ``ganforge eval --json`` result, if given); returns its path."""
    rd = RunDir.of(run)
    evaluation = None
    if eval_json is not None:
        try:
            evaluation = json.loads(Path(eval_json).read_text())
        except (OSError, ValueError, UnicodeDecodeError) as e:
            raise GanforgeError(f"--eval {eval_json}: cannot read it as JSON ({e})") from None
    return rd.write_card(model_card(rd, evaluation, str(eval_json or "")))


__all__ = ["model_card", "write_model_card"]
