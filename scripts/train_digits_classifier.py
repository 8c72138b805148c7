"""Retrain the `digits` feature extractor shipped in ganforge/assets/digits_cnn.safetensors.

Reproducible: fixed seed, CPU. By default it trains on the first 4,000 digits of mnist-mini
(a seeded split; the other 1,000 are the held-out test the test suite checks, >= 97%). With
``--data mnist`` it trains on MNIST's 60,000 (downloaded) and tests on the 5,000 of mnist-mini.

    python scripts/train_digits_classifier.py [--data mnist-mini|mnist] [--epochs 30]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from safetensors.torch import save_file

from ganforge.data import load_data
from ganforge.metrics.digits import accuracy, train_digits_cnn, weights_path
from ganforge.metrics.digits_split import heldout_split


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="mnist-mini", choices=["mnist-mini", "mnist"])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=weights_path())
    a = ap.parse_args()
    mini = load_data("mnist-mini", 28)
    tr_idx, te_idx = heldout_split(len(mini))
    x, y = mini.images.numpy(), mini.labels.numpy()
    if a.data == "mnist":
        full = load_data("mnist", 28)
        xtr, ytr, xte, yte = full.images.numpy(), full.labels.numpy(), x, y
    else:
        xtr, ytr, xte, yte = x[tr_idx], y[tr_idx], x[te_idx], y[te_idx]
    net = train_digits_cnn(xtr, ytr, epochs=a.epochs, seed=a.seed)
    acc = accuracy(net, xte, yte)
    print(f"held-out accuracy: {acc:.4f} on {len(yte)} digits")
    sd = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(sd, str(a.out), metadata={"trained_on": a.data, "epochs": str(a.epochs),
                                        "seed": str(a.seed), "heldout_accuracy": f"{acc:.4f}"})
    print(f"wrote {a.out} ({a.out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
