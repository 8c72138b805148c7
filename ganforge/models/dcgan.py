"""DCGAN networks: the TensorFlow tutorial's exact 28x28 pair and a general 28-128 px pair."""

from __future__ import annotations

from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GanforgeError
from .layers import COND_G, ClassHead, CondBatchNorm2d, FastDropout, MinibatchStd, spectral_normalize


def _keras_init(module: nn.Module) -> None:
    """Glorot-uniform weights and zero biases, as Keras layers start (TF tutorial fidelity)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _keras_bn(features: int, dims: int = 2) -> nn.Module:
    # Keras BatchNormalization: momentum 0.99 (torch's 0.01), epsilon 1e-3.
    cls = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
    return cls(features, eps=1e-3, momentum=0.01)


class TFDCGANGenerator(nn.Module):
    """Dense 7*7*256 -> BN -> LReLU -> ConvT 128 5x5 s1 -> ConvT 64 5x5 s2 -> ConvT 1 5x5 s2 tanh.

    Keras' LeakyReLU defaults to slope 0.3 and the tutorial leaves it so; we do the same.
    """

    def __init__(self, z_dim: int = 100) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.fc = nn.Sequential(
            nn.Linear(z_dim, 7 * 7 * 256, bias=False), _keras_bn(7 * 7 * 256, 1), nn.LeakyReLU(0.3)
        )
        self.net = nn.Sequential(
            nn.ConvTranspose2d(256, 128, 5, 1, 2, bias=False),
            _keras_bn(128),
            nn.LeakyReLU(0.3),
            nn.ConvTranspose2d(128, 64, 5, 2, 2, output_padding=1, bias=False),
            _keras_bn(64),
            nn.LeakyReLU(0.3),
            nn.ConvTranspose2d(64, 1, 5, 2, 2, output_padding=1, bias=False),
            nn.Tanh(),
        )
        _keras_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.fc(z).view(-1, 256, 7, 7))


class TFDCGANDiscriminator(nn.Module):
    """Conv 64 5x5 s2 -> LReLU -> Dropout -> Conv 128 5x5 s2 -> LReLU -> Dropout -> Dense 1."""

    def __init__(self, dropout: float = 0.3) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 64, 5, 2, 2),
            nn.LeakyReLU(0.3),
            FastDropout(dropout),
            nn.Conv2d(64, 128, 5, 2, 2),
            nn.LeakyReLU(0.3),
            FastDropout(dropout),
            nn.Flatten(),
            nn.Linear(128 * 7 * 7, 1),
        )
        _keras_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)


def _dcgan_init(module: nn.Module) -> None:
    """N(0, 0.02) weights, BN gamma N(1, 0.02), as in Radford et al. 2015."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def _levels(size: int) -> tuple[int, int]:
    """(base resolution 4 or 7, number of 2x up/down-sampling steps) for an image size."""
    for base in (4, 7):
        n, s = 0, size
        while s > base and s % 2 == 0:
            s //= 2
            n += 1
        if s == base and n >= 2:
            return base, n
    raise GanforgeError(
        f"DCGAN cannot make {size}px images; use 4*2^k or 7*2^k with k >= 2 "
        "(16, 28, 32, 56, 64, 112, 128, 256, ...)"
    )


class DCGANGenerator(nn.Module):
    """z -> ConvT to base x base -> (ConvT 4x4 s2, BN, ReLU) * n -> tanh image (``upsample=
    "resize"``: nearest 2x + Conv 3x3 in place of each ConvT 4x4 s2).

    Conditional (``num_classes`` > 0): ``cond="embed"`` concatenates the one-hot label to z
    (Mirza & Osindero 2014; the first layer's weights are then the label embedding). A learned
    z-wide embedding of N(0, 1) vectors was tried first and made G ignore z on mnist-mini (every
    sample of a class alike). ``cond="cbn"`` looks up each BatchNorm's gain and bias per class.
    """

    def __init__(self, z_dim: int, size: int, channels: int, width: int = 64, num_classes: int = 0,
                 cond: str = "embed", upsample: str = "convt") -> None:
        super().__init__()
        if cond not in COND_G:
            raise GanforgeError(f"generator conditioning must be one of {', '.join(COND_G)}, not {cond!r}")
        if upsample not in UPSAMPLE:
            raise GanforgeError(f"generator upsampling must be one of {', '.join(UPSAMPLE)}, "
                                f"not {upsample!r}")
        self.z_dim, self.num_classes = z_dim, num_classes
        base, n = _levels(size)
        ch = width * 2 ** (n - 1)
        cbn = num_classes > 0 and cond == "cbn"
        self.one_hot = num_classes > 0 and cond == "embed"

        def norm(c: int) -> nn.Module:
            return CondBatchNorm2d(c, num_classes) if cbn else nn.BatchNorm2d(c)

        z_in = z_dim + (num_classes if self.one_hot else 0)
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_in, ch, base, 1, 0, bias=False), norm(ch),
                                   nn.ReLU(True)]
        for _ in range(n - 1):
            layers += [*_up(ch, ch // 2, upsample), norm(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [*_up(ch, channels, upsample), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        _dcgan_init(self)

    @staticmethod
    def check_size(size: int) -> None:
        _levels(size)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.one_hot:
            y1 = F.one_hot(_need_labels(y, self), self.num_classes).to(z.dtype)
            z = torch.cat([z.view(z.shape[0], -1), y1], 1)
        x = z.view(z.shape[0], -1, 1, 1)
        for m in self.net:
            x = m(x, _need_labels(y, self)) if isinstance(m, CondBatchNorm2d) else m(x)
        return x


Upsample = Literal["convt", "resize"]  # G's 2x layers (see _up)
UPSAMPLE: tuple[str, ...] = get_args(Upsample)


def _up(c_in: int, c_out: int, how: str) -> list[nn.Module]:
    """A 2x upsampling layer: Radford's 4x4 stride-2 transposed conv, or nearest-neighbour
    resize then a 3x3 conv (Odena et al. 2016): every output pixel is made by the same kernel,
    where a transposed conv uses a different sub-kernel per pixel parity and so easily learns a
    fixed-position checkerboard (the resize costs ~2.25x the FLOPs)."""
    if how == "resize":
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False)]
    return [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)]


def _need_labels(y: torch.Tensor | None, net: nn.Module) -> torch.Tensor:
    if y is None:
        raise GanforgeError(f"{type(net).__name__} is class-conditional: pass labels")
    return y


def down_layers(size: int, channels: int, width: int,
                norm: str = "batch") -> tuple[list[nn.Module], int, int]:
    """DCGAN's image -> (Conv 4x4 s2, BN except first, LReLU 0.2) * n stack.

    ``norm="none"`` drops the BatchNorms (a critic under a gradient penalty, or with spectral
    norm, must score each image on its own). Returns the layers, their output channels and the
    base side (4 or 7) they end at; the discriminator and the VAE encoder each add a head.
    """
    if norm not in ("batch", "none"):
        raise GanforgeError(f"discriminator norm must be 'batch' or 'none', not {norm!r}")
    base, n = _levels(size)
    layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
    ch = width
    for _ in range(n - 1):
        if norm == "batch":
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2)]
        else:
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1)]
        layers.append(nn.LeakyReLU(0.2, True))
        ch *= 2
    return layers, ch, base


class DCGANDiscriminator(nn.Module):
    """image -> (Conv 4x4 s2, BN except first, LReLU 0.2) * n -> Conv base x base -> logit.

    Conditional (``num_classes`` > 0): a projection head adds <embed(y), sum-pooled features>
    to the logit, or (``cond="acgan"``) an auxiliary classifier returns class logits beside it:
    the output is then (N, 1 + K), column 0 the real/fake logit. ``mbstd`` > 0 gives the logit
    conv a minibatch standard-deviation map over groups of that many images.
    """

    def __init__(self, size: int, channels: int, width: int = 64, num_classes: int = 0,
                 cond: str = "projection", norm: str = "batch", spectral_norm: bool = False,
                 mbstd: int = 0) -> None:
        super().__init__()
        self.num_classes, self.cond = num_classes, cond
        if num_classes and cond == "concat":  # one-hot label maps as extra input channels
            channels += num_classes
        layers, ch, base = down_layers(size, channels, width, norm)
        self.mbstd = MinibatchStd(mbstd) if mbstd else None
        # One Sequential, the logit conv last: the state-dict keys of ganforge 0.1's networks.
        self.net = nn.Sequential(*layers, nn.Conv2d(ch + (1 if mbstd else 0), 1, base, 1, 0))
        self.head = ClassHead(ch if cond == "projection" else ch * base * base, num_classes, cond) \
            if num_classes and cond != "concat" else None
        _dcgan_init(self)
        if spectral_norm:
            spectral_normalize(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes and self.cond == "concat":
            maps = F.one_hot(_need_labels(y, self), self.num_classes).to(x.dtype)
            x = torch.cat([x, maps[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)
        h = self.net[:-1](x)
        logit = self.net[-1](h if self.mbstd is None else self.mbstd(h)).view(-1)
        if self.head is None:
            return logit
        if self.head.mode == "projection":
            return logit + self.head(h.mean((2, 3)), _need_labels(y, self))
        return torch.cat([logit[:, None], self.head(h.flatten(1), None)], 1)
