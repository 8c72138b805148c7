"""Time to quality on mnist-mini: how many CPU seconds each GAN recipe needs to reach a digits-FID,
and what it scores after a fixed budget of training images.

First the tutorial's recipe (mnist-dcgan: the TensorFlow tutorial's networks) trains for its
preset's full 150 epochs; its final quick digits-FID is the threshold. On a slow CPU (150 epochs
of the tutorial's networks took ~2 h on a 2-core AVX2 EPYC) pass ``--tutorial-epochs N`` with
``--threshold F`` from a full run: the tutorial's 150-epoch time is then its measured seconds per
step here times its 150 epochs' steps, marked ``"extrapolated": true``. Then each other recipe
(mnist-fast, mnist-hinge-sn, mnist-cgan) trains for a fixed budget of images. Every run logs
digits-FID on 2,000 real vs 2,000 generated images after every epoch (``--eval-every 1``) and is
scored at the end by ``ganforge eval`` (digits features, n 2,500, class coverage; class accuracy
for conditional runs). "Seconds to threshold" is the run's own clock (training and its per-epoch
FIDs) at the first epoch whose quick FID is at or below the threshold; such seconds compare
between recipes run in one invocation on one machine -- never across machines.

    python benchmarks/time_to_quality.py [--images 250000] [--tutorial-epochs 150] [--threshold F]
                                         [--threads N]

Writes JSON to stdout and benchmarks/results/time_to_quality.json. Run it on an otherwise idle
machine, one recipe at a time (it does).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from threads import _cpu  # noqa: E402

import ganforge  # noqa: E402
from ganforge.config import PRESETS  # noqa: E402
from ganforge.env import usable_cores  # noqa: E402

RECIPES = ("mnist-dcgan", "mnist-fast", "mnist-hinge-sn", "mnist-cgan")


def one(preset: str, threshold: float, out: Path, images: int | None = None,
        epochs: int | None = None, threads: int | None = None) -> dict:
    """Train ``preset`` for ``images`` training images (or ``epochs``), then score it."""
    batch = PRESETS.get(preset).settings["batch_size"]
    budget = dict(epochs=epochs) if epochs else dict(epochs=10_000, max_steps=max(1, images // batch))
    run = ganforge.train(preset, out=out, eval_every=1, device="cpu", quiet=True,
                        threads=threads, **budget)
    steps = run.metrics[-1]["step"]
    evals = [r for r in run.metrics if "eval" in r]
    reached = next((r for r in evals if r["value"] <= threshold), None)
    res = ganforge.evaluate(run.path, n=2500, floor_splits=3, metrics=["fid", "kid", "is"])
    m = res["metrics"]
    train_s = [r for r in run.metrics if "time" in r and "d_loss" in r][-1]["time"]
    out_rec = {
        "preset": preset, "images": steps * batch, "steps": steps, "train_seconds": round(train_s, 1),
        "seconds_to_threshold": round(reached["time"], 1) if reached else None,
        "images_to_threshold": reached["step"] * batch if reached else None,
        "quick_fid_by_epoch": [round(r["value"], 2) for r in evals],
        "best_quick_fid": round(min(r["value"] for r in evals), 2) if evals else math.nan,
        "digits_fid": round(m["fid"]["value"], 2), "fid_floor": round(m["fid"]["real_vs_real"], 2),
        "kid": round(m["kid"]["value"], 4), "classes_covered": m["coverage"]["classes_covered"],
        "class_accuracy": round(m["class_accuracy"]["value"], 3) if "class_accuracy" in m else None,
    }
    print(json.dumps(out_rec), file=sys.stderr)
    return out_rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=250_000, help="training images per fast recipe")
    ap.add_argument("--tutorial-epochs", type=int, default=150, help="mnist-dcgan's epochs (preset: 150)")
    ap.add_argument("--threshold", type=float, help="quick digits-FID to reach (default: the "
                    "tutorial recipe's final one, measured first)")
    ap.add_argument("--recipes", default=",".join(RECIPES[1:]))
    ap.add_argument("--threads", type=int, default=usable_cores(),
                    help="intra-op threads of every run (default: all cores; the automatic count "
                    "drops to 1 when the machine looks busy at the start)")
    a = ap.parse_args()
    full = PRESETS.get("mnist-dcgan").settings["epochs"]
    if a.tutorial_epochs < full and a.threshold is None:
        ap.error(f"--tutorial-epochs below {full} needs --threshold (the full run's quick digits-FID)")
    t0 = time.time()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tut = one("mnist-dcgan", math.inf, Path(tmp) / "mnist-dcgan", epochs=a.tutorial_epochs,
                  threads=a.threads)
        threshold = a.threshold or tut["quick_fid_by_epoch"][-1]
        scale = full / a.tutorial_epochs  # every epoch has the same steps: time scales with them
        if scale > 1:
            tut["train_seconds"] = round(tut["train_seconds"] * scale, 1)
            tut["extrapolated"] = True
        tut["images_to_threshold"] = round(tut["images"] * scale)
        tut["seconds_to_threshold"] = tut["train_seconds"]
        rows.append(tut)
        for preset in a.recipes.split(","):
            rows.append(one(preset, threshold, Path(tmp) / preset, images=a.images, threads=a.threads))
    for r in rows:
        s = r["seconds_to_threshold"]
        r["time_vs_tutorial"] = round(s / tut["train_seconds"], 3) if s is not None else None
    result = {"benchmark": "time_to_quality", "cpu": _cpu(), "date": time.strftime("%Y-%m-%d"),
              "images_per_recipe": a.images, "tutorial_epochs": a.tutorial_epochs, "threads": a.threads,
              "threshold_quick_fid": threshold,
              "quick_fid": "digits-FID, 2,000 real vs 2,000 generated, after every epoch",
              "final": "ganforge eval: digits features, n 2,500, floor over 3 splits",
              "wall_seconds": round(time.time() - t0), "recipes": rows}
    text = json.dumps(result, indent=2)
    print(text)
    out = Path(__file__).parent / "results" / "time_to_quality.json"
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
