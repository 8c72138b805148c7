"""ganforge: train GANs and make images that never existed, in a few lines of code.

    import ganforge
    run = ganforge.train("mnist-fast", epochs=5)
    images = run.generate(64, seed=0)          # (64, 1, 28, 28) floats in [0, 1]
    g = ganforge.load(run.path)                # later, in another process

The public names are imported on first use (PEP 562), not when the package is: ``import
ganforge.cli`` for ``ganforge --help`` must not pay for torch (README "Command line": 1.8 s
before, 0.1 s after).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import GanforgeError

# name -> the module that defines it
_WHERE = {
    "Run": "api", "load": "api", "train": "api", "export": "api", "write_model_card": "api",
    "PRESETS": "config", "Config": "config", "RunConfig": "config",
    "FAMILIES": "families", "CycleGANConfig": "families", "GANConfig": "families",
    "Pix2PixConfig": "families", "StyleGAN2Config": "families", "VAEConfig": "families",
    "Sampler": "infer", "Translator": "infer",
    "SuperResConfig": "families", "Upscaler": "infer",
    "evaluate": "metrics",
}

if TYPE_CHECKING:  # for type checkers and IDEs: the same names, eagerly
    from .api import Run, export, load, train, write_model_card
    from .config import PRESETS, Config, RunConfig
    from .families import (
        FAMILIES,
        CycleGANConfig,
        GANConfig,
        Pix2PixConfig,
        StyleGAN2Config,
        SuperResConfig,
        VAEConfig,
    )
    from .infer import Sampler, Translator, Upscaler
    from .metrics import evaluate


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'ganforge' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{where}", __name__), name)
    globals()[name] = value  # the next access is a plain lookup
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


__all__ = ["FAMILIES", "PRESETS", "Config", "CycleGANConfig", "GANConfig", "GanforgeError",
           "Pix2PixConfig", "Run", "RunConfig", "Sampler", "StyleGAN2Config", "Translator", "VAEConfig",
           "SuperResConfig", "Upscaler", "__version__",
           "evaluate", "export", "load", "train", "write_model_card"]
