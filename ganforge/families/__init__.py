"""Model families: one file each, with its typed config dataclass and its recipe.

Add one by writing ``families/<name>.py`` (a config dataclass with ``validate()``, a class that
meets :class:`Recipe`) and registering it in ``FAMILIES``; it is done when it passes the family
contract test (tests/test_families.py).
"""

from . import gan, vae  # noqa: F401  (registers the families)
from .base import FAMILIES, Batch, DataInfo, Export, Family, Recipe, ema_update, make_ema
from .gan import GANConfig
from .vae import VAEConfig

__all__ = ["FAMILIES", "Batch", "DataInfo", "Export", "Family", "GANConfig", "Recipe", "VAEConfig",
           "ema_update", "make_ema"]
