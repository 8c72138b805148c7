"""Data at any scale: a folder too big to decode into RAM, trained from a prepared set.

Builds a folder of generated 256 px PNGs (smooth shapes, so the files are small but decode to
N x 196,608 bytes), then, each in a fresh process so start-up and peak memory are its own:
  in_memory_256   --no-cache: every image decoded into RAM, a few training steps (the "before")
  first_256       the first start: the folder is prepared (decoded once), a few steps
  second_256      the second start: the prepared set opens memory-mapped, a few steps
  open_256        the second start's data opening alone (load_data on the prepared set)
  speed_64        images/s at 64 px from the prepared set vs the in-memory path, alternating
                  prepared / in-memory runs `--repeats` times, medians compared

    python benchmarks/data_scale.py [--images 20000] [--steps 3] [--repeats 3]

Writes JSON to stdout and benchmarks/results/data_scale.json. Run it on an otherwise idle
machine; it needs ~6 GB of free disk (the PNGs, the 3.9 GB prepared set) and deletes them after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from threads import _cpu  # noqa: E402

TRAIN = """
import json, resource, sys, time
t0 = time.time()
import ganforge
from ganforge.config import resolve
from ganforge.training import train_run
folder, out, size, steps, cache, batch, width = sys.argv[1:8]
cfg = resolve("dcgan", data=folder, size=int(size), max_steps=int(steps), cache=cache == "1",
              batch_size=int(batch), width=int(width), z_dim=32, grid_n=4, log_every=1,
              device="cpu", guard=False)
train_run(cfg, out, quiet=True)
recs = [json.loads(x) for x in open(out + "/metrics.jsonl") if '"img_per_s"' in x]
warm = recs[5:] or recs
dt = warm[-1]["time"] - (recs[4]["time"] if len(recs) > 5 else 0.0)
print(json.dumps({"wall_s": time.time() - t0, "peak_rss_mb": resource.getrusage(
    resource.RUSAGE_SELF).ru_maxrss / 1024, "steps": recs[-1]["step"],
    "img_per_s": (warm[-1]["step"] - (recs[4]["step"] if len(recs) > 5 else 0)) * int(batch) / dt}))
"""

OPEN = """
import json, resource, sys, time
import ganforge.data as data
t0 = time.time()
ds = data.load_data(sys.argv[1], int(sys.argv[2]), cache=True)
x = ds.images[:64].float()  # touch a batch
print(json.dumps({"open_s": time.time() - t0, "images": len(ds),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_folder(root: Path, n: int, size: int) -> float:
    """``n`` smooth random PNGs (a gradient background and two discs) in 100 sub-folders."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size].astype(np.float32) / size
    t0 = time.time()
    for i in range(n):
        c = rng.uniform(0, 255, (3, 3)).astype(np.float32)
        img = c[0][:, None, None] * (1 - yy) + c[1][:, None, None] * xx
        for _ in range(2):
            cy, cx, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.25)
            disc = ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r)[None]
            img = np.where(disc, rng.uniform(0, 255, (3, 1, 1)), img)
        sub = root / f"{i % 100:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img.clip(0, 255).astype(np.uint8).transpose(1, 2, 0)).save(
            sub / f"{i:06d}.png", compress_level=1)
    return time.time() - t0


def child(code: str, *args: object, env: dict) -> dict:
    p = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                       env=env)
    if p.returncode:
        raise SystemExit(f"child failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=20000)
    ap.add_argument("--steps", type=int, default=3, help="training steps at 256 px")
    ap.add_argument("--speed-steps", type=int, default=60, help="training steps per 64 px speed run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp folder)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "data_scale.json")
    a = ap.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="ganforge-data-scale-"))
    folder, cache = work / "images", work / "cache"
    env = {**os.environ, "GANFORGE_DATA": str(cache), "OMP_NUM_THREADS": str(a.threads)}
    res: dict = {"benchmark": "data_scale", "cpu": _cpu(), "cores": os.cpu_count(),
                 "date": time.strftime("%Y-%m-%d"), "images": a.images, "threads": a.threads}
    try:
        if not folder.is_dir():
            res["make_folder_s"] = make_folder(folder, a.images, 256)
        res["folder_bytes"] = sum(p.stat().st_size for p in folder.rglob("*.png"))
        res["decoded_bytes_256"] = a.images * 3 * 256 * 256
        print("folder ready", json.dumps(res), file=sys.stderr)
        cases = {}
        run = lambda name, *args: cases.__setitem__(name, child(TRAIN, folder, work / name, *args, env=env))  # noqa: E731
        run("in_memory_256", 256, a.steps, 0, 8, 4)
        print("in_memory_256", cases["in_memory_256"], file=sys.stderr)
        run("first_256", 256, a.steps, 1, 8, 4)
        print("first_256", cases["first_256"], file=sys.stderr)
        run("second_256", 256, a.steps, 1, 8, 4)
        print("second_256", cases["second_256"], file=sys.stderr)
        cases["open_256"] = child(OPEN, folder, 256, env=env)
        print("open_256", cases["open_256"], file=sys.stderr)
        res["prepared_bytes_256"] = sum(p.stat().st_size for p in (cache / "prepared").rglob("*")
                                        if p.is_file())
        speed: dict[str, list[float]] = {"prepared": [], "in_memory": []}
        child(TRAIN, folder, work / "warm64", 64, 1, 1, 64, 16, env=env)  # prepare the 64 px set
        for i in range(a.repeats):
            for name, c in (("prepared", 1), ("in_memory", 0)):
                r = child(TRAIN, folder, work / f"{name}64-{i}", 64, a.speed_steps, c, 64, 16, env=env)
                speed[name].append(r["img_per_s"])
                print(f"speed_64 {name} {i}: {r['img_per_s']:.0f} img/s", file=sys.stderr)
        cases["speed_64"] = {k: {"img_per_s": v, "median": statistics.median(v)} for k, v in speed.items()}
        res["cases"] = cases
        res["summary"] = {
            "peak_rss_mb_in_memory": cases["in_memory_256"]["peak_rss_mb"],
            "peak_rss_mb_first_start": cases["first_256"]["peak_rss_mb"],
            "peak_rss_mb_second_start": cases["second_256"]["peak_rss_mb"],
            "second_start_open_s": cases["open_256"]["open_s"],
            "prepared_vs_in_memory_img_per_s_64px":
                cases["speed_64"]["prepared"]["median"] / cases["speed_64"]["in_memory"]["median"],
        }
    finally:
        if a.work is None:
            shutil.rmtree(work, ignore_errors=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
