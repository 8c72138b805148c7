"""Image-to-image translation speed: training images/s of CycleGAN and pix2pix at 128 and 256 px
(the papers' networks, width 64, batch 1 as the tutorials), and ``translate`` images/s.

Each training figure is one recipe's full step (all phases: for CycleGAN both generators and
both discriminators, cycle and identity losses, the image pool, jitter) on random images, timed
after warm-up steps, in this process, one after another. Translate: the Translator on a batch
of images already in memory (resize in and back out included). The CPU and thread count are
recorded beside every figure; compare ratios within one run only.

    python benchmarks/translation_speed.py [--steps 3] [--warmup 1] [--sizes 128,256] [--device cpu]

Output: JSON on stdout and in benchmarks/results/translation_speed.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return sorted(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in have)
    except OSError:
        pass
    return []


def train_speed(family: str, size: int, steps: int, warmup: int, device: str, batch: int) -> dict:
    from ganforge.env import setup, teardown
    from ganforge.families import FAMILIES, Batch, DataInfo

    env = setup(device, "fp32", None)
    try:
        fam = FAMILIES.get(family)
        torch.manual_seed(0)
        recipe = fam.build(fam.config(), DataInfo("random", size, 3, 1000, (), ("A", "B")), env,
                           steps + warmup)
        x = torch.rand(batch, 3, size, size, device=env.device) * 2 - 1
        y = torch.rand(batch, 3, size, size, device=env.device) * 2 - 1
        b = Batch(x.contiguous(memory_format=torch.channels_last), None,
                  y.contiguous(memory_format=torch.channels_last))
        for i in range(warmup):
            recipe.step(b, i)
        if env.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for i in range(steps):
            out = recipe.step(b, warmup + i)
        float(next(iter(out.values())))  # wait for the device
        dt = time.perf_counter() - t0
        return {"family": family, "size": size, "batch": batch, "steps": steps,
                "img_per_s": steps * batch / dt, "s_per_step": dt / steps, "threads": env.threads,
                "device": str(env.device)}
    finally:
        teardown(env)


def translate_speed(size: int, n: int, device: str) -> dict:
    from ganforge.infer import Translator
    from ganforge.models.translation import ResNetTranslator

    torch.manual_seed(0)
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       "cpu" if device == "auto" else device)
    t = Translator({"a2b": ResNetTranslator(blocks=9 if size >= 256 else 6)}, size, 3, dev)
    imgs = torch.rand(n, 3, size, size)
    t.translate(imgs[:1])  # warm-up
    t0 = time.perf_counter()
    t.translate(imgs, batch_size=8)
    dt = time.perf_counter() - t0
    return {"what": "translate (CycleGAN generator)", "size": size, "images": n, "img_per_s": n / dt,
            "device": str(dev)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--sizes", default="128,256")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--translate-n", type=int, default=16)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "translation_speed.json")
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    rows = []
    for size in sizes:
        for family in ("cyclegan", "pix2pix"):
            rows.append(train_speed(family, size, a.steps, a.warmup, a.device, a.batch))
            print(json.dumps(rows[-1]), flush=True)
    for size in sizes:
        rows.append(translate_speed(size, a.translate_n, a.device))
        print(json.dumps(rows[-1]), flush=True)
    result = {"benchmark": "translation_speed", "date": time.strftime("%Y-%m-%d"), "cpu": cpu_name(),
              "cpu_flags": cpu_flags(), "torch": torch.__version__,
              "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
              "results": rows}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
