"""ganforge: train GANs and make images that never existed, in a few lines of code.

    import ganforge
    run = ganforge.train("mnist-fast", epochs=5)
    images = run.generate(64, seed=0)          # (64, 1, 28, 28) floats in [0, 1]
    g = ganforge.load(run.path)                # later, in another process
"""

from ._version import __version__
from .api import Run, load, train
from .config import PRESETS, Config, RunConfig
from .errors import GanforgeError
from .families import FAMILIES, CycleGANConfig, GANConfig, Pix2PixConfig, VAEConfig
from .infer import Sampler, Translator
from .metrics import evaluate

__all__ = ["FAMILIES", "PRESETS", "Config", "CycleGANConfig", "GANConfig", "GanforgeError",
           "Pix2PixConfig", "Run", "RunConfig", "Sampler", "Translator", "VAEConfig", "__version__",
           "evaluate", "load", "train"]
