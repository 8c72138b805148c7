"""Small building blocks shared by the networks."""

from __future__ import annotations

import torch
from torch import nn


class FastDropout(nn.Module):
    """Dropout with the same distribution as ``nn.Dropout``, drawn with ``torch.rand``.

    Why: on CPU, ``nn.Dropout`` draws its mask with ``bernoulli_``, which measured ~4x slower
    than ``rand_like(x) < keep`` here (35 ms vs 9 ms for a 256x64x14x14 tensor) and cost ~16-20%
    of a DCGAN step. Each unit is still kept with probability 1 - p and scaled by 1 / (1 - p).
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = 1.0 - self.p
        mask = torch.rand_like(x) < keep
        return x * mask.to(x.dtype) * (1.0 / keep)

    def extra_repr(self) -> str:
        return f"p={self.p}"
