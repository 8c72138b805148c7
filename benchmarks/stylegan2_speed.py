"""StyleGAN2 training speed in seconds per thousand images (s/kimg), the unit of the paper's
tables, at 64/128/256 px: the family's recipe stepped on random batches (data loading excluded,
as in the published figures), lazy regularization amortised over its intervals.

    python benchmarks/stylegan2_speed.py [--device cpu|cuda] [--sizes 64,128,256] [--width 512]

Per size: steps 1-3 timed (main phases only), step 4 (+ path-length penalty) and step 16 (+ R1
and path length) timed once each; s/step = main + (pl step - main) / 4 + (r1 step - pl step) / 16,
then s/kimg = s/step / batch * 1000. Beside it, the published StyleGAN2-ADA figures on one
V100 (its README: 128 px 12.8-13.7 s/kimg, 256 px 21.6-24.2 s/kimg at batch 32 / 64).
Writes JSON to stdout and benchmarks/results/stylegan2_speed[_DEVICE].json.

    python benchmarks/stylegan2_speed.py --options [--repeats 2]

Speed options side by side in one run (the ``options`` key of the same JSON): fp32 (the recipe
as the presets run it), bf16 autocast (``--precision bf16``), channels-last networks, fused Adam,
and ``torch.compile`` of G and D (where a phase does not compile -- the penalties' double
backward -- that phase runs eager, said once). Width 64 at 64 px, batch 16 (the CPU presets'
networks), z 256; per config one warm-up step excluded, then the same timed steps as above;
the configs alternate, ``--repeats`` times, so a change of the machine's load shows as a
spread between repeats rather than as a difference between configs. The load average is
recorded before and after every measurement.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from threads import _cpu  # noqa: E402

from ganforge.data.kinds import Batch, DataInfo  # noqa: E402
from ganforge.env import setup  # noqa: E402
from ganforge.families import FAMILIES  # noqa: E402
from ganforge.families.stylegan2 import StyleGAN2Config, _Scores  # noqa: E402

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


# name -> (precision, channels_last, fused Adam, torch.compile)
OPTIONS = {
    "fp32": ("fp32", False, False, False),
    "bf16": ("bf16", False, False, False),
    "channels_last": ("fp32", True, False, False),
    "bf16+channels_last": ("bf16", True, False, False),
    "fused_adam": ("fp32", False, True, False),
    "compile": ("fp32", False, False, True),
}


def _fused(opt: torch.optim.Adam) -> torch.optim.Adam:
    """The same Adam (lr, betas, eps as the lazy intervals set them) with fused=True."""
    g = opt.param_groups[0]
    return torch.optim.Adam(g["params"], lr=g["lr"], betas=g["betas"], eps=g["eps"], fused=True)


def time_option(name: str, size: int, width: int, batch: int, notes: list[str]) -> dict:
    precision, channels_last, fused, compiled = OPTIONS[name]
    env = setup("cpu", precision, None)
    torch.manual_seed(0)
    cfg = StyleGAN2Config(width=width, z_dim=256, r1_every=16, pl_every=4).validate()
    recipe = FAMILIES.get("stylegan2").build(cfg, DataInfo("random", size, 3, 1000), env, 100)
    if channels_last:
        for net in (recipe.G, recipe.D, recipe.G_ema):
            net.to(memory_format=torch.channels_last)
    if fused:
        recipe.opt_g, recipe.opt_d = _fused(recipe.opt_g), _fused(recipe.opt_d)
    eager = recipe.G_train, recipe.D_train
    if compiled:
        recipe.G_train, recipe.D_train = torch.compile(recipe.G), torch.compile(_Scores(recipe.D))
    real = (torch.rand(batch, 3, size, size) * 2 - 1).contiguous(memory_format=torch.channels_last)
    losses: list[float] = []

    def run(step: int) -> float:
        t0 = time.perf_counter()
        try:
            out = recipe.step(Batch(real), step)
        except Exception as e:  # noqa: BLE001 -- a phase torch.compile cannot take
            if not compiled:
                raise
            note = f"torch.compile: a step with {'R1 and ' if step % 16 == 0 else ''}" \
                   f"{'the path-length penalty' if step % 4 == 0 else 'the main phases only'} " \
                   f"failed ({str(e).strip().splitlines()[0][:160]}); such steps ran eager"
            if note not in notes:
                notes.append(note)
                print(f"warning: {note}", file=sys.stderr)
            compiled_nets = recipe.G_train, recipe.D_train
            recipe.G_train, recipe.D_train = eager
            t0 = time.perf_counter()
            out = recipe.step(Batch(real), step)
            recipe.G_train, recipe.D_train = compiled_nets
        losses.extend(float(v) for k, v in out.items() if k.endswith(("loss", "r1", "penalty")))
        return time.perf_counter() - t0

    load_before = os.getloadavg()[0]
    warm = run(1)  # warm-up (allocations, kernel choice; compilation)
    main = sorted(run(s) for s in (1, 2, 3))[1]
    pl = run(4)
    r1 = run(16)
    per_step = main + max(pl - main, 0) / 4 + max(r1 - pl, 0) / 16
    return {"option": name, "s_warmup_step": warm, "s_main_step": main, "s_pl_step": pl,
            "s_r1_pl_step": r1, "s_per_step": per_step, "s_per_kimg": per_step / batch * 1000,
            "finite": all(math.isfinite(v) for v in losses),
            "load_before": load_before, "load_after": os.getloadavg()[0]}


def run_options(repeats: int, out: Path) -> dict:
    size, width, batch = 64, 64, 16
    notes: list[str] = []
    rounds = []
    uptime_before = _uptime()
    for r in range(repeats):  # alternating: every config once per round
        for name in OPTIONS:
            res = time_option(name, size, width, batch, notes)
            res["round"] = r + 1
            print(json.dumps(res), file=sys.stderr)
            rounds.append(res)
    summary = {}
    for name in OPTIONS:
        mine = [x for x in rounds if x["option"] == name]
        ratios = [b["s_per_step"] / x["s_per_step"] for x in mine for b in rounds
                  if b["option"] == "fp32" and b["round"] == x["round"]]
        summary[name] = {"s_per_step": [round(x["s_per_step"], 3) for x in mine],
                         "speedup_vs_fp32_same_round": [round(q, 3) for q in ratios],
                         "finite": all(x["finite"] for x in mine)}
    res = {"size": size, "width": width, "z_dim": 256, "batch": batch, "repeats": repeats,
           "cpu": _cpu(), "cores": os.cpu_count(), "threads": torch.get_num_threads(),
           "torch": torch.__version__, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "uptime_before": uptime_before, "notes": notes, "summary": summary, "rounds": rounds}
    res["uptime_after"] = _uptime()
    whole = json.loads(out.read_text()) if out.is_file() else {"benchmark": "stylegan2_speed"}
    whole["options"] = res
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(whole, indent=2) + "\n")
    return res


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return f"load average {os.getloadavg()}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--options", action="store_true", help="compare the speed options side by side "
                    "(64 px, width 64, batch 16, CPU)")
    ap.add_argument("--repeats", type=int, default=2, help="--options: rounds over the configs")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sizes", default="64,128,256")
    ap.add_argument("--width", type=int, default=512, help="512: the paper's networks")
    ap.add_argument("--batch", type=int, default=0, help="0: 32 on a GPU, 4 on a CPU")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    if a.options:
        res = run_options(a.repeats, a.out or Path(__file__).parent / "results" / "stylegan2_speed.json")
        print(json.dumps({k: v for k, v in res.items() if k != "rounds"}, indent=2))
        return
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
    if out.is_file() and "options" in json.loads(out.read_text()):  # keep the options' results
        res["options"] = json.loads(out.read_text())["options"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
