"""The fully connected GAN of the simple GAN tutorials (Goodfellow et al. 2014 style)."""

from __future__ import annotations

import torch
from torch import nn

from .layers import FastDropout


class MLPGenerator(nn.Module):
    def __init__(self, z_dim: int, channels: int, size: int, hidden: list[int]) -> None:
        super().__init__()
        self.z_dim, self.channels, self.size = z_dim, channels, size
        layers: list[nn.Module] = []
        prev = z_dim
        for h in hidden:
            layers += [nn.Linear(prev, h), nn.LeakyReLU(0.2)]
            prev = h
        layers += [nn.Linear(prev, channels * size * size), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, self.channels, self.size, self.size)


class MLPDiscriminator(nn.Module):
    def __init__(self, channels: int, size: int, hidden: list[int], dropout: float = 0.3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        prev = channels * size * size
        for h in hidden:
            layers += [nn.Linear(prev, h), nn.LeakyReLU(0.2)]
            if dropout > 0:
                layers.append(FastDropout(dropout))
            prev = h
        layers.append(nn.Linear(prev, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Returns one logit per image, shape (N,)."""
        return self.net(x).view(-1)
