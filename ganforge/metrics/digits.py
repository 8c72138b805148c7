"""The `digits` feature extractor: a small MNIST CNN shipped with ganforge (~500 KB).

Its 128-d penultimate layer gives features for "digits-FID"/KID/precision-recall; its softmax gives
an MNIST Inception Score and class coverage. Inception-v3 was trained on ImageNet photos and says
little about 28x28 grayscale digits; a digit classifier is the standard substitute (e.g. the
"MNIST IS/FID" of many GAN papers). Retrain it reproducibly with
``python scripts/train_digits_classifier.py`` (from mnist-mini, or from MNIST when downloaded).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

WEIGHTS = "digits_cnn.safetensors"
FEATURE_DIM = 128


class DigitsCNN(nn.Module):
    """28x28 gray in [0, 1] -> 128-d features -> 10 logits."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(),
            nn.MaxPool2d(2),  # 14
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.MaxPool2d(2),  # 7
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.AdaptiveAvgPool2d(3),
            nn.Flatten(),
            nn.Linear(2 * w * 9, FEATURE_DIM), nn.ReLU(),
        )
        self.head = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body((x - 0.1307) / 0.3081)  # MNIST's mean and std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def weights_path() -> Path:
    return Path(str(resources.files("ganforge.assets").joinpath(WEIGHTS)))


def load_digits_cnn(path: str | Path | None = None) -> DigitsCNN:
    from safetensors.torch import load_file

    net = DigitsCNN()
    net.load_state_dict(load_file(str(path or weights_path())))
    return net.eval()


def _augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random shifts of up to 2 px and small rotations/scales: 4k digits train a robust net."""
    n = x.shape[0]
    ang = (torch.rand(n, generator=g) - 0.5) * 0.4  # +-11 degrees
    sc = 1 + (torch.rand(n, generator=g) - 0.5) * 0.2
    tx, ty = ((torch.rand(2, n, generator=g) - 0.5) * 4 / 14)
    cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def train_digits_cnn(images: np.ndarray, labels: np.ndarray, epochs: int = 30, seed: int = 0,
                     batch_size: int = 128, log=print) -> DigitsCNN:
    """Train from uint8 (N, 1, 28, 28) digits; deterministic on CPU for a given seed."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(images).float() / 255
    y = torch.from_numpy(labels).long()
    net = DigitsCNN()
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = epochs * (len(x) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    net.train()
    for ep in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        total = 0.0
        for i in range(len(x) // batch_size):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            loss = F.cross_entropy(net(_augment(x[idx], g)), y[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss)
        log(f"epoch {ep + 1}/{epochs} loss {total / (len(x) // batch_size):.4f}")
    return net.eval()


@torch.no_grad()
def accuracy(net: DigitsCNN, images: np.ndarray, labels: np.ndarray) -> float:
    x = torch.from_numpy(images).float() / 255
    pred = torch.cat([net(c).argmax(1) for c in x.split(1000)])
    return float((pred == torch.from_numpy(labels)).float().mean())
