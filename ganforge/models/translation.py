"""Image-to-image networks: CycleGAN's ResNet generator, pix2pix's U-Net, and the PatchGAN
discriminator both use.

Built from the papers (Zhu et al. 2017, appendix 7.2; Isola et al. 2017, section 3.2 and
appendix 6.1): every choice that is a paper's is said where it is made. All three are fully
convolutional, so a trained generator also runs at other image sizes (see ``check_size``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import GanforgeError


def _norm(channels: int) -> nn.Module:
    # Instance normalization, no affine parameters and no running statistics: CycleGAN's choice,
    # and pix2pix's "batch norm with the test batch's statistics at batch size 1" (Isola et al.
    # section 6.1), which makes training and inference compute the same thing.
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


def init_weights(net: nn.Module, std: float = 0.02) -> nn.Module:
    """Weights ~ N(0, 0.02), biases 0: the initialisation both papers use."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return net


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResNetTranslator(nn.Module):
    """CycleGAN's generator: c7s1-w, d2w, d4w, ``blocks`` x R4w, u2w, uw, c7s1-out, tanh.

    Reflection padding at the 7x7 ends and inside the residual blocks (Zhu et al. use it "to
    reduce artifacts"); 9 blocks at 256 px, 6 at 128 px and below, as in the paper.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 64,
                 blocks: int = 9) -> None:
        super().__init__()
        w = width
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, w, 7), _norm(w),
                                   nn.ReLU(True)]
        for k in (1, 2):  # two stride-2 downsamplings
            layers += [nn.Conv2d(w * k, w * 2 * k, 3, 2, 1), _norm(w * 2 * k), nn.ReLU(True)]
        layers += [ResidualBlock(w * 4) for _ in range(blocks)]
        for k in (4, 2):  # two fractionally strided upsamplings
            layers += [nn.ConvTranspose2d(w * k, w * k // 2, 3, 2, 1, output_padding=1),
                       _norm(w * k // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(w, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_weights(self)

    @staticmethod
    def check_size(size: int) -> None:
        if size < 8 or size % 4:
            raise GanforgeError(f"--size {size}: CycleGAN's generator needs a multiple of 4, >= 8")

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class UNetTranslator(nn.Module):
    """pix2pix's U-Net: ``depth`` stride-2 4x4 convolutions down to 1x1 and back, each decoder
    layer concatenated with its mirror encoder layer. Encoder C64-C128-C256-C512-C512...;
    dropout 0.5 on the three innermost decoder layers but the bottom one, as in the paper
    (fewer at small sizes). LeakyReLU 0.2 down, ReLU up, no norm at the outermost and innermost
    layers. Dropout is pix2pix's only noise; inference runs in eval mode (no dropout), so a
    translation is deterministic.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 64, depth: int = 8,
                 dropout: float = 0.5) -> None:
        super().__init__()
        if depth < 2:
            raise GanforgeError(f"U-Net depth must be >= 2, got {depth}")
        ch = [width * min(2**i, 8) for i in range(depth)]  # encoder output channels per level
        self.down = nn.ModuleList()
        for i in range(depth):
            conv = nn.Conv2d(in_channels if i == 0 else ch[i - 1], ch[i], 4, 2, 1)
            if i == 0:
                self.down.append(conv)
            elif i == depth - 1:
                self.down.append(nn.Sequential(nn.LeakyReLU(0.2, True), conv))
            else:
                self.down.append(nn.Sequential(nn.LeakyReLU(0.2, True), conv, _norm(ch[i])))
        n_drop = max(0, min(3, depth - 5))  # 256 px (depth 8): 3, as the paper; 64 px: 1
        self.up = nn.ModuleList()
        for i in reversed(range(depth)):  # i: the level this layer comes up from
            cin = ch[i] if i == depth - 1 else ch[i] * 2
            if i == 0:
                self.up.append(nn.Sequential(nn.ReLU(True), nn.ConvTranspose2d(cin, out_channels, 4, 2, 1),
                                             nn.Tanh()))
                continue
            layers: list[nn.Module] = [nn.ReLU(True), nn.ConvTranspose2d(cin, ch[i - 1], 4, 2, 1),
                                       _norm(ch[i - 1])]
            if 0 < depth - 1 - i <= n_drop and dropout > 0:
                layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
        self.depth = depth
        init_weights(self)

    @staticmethod
    def depth_for(size: int) -> int:
        """Stride-2 levels from ``size`` down to 1 pixel (256 -> 8, the paper's)."""
        if size < 4 or size & (size - 1):
            raise GanforgeError(f"--size {size}: pix2pix's U-Net needs a power of two (32, 64, 128, "
                                "256, ...)")
        return size.bit_length() - 1

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        x = self.up[0](skips.pop())
        for layer in self.up[1:]:
            x = layer(torch.cat([x, skips.pop()], 1))
        return x


class PatchDiscriminator(nn.Module):
    """The 70x70 PatchGAN (``layers`` 3): C64-C128-C256-C512 of 4x4 convolutions (stride 2, the
    last stride 1), LeakyReLU 0.2, no norm on the first, then a 1-channel 4x4 convolution: one
    real/fake score per overlapping patch. pix2pix feeds it the (input, output) pair stacked on
    channels, so ``in_channels`` is their sum there. Fewer ``layers`` for small images: the
    receptive field shrinks (2 layers: 34x34) so the output keeps at least 2x2 patches.
    """

    def __init__(self, in_channels: int = 3, width: int = 64, layers: int = 3) -> None:
        super().__init__()
        seq: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        c = width
        for i in range(1, layers + 1):
            nc = width * min(2**i, 8)
            seq += [nn.Conv2d(c, nc, 4, 2 if i < layers else 1, 1), _norm(nc), nn.LeakyReLU(0.2, True)]
            c = nc
        seq.append(nn.Conv2d(c, 1, 4, 1, 1))
        self.net = nn.Sequential(*seq)
        init_weights(self)

    @staticmethod
    def layers_for(size: int) -> int:
        """3 (the 70x70 PatchGAN) from 32 px up; 2 below, so at least 2x2 patches come out."""
        if size < 16:
            raise GanforgeError(f"--size {size}: the PatchGAN discriminator needs >= 16 px")
        return 3 if size >= 32 else 2

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
