"""SNGAN's CIFAR-10 ResNet pair (Miyato et al. 2018, table 4): 32 px, G with 3 up-blocks from a
4x4 map, D with 4 blocks, global sum pooling and a linear logit. Conditional: conditional BN in G,
a projection (or ACGAN) head in D, as in Miyato & Koyama 2018."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GanforgeError
from .dcgan import _need_labels
from .layers import ClassHead, CondBatchNorm2d, spectral_normalize


def _xavier(net: nn.Module) -> None:
    """Xavier-uniform conv/linear weights, zero biases (the SNGAN reference initialisation)."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class _UpBlock(nn.Module):
    """BN -> ReLU -> 2x nearest -> conv3 -> BN -> ReLU -> conv3, plus upsample -> conv1 shortcut."""

    def __init__(self, cin: int, cout: int, num_classes: int) -> None:
        super().__init__()
        self.bn1 = CondBatchNorm2d(cin, num_classes) if num_classes else nn.BatchNorm2d(cin)
        self.bn2 = CondBatchNorm2d(cout, num_classes) if num_classes else nn.BatchNorm2d(cout)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1)

    def _bn(self, bn: nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return bn(x, y) if isinstance(bn, CondBatchNorm2d) else bn(x)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        h = F.interpolate(F.relu(self._bn(self.bn1, x, y)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self._bn(self.bn2, self.conv1(h), y)))
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


class ResNetGenerator(nn.Module):
    """z -> linear 4x4xwidth -> 3 up-blocks -> BN, ReLU, conv3 -> tanh (32 px)."""

    def __init__(self, z_dim: int = 128, size: int = 32, channels: int = 3, width: int = 256,
                 num_classes: int = 0) -> None:
        super().__init__()
        if size != 32:
            raise GanforgeError(f"model resnet32 (SNGAN's CIFAR ResNet) makes 32px images, not {size}px; "
                                "use --size 32 (or the dcgan model)")
        self.z_dim, self.num_classes, self.width = z_dim, num_classes, width
        self.fc = nn.Linear(z_dim, 4 * 4 * width)
        self.blocks = nn.ModuleList([_UpBlock(width, width, num_classes) for _ in range(3)])
        self.bn = nn.BatchNorm2d(width)
        self.out = nn.Conv2d(width, channels, 3, 1, 1)
        _xavier(self)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            y = _need_labels(y, self)
        h = self.fc(z.view(z.shape[0], -1)).view(-1, self.width, 4, 4)
        for block in self.blocks:
            h = block(h, y)
        return torch.tanh(self.out(F.relu(self.bn(h))))


class _DownBlock(nn.Module):
    """(ReLU) conv3 -> ReLU -> conv3 (-> avgpool), plus a conv1 (+ avgpool) shortcut where the
    shape changes. ``first``: the optimised block on the image (no leading ReLU, pool first in
    the shortcut)."""

    def __init__(self, cin: int, cout: int, down: bool, first: bool = False) -> None:
        super().__init__()
        self.down, self.first = down, first
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1) if (down or cin != cout) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        if self.down:
            h = F.avg_pool2d(h, 2)
        s = x
        if self.skip is not None:
            if self.first:
                s = self.skip(F.avg_pool2d(s, 2))
            else:
                s = self.skip(s)
                s = F.avg_pool2d(s, 2) if self.down else s
        return h + s


class ResNetDiscriminator(nn.Module):
    """image -> optimised down-block -> down-block -> 2 blocks -> ReLU -> global sum -> linear.

    No BatchNorm: spectral norm (on by default, as in SNGAN) keeps it Lipschitz. Conditional: a
    projection head adds <embed(y), pooled features>; ACGAN returns (N, 1 + K).
    """

    def __init__(self, size: int = 32, channels: int = 3, width: int = 128, num_classes: int = 0,
                 cond: str = "projection", spectral_norm: bool = True) -> None:
        super().__init__()
        if size != 32:
            raise GanforgeError(f"model resnet32 scores 32px images, not {size}px; use --size 32")
        self.num_classes = num_classes
        self.blocks = nn.Sequential(
            _DownBlock(channels, width, down=True, first=True),
            _DownBlock(width, width, down=True),
            _DownBlock(width, width, down=False),
            _DownBlock(width, width, down=False),
        )
        self.out = nn.Linear(width, 1)
        self.head = ClassHead(width, num_classes, cond) if num_classes else None
        _xavier(self)
        if spectral_norm:
            spectral_normalize(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        phi = F.relu(self.blocks(x)).sum((2, 3))
        logit = self.out(phi).view(-1)
        if self.head is None:
            return logit
        if self.head.mode == "projection":
            return logit + self.head(phi, _need_labels(y, self))
        return torch.cat([logit[:, None], self.head(phi, None)], 1)
