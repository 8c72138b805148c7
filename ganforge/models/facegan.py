"""The Keras face GAN of the seed article, layer for layer (Chollet's Keras GAN grown to 128 px).

Keras conventions kept: LeakyReLU slope 0.3 (Keras' default), a bias on every layer, Glorot-
uniform weights and zero biases; G's layers use padding 'same', D's the Keras default 'valid'
(as in Chollet's discriminator). The Dense output is reshaped channels-last, as Keras does, so
the parameter layout (and count) is the Keras model's.
"""

from __future__ import annotations

import torch
from torch import nn

from .dcgan import _keras_init
from .layers import FastDropout


class KerasFaceGenerator(nn.Module):
    """Dense 128*16*16 -> Conv 256 5x5 -> 3x ConvT 256 4x4 s2 -> 2x Conv 512 5x5 -> Conv 7x7 tanh."""

    def __init__(self, z_dim: int = 32, channels: int = 3) -> None:
        super().__init__()
        self.z_dim, self.num_classes = z_dim, 0
        act = nn.LeakyReLU(0.3)
        self.fc = nn.Sequential(nn.Linear(z_dim, 16 * 16 * 128), act)
        layers: list[nn.Module] = [nn.Conv2d(128, 256, 5, 1, 2), act]
        for _ in range(3):  # 16 -> 32 -> 64 -> 128
            layers += [nn.ConvTranspose2d(256, 256, 4, 2, 1), act]
        layers += [nn.Conv2d(256, 512, 5, 1, 2), act, nn.Conv2d(512, 512, 5, 1, 2), act,
                   nn.Conv2d(512, channels, 7, 1, 3), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        _keras_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z.view(z.shape[0], -1)).view(-1, 16, 16, 128).permute(0, 3, 1, 2)  # Keras: HWC
        return self.net(h.contiguous())


class KerasFaceDiscriminator(nn.Module):
    """Conv 256 3x3 -> 4x Conv 256 4x4 s2 (valid) -> Flatten -> Dropout 0.4 -> Dense 1 (logit)."""

    def __init__(self, size: int = 128, channels: int = 3, dropout: float = 0.4) -> None:
        super().__init__()
        act = nn.LeakyReLU(0.3)
        layers: list[nn.Module] = [nn.Conv2d(channels, 256, 3), act]
        side = size - 2
        for _ in range(4):
            layers += [nn.Conv2d(256, 256, 4, 2), act]
            side = (side - 4) // 2 + 1
        self.features = nn.Sequential(*layers)
        self.side = side
        self.out = nn.Sequential(FastDropout(dropout), nn.Linear(256 * side * side, 1))
        _keras_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x).permute(0, 2, 3, 1).flatten(1)  # Keras flattens channels-last
        return self.out(h).view(-1)
