"""Pickle-free files: models as safetensors + JSON config, training state as safetensors.

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

STATE_FORMAT = 1


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then rename over ``path``: readers see old or new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise GanforgeError(f"{path}: not a readable safetensors file ({e})") from None
    if "ganforge" not in meta:
        raise GanforgeError(f"{path}: has no ganforge architecture metadata")
    spec = NetSpec.from_dict(json.loads(meta["ganforge"]))
    net = spec.build()
    net.load_state_dict(tensors)
    return net.to(device), spec


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
    if meta.get("format") != str(STATE_FORMAT):
        raise GanforgeError(f"{path}: training-state format {meta.get('format')} is not "
                            f"supported (this ganforge reads format {STATE_FORMAT})")
    return _unflatten(json.loads(meta["skeleton"]), tensors)
