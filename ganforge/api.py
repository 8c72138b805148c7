"""The public Python API: train, load, generate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from .config import TrainConfig, resolve
from .errors import GanforgeError
from .sampling import Sampler
from .training.loop import saved_config, train_run


class Run:
    """A run folder: its config, its metrics, and its generator (loaded on first use)."""

    def __init__(self, path: str | Path, device: str = "auto") -> None:
        self.path = Path(path)
        if not (self.path / "config.json").is_file():
            raise GanforgeError(f"{self.path}: not a ganforge run folder (no config.json)")
        self._device = device
        self._sampler: Sampler | None = None

    @property
    def config(self) -> dict[str, Any]:
        return json.loads((self.path / "config.json").read_text())

    @property
    def metrics(self) -> list[dict[str, Any]]:
        p = self.path / "metrics.jsonl"
        return [json.loads(x) for x in p.read_text().splitlines() if x.strip()] if p.exists() else []

    @property
    def sampler(self) -> Sampler:
        if self._sampler is None:
            self._sampler = Sampler.from_run(self.path, self._device)
        return self._sampler

    def generate(self, n: int, seed: int = 0, pil: bool = False) -> torch.Tensor | list[Image.Image]:
        """``n`` images from the trained generator; see :meth:`Sampler.generate`."""
        return self.sampler.generate(n, seed=seed, pil=pil)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"


def train(
    preset: str | None = None,
    data: str | Path | None = None,
    epochs: int | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    quiet: bool = False,
    config: TrainConfig | None = None,
    **overrides: Any,
) -> Run:
    """Train a GAN and return its :class:`Run`.

    Example::

        run = ganforge.train("mnist-dcgan", data="mnist-mini", epochs=5)
        images = run.generate(64, seed=0)

    Args:
        preset: a preset name (``ganforge.PRESETS``) or a model name for a plain config.
        data: a registered data set name, an image folder or a zip of images.
        epochs: passes over the data.
        out: run folder (default ``runs/<preset>-<time>``).
        resume: continue the run in ``out`` from its last checkpoint.
        config: a full :class:`TrainConfig` instead of preset + overrides.
        **overrides: any other :class:`TrainConfig` field, e.g. ``batch_size=64``.
    """
    if resume and config is None:
        if out is None:
            raise GanforgeError("resume=True needs out= (the run folder to continue)")
        config = saved_config(Path(out), epochs, overrides.get("max_steps"))
    if config is None:
        from .config import PRESETS
        from .models import MODELS

        if preset is not None and preset not in PRESETS:
            if preset not in MODELS:
                raise GanforgeError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS.names())}; "
                                    f"or a bare model: {', '.join(MODELS.names())}")
            overrides.setdefault("model", preset)
            preset = None
        config = resolve(preset, data=None if data is None else str(data), epochs=epochs,
                         **overrides)
    return Run(train_run(config, None if out is None else Path(out), resume=resume, quiet=quiet))


def load(run_dir: str | Path, device: str = "auto") -> Sampler:
    """The generator of a finished (or running) run, ready for ``.generate(n, seed=...)``."""
    return Sampler.from_run(run_dir, device)
