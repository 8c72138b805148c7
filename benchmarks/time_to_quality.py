"""Time to quality on mnist-mini: how many CPU seconds each GAN recipe needs to reach a digits-FID,
and what it scores after a fixed budget of training images.

For each recipe (default: mnist-dcgan, the TensorFlow tutorial's networks; mnist-fast;
mnist-hinge-sn; mnist-cgan) it trains once with ``--eval-every 1`` (digits-FID on 2,000 real vs
2,000 generated images after every epoch), then scores the final generator with ``ganforge eval``
(digits features, n 2,500, class coverage; class accuracy for conditional runs). Seconds are
training seconds (the run's own clock, evaluation excluded), so they compare between recipes run
in one invocation on one machine -- never across machines.

    python benchmarks/time_to_quality.py [--images 250000] [--threshold 30] [--recipes a,b]

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

RECIPES = ("mnist-dcgan", "mnist-fast", "mnist-hinge-sn", "mnist-cgan")


def one(preset: str, images: int, threshold: float, out: Path) -> dict:
    from ganforge.config import PRESETS

    batch = PRESETS.get(preset).settings["batch_size"]
    steps = max(1, images // batch)
    run = ganforge.train(preset, out=out, max_steps=steps, epochs=10_000, eval_every=1,
                         device="cpu", quiet=True)
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
    ap.add_argument("--images", type=int, default=250_000, help="training images per recipe")
    ap.add_argument("--threshold", type=float, default=30.0, help="quick digits-FID to reach")
    ap.add_argument("--recipes", default=",".join(RECIPES))
    a = ap.parse_args()
    t0 = time.time()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in a.recipes.split(","):
            rows.append(one(preset, a.images, a.threshold, Path(tmp) / preset))
    result = {"benchmark": "time_to_quality", "cpu": _cpu(), "date": time.strftime("%Y-%m-%d"),
              "images_per_recipe": a.images, "threshold_quick_fid": a.threshold,
              "quick_fid": "digits-FID, 2,000 real vs 2,000 generated, after every epoch",
              "final": "ganforge eval: digits features, n 2,500, floor over 3 splits",
              "wall_seconds": round(time.time() - t0), "recipes": rows}
    text = json.dumps(result, indent=2)
    print(text)
    out = Path(__file__).parent / "results" / "time_to_quality.json"
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
