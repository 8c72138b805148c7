"""Training throughput of the `mnist-dcgan` preset (TF tutorial networks, batch 256), side by side.

Variants, each in its own subprocess (so peak memory is its own), alternated over several
rounds in one run (the median round is reported):
  ganforge        ganforge's training loop (train_run), float32 -- logging, per-epoch grids,
                  GIF, loss plot and checkpoints included, as a user gets them
  ganforge-bf16   the same with --precision bf16 (autocast)
  minimal         a minimal hand-written PyTorch loop: same networks (ganforge's modules, so the
                  ratio isolates the loop), batch, loss and optimizer
  tf-tutorial     the TensorFlow DCGAN tutorial's own train_step (needs `pip install .[bench]`)

Every variant trains on the same 5,000 real digits (mnist-mini). Throughput is measured after
warm-up steps. Output: JSON on stdout and in benchmarks/results/train_throughput.json.

    python benchmarks/train_throughput.py [--steps 60] [--warmup 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BATCH = 256


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _digits():
    import numpy as np

    from ganforge.data.builtin import mnist_mini

    x, _ = mnist_mini()
    return (x.astype(np.float32) / 127.5 - 1.0)  # (5000, 1, 28, 28) in [-1, 1]


def run_ganforge(steps: int, warmup: int, precision: str) -> dict:
    from ganforge.config import resolve
    from ganforge.training import train_run

    out = Path(tempfile.mkdtemp()) / "run"
    cfg = resolve("mnist-dcgan", max_steps=steps + warmup, precision=precision, log_every=1)
    train_run(cfg, out, quiet=True)
    recs = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    a, b = recs[warmup - 1], recs[-1]
    return {"img_per_s": (b["step"] - a["step"]) * BATCH / (b["time"] - a["time"]),
            "peak_rss_mb": _peak_mb()}


def run_minimal(steps: int, warmup: int) -> dict:
    """The loop a PyTorch user writes by hand (as the official DCGAN example does)."""
    import torch
    import torch.nn.functional as F

    from ganforge.models import TFDCGANDiscriminator, TFDCGANGenerator

    torch.manual_seed(0)
    data = torch.from_numpy(_digits())
    G, D = TFDCGANGenerator(100), TFDCGANDiscriminator(0.3)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-4)
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-4)
    ones, zeros = torch.ones(BATCH), torch.zeros(BATCH)
    t0 = 0.0
    for i in range(steps + warmup):
        if i == warmup:
            t0 = time.perf_counter()
        idx = torch.randint(0, len(data), (BATCH,))
        real = data[idx]
        fake = G(torch.randn(BATCH, 100))
        d_loss = F.binary_cross_entropy_with_logits(D(real), ones) + \
            F.binary_cross_entropy_with_logits(D(fake.detach()), zeros)
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = F.binary_cross_entropy_with_logits(D(fake), ones)
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        float(g_loss)
    return {"img_per_s": steps * BATCH / (time.perf_counter() - t0), "peak_rss_mb": _peak_mb()}


def run_tf(steps: int, warmup: int) -> dict:
    """The TensorFlow DCGAN tutorial's models and train_step, verbatim in substance."""
    import tensorflow as tf
    from tensorflow.keras import layers

    def make_generator_model():
        model = tf.keras.Sequential()
        model.add(layers.Dense(7 * 7 * 256, use_bias=False, input_shape=(100,)))
        model.add(layers.BatchNormalization())
        model.add(layers.LeakyReLU())
        model.add(layers.Reshape((7, 7, 256)))
        model.add(layers.Conv2DTranspose(128, (5, 5), strides=(1, 1), padding="same", use_bias=False))
        model.add(layers.BatchNormalization())
        model.add(layers.LeakyReLU())
        model.add(layers.Conv2DTranspose(64, (5, 5), strides=(2, 2), padding="same", use_bias=False))
        model.add(layers.BatchNormalization())
        model.add(layers.LeakyReLU())
        model.add(layers.Conv2DTranspose(1, (5, 5), strides=(2, 2), padding="same", use_bias=False,
                                         activation="tanh"))
        return model

    def make_discriminator_model():
        model = tf.keras.Sequential()
        model.add(layers.Conv2D(64, (5, 5), strides=(2, 2), padding="same", input_shape=[28, 28, 1]))
        model.add(layers.LeakyReLU())
        model.add(layers.Dropout(0.3))
        model.add(layers.Conv2D(128, (5, 5), strides=(2, 2), padding="same"))
        model.add(layers.LeakyReLU())
        model.add(layers.Dropout(0.3))
        model.add(layers.Flatten())
        model.add(layers.Dense(1))
        return model

    generator, discriminator = make_generator_model(), make_discriminator_model()
    cross_entropy = tf.keras.losses.BinaryCrossentropy(from_logits=True)
    generator_optimizer = tf.keras.optimizers.Adam(1e-4)
    discriminator_optimizer = tf.keras.optimizers.Adam(1e-4)

    @tf.function
    def train_step(images):
        noise = tf.random.normal([BATCH, 100])
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            generated_images = generator(noise, training=True)
            real_output = discriminator(images, training=True)
            fake_output = discriminator(generated_images, training=True)
            gen_loss = cross_entropy(tf.ones_like(fake_output), fake_output)
            disc_loss = cross_entropy(tf.ones_like(real_output), real_output) + \
                cross_entropy(tf.zeros_like(fake_output), fake_output)
        g_grad = gen_tape.gradient(gen_loss, generator.trainable_variables)
        d_grad = disc_tape.gradient(disc_loss, discriminator.trainable_variables)
        generator_optimizer.apply_gradients(zip(g_grad, generator.trainable_variables))
        discriminator_optimizer.apply_gradients(zip(d_grad, discriminator.trainable_variables))
        return gen_loss

    x = _digits().transpose(0, 2, 3, 1)
    ds = tf.data.Dataset.from_tensor_slices(x).shuffle(5000).batch(BATCH, drop_remainder=True).repeat()
    it = iter(ds)
    t0 = 0.0
    for i in range(steps + warmup):
        if i == warmup:
            t0 = time.perf_counter()
        float(train_step(next(it)))
    return {"img_per_s": steps * BATCH / (time.perf_counter() - t0), "peak_rss_mb": _peak_mb(),
            "tensorflow": tf.__version__}


VARIANTS = {
    "ganforge": lambda s, w: run_ganforge(s, w, "fp32"),
    "ganforge-bf16": lambda s, w: run_ganforge(s, w, "bf16"),
    "minimal": run_minimal,
    "tf-tutorial": run_tf,
}


def _child(name: str, steps: int, warmup: int) -> dict | None:
    p = subprocess.run([sys.executable, __file__, "--child", name, "--steps", str(steps),
                        "--warmup", str(warmup)], capture_output=True, text=True)
    if p.returncode != 0:
        tail = (p.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": tail}
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3, help="alternate the variants this many times")
    ap.add_argument("--only", nargs="*", choices=list(VARIANTS))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "train_throughput.json")
    a = ap.parse_args()
    if a.child:
        print(json.dumps(VARIANTS[a.child](a.steps, a.warmup)))
        return

    import torch

    names = a.only or list(VARIANTS)
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for r in range(a.rounds):
        for n in names:
            res = _child(n, a.steps, a.warmup)
            runs[n].append(res)
            print(f"round {r + 1} {n}: {res}", file=sys.stderr)
    best = {}  # the median round of each variant (robust to one slow or fast round)
    for n, rs in runs.items():
        ok = sorted((x for x in rs if "img_per_s" in x), key=lambda x: x["img_per_s"])
        best[n] = ok[(len(ok) - 1) // 2] if ok else rs[-1]
    ips = {n: b.get("img_per_s") for n, b in best.items()}

    def ratio(x: str, y: str) -> float | None:
        return round(ips[x] / ips[y], 3) if ips.get(x) and ips.get(y) else None

    result = {
        "benchmark": "train_throughput", "preset": "mnist-dcgan", "batch": BATCH,
        "steps_timed": a.steps, "warmup_steps": a.warmup, "rounds": a.rounds,
        "date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(), "torch": torch.__version__, "device": "cpu",
        "variants": best, "all_rounds": runs,
        "ratios": {
            "ganforge/minimal": ratio("ganforge", "minimal"),
            "ganforge/tf-tutorial": ratio("ganforge", "tf-tutorial"),
            "ganforge-bf16/tf-tutorial": ratio("ganforge-bf16", "tf-tutorial"),
            "ganforge-bf16/ganforge": ratio("ganforge-bf16", "ganforge"),
        },
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["ratios"] | {n: ips[n] for n in names}, indent=2))


if __name__ == "__main__":
    main()
