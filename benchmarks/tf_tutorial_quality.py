"""Does the TensorFlow DCGAN tutorial's own code learn digits from mnist-mini's 5,000 images?

    python benchmarks/tf_tutorial_quality.py train EPOCHS OUT_DIR [--seed S]   # needs [bench]
    python benchmarks/tf_tutorial_quality.py score OUT_DIR/ep*_eval.npy        # digits-FID etc.

``train`` runs the tutorial's networks, loss, optimizers and train_step verbatim (batch 256,
Adam(1e-4), partial last batch kept) and every 20 epochs saves 2,500 samples of one fixed latent
batch as OUT_DIR/epNNNN_eval.npy (BatchNorm in inference mode, as the tutorial draws its grids)
and _train.npy (batch statistics), plus a 64-image grid PNG. ``score`` prints ganforge's
digits-FID/KID/IS of each file against mnist-mini (n = 2,500), the numbers in RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def train(epochs: int, out: Path, seed: int) -> None:
    import tensorflow as tf
    from tensorflow.keras import layers

    from ganforge.data.builtin import mnist_mini
    from ganforge.visual import make_grid

    tf.random.set_seed(seed)
    x, _ = mnist_mini()
    x = (x.astype(np.float32).transpose(0, 2, 3, 1) - 127.5) / 127.5

    generator = tf.keras.Sequential([
        layers.Dense(7 * 7 * 256, use_bias=False, input_shape=(100,)),
        layers.BatchNormalization(), layers.LeakyReLU(), layers.Reshape((7, 7, 256)),
        layers.Conv2DTranspose(128, (5, 5), strides=(1, 1), padding="same", use_bias=False),
        layers.BatchNormalization(), layers.LeakyReLU(),
        layers.Conv2DTranspose(64, (5, 5), strides=(2, 2), padding="same", use_bias=False),
        layers.BatchNormalization(), layers.LeakyReLU(),
        layers.Conv2DTranspose(1, (5, 5), strides=(2, 2), padding="same", use_bias=False,
                               activation="tanh"),
    ])
    discriminator = tf.keras.Sequential([
        layers.Conv2D(64, (5, 5), strides=(2, 2), padding="same", input_shape=[28, 28, 1]),
        layers.LeakyReLU(), layers.Dropout(0.3),
        layers.Conv2D(128, (5, 5), strides=(2, 2), padding="same"),
        layers.LeakyReLU(), layers.Dropout(0.3),
        layers.Flatten(), layers.Dense(1),
    ])
    ce = tf.keras.losses.BinaryCrossentropy(from_logits=True)
    g_opt, d_opt = tf.keras.optimizers.Adam(1e-4), tf.keras.optimizers.Adam(1e-4)

    @tf.function
    def train_step(images):
        noise = tf.random.normal([tf.shape(images)[0], 100])
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            fake = generator(noise, training=True)
            real_out = discriminator(images, training=True)
            fake_out = discriminator(fake, training=True)
            g_loss = ce(tf.ones_like(fake_out), fake_out)
            d_loss = ce(tf.ones_like(real_out), real_out) + ce(tf.zeros_like(fake_out), fake_out)
        g_vars, d_vars = generator.trainable_variables, discriminator.trainable_variables
        g_opt.apply_gradients(zip(gen_tape.gradient(g_loss, g_vars), g_vars))
        d_opt.apply_gradients(zip(disc_tape.gradient(d_loss, d_vars), d_vars))
        return g_loss, d_loss

    out.mkdir(parents=True, exist_ok=True)
    ds = tf.data.Dataset.from_tensor_slices(x).shuffle(60000).batch(256)
    fixed = tf.random.normal([2500, 100], seed=1)
    t0, step = time.time(), 0
    for ep in range(1, epochs + 1):
        for batch in ds:
            g_loss, d_loss = train_step(batch)
            step += 1
        if ep % 20 == 0 or ep == epochs:
            for mode in ("eval", "train"):
                imgs = generator(fixed, training=(mode == "train")).numpy().transpose(0, 3, 1, 2)
                np.save(out / f"ep{ep:04d}_{mode}.npy", imgs)
                grid = torch.from_numpy(imgs[:64]).add(1).div(2).clamp(0, 1)
                make_grid(grid).save(out / f"ep{ep:04d}_{mode}.png")
            print(json.dumps({"epoch": ep, "step": step, "seconds": round(time.time() - t0, 1),
                              "g_loss": float(g_loss), "d_loss": float(d_loss)}), flush=True)


def score(files: list[Path]) -> None:
    from ganforge.metrics.evaluate import evaluate

    for f in files:
        x = torch.from_numpy(np.load(f)).float().add(1).div(2).clamp(0, 1)
        m = evaluate(fake=x, real="mnist-mini", metrics="fid,kid,is", features="digits",
                     n=2500, device="cpu")["metrics"]
        print(f, json.dumps({k: round(v["value"], 3) for k, v in m.items()
                             if isinstance(v, dict) and "value" in v}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("epochs", type=int)
    t.add_argument("out", type=Path)
    t.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("score")
    s.add_argument("files", type=Path, nargs="+")
    a = ap.parse_args()
    if a.cmd == "train":
        train(a.epochs, a.out, a.seed)
    else:
        score(a.files)


if __name__ == "__main__":
    main()
