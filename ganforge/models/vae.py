"""The VAE's encoder. Its decoder is :class:`DCGANGenerator` itself: GAN and VAE runs then
differ only in the objective, which is what a "GAN vs VAE" comparison should isolate."""

from __future__ import annotations

import torch
from torch import nn

from .dcgan import _dcgan_init, down_layers


class ConvEncoder(nn.Module):
    """image in [-1, 1] -> DCGAN down-sampling stack -> (mu, log-variance) of q(z | x)."""

    def __init__(self, size: int, channels: int, z_dim: int, width: int = 64) -> None:
        super().__init__()
        self.z_dim = z_dim
        layers, ch, base = down_layers(size, channels, width)
        layers.append(nn.Conv2d(ch, 2 * z_dim, base, 1, 0))
        self.net = nn.Sequential(*layers)
        _dcgan_init(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.net(x).flatten(1).chunk(2, dim=1)
        return mu, logvar
