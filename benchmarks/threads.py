"""CPU threads and a second busy process: how much each costs a training run.

Each case trains `mnist-fast` (batch 64) for a fixed number of steps in fresh subprocesses and
reports the wall seconds from the first to the last logged step (start-up excluded):
  alone-T       one process with T threads
  pair-T        two identical processes side by side, T threads each (the suite-beside-a-run case)

    python benchmarks/threads.py [--steps 60]

Writes JSON to stdout and benchmarks/results/threads.json. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, sys
from pathlib import Path
import ganforge
out = Path(sys.argv[1])
ganforge.train("mnist-fast", out=out, max_steps=int(sys.argv[2]), threads=int(sys.argv[3]),
               log_every=1, device="cpu", quiet=True)
recs = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
a, b = recs[4], recs[-1]  # from step 5 on: warm
dt = b["time"] - a["time"]
print(json.dumps({"seconds": dt, "img_per_s": (b["step"] - a["step"]) * 64 / dt}))
"""


def run(procs: int, threads: int, steps: int) -> dict:
    tmp = Path(tempfile.mkdtemp())
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    t0 = time.time()
    ps = [subprocess.Popen([sys.executable, "-c", CHILD, str(tmp / f"r{i}"), str(steps), str(threads)],
                           stdout=subprocess.PIPE, text=True, env=env) for i in range(procs)]
    res = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in ps]
    return {"processes": procs, "threads_each": threads, "wall_s": time.time() - t0,
            "train_s_each": [r["seconds"] for r in res], "img_per_s_each": [r["img_per_s"] for r in res]}


def _cpu() -> str:
    """The CPU model and the vector extensions that decide CPU speed (README: compare ratios)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    lines = info.splitlines()
    model = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "?")
    flags = next((ln.split(":", 1)[1].split() for ln in lines if ln.startswith("flags")), [])
    ext = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in flags]
    return f"{model} ({', '.join(ext) or 'no AVX2'})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "threads.json")
    a = ap.parse_args()
    cases = {}
    for name, procs, threads in (("alone-1", 1, 1), ("alone-2", 1, 2), ("pair-1", 2, 1), ("pair-2", 2, 2)):
        cases[name] = run(procs, threads, a.steps)
        print(name, json.dumps(cases[name]), file=sys.stderr)
    base = cases["alone-2"]["train_s_each"][0]
    result = {
        "benchmark": "threads", "preset": "mnist-fast", "steps_timed": a.steps - 5,
        "cpu": _cpu(), "cores": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"), "cases": cases,
        "slowdown_vs_alone_2_threads": {k: max(v["train_s_each"]) / base for k, v in cases.items()},
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
