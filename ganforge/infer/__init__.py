"""Inference objects rebuilt from model files alone: no training code, no flags.

``load(path)`` reads a model folder (a run folder, its ``best/``, or any folder written by
``serialization.save_model``) and returns the object its ``kind`` names: a :class:`Sampler`
for ``sample``, a :class:`Translator` for ``translate``, an :class:`Upscaler` for ``upscale``.
A bare ``generator.safetensors`` file works too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..env import pick_device
from ..errors import GanforgeError
from ..provenance import weights_sha256
from ..serialization import load_network, read_model
from .sampler import Sampler, latents, render, slerp
from .translator import Translator
from .upscaler import Upscaler

KINDS = ("sample", "translate", "upscale")
Inference = Sampler | Translator | Upscaler


def load(path: str | Path, device: str = "auto") -> Inference:
    """The inference object of a run or model folder (or a generator ``.safetensors`` file)."""
    path = Path(path)
    if not path.exists():
        raise GanforgeError(f"{path}: no such run folder")
    dev = pick_device(device)
    if path.is_file():
        net, spec = load_network(path)
        if "z_dim" not in spec.args:
            raise GanforgeError(f"{path}: not a generator (its architecture names no z_dim)")
        k = int(spec.args.get("num_classes", 0))  # a bare file keeps no class names: 0..K-1
        s = Sampler(net.eval(), int(spec.args["z_dim"]), dev, [str(i) for i in range(k)] or None)
        s.provenance = {"run": path.stem, "model_sha256": weights_sha256([path])}
        return s
    meta = read_model(path)
    kind = meta["kind"]
    if kind not in KINDS:  # said before loading any weights
        raise _unknown_kind(kind, str(path))
    nets = {role: load_network(path / f"{name}.safetensors")[0].eval()
            for role, name in meta["uses"].items()}
    model = build(kind, nets, meta, dev, where=str(path))
    model.provenance = {"run": run_name(path), "model_sha256": weights_sha256(
        path / f"{name}.safetensors" for name in sorted(set(meta["uses"].values())))}
    return model


def run_name(path: Path) -> str:
    """How images name the model they came from: the model folder's last two path parts
    (``runs/faces``, ``faces/best``), never the whole path (it would carry the user's home)."""
    parts = path.resolve().parts
    return "/".join(parts[-2:]) if len(parts) > 2 else parts[-1]


def build(kind: str, nets: dict[str, nn.Module], info: dict, device: torch.device | None = None,
          where: str = "model") -> Inference:
    """The inference object for ``kind`` over networks by role: what ``load`` returns, and what
    the training loop draws its previews with (from the live networks)."""
    if kind == "sample":
        if "z_dim" not in info:
            raise GanforgeError(f"{where}: model.json names no z_dim; the folder is damaged")
        return Sampler(nets["generator"], int(info["z_dim"]), device, info.get("classes"))
    if kind == "translate":
        if "size" not in info or "channels" not in info:
            raise GanforgeError(f"{where}: model.json names no size/channels; the folder is damaged")
        return Translator(nets, int(info["size"]), int(info["channels"]), device,
                          tuple(info.get("domains") or ("A", "B")))
    if kind == "upscale":
        if "scale" not in info or "channels" not in info:
            raise GanforgeError(f"{where}: model.json names no scale/channels; the folder is damaged")
        return Upscaler(nets, int(info["scale"]), int(info["channels"]), device, int(info.get("size", 0)))
    raise _unknown_kind(kind, where)


def from_export(export: Any, device: torch.device | None = None) -> Inference:
    """The inference object over a training recipe's live networks (its ``Export``): what the
    training loop draws previews with and scores ``--eval-every`` on."""
    return build(export.kind, {r: export.net(r) for r in export.uses}, export.info, device)


def _unknown_kind(kind: str, where: str) -> GanforgeError:
    return GanforgeError(f"{where}: model kind {kind!r} needs a newer ganforge (this one knows "
                         f"{', '.join(KINDS)})")


__all__ = ["KINDS", "Inference", "Sampler", "Translator", "Upscaler", "build", "from_export", "latents",
           "load", "render", "slerp"]
