"""Model families: one file each, with its typed config dataclass and its recipe.

Add one by writing ``families/<name>.py`` (a config dataclass with ``validate()`` whose fields
are ``typed.setting``s -- they become its ``ganforge train`` flags --, a class that meets
:class:`Recipe`, its presets in ``PRESETS``) and registering it in ``FAMILIES``; it is done when
it passes the family contract test (tests/test_families.py).
"""

from . import cyclegan, gan, pix2pix, stylegan2, superres, vae  # noqa: F401  (registers the families)
from .base import (
    FAMILIES,
    PRESETS,
    Batch,
    DataInfo,
    Export,
    Family,
    Preset,
    Reason,
    Recipe,
    ema_update,
    lower_lr,
    make_ema,
)
from .cyclegan import CycleGANConfig
from .gan import GANConfig
from .pix2pix import Pix2PixConfig
from .stylegan2 import StyleGAN2Config
from .superres import SuperResConfig
from .vae import VAEConfig

__all__ = ["FAMILIES", "PRESETS", "Batch", "CycleGANConfig", "DataInfo", "Export", "Family",
           "GANConfig", "Pix2PixConfig", "Preset", "Reason", "Recipe", "StyleGAN2Config",
           "SuperResConfig", "VAEConfig",
           "ema_update", "lower_lr", "make_ema"]
