"""Networks (plain ``nn.Module``s), the registry of their classes, and the GAN network pairs.

``MODELS`` names the GAN family's network pairs: each turns (image size, channels, latent size)
into the constructor arguments of its generator and discriminator. Those arguments are the
saved architecture: they go into the safetensors metadata and model.json, so loading needs no
flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from ..errors import GanforgeError
from ..registry import Registry
from .dcgan import DCGANDiscriminator, DCGANGenerator, TFDCGANDiscriminator, TFDCGANGenerator
from .facegan import KerasFaceDiscriminator, KerasFaceGenerator
from .mlp import MLPDiscriminator, MLPGenerator
from .resnet import ResNetDiscriminator, ResNetGenerator
from .stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator
from .superres import RRDBNet, SRResNet, UNetDiscriminatorSN
from .translation import PatchDiscriminator, ResNetTranslator, UNetTranslator
from .vae import ConvEncoder

NETWORKS: Registry[type[nn.Module]] = Registry("network class")
for _cls in (
    MLPGenerator,
    MLPDiscriminator,
    TFDCGANGenerator,
    TFDCGANDiscriminator,
    DCGANGenerator,
    DCGANDiscriminator,
    ConvEncoder,
    ResNetGenerator,
    ResNetDiscriminator,
    KerasFaceGenerator,
    KerasFaceDiscriminator,
    ResNetTranslator,
    UNetTranslator,
    PatchDiscriminator,
    StyleGAN2Generator,
    StyleGAN2Discriminator,
    SRResNet,
    RRDBNet,
    UNetDiscriminatorSN,
):
    NETWORKS.register(_cls.__name__)(_cls)


@dataclass(frozen=True)
class NetSpec:
    """What it takes to rebuild one network: its class name and constructor arguments."""

    cls: str
    args: dict[str, Any]

    def build(self) -> nn.Module:
        return NETWORKS.get(self.cls)(**self.args)

    def to_dict(self) -> dict[str, Any]:
        return {"class": self.cls, "args": dict(self.args)}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> NetSpec:
        return NetSpec(d["class"], dict(d["args"]))


@dataclass(frozen=True)
class PairOptions:
    """What a GAN recipe may ask of a network pair besides size: class conditioning, spectral
    norm and D's normalization. A pair that cannot honour an option refuses it in one line."""

    num_classes: int = 0  # > 0: class-conditional G and D
    g_cond: str = "embed"  # "embed" (label embedding + z) or "cbn" (conditional BatchNorm)
    d_cond: str = "projection"  # "projection" (Miyato & Koyama) or "acgan" (auxiliary classifier)
    spectral_norm: bool = False  # on every conv/linear layer of D
    d_norm: str = "batch"  # "batch" or "none" (no BatchNorm in D)
    mbstd: int = 0  # > 0: a minibatch standard-deviation map in D over groups of this size
    g_upsample: str = "convt"  # G's 2x layers: "convt" (transposed conv) or "resize" (+ conv)

    def refuse(self, model: str, *, conditional: bool = False, spectral_norm: bool = True,
               d_norms: tuple[str, ...] = ("batch", "none"), mbstd: bool = False,
               upsample: bool = False) -> None:
        """Raise a one-line error for an option model ``model`` lacks."""
        if self.num_classes and not conditional:
            raise GanforgeError(f"model {model} has no class-conditional form; use --model dcgan "
                                "(or resnet32) for a conditional GAN")
        if self.spectral_norm and not spectral_norm:
            raise GanforgeError(f"model {model} does not take spectral norm")
        if self.d_norm not in d_norms:
            raise GanforgeError(f"model {model}'s discriminator takes d_norm {' or '.join(d_norms)}, "
                                f"not {self.d_norm!r}")
        if self.g_upsample != "convt" and not upsample:
            raise GanforgeError(f"model {model} has no --g-upsample choice; use --model dcgan")
        if self.mbstd and not mbstd:
            raise GanforgeError(f"model {model} has no minibatch-std layer; use --model dcgan or "
                                "drop --mbstd")


MODELS: Registry = Registry("model")


@MODELS.register("mlp")
def mlp_family(size: int, channels: int, z_dim: int, width: int = 256,
               opts: PairOptions = PairOptions()) -> tuple[NetSpec, NetSpec]:
    """The fully connected GAN of the simple GAN tutorials."""
    opts.refuse("mlp", spectral_norm=False, d_norms=("batch", "none"))
    hidden = [width, width * 2, width * 4]
    g = NetSpec("MLPGenerator", dict(z_dim=z_dim, channels=channels, size=size, hidden=hidden))
    d = NetSpec("MLPDiscriminator", dict(channels=channels, size=size, hidden=hidden[::-1]))
    return g, d


@MODELS.register("dcgan28")
def tf_dcgan_family(size: int, channels: int, z_dim: int, width: int = 64,
                    opts: PairOptions = PairOptions()) -> tuple[NetSpec, NetSpec]:
    """The exact networks of the TensorFlow DCGAN tutorial (28x28x1 digits)."""
    if size != 28 or channels != 1:
        raise GanforgeError(
            f"model dcgan28 (the TensorFlow tutorial's) makes 28x28 grayscale images, not "
            f"{size}x{size}x{channels}; use --size 28 or the general 'dcgan' model"
        )
    opts.refuse("dcgan28", spectral_norm=False, d_norms=("batch", "none"))
    return (
        NetSpec("TFDCGANGenerator", dict(z_dim=z_dim)),
        NetSpec("TFDCGANDiscriminator", dict(dropout=0.3)),
    )


@MODELS.register("dcgan")
def dcgan_family(size: int, channels: int, z_dim: int, width: int = 64,
                 opts: PairOptions = PairOptions()) -> tuple[NetSpec, NetSpec]:
    """Radford et al.'s DCGAN for 28/32/64/128 px (the face-GAN tutorials' network)."""
    DCGANGenerator.check_size(size)
    opts.refuse("dcgan", conditional=True, mbstd=True, upsample=True)
    g_args: dict[str, Any] = dict(z_dim=z_dim, size=size, channels=channels, width=width)
    d_args: dict[str, Any] = dict(size=size, channels=channels, width=width)
    if opts.num_classes:  # only then, so unconditional specs read as in ganforge 0.1
        g_args.update(num_classes=opts.num_classes, cond=opts.g_cond)
        d_args.update(num_classes=opts.num_classes, cond=opts.d_cond)
    if opts.d_norm != "batch":
        d_args["norm"] = opts.d_norm
    if opts.spectral_norm:
        d_args["spectral_norm"] = True
    if opts.mbstd:
        d_args["mbstd"] = opts.mbstd
    if opts.g_upsample != "convt":
        g_args["upsample"] = opts.g_upsample
    return NetSpec("DCGANGenerator", g_args), NetSpec("DCGANDiscriminator", d_args)


@MODELS.register("resnet32")
def resnet_family(size: int, channels: int, z_dim: int, width: int = 128,
                  opts: PairOptions = PairOptions()) -> tuple[NetSpec, NetSpec]:
    """SNGAN's CIFAR-10 ResNet (32 px): D ``width`` channels, G twice that (128/256 in the paper)."""
    if size != 32:
        raise GanforgeError(f"model resnet32 (SNGAN's CIFAR ResNet) makes 32px images, not {size}px; "
                            "use --size 32 (or the dcgan model)")
    opts.refuse("resnet32", conditional=True, d_norms=("none", "batch"))
    g_args: dict[str, Any] = dict(z_dim=z_dim, size=size, channels=channels, width=2 * width)
    d_args: dict[str, Any] = dict(size=size, channels=channels, width=width,
                                  spectral_norm=opts.spectral_norm)
    if opts.num_classes:
        g_args["num_classes"] = opts.num_classes
        d_args.update(num_classes=opts.num_classes, cond=opts.d_cond)
    return NetSpec("ResNetGenerator", g_args), NetSpec("ResNetDiscriminator", d_args)


@MODELS.register("facegan")
def facegan_family(size: int, channels: int, z_dim: int, width: int = 0,
                   opts: PairOptions = PairOptions()) -> tuple[NetSpec, NetSpec]:
    """The Keras face GAN of the seed article, exactly (128 px; ``width`` does not apply)."""
    if size != 128:
        raise GanforgeError(f"model facegan (the Keras face GAN) makes 128px images, not {size}px; "
                            "use --size 128")
    opts.refuse("facegan", spectral_norm=False)
    return (NetSpec("KerasFaceGenerator", dict(z_dim=z_dim, channels=channels)),
            NetSpec("KerasFaceDiscriminator", dict(size=size, channels=channels, dropout=0.4)))


def build_family(name: str, size: int, channels: int, z_dim: int, width: int,
                 opts: PairOptions = PairOptions()) -> tuple[NetSpec, NetSpec]:
    return MODELS.get(name)(size=size, channels=channels, z_dim=z_dim, width=width, opts=opts)


__all__ = [
    "MODELS",
    "NETWORKS",
    "NetSpec",
    "PairOptions",
    "build_family",
    "DCGANGenerator",
    "DCGANDiscriminator",
    "TFDCGANGenerator",
    "TFDCGANDiscriminator",
    "MLPGenerator",
    "MLPDiscriminator",
    "ConvEncoder",
    "ResNetGenerator",
    "ResNetDiscriminator",
    "KerasFaceGenerator",
    "KerasFaceDiscriminator",
    "ResNetTranslator",
    "UNetTranslator",
    "PatchDiscriminator",
]
