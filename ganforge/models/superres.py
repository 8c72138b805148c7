"""Super-resolution networks: SRResNet and ESRGAN's RRDB generator, Real-ESRGAN's U-Net
discriminator with spectral norm.

Built from the papers (Ledig et al. 2017, SRResNet; Wang et al. 2018, ESRGAN; Wang et al. 2021,
Real-ESRGAN). Every generator is fully convolutional and maps an (N, C, H, W) image in [-1, 1]
to (N, C, scale*H, scale*W): any input size works, which is what tiled upscaling relies on.
None uses batch norm: ESRGAN (section 3.1) shows it brings artifacts in SR, and without it a
tile computes exactly what the whole image computes at the same place.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import spectral_norm

from ..errors import GanforgeError

SCALES = (2, 4)


def check_scale(scale: int) -> int:
    if scale not in SCALES:
        raise GanforgeError(f"--scale {scale}: choose 2 or 4")
    return scale


def bicubic_up(x: Tensor, scale: int) -> Tensor:
    """Bicubic upsampling (PyTorch's, a = -0.75, as MATLAB's imresize): the classic baseline and
    the generators' optional global skip."""
    return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)


class _ResBlock(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, 1, 1), nn.PReLU(width),
                                  nn.Conv2d(width, width, 3, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """SRResNet (Ledig et al. 2017, fig. 4) without batch norm: a 9x9 head, ``blocks`` residual
    blocks of two 3x3 convolutions, a long skip, then one sub-pixel (conv + PixelShuffle(2))
    stage per factor of 2 and a 9x9 tail.

    ``skip``: add the bicubic upsampling of the input to the output, so the network learns only
    what bicubic misses (VDSR's global residual, Kim et al. 2016): at the start it *is* bicubic,
    which is what lets a CPU-sized model beat bicubic within minutes.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 64, blocks: int = 16,
                 scale: int = 4, skip: bool = True) -> None:
        super().__init__()
        check_scale(scale)
        if skip and in_channels != out_channels:
            raise GanforgeError("the bicubic skip needs as many input as output channels")
        self.scale, self.skip = scale, skip
        self.head = nn.Sequential(nn.Conv2d(in_channels, width, 9, 1, 4), nn.PReLU(width))
        self.body = nn.Sequential(*[_ResBlock(width) for _ in range(blocks)],
                                  nn.Conv2d(width, width, 3, 1, 1))
        up: list[nn.Module] = []
        for _ in range(scale.bit_length() - 1):
            up += [nn.Conv2d(width, 4 * width, 3, 1, 1), nn.PixelShuffle(2), nn.PReLU(width)]
        self.up = nn.Sequential(*up)
        self.tail = nn.Conv2d(width, out_channels, 9, 1, 4)
        if skip:  # start as bicubic exactly: the learned part begins at zero
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    def forward(self, x: Tensor) -> Tensor:
        h = self.head(x)
        y = self.tail(self.up(h + self.body(h)))
        return y + bicubic_up(x, self.scale) if self.skip else y


class _DenseBlock(nn.Module):
    """ESRGAN's residual dense block: five 3x3 convolutions, each fed every earlier output
    (``growth`` channels each), LeakyReLU 0.2, the result scaled by 0.2 onto the input."""

    def __init__(self, width: int, growth: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(width + i * growth, growth if i < 4 else width, 3, 1, 1)
                                   for i in range(5))

    def forward(self, x: Tensor) -> Tensor:
        feats = [x]
        for i, conv in enumerate(self.convs):
            y = conv(torch.cat(feats, 1))
            if i < 4:
                feats.append(F.leaky_relu(y, 0.2))
        return x + 0.2 * y


class _RRDB(nn.Module):
    """Residual in residual dense block: three dense blocks, their sum scaled by 0.2 (ESRGAN
    fig. 4)."""

    def __init__(self, width: int, growth: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[_DenseBlock(width, growth) for _ in range(3)])

    def forward(self, x: Tensor) -> Tensor:
        return x + 0.2 * self.blocks(x)


class RRDBNet(nn.Module):
    """ESRGAN's generator: a 3x3 head, ``blocks`` RRDBs (23 in the paper, width 64, growth 32),
    a trunk convolution and long skip, then per factor of 2 a nearest-neighbour upsampling and
    a 3x3 convolution (ESRGAN's choice over sub-pixel), two 3x3 convolutions at full size."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 64, growth: int = 32,
                 blocks: int = 23, scale: int = 4) -> None:
        super().__init__()
        self.scale = check_scale(scale)
        self.head = nn.Conv2d(in_channels, width, 3, 1, 1)
        self.body = nn.Sequential(*[_RRDB(width, growth) for _ in range(blocks)])
        self.trunk = nn.Conv2d(width, width, 3, 1, 1)
        self.ups = nn.ModuleList(nn.Conv2d(width, width, 3, 1, 1) for _ in range(scale.bit_length() - 1))
        self.hr = nn.Conv2d(width, width, 3, 1, 1)
        self.last = nn.Conv2d(width, out_channels, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.head(x)
        h = h + self.trunk(self.body(h))
        for conv in self.ups:
            h = F.leaky_relu(conv(F.interpolate(h, scale_factor=2, mode="nearest")), 0.2)
        return self.last(F.leaky_relu(self.hr(h), 0.2))


class UNetDiscriminatorSN(nn.Module):
    """Real-ESRGAN's discriminator (section 3.3): a U-Net with spectral norm that scores every
    pixel, so it judges local texture as well as the whole. Three stride-2 4x4 convolutions
    down, three bilinear x2 + 3x3 convolutions up with skips, two 3x3 convolutions, one
    1-channel output per pixel. Input sides must be multiples of 8."""

    def __init__(self, in_channels: int = 3, width: int = 64, skip: bool = True) -> None:
        super().__init__()
        sn, w = spectral_norm, width
        self.skip = skip
        self.conv0 = nn.Conv2d(in_channels, w, 3, 1, 1)
        self.down = nn.ModuleList([sn(nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False)),
                                   sn(nn.Conv2d(2 * w, 4 * w, 4, 2, 1, bias=False)),
                                   sn(nn.Conv2d(4 * w, 8 * w, 4, 2, 1, bias=False))])
        self.up = nn.ModuleList([sn(nn.Conv2d(8 * w, 4 * w, 3, 1, 1, bias=False)),
                                 sn(nn.Conv2d(4 * w, 2 * w, 3, 1, 1, bias=False)),
                                 sn(nn.Conv2d(2 * w, w, 3, 1, 1, bias=False))])
        self.out = nn.Sequential(sn(nn.Conv2d(w, w, 3, 1, 1, bias=False)), nn.LeakyReLU(0.2, True),
                                 sn(nn.Conv2d(w, w, 3, 1, 1, bias=False)), nn.LeakyReLU(0.2, True),
                                 nn.Conv2d(w, 1, 3, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] % 8 or x.shape[-2] % 8:
            raise GanforgeError(f"the U-Net discriminator needs sides that are multiples of 8, got "
                                f"{tuple(x.shape[-2:])}")
        feats = [F.leaky_relu(self.conv0(x), 0.2)]
        for conv in self.down:
            feats.append(F.leaky_relu(conv(feats[-1]), 0.2))
        h = feats.pop()
        for conv in self.up:
            h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
            h = F.leaky_relu(conv(h), 0.2)
            skipped = feats.pop()
            if self.skip:
                h = h + skipped
        return self.out(h)
