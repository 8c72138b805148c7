"""ganforge: train GANs and make images that never existed, in a few lines of code.

    import ganforge
    run = ganforge.train("mnist-fast", epochs=5)
    images = run.generate(64, seed=0)          # (64, 1, 28, 28) floats in [0, 1]
    g = ganforge.load(run.path)                # later, in another process
"""

__version__ = "0.1.0"

from .api import Run, load, train  # noqa: E402
from .config import PRESETS, TrainConfig  # noqa: E402
from .errors import GanforgeError  # noqa: E402
from .metrics import evaluate  # noqa: E402
from .sampling import Sampler  # noqa: E402

__all__ = ["GanforgeError", "PRESETS", "Run", "Sampler", "TrainConfig", "evaluate", "load", "train",
           "__version__"]
