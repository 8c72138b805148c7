"""Speed of evaluation on CPU: feature-extraction images/s and a 10k-sample digits-FID.

    python benchmarks/eval_speed.py [--run RUN_DIR] [--n 10000]

Times (each part separately, then the total): generating N images with a DCGAN generator (the
run's, or an untrained `mnist-fast` one: speed does not depend on the weights), extracting digits
features for the N generated and the 5,000 real digits of mnist-mini, and the FID itself.
JSON on stdout and in benchmarks/results/eval_speed.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "eval_speed.json")
    a = ap.parse_args()

    from ganforge.data import load_data
    from ganforge.infer import Sampler
    from ganforge.metrics import stats
    from ganforge.metrics.features import get_extractor
    from ganforge.models import build_family

    t0 = time.perf_counter()
    if a.run:
        sampler = Sampler.from_run(a.run, "cpu")
    else:
        torch.manual_seed(0)
        g_spec, _ = build_family("dcgan", 28, 1, z_dim=64, width=64)
        sampler = Sampler(g_spec.build(), 64, "cpu")
    ext = get_extractor("digits")
    real = load_data("mnist-mini", 28).images.float() / 255
    t_setup = time.perf_counter() - t0

    t0 = time.perf_counter()
    fake = sampler.generate(a.n, seed=0)
    t_gen = time.perf_counter() - t0

    t0 = time.perf_counter()
    ff, _ = ext(fake)
    t_fake = time.perf_counter() - t0

    t0 = time.perf_counter()
    fr, _ = ext(real)
    t_real = time.perf_counter() - t0

    t0 = time.perf_counter()
    fid = stats.fid_from_features(ff, fr)
    t_fid = time.perf_counter() - t0

    res = {
        "benchmark": "eval_speed", "date": time.strftime("%Y-%m-%d %H:%M"), "device": "cpu",
        "machine": platform.processor() or platform.machine(), "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__, "n_fake": a.n, "n_real": len(real),
        "generator": str(a.run) if a.run else "untrained mnist-fast DCGAN (width 64)",
        "seconds": {"setup": round(t_setup, 2), "generate": round(t_gen, 2),
                    "features_fake": round(t_fake, 2), "features_real": round(t_real, 2),
                    "fid": round(t_fid, 3)},
        "extract_img_per_s": round((a.n + len(real)) / (t_fake + t_real), 1),
        "generate_img_per_s": round(a.n / t_gen, 1),
        "total_seconds_10k_digits_fid": round(t_gen + t_fake + t_real + t_fid, 2),
        "total_seconds_cached_real": round(t_gen + t_fake + t_fid, 2),
        "digits_fid": fid,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
