"""Pickle-free files: model folders (model.json + one safetensors file per network) and the
training state (safetensors), all written atomically.

Loading any file ganforge writes never runs code. Nested training state (optimizer state dicts,
RNG states, counters) is split into a flat dict of tensors and a JSON skeleton stored in the
safetensors metadata.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from .errors import GanforgeError
from .models import NetSpec

# 1: ganforge 0.1 (flat GAN keys: generator, discriminator, opt_g, opt_d, rng_cpu, ...).
# 2: {step, rng: {cpu, cuda?}, recipe: {state name: state_dict}} for any model family.
STATE_FORMAT = 2
READABLE_STATE_FORMATS = ("1", "2")
MODEL_FILE = "model.json"
MODEL_FORMAT = 1


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then rename over ``path``: readers see old or new, never half.

    Raises:
        GanforgeError: the file could not be written (read-only folder, disk full, ...); the
            message names it, and the previous version, if any, is left as it was.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise GanforgeError(f"{path}: cannot write there ({e.strerror or e}); choose a writable "
                            "place") from None
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except GanforgeError:
        Path(tmp).unlink(missing_ok=True)
        raise
    except Exception as e:  # OSError, or a library's own error type (SafetensorError) for ENOSPC
        Path(tmp).unlink(missing_ok=True)
        reason = (e.strerror if isinstance(e, OSError) and e.strerror else str(e).splitlines()[0])[:200]
        raise GanforgeError(f"{path}: could not be written ({reason}); the previous version, if "
                            "any, is unchanged") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_writable(path: Path, what: str) -> None:
    """Refuse, before any expensive step, an output path whose folder cannot be written."""
    parent = Path(path).expanduser().absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.is_file():
        raise GanforgeError(f"{what} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK):
        raise GanforgeError(f"{what} {path}: cannot write into {parent} (read-only or not yours); "
                            "choose another path")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, lambda p: Path(p).write_text(json.dumps(obj, indent=2) + "\n"))


def _contiguous(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in sd.items()}


def save_network(path: Path, net: nn.Module, spec: NetSpec) -> None:
    """Weights plus the architecture (class + constructor args) in the file's metadata."""
    meta = {"ganforge": json.dumps(spec.to_dict())}
    atomic_write(path, lambda p: save_file(_contiguous(net.state_dict()), p, metadata=meta))


def load_network(path: Path, device: str | torch.device = "cpu") -> tuple[nn.Module, NetSpec]:
    """Rebuild a network from a file written by :func:`save_network`; no flags needed."""
    path = Path(path)
    if not path.is_file():
        raise GanforgeError(f"{path}: no such weights file")
    spec, tensors = _read_network_file(path, weights=True)
    net = spec.build()
    try:
        net.load_state_dict(tensors)
    except RuntimeError as e:
        raise GanforgeError(f"{path}: weights do not fit the architecture its metadata names "
                            f"({str(e).splitlines()[0][:160]})") from None
    return net.to(device), spec


def read_spec(path: Path) -> NetSpec:
    """The architecture stored in a network file's metadata, without loading the weights."""
    return _read_network_file(Path(path), weights=False)[0]


def _read_network_file(path: Path, weights: bool) -> tuple[NetSpec, dict[str, torch.Tensor]]:
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()} if weights else {}
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise GanforgeError(f"{path}: not a readable safetensors file ({e})") from None
    if "ganforge" not in meta:
        raise GanforgeError(f"{path}: has no ganforge architecture metadata")
    try:
        spec = NetSpec.from_dict(json.loads(meta["ganforge"]))
    except (ValueError, KeyError, TypeError):
        raise GanforgeError(f"{path}: its architecture metadata is damaged") from None
    return spec, tensors


# ---- nested state <-> (tensors, JSON skeleton) ------------------------------------------------


def _flatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = obj.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        return {"__dict__": [[k, _flatten(v, tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_flatten(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [_flatten(v, tensors) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a training state")


def _unflatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__dict__" in obj:
            return {k: _unflatten(v, tensors) for k, v in obj["__dict__"]}
        if "__tuple__" in obj:
            return tuple(_unflatten(v, tensors) for v in obj["__tuple__"])
    if isinstance(obj, list):
        return [_unflatten(v, tensors) for v in obj]
    return obj


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write nested training state (tensors, numbers, strings) atomically, without pickle."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _flatten(state, tensors)
    meta = {"format": str(STATE_FORMAT), "skeleton": json.dumps(skeleton)}
    atomic_write(path, lambda p: save_file(tensors, p, metadata=meta))


def load_state(path: Path) -> dict[str, Any]:
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:
        raise GanforgeError(f"{path}: not a readable training state ({e}); "
                            "it may be from a crashed write, start a new run") from None
    if meta.get("format") not in READABLE_STATE_FORMATS:
        raise GanforgeError(f"{path}: training-state format {meta.get('format')} is not "
                            f"supported (this ganforge reads formats {', '.join(READABLE_STATE_FORMATS)})")
    state = _unflatten(json.loads(meta["skeleton"]), tensors)
    state["format"] = int(meta["format"])
    return state


_FORMAT1_RECIPE_KEYS = ("generator", "discriminator", "opt_g", "opt_d", "generator_ema")


def read_training_state(path: Path) -> dict[str, Any]:
    """A state file as format 2 ``{step, rng, recipe}``; format-1 files (ganforge 0.1, GAN
    only) are translated: their network and optimizer keys are the GAN recipe's state names."""
    state = load_state(path)
    if state["format"] == 1:
        rng = {"cpu": state["rng_cpu"]} if "rng_cpu" in state else {}
        if "rng_cuda" in state:
            rng["cuda"] = state["rng_cuda"]
        recipe = {k: state[k] for k in _FORMAT1_RECIPE_KEYS if k in state}
        return {"step": int(state["step"]), "rng": rng, "recipe": recipe}
    return {"step": int(state["step"]), "rng": state.get("rng", {}), "recipe": state["recipe"]}


# ---- model folders: model.json + <net>.safetensors ----------------------------------------------


def save_model(folder: Path, *, family: str, kind: str, nets: dict[str, tuple[nn.Module, NetSpec]],
               uses: dict[str, str], info: dict[str, Any], version: str) -> None:
    """Publish networks as a folder ``ganforge.load`` rebuilds with no flags.

    ``uses`` maps the inference object's roles (e.g. ``generator``) to network names; ``info``
    holds what inference needs beyond the networks (e.g. ``z_dim``). The network files go first
    and model.json last, so a reader never sees a model.json naming a file not yet written.
    """
    folder = Path(folder)
    for name, (net, spec) in nets.items():
        save_network(folder / f"{name}.safetensors", net, spec)
    write_json(folder / MODEL_FILE, {
        "format": MODEL_FORMAT, "ganforge_version": version, "family": family, "kind": kind,
        "uses": uses, "nets": {name: spec.to_dict() for name, (_, spec) in nets.items()}, **info,
    })


def read_model(folder: Path) -> dict[str, Any]:
    """A model folder's description. A ganforge 0.1 run folder (no model.json, a
    generator.safetensors whose metadata names its z_dim) reads as a GAN sampler."""
    folder = Path(folder)
    path = folder / MODEL_FILE
    if path.is_file():
        try:
            meta = json.loads(path.read_text())
            if not isinstance(meta, dict) or not {"kind", "uses"} <= set(meta):
                raise ValueError("it lacks 'kind' or 'uses'")
        except ValueError as e:
            raise GanforgeError(f"{path}: not a valid ganforge model description ({e}); "
                                "the folder is damaged") from None
        return meta
    legacy = folder / "generator.safetensors"
    if legacy.is_file():
        spec = read_spec(legacy)
        if "z_dim" not in spec.args:
            raise GanforgeError(f"{legacy}: its architecture metadata has no z_dim; cannot sample")
        return {"format": 0, "family": "gan", "kind": "sample", "uses": {"generator": "generator"},
                "z_dim": int(spec.args["z_dim"])}
    raise GanforgeError(f"{folder}: no {MODEL_FILE} (nor generator.safetensors) in it; "
                        "is it a ganforge run or model folder?")
