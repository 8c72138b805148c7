"""StyleGAN2 training speed in seconds per thousand images (s/kimg), the unit of the paper's
tables, at 64/128/256 px: the family's recipe stepped on random batches (data loading excluded,
as in the published figures), lazy regularization amortised over its intervals.

    python benchmarks/stylegan2_speed.py [--device cpu|cuda] [--sizes 64,128,256] [--width 512]

Per size: steps 1-3 timed (main phases only), step 4 (+ path-length penalty) and step 16 (+ R1
and path length) timed once each; s/step = main + (pl step - main) / 4 + (r1 step - pl step) / 16,
then s/kimg = s/step / batch * 1000. Beside it, the published StyleGAN2-ADA figures on one
V100 (its README: 128 px 12.8-13.7 s/kimg, 256 px 21.6-24.2 s/kimg at batch 32 / 64).
Writes JSON to stdout and benchmarks/results/stylegan2_speed[_DEVICE].json.
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

from ganforge.data.kinds import Batch, DataInfo  # noqa: E402
from ganforge.env import setup  # noqa: E402
from ganforge.families import FAMILIES  # noqa: E402
from ganforge.families.stylegan2 import StyleGAN2Config  # noqa: E402

PUBLISHED_V100 = {128: "12.8-13.7", 256: "21.6-24.2"}


def time_size(size: int, width: int, batch: int, device: str, precision: str) -> dict:
    env = setup(device, precision, None)
    torch.manual_seed(0)
    cfg = StyleGAN2Config(width=width, z_dim=512, r1_every=16, pl_every=4).validate()
    recipe = FAMILIES.get("stylegan2").build(cfg, DataInfo("random", size, 3, 1000), env, 100)
    real = (torch.rand(batch, 3, size, size, device=env.device) * 2 - 1).contiguous(
        memory_format=torch.channels_last)
    params = sum(p.numel() for p in recipe.G.parameters()), sum(p.numel() for p in recipe.D.parameters())

    def run(step: int) -> float:
        if env.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = recipe.step(Batch(real), step)
        float(out["d_loss"])  # wait for the device
        return time.perf_counter() - t0

    run(1)  # warm-up (allocations, kernel choice)
    main = sorted(run(s) for s in (1, 2, 3))[1]
    pl = run(4)
    r1 = run(16)
    per_step = main + max(pl - main, 0) / 4 + max(r1 - pl, 0) / 16
    return {"size": size, "width": width, "batch": batch, "params_g": params[0], "params_d": params[1],
            "s_main_step": main, "s_pl_step": pl, "s_r1_pl_step": r1, "s_per_step": per_step,
            "s_per_kimg": per_step / batch * 1000, "published_v100_s_per_kimg": PUBLISHED_V100.get(size)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sizes", default="64,128,256")
    ap.add_argument("--width", type=int, default=512, help="512: the paper's networks")
    ap.add_argument("--batch", type=int, default=0, help="0: 32 on a GPU, 4 on a CPU")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    batch = a.batch or (32 if a.device.startswith("cuda") else 4)
    dev = a.device
    if a.device.startswith("cuda") and torch.cuda.is_available():
        dev = torch.cuda.get_device_name()
    res = {"benchmark": "stylegan2_speed", "device": dev, "cpu": _cpu(), "cores": os.cpu_count(),
           "torch": torch.__version__, "precision": a.precision, "threads": torch.get_num_threads(),
           "date": time.strftime("%Y-%m-%d"), "sizes": []}
    for size in (int(s) for s in a.sizes.split(",")):
        r = time_size(size, a.width, batch, a.device, a.precision)
        print(json.dumps(r), file=sys.stderr)
        res["sizes"].append(r)
    suffix = "" if a.device == "cpu" else f"_{a.device.split(':')[0]}"
    out = a.out or Path(__file__).parent / "results" / f"stylegan2_speed{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
