"""ONNX export speed: images/s of onnxruntime running an exported file vs PyTorch running the
same generator (``Sampler.from_latents``: the same post-processing), on the CPU, at batch 1
and 16; plus how long the export itself took and the largest pixel difference.

Networks at realistic sizes, randomly initialised (speed does not depend on the weights):
DCGAN 64 px (width 64, z 100), StyleGAN2 width 64 at 64 px (z 512 -> 256, 8 mapping layers),
and the CycleGAN ResNet generator at 128 px (width 32, 6 blocks). Both runtimes use the same
thread count. Each figure is the median of ``--repeats`` timed calls after one warm-up call.

    python benchmarks/export_speed.py [--repeats 5] [--threads N]

Output: JSON on stdout and in benchmarks/results/export_speed_threadsN.json, with the CPU and
the machine's load (``/proc/loadavg``) before and after. On a loaded machine PyTorch's OpenMP
threads spin-wait for each other (README "Threads"): compare at --threads 1 there.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from threads import _cpu  # noqa: E402  (the CPU model and its vector extensions)


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def models() -> dict:
    from ganforge.infer import Sampler, Translator
    from ganforge.models import DCGANGenerator, ResNetTranslator, StyleGAN2Generator

    torch.manual_seed(0)
    return {
        "dcgan-64px": Sampler(DCGANGenerator(100, 64, 3, 64).eval(), 100, "cpu"),
        "stylegan2-w64-64px": Sampler(StyleGAN2Generator(256, 64, 3, width=64).eval(), 256, "cpu"),
        "cyclegan-resnet-w32-128px": Translator({"a2b": ResNetTranslator(3, 3, 32, 6).eval()}, 128, 3, "cpu"),
    }


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=None, help="default: torch's")
    a = p.parse_args()
    from ganforge.infer import Sampler
    from ganforge.infer.export import export_onnx, session

    if a.threads:
        torch.set_num_threads(a.threads)
    threads = torch.get_num_threads()
    out = {"cpu": _cpu(), "threads": threads, "load_before": load_average(),
           "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"), "results": []}
    import onnxruntime

    out["onnxruntime"] = onnxruntime.__version__
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in models().items():
            t = time.perf_counter()
            e = export_onnx(model, Path(tmp) / f"{name}.onnx")
            export_s = time.perf_counter() - t
            sess = session(e.path, threads)
            row = {"model": name, "export_s": round(export_s, 2),
                   "max_abs_diff": max(e.max_abs_diff.values()),
                   "file_mb": round(e.path.stat().st_size / 1e6, 2)}
            for batch in (1, 16):
                g = torch.Generator().manual_seed(batch)
                if isinstance(model, Sampler):
                    x = torch.randn(batch, model.z_dim, generator=g)
                    feed = {"z": x.numpy()}
                    if model.truncatable:
                        feed["psi"] = np.ones(1, np.float32)
                    torch_fn = lambda x=x, m=model: m.from_latents(x)  # noqa: E731
                else:
                    x = torch.rand(batch, 3, model.size, model.size, generator=g)
                    feed = {"image": x.numpy()}
                    torch_fn = lambda x=x, m=model: m.run(x).clamp(0, 1)  # noqa: E731
                t_torch = median_time(torch_fn, a.repeats)
                t_ort = median_time(lambda feed=feed, s=sess: s.run(None, feed), a.repeats)
                row[f"batch{batch}"] = {"torch_img_s": round(batch / t_torch, 2),
                                        "onnxruntime_img_s": round(batch / t_ort, 2),
                                        "speedup": round(t_torch / t_ort, 2)}
            print(json.dumps(row), flush=True)
            out["results"].append(row)
    out["load_after"] = load_average()
    dest = Path(__file__).parent / "results" / f"export_speed_threads{threads}.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
