"""Super-resolution speed on the CPU: training images/s of the superres family (the warm-up's L1
step and the GAN step, each with its pairs made on the fly) and ``upscale`` megapixels/s (output
pixels), whole-image and tiled; and how fast each degradation model makes pairs.

Training: the recipe of a preset (default faces-sr4x) on random images, the pairs made by the
preset's degradation model from a (seed, step) generator exactly as training makes them, timed
after warm-up steps, in this process. The pairing cost is reported on its own too. Upscale: the
preset's generator (random weights: speed does not depend on them) on one random image of
``--upscale-px`` input pixels a side, whole and in tiles. The CPU, thread count and load are
recorded beside every figure; compare ratios within one run only.

    python benchmarks/superres_speed.py [--preset faces-sr4x] [--steps 5] [--warmup 1] [--threads 2]

Output: JSON on stdout and in benchmarks/results/superres_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from threads import _cpu  # noqa: E402


def _timed(fn, steps: int, warmup: int) -> float:
    """Seconds per call, after ``warmup`` calls."""
    for i in range(warmup):
        fn(i)
    t0 = time.perf_counter()
    for i in range(steps):
        fn(warmup + i)
    return (time.perf_counter() - t0) / steps


def train_speed(preset: str, steps: int, warmup: int) -> dict:
    from ganforge.config import resolve
    from ganforge.data.degrade import make_pairs
    from ganforge.data.kinds import Batch, DataInfo
    from ganforge.env import setup, teardown
    from ganforge.families import FAMILIES
    from ganforge.families.superres import data_kind

    cfg = resolve(preset, data="unused", device="cpu")
    bs, size, m = cfg.run.batch_size, cfg.run.size, cfg.model
    env = setup("cpu", "fp32", torch.get_num_threads())
    try:
        torch.manual_seed(0)
        hr = torch.rand(bs, 3, size, size) * 2 - 1
        pairs = make_pairs(m.degradation, m.scale)
        make = lambda step: pairs(hr, torch.Generator().manual_seed(step))  # noqa: E731
        pair_s = _timed(make, steps, warmup)
        out = {"preset": preset, "kind": data_kind(m), "batch": bs, "size": size, "scale": m.scale,
               "generator": m.generator, "discriminator": m.discriminator, "pairs_img_per_s": bs / pair_s}
        for other in ("bicubic", "realesrgan"):  # both degradation models at this size, for comparison
            deg = make_pairs(other, m.scale)
            sec = _timed(lambda step, deg=deg: deg(hr, torch.Generator().manual_seed(step)), steps, warmup)
            out[f"pairs_{other}_img_per_s"] = bs / sec
        for phase, start in (("warmup", 0), ("gan", m.warmup_steps)):
            recipe = FAMILIES.get("superres").build(m, DataInfo("random", size, 3, 1000), env, 10**6)

            def step(i: int, recipe=recipe, start=start) -> None:
                lo, hi = make(i)
                recipe.step(Batch(lo.contiguous(memory_format=torch.channels_last), None,
                                  hi.contiguous(memory_format=torch.channels_last)), start + i)

            sec = _timed(step, steps, warmup)
            out[f"{phase}_img_per_s"] = bs / sec
            out[f"{phase}_s_per_step"] = sec
        return out
    finally:
        teardown(env)


def upscale_speed(preset: str, px: int, tile: int, repeats: int) -> dict:
    from ganforge.config import resolve
    from ganforge.families.superres import generator_spec
    from ganforge.infer import Upscaler

    m = resolve(preset, data="unused", device="cpu").model
    torch.manual_seed(0)
    up = Upscaler({"generator": generator_spec(m, 3).build()}, m.scale, 3, "cpu")
    x = torch.rand(1, 3, px, px)
    mp = (px * m.scale) ** 2 / 1e6
    up.upscale(x[..., :32, :32], tile=None)  # warm-up
    whole = _timed(lambda i: up.upscale(x, tile=None), repeats, 0)
    tiled = _timed(lambda i: up.upscale(x, tile=tile), repeats, 0)
    return {"input_px": px, "output_megapixels": mp, "tile": tile,
            "whole_mpix_per_s": mp / whole, "tiled_mpix_per_s": mp / tiled}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="faces-sr4x")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--upscale-px", type=int, default=256, help="input side of the upscale test image")
    ap.add_argument("--tile", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    result = {"cpu": _cpu(), "threads": a.threads, "load_before": os.getloadavg(),
              "date": time.strftime("%Y-%m-%d"),
              "train": train_speed(a.preset, a.steps, a.warmup),
              "upscale": upscale_speed(a.preset, a.upscale_px, a.tile, a.repeats),
              "load_after": os.getloadavg()}
    text = json.dumps(result, indent=2)
    print(text)
    out = Path(__file__).parent / "results" / "superres_speed.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
