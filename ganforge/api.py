"""The public Python API: train, load, and the Run a training returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from PIL import Image

from .config import Config, resolve, resume_config
from .data import DATASETS, PAIRSETS
from .errors import GanforgeError
from .infer import Inference, Sampler, Translator, Upscaler
from .infer import load as _load
from .rundir import RunDir
from .training.loop import train_run


class Run:
    """A run folder: its config, its metrics, and its generator (loaded on first use)."""

    def __init__(self, path: str | Path, device: str = "auto") -> None:
        self.dir = RunDir(path)
        self.path = self.dir.path
        if not self.dir.config_file.is_file():
            raise GanforgeError(f"{self.path}: not a ganforge run folder (no config.json)")
        self._device = device
        self._sampler: Sampler | None = None

    @property
    def config(self) -> Config:
        return self.dir.config()

    @property
    def metrics(self) -> list[dict[str, Any]]:
        return self.dir.metrics()

    @property
    def model(self) -> Inference:
        """The run's inference object: a Sampler, or a Translator for cyclegan/pix2pix runs."""
        if self._sampler is None:
            self._sampler = _load(self.path, self._device)
        return self._sampler

    @property
    def sampler(self) -> Sampler:
        m = self.model
        if isinstance(m, Upscaler):
            raise GanforgeError(f"{self.path}: a super-resolution run; use .upscaler (or .upscale)")
        if not isinstance(m, Sampler):
            raise GanforgeError(f"{self.path}: a translation run; use .translator (or .translate)")
        return m

    @property
    def translator(self) -> Translator:
        m = self.model
        if not isinstance(m, Translator):
            raise GanforgeError(f"{self.path}: a run that generates images; use .generate")
        return m

    @property
    def upscaler(self) -> Upscaler:
        m = self.model
        if not isinstance(m, Upscaler):
            raise GanforgeError(f"{self.path}: not a super-resolution run")
        return m

    def upscale(self, images: Any, tile: int | None = 256, overlap: int = 32) -> Any:
        """Upscaled images (tensor in [0, 1] or PIL); see :meth:`Upscaler.upscale`."""
        return self.upscaler.upscale(images, tile, overlap)

    def generate(self, n: int, seed: int = 0, pil: bool = False,
                 label: int | str | list | None = None) -> torch.Tensor | list[Image.Image]:
        """``n`` images from the trained generator; ``label`` (class-conditional runs): a class
        index or name, a list of ``n``, or None for the classes in turn. See
        :meth:`Sampler.generate`."""
        return self.sampler.generate(n, seed=seed, pil=pil, label=label)

    def translate(self, images: Any, direction: str = "a2b", batch_size: int = 16) -> Any:
        """Translated images (tensor in [0, 1] or PIL); see :meth:`Translator.translate`. For a
        folder or zip on disk, streamed: ``run.translator.translate_folder(src, out)``."""
        return self.translator.translate(images, direction, batch_size=batch_size)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"


def train(
    preset: str | None = None,
    data: str | Path | None = None,
    epochs: int | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    quiet: bool = False,
    config: Config | None = None,
    allow_new_data: bool = False,
    **overrides: Any,
) -> Run:
    """Train a model and return its :class:`Run`.

    Example::

        run = ganforge.train("mnist-fast", epochs=5)
        images = run.generate(64, seed=0)

    Args:
        preset: a preset (``ganforge.PRESETS``), a model family (``gan``, ``vae``) or a GAN
            model name (``dcgan``) for its defaults.
        data: a registered data set name, an image folder or a zip of images (translation: a
            registered pair such as ``mnist2color``, or domain A with ``data_b=`` domain B).
        epochs: passes over the data.
        out: run folder (default ``runs/<preset>-<time>``): a new or empty folder; a folder
            holding other files is refused.
        resume: continue the run in ``out`` from its last checkpoint. Settings that say where
            and how long it runs (device, data path, epochs, max_steps, threads, eval/log/
            checkpoint cadence) may change; the rest is fixed by the saved state.
        config: a full :class:`Config` instead of preset + overrides.
        allow_new_data: with ``resume``, continue on data that is not the run's (other
            images; the same images at a new path need nothing). Refused without it.
        **overrides: any run or family setting, e.g. ``batch_size=64``, ``lr=1e-3``.

    Raises:
        GanforgeError: a bad setting or data path, named in one line.
    """
    if not resume:
        cfg = config or resolve(preset, data=None if data is None else str(data), epochs=epochs,
                                **overrides)
        return Run(train_run(cfg, out, quiet=quiet))
    if out is None:
        raise GanforgeError("resume needs the run folder: `ganforge train --resume RUN` "
                            "(Python: out=RUN)")
    rd = RunDir(out)
    rd.prepare(resume=True)
    if config is None:
        config = resume_config(rd.config(), preset, data=None if data is None else str(data),
                               epochs=epochs, **overrides)
    for flag, d in (("--data", config.run.data), ("--data-b", config.run.data_b)):
        if d and d not in DATASETS and d not in PAIRSETS and not Path(d).expanduser().exists():
            raise GanforgeError(f"--resume: the run's data {d} is gone; pass {flag} with its new place")
    return Run(train_run(config, out, resume=True, quiet=quiet, allow_new_data=allow_new_data))


def load(run_dir: str | Path, device: str = "auto") -> Inference:
    """The inference object of a run, its ``best/``, or any model folder, rebuilt from its
    model files with no flags: a :class:`Sampler` (``.generate(n, seed=...)``), for a
    cyclegan/pix2pix run a :class:`Translator` (``.translate(images, direction="a2b")``), for a
    superres run an :class:`Upscaler` (``.upscale(image)``)."""
    return _load(run_dir, device)


# ---- export: ONNX files and the model card --------------------------------------------------
def export(run_dir: str | Path, out: str | Path | None = None, direction: str | None = None,
           check: bool = True) -> list[Any]:
    """Export a run (or its ``best/``, or a model folder) as ONNX: one file that makes what
    ``generate`` makes (``z`` [, ``label``] [, ``psi``] -> ``image`` in [0, 1]), or per
    translation direction one that makes what ``translate`` makes (``image`` -> ``translated``),
    with a dynamic batch axis and the post-processing inside the graph.

    Args:
        out: the .onnx file (default ``RUN/model.onnx``; a translation run: ``RUN/model-a2b.onnx``
            and, for CycleGAN, ``RUN/model-b2a.onnx``). Only with a single file.
        direction: ``a2b`` or ``b2a`` (translation runs; default: every direction the run has).
        check: run each file with onnxruntime at batch 1 and 3; refuse it if it differs from
            PyTorch by more than 1e-4.

    Returns:
        One :class:`ganforge.infer.export.Exported` per file (path, inputs, outputs, the
        measured max |onnxruntime - PyTorch|).

    Raises:
        GanforgeError: ``pip install 'ganforge[export]'`` missing, a bad direction, or a
            file that does not match, in one line.
    """
    from .infer.export import export_onnx, need_onnx
    from .serialization import read_model

    need_onnx()  # before the model is loaded
    path = Path(run_dir)
    model = _load(path, "cpu")
    if isinstance(model, Translator):
        directions = [direction] if direction else model.directions
        for d in directions:
            model._net(d)  # a bad or missing direction: one line
    elif direction is not None:
        raise GanforgeError(f"--direction {direction}: {path} generates images; directions are for "
                            "translation runs")
    else:
        directions = [None]
    if out is not None and len(directions) > 1:
        raise GanforgeError(f"--out {out}: this run translates {' and '.join(directions)}; give "
                            "--direction to export one of them to --out")
    folder = path if path.is_dir() else path.parent  # a bare generator.safetensors: its folder
    family = "gan" if path.is_file() else str(read_model(path).get("family", "gan"))
    meta = {"family": family, "run": RunDir.of(folder).path.resolve().name}
    return [export_onnx(model, Path(out) if out is not None else RunDir(folder).onnx_file(d),
                        d or "a2b", meta, check=check)
            for d in directions]


def write_model_card(run_dir: str | Path, eval_json: str | Path | None = None) -> Path:
    """(Re)write ``RUN/MODEL_CARD.md`` from the run's files, as training does when it finishes;
    ``eval_json``: a ``ganforge eval RUN --json FILE`` result, whose scores and real-vs-real
    floors the card then lists. Returns the card's path."""
    from .card import write_model_card as write

    return write(run_dir, eval_json)
