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
from .mlp import MLPDiscriminator, MLPGenerator
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


MODELS: Registry = Registry("model")


@MODELS.register("mlp")
def mlp_family(size: int, channels: int, z_dim: int, width: int = 256) -> tuple[NetSpec, NetSpec]:
    """The fully connected GAN of the simple GAN tutorials."""
    hidden = [width, width * 2, width * 4]
    g = NetSpec("MLPGenerator", dict(z_dim=z_dim, channels=channels, size=size, hidden=hidden))
    d = NetSpec("MLPDiscriminator", dict(channels=channels, size=size, hidden=hidden[::-1]))
    return g, d


@MODELS.register("dcgan28")
def tf_dcgan_family(
    size: int, channels: int, z_dim: int, width: int = 64
) -> tuple[NetSpec, NetSpec]:
    """The exact networks of the TensorFlow DCGAN tutorial (28x28x1 digits)."""
    if size != 28 or channels != 1:
        raise GanforgeError(
            f"model dcgan28 (the TensorFlow tutorial's) makes 28x28 grayscale images, not "
            f"{size}x{size}x{channels}; use --size 28 or the general 'dcgan' model"
        )
    return (
        NetSpec("TFDCGANGenerator", dict(z_dim=z_dim)),
        NetSpec("TFDCGANDiscriminator", dict(dropout=0.3)),
    )


@MODELS.register("dcgan")
def dcgan_family(size: int, channels: int, z_dim: int, width: int = 64) -> tuple[NetSpec, NetSpec]:
    """Radford et al.'s DCGAN for 28/32/64/128 px (the face-GAN tutorials' network)."""
    DCGANGenerator.check_size(size)
    g = NetSpec("DCGANGenerator", dict(z_dim=z_dim, size=size, channels=channels, width=width))
    d = NetSpec("DCGANDiscriminator", dict(size=size, channels=channels, width=width))
    return g, d


def build_family(
    name: str, size: int, channels: int, z_dim: int, width: int
) -> tuple[NetSpec, NetSpec]:
    return MODELS.get(name)(size=size, channels=channels, z_dim=z_dim, width=width)


__all__ = [
    "MODELS",
    "NETWORKS",
    "NetSpec",
    "build_family",
    "DCGANGenerator",
    "DCGANDiscriminator",
    "TFDCGANGenerator",
    "TFDCGANDiscriminator",
    "MLPGenerator",
    "MLPDiscriminator",
    "ConvEncoder",
]
