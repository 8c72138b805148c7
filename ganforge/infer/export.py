"""ONNX export of an inference object: the graph gives what ``generate`` / ``translate`` give.

A :class:`Sampler` exports as ``z`` (N, z_dim) [+ ``label`` (N,) int64 for a class-conditional
generator] [+ ``psi`` (1,) for StyleGAN2] -> ``image`` (N, C, H, W) in [0, 1]; a
:class:`Translator` as ``image`` (N, C, S, S) in [0, 1] at the run's size -> ``translated`` in
[0, 1], one file per direction; an :class:`Upscaler` as ``image`` (N, C, s, s) at its training
low-resolution size -> ``upscaled`` (N, C, s*scale, s*scale) (larger images: tile them, as
``upscale`` does). The [-1, 1] -> [0, 1] mapping and the clamp are inside the
graph, the batch axis is dynamic, and the file carries metadata (ganforge version, family, run,
``synthetic: true``, size, channels, value range).

Exporter: ``torch.onnx.export(dynamo=True)`` (torch.export), torch's default since 2.9; it needs
``onnxscript``. The older TorchScript exporter (``dynamo=False``) is deprecated and cannot export
StyleGAN2 with a dynamic batch (it loses the convolution kernels' shapes), so it is not offered,
though it is ~20x faster on a tiny generator (0.2 s vs 4 s). Every export is checked before it
is kept: onnxruntime runs the file at batch 1 and 3 and its images are compared with PyTorch's.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import json
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._version import __version__
from ..errors import GanforgeError
from ..serialization import atomic_write
from .sampler import Sampler, latents
from .translator import Translator
from .upscaler import Upscaler

TOLERANCE = 1e-4  # the largest |ONNX - PyTorch| pixel difference an export may keep


def need_onnx() -> None:
    """Refuse in one line when the ``export`` extra is not installed."""
    missing = [m for m in ("onnx", "onnxruntime", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise GanforgeError(f"ONNX export needs {', '.join(missing)}: pip install 'ganforge[export]'")


class SampleGraph(nn.Module):
    """A generator plus the sampler's post-processing: latents (+ labels, + psi) -> [0, 1]."""

    def __init__(self, net: nn.Module, conditional: bool, truncatable: bool) -> None:
        super().__init__()
        self.net, self.conditional, self.truncatable = net, conditional, truncatable

    def forward(self, z: torch.Tensor, first: torch.Tensor | None = None,
                second: torch.Tensor | None = None) -> torch.Tensor:
        # after z: labels (N,) int64 for a conditional generator, then psi (1,) where truncatable
        labels = first if self.conditional else None
        if self.truncatable:  # w pulled towards the average w by psi
            psi = second if self.conditional else first
            w = self.net.mapping(z, labels) if self.conditional else self.net.mapping(z)
            w_avg = self.net.mapping.w_avg
            w = w_avg + psi * (w - w_avg)
            img = self.net.synthesis(w[:, None].expand(-1, self.net.num_ws, -1))
        elif self.conditional:
            img = self.net(z, labels)
        else:
            img = self.net(z)
        return ((img + 1) / 2).clamp(0, 1)


class TranslateGraph(nn.Module):
    """A translation generator plus the translator's pre- and post-processing: [0, 1] -> [0, 1]."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return ((self.net(image * 2 - 1) + 1) / 2).clamp(0, 1)


@dataclass
class Exported:
    """What :func:`export_onnx` wrote and how closely onnxruntime reproduced PyTorch."""

    path: Path
    inputs: dict[str, list[Any]]  # name -> shape ("batch" for the dynamic axis)
    outputs: dict[str, list[Any]]
    max_abs_diff: dict[int, float]  # batch size -> max |onnxruntime - PyTorch| over the images
    metadata: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        sig = lambda d: ", ".join(f"{k} {tuple(v)}" for k, v in d.items())  # noqa: E731
        diffs = ", ".join(f"batch {b}: {d:.2g}" for b, d in self.max_abs_diff.items())
        checked = f"onnxruntime vs PyTorch max |diff| {diffs}" if diffs else "not checked (--no-check)"
        return f"wrote {self.path}: {sig(self.inputs)} -> {sig(self.outputs)}; {checked}"


def _cpu_copy(model: Sampler | Translator | Upscaler) -> Sampler | Translator | Upscaler:
    """The model as float32 on the CPU, for the graph and for the reference it is checked
    against (a GPU's TF32 convolutions would differ from any CPU runtime by more than 1e-4)."""
    if isinstance(model, Sampler):
        return Sampler(copy.deepcopy(model.net).float(), model.z_dim, "cpu", model.classes)
    if isinstance(model, Upscaler):
        return Upscaler({r: copy.deepcopy(n).float() for r, n in model.nets.items()}, model.scale,
                        model.channels, "cpu", model.size)
    return Translator({d: copy.deepcopy(n).float() for d, n in model.nets.items()}, model.size,
                      model.channels, "cpu", model.domains)


def _graph(model: Sampler | Translator | Upscaler, direction: str) -> tuple[nn.Module, dict[str, Any]]:
    """The export module (a CPU float copy: the caller's model is left as it was) and its
    description: input names, example inputs, and the metadata that depends on the model."""
    if isinstance(model, Sampler):
        net = copy.deepcopy(model.net).float().cpu().eval()
        truncatable = model.truncatable
        if hasattr(net, "use_fused_modconv"):
            net.use_fused_modconv(False)  # the grouped conv's group count would fix the batch
        graph = SampleGraph(net, model.conditional, truncatable).eval()
        z = latents(2, model.z_dim, 0)
        names, example = ["z"], [z]
        if model.conditional:
            names.append("label")
            example.append(torch.zeros(2, dtype=torch.long))
        if truncatable:
            names.append("psi")
            example.append(torch.ones(1))
        c, h, w = model.image_shape
        info = {"kind": "sample", "z_dim": str(model.z_dim), "image_size": f"{h}x{w}",
                "channels": str(c)}
        if model.classes:
            info["classes"] = json.dumps(model.classes)
        if truncatable:
            info["psi"] = "input psi (1,): truncation, 1 = none, 0 = the average image"
        return graph, {"names": names, "example": example, "info": info, "out": "image"}
    if isinstance(model, Upscaler):  # the published (GAN) generator; tiling stays outside
        net = copy.deepcopy(model._net("generator")).float().cpu().eval()
        side = _low_res_side(model)
        info = {"kind": "upscale", "scale": str(model.scale), "image_size": f"{side}x{side}",
                "output_size": f"{side * model.scale}x{side * model.scale}",
                "channels": str(model.channels)}
        return TranslateGraph(net).eval(), {"names": ["image"], "info": info, "out": "upscaled",
                                            "example": [torch.rand(2, model.channels, side, side)]}
    net = copy.deepcopy(model._net(direction)).float().cpu().eval()
    example = [torch.rand(2, model.channels, model.size, model.size)]
    info = {"kind": "translate", "direction": direction, "image_size": f"{model.size}x{model.size}",
            "channels": str(model.channels), "domains": json.dumps(list(model.domains))}
    return TranslateGraph(net).eval(), {"names": ["image"], "example": example, "info": info,
                                        "out": "translated"}


def _reference(model: Sampler | Translator | Upscaler, direction: str, n: int, seed: int
               ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The graph's inputs for ``n`` images and what the inference object itself makes of them."""
    if isinstance(model, Sampler):
        z = latents(n, model.z_dim, seed)
        feed, kw = {"z": z.numpy()}, {}
        if model.conditional:
            y = torch.arange(n) % len(model.classes or [0])
            feed["label"], kw["labels"] = y.numpy().astype(np.int64), y
        if model.truncatable:
            psi = 0.7  # truncation on, so the psi input is exercised
            feed["psi"], kw["psi"] = np.array([psi], np.float32), psi
        return feed, model.from_latents(z, **kw).numpy()
    side = _low_res_side(model) if isinstance(model, Upscaler) else model.size
    x = torch.rand(n, model.channels, side, side, generator=torch.Generator().manual_seed(seed))
    role = "generator" if isinstance(model, Upscaler) else direction
    return {"image": x.numpy()}, model.run(x, role).clamp(0, 1).numpy()


def _low_res_side(model: Upscaler) -> int:
    """The input side an upscaler's graph takes: its training low-resolution size (the graph's
    height and width are fixed; larger images are tiled by the caller, as `upscale` does)."""
    return model.size // model.scale if model.size else 32


def session(path: str | Path, threads: int = 0) -> Any:
    """An onnxruntime CPU session over an exported file (``threads`` 0: onnxruntime's choice)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def export_onnx(model: Sampler | Translator | Upscaler, out: str | Path, direction: str = "a2b",
                metadata: dict[str, str] | None = None, opset: int | None = None,
                check: bool = True) -> Exported:
    """Write ``model`` as an ONNX file at ``out`` and check it with onnxruntime.

    Args:
        model: a Sampler or a Translator (``ganforge.load(run)``).
        out: the .onnx file to write (written whole or not at all).
        direction: a translator's direction, ``a2b`` or ``b2a``; one file per direction.
        metadata: more ``metadata_props`` (the API adds family and run).
        opset: the ONNX opset (default: the exporter's own, 18 in torch 2.13).
        check: run the file at batch 1 and 3 with onnxruntime and refuse it if any pixel differs
            from PyTorch's by more than 1e-4.

    Raises:
        GanforgeError: the extra is missing, a bad direction, or the file does not match.
    """
    need_onnx()
    import onnx

    if not isinstance(model, (Sampler, Translator, Upscaler)):
        raise GanforgeError(f"cannot export a {type(model).__name__}: a Sampler, Translator or "
                            "Upscaler only")
    out = Path(out)
    if isinstance(model, Translator):
        model._net(direction)  # a bad or missing direction: one line, before any copy
    model = _cpu_copy(model)
    graph, d = _graph(model, direction)
    names, example, output = d["names"], tuple(d["example"]), d["out"]
    dynamic = [n for n in names if n != "psi"]
    meta = {"ganforge_version": __version__, "synthetic": "true", "value_range": "[0, 1]",
            "inputs": ", ".join(names), "output": output, **d["info"], **(metadata or {})}

    def write(tmp: str) -> None:
        batch = torch.export.Dim("batch", min=1)
        shapes = {k: ({0: batch} if n in dynamic else None)
                  for k, n in zip(("z", "first", "second") if isinstance(graph, SampleGraph)
                                  else ("image",), names)}
        try:
            with torch.no_grad(), _quiet():
                torch.onnx.export(graph, example, tmp, input_names=names, output_names=[output],
                                  dynamic_shapes=shapes, opset_version=opset, dynamo=True,
                                  external_data=False, verbose=False)
        except Exception as e:  # torch.export's errors run to pages: their first line, then ours
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise GanforgeError(f"{out}: torch could not export this model to ONNX ({first})") from None
        m = onnx.load(tmp)
        m.doc_string = ("ganforge: synthetic images, made by a generative model; "
                        "not photographs of real people or places")
        for k, v in meta.items():
            m.metadata_props.add(key=k, value=str(v))
        onnx.checker.check_model(m)
        onnx.save(m, tmp)

    diffs: dict[int, float] = {}
    if not check:
        atomic_write(out, write)
    else:  # written beside the target, checked, then moved into place: never a bad file kept
        tmp = out.with_name(f".{out.name}.checking")
        try:
            atomic_write(tmp, write)
            diffs = _check(tmp, model, direction)
            if max(diffs.values()) > TOLERANCE:
                raise GanforgeError(f"{out}: the ONNX graph differs from PyTorch by up to "
                                    f"{max(diffs.values()):.3g} (> {TOLERANCE}); not written")
            tmp.replace(out)
        finally:
            tmp.unlink(missing_ok=True)
    sess = session(out, 1)
    shape = lambda v: [s if isinstance(s, int) else "batch" for s in v.shape]  # noqa: E731
    return Exported(out, {i.name: shape(i) for i in sess.get_inputs()},
                    {o.name: shape(o) for o in sess.get_outputs()}, diffs, meta)


@contextlib.contextmanager
def _quiet() -> Any:
    """The exporter's progress lines (stdout) and its warnings about optional packages
    (torchvision's ops, logged) are not the user's business: only its errors are."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _check(path: Path, model: Sampler | Translator | Upscaler, direction: str) -> dict[int, float]:
    """max |onnxruntime - PyTorch| over every pixel, at batch 1 and at batch 3."""
    sess = session(path, torch.get_num_threads())
    diffs = {}
    for n in (1, 3):
        feed, want = _reference(model, direction, n, seed=n)
        got = sess.run(None, feed)[0]
        if got.shape != want.shape:
            raise GanforgeError(f"{path}: the ONNX graph made {got.shape} at batch {n}, PyTorch "
                                f"{want.shape}")
        diffs[n] = float(np.abs(got - want).max())
    return diffs


__all__ = ["TOLERANCE", "Exported", "SampleGraph", "TranslateGraph", "export_onnx",
           "need_onnx", "session"]
