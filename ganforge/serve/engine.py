"""What the web app serves, without the web: the runs it finds, their models (loaded once,
shared, reloaded when training publishes newer weights), request batching, and the checks
an uploaded image passes before any pixel is decoded.

No FastAPI here, so it is tested (and reasoned about) on its own.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from .. import provenance
from ..errors import GanforgeError
from ..infer import Inference, Sampler, Translator, latents, load, slerp
from ..rundir import RunDir
from ..visual import make_grid, to_pil

# ---- limits ---------------------------------------------------------------------------------
MAX_UPLOAD_BYTES = 10 * 2**20  # an upload's size
MAX_UPLOAD_PIXELS = 4096 * 4096  # an upload's width x height, read from its header before decoding
UPLOAD_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")  # what the content must be
MAX_IMAGES = 64  # images in one /api/generate grid
MAX_BATCH = 32  # latents rendered in one forward pass when requests arrive together
LOSS_POINTS = 400  # points per loss curve sent to the page (evenly thinned)
RECHECK_S = 2.0  # how often a run's model files are checked for newer weights
INLINE_PIXELS = 128 * 128  # PNGs up to this size are encoded on the event loop (a thread hop costs more)


class BadRequest(Exception):
    """A request the client can fix: ``status`` (4xx) and a one-line ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


# ---- images out -----------------------------------------------------------------------------
def encode_png(img: Image.Image, info: dict[str, str]) -> bytes:
    """Every image the server returns passes through here: a PNG carrying ganforge's provenance
    record (synthetic, the IPTC source type, version) and ``info`` (run, model hash, seed, class,
    psi, ...), as every file ganforge writes does."""
    return provenance.encode_png(img, provenance.record(**info))


# ---- images in ------------------------------------------------------------------------------
def open_upload(data: bytes, max_pixels: int = MAX_UPLOAD_PIXELS) -> Image.Image:
    """An uploaded image, decoded only after its content (not its name) says it is an image of
    a known format and its header says it is no larger than ``max_pixels``.

    Raises:
        BadRequest: 400 empty or not an image, 413 too many pixels or a decompression bomb.
    """
    if not data:
        raise BadRequest(400, "the uploaded file is empty (0 bytes)")
    try:
        img = Image.open(io.BytesIO(data), formats=UPLOAD_FORMATS)  # sniffs the bytes; reads the header only
    except Image.DecompressionBombError as e:
        raise BadRequest(413, f"refused as a decompression bomb: {e}") from None
    except (OSError, ValueError, SyntaxError):
        raise BadRequest(400, "the uploaded file is not an image (its content is none of "
                              f"{', '.join(UPLOAD_FORMATS)}, whatever its name)") from None
    w, h = img.size
    if w * h > max_pixels:
        raise BadRequest(413, f"the image is {w}x{h} = {w * h:,} pixels; the limit is "
                              f"{max_pixels:,} (shrink it first)")
    try:
        img.load()  # the full decode: a truncated file fails here
    except Image.DecompressionBombError as e:
        raise BadRequest(413, f"refused as a decompression bomb: {e}") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise BadRequest(400, f"the uploaded {img.format} image cannot be decoded: "
                              f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    return img


# ---- batching -------------------------------------------------------------------------------
@dataclass
class Job:
    """One /api/generate request: its latents, labels and truncation."""

    z: torch.Tensor
    labels: torch.Tensor | None
    psi: float | None


class Batcher:
    """Renders jobs that arrive together in one forward pass.

    No waiting window: the first job runs at once; the jobs that arrive while a pass runs
    (in a worker thread, off the event loop) are rendered together in the next one, up to
    ``max_batch`` latents. At one client nothing is delayed; under load the passes grow.
    """

    def __init__(self, render: Callable[[Sequence[Job]], list[torch.Tensor]], max_batch: int) -> None:
        self.render, self.max_batch = render, max(1, max_batch)
        self.queue: deque[tuple[Job, asyncio.Future]] = deque()
        self.task: asyncio.Task | None = None
        self.passes = self.jobs = 0  # forward passes made and jobs served: the batching at work

    async def submit(self, job: Job) -> torch.Tensor:
        fut = asyncio.get_running_loop().create_future()
        self.queue.append((job, fut))
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._work())
        return await fut

    async def _work(self) -> None:
        while self.queue:
            batch = [self.queue.popleft()]
            size = len(batch[0][0].z)
            while self.queue and size + len(self.queue[0][0].z) <= self.max_batch:
                batch.append(self.queue.popleft())
                size += len(batch[-1][0].z)
            live = [(j, f) for j, f in batch if not f.done()]  # a client that left is not rendered
            if not live:
                continue
            try:
                out = await asyncio.to_thread(self.render, [j for j, _ in live])
            except Exception as e:  # every job of the pass gets the error; the worker goes on
                for _, f in live:
                    if not f.done():
                        f.set_exception(e)
                continue
            self.passes += 1
            self.jobs += len(live)
            for (_, f), images in zip(live, out):
                if not f.done():
                    f.set_result(images)


# ---- runs -----------------------------------------------------------------------------------
@dataclass
class Loaded:
    """A run's inference object, the file times it was loaded at, its lock and batcher."""

    model: Inference
    stamp: tuple
    checked: float  # time.monotonic() when the model files were last compared with ``stamp``
    lock: threading.Lock = field(default_factory=threading.Lock)
    batcher: Batcher | None = None


class Runs:
    """The runs under the folders given to ``ganforge serve``, found again on every listing (a
    run started after the server appears), and their models, each loaded once and shared by
    every client; reloaded when the run publishes newer weights."""

    def __init__(self, roots: Sequence[str | Path], device: str = "cpu", max_batch: int = MAX_BATCH) -> None:
        self.roots = [Path(r) for r in roots]
        missing = [str(r) for r in self.roots if not r.exists()]
        if missing:
            raise GanforgeError(f"{missing[0]}: no such run folder (or folder of runs)")
        self.device, self.max_batch = device, max_batch
        self._loaded: dict[str, Loaded] = {}
        self._loading: dict[str, asyncio.Lock] = {}
        self._records: dict[Path, tuple[tuple, list[dict[str, Any]]]] = {}
        not_dirs = [str(r) for r in self.roots if not r.is_dir()]
        if not_dirs:
            raise GanforgeError(f"{not_dirs[0]}: a file, not a run folder (or folder of runs)")
        self.scan()  # none yet is fine: runs started later appear on the runs page

    def scan(self) -> dict[str, RunDir]:
        """Name -> run: a run given itself is named by its folder, one found under a given
        folder by its path below that folder; a clash gets a number."""
        found: dict[str, RunDir] = {}
        for root in self.roots:
            for rd in RunDir.find(root):
                name = rd.path.name if rd.path == root else rd.path.relative_to(root).as_posix()
                base, k = name, 2
                while name in found and found[name].path.resolve() != rd.path.resolve():
                    name, k = f"{base}-{k}", k + 1
                found[name] = rd
        self.dirs = found
        return found

    def get(self, name: str) -> RunDir:
        if name not in self.dirs:
            self.scan()
        if name not in self.dirs:
            known = ", ".join(sorted(self.dirs)) or "none"
            raise BadRequest(404, f"run {name!r}: no such run here (known: {known})")
        return self.dirs[name]

    def records(self, rd: RunDir) -> list[dict[str, Any]]:
        """The run's metrics records, read again only when metrics.jsonl changed (the runs page
        asks every few seconds; a long run's file is large)."""
        try:
            st = rd.metrics_file.stat()
            key: tuple = (st.st_mtime_ns, st.st_size)
        except OSError:
            key = ()
        have = self._records.get(rd.path)
        if have is None or have[0] != key:
            have = (key, rd.metrics())
            self._records[rd.path] = have
        return have[1]

    def summaries(self) -> list[dict[str, Any]]:
        """Every run (found again now) as the runs page shows it."""
        return [summary(name, rd, self.records(rd)) for name, rd in self.scan().items()]

    @staticmethod
    def _stamp(rd: RunDir) -> tuple:
        return tuple((p.name, p.stat().st_mtime_ns) for p in rd.model_files())

    async def model(self, name: str) -> Loaded:
        """The run's loaded model, loading it (off the event loop, once however many clients
        ask at the same moment) on first use or when its model files changed. The files are
        looked at once per ``RECHECK_S`` at most, not on every request."""
        have = self._loaded.get(name)
        now = time.monotonic()
        if have is not None and now - have.checked < RECHECK_S and name in self.dirs:
            return have
        rd = self.get(name)
        lock = self._loading.setdefault(name, asyncio.Lock())
        async with lock:
            stamp = await asyncio.to_thread(self._stamp, rd)
            have = self._loaded.get(name)
            if have is not None and have.stamp == stamp:
                have.checked = time.monotonic()
                return have
            if not rd.model_file.is_file() and not (rd.path / "generator.safetensors").is_file():
                raise BadRequest(409, f"run {name!r} has no model yet (it publishes one at the end "
                                      "of its first epoch); its progress is on the runs page")
            try:
                model = await asyncio.to_thread(load, rd.path, self.device)
            except GanforgeError as e:
                raise BadRequest(409, f"run {name!r}: {e}") from None
            loaded = Loaded(model, stamp, time.monotonic())
            if isinstance(model, Sampler):
                loaded.batcher = Batcher(lambda jobs: _render(loaded, jobs), self.max_batch)
            self._loaded[name] = loaded
            return loaded


def _render(loaded: Loaded, jobs: Sequence[Job]) -> list[torch.Tensor]:
    """One forward pass per truncation value over every job's latents (a worker thread)."""
    sampler = loaded.model
    assert isinstance(sampler, Sampler)
    out: list[torch.Tensor | None] = [None] * len(jobs)
    for psi in dict.fromkeys(j.psi for j in jobs):
        idx = [i for i, j in enumerate(jobs) if j.psi == psi]
        z = torch.cat([jobs[i].z for i in idx])
        y = None if sampler.classes is None else torch.cat([jobs[i].labels for i in idx])  # type: ignore[misc]
        with loaded.lock:
            images = sampler.from_latents(z, batch_size=len(z), labels=y, psi=psi)
        for i, part in zip(idx, images.split([len(jobs[i].z) for i in idx])):
            out[i] = part
    return out  # type: ignore[return-value]


def make_job(sampler: Sampler, seed: int, n: int, label: str | None, psi: float | None,
             seed_b: int | None, t: float) -> Job:
    """A generate request as latents: ``n`` images from ``seed`` (``generate(n, seed)``'s), or
    the point ``t`` of the way along the great circle to ``seed_b``'s. Checked here, so a bad
    class or psi is the client's 4xx, never a failed batch."""
    if not 1 <= n <= MAX_IMAGES:
        raise BadRequest(422, f"n: must be 1-{MAX_IMAGES}, got {n}")
    if not 0 <= t <= 1:
        raise BadRequest(422, f"t: must be in [0, 1], got {t}")
    if psi is not None and not sampler.truncatable:
        raise BadRequest(400, "psi: this run's generator has no average latent to truncate towards "
                              "(truncation is for stylegan2 runs); leave psi out")
    if psi is not None and not (math.isfinite(psi) and -1 <= psi <= 2):
        raise BadRequest(422, f"psi: must be in [-1, 2] (1 = no truncation), got {psi}")
    try:
        if label is not None and sampler.classes is None:
            raise BadRequest(400, "class: this run is not class-conditional; leave class out")
        labels = sampler.labels(n, label)
        z = latents(n, sampler.z_dim, seed)
        if seed_b is not None:
            z = slerp(z, latents(n, sampler.z_dim, seed_b), t)
    except GanforgeError as e:
        msg = str(e).replace("--class", "class")
        raise BadRequest(400, msg if msg.startswith("class") else f"class: {msg}") from None
    return Job(z, labels, psi)


def as_png(images: torch.Tensor, info: dict[str, str]) -> bytes:
    """One image, or a grid of several, as PNG bytes (through :func:`encode_png`)."""
    img = to_pil(images)[0] if len(images) == 1 else make_grid(images)
    return encode_png(img, info)


def translate(loaded: Loaded, img: Image.Image, direction: str) -> Image.Image:
    """One uploaded image translated at its own size (a worker thread; one at a time per model)."""
    tr = loaded.model
    assert isinstance(tr, Translator)
    with loaded.lock:
        out = tr.translate(img, direction)
    assert isinstance(out, Image.Image)
    return out


# ---- what the pages show --------------------------------------------------------------------
def controls(loaded: Loaded) -> dict[str, Any]:
    """What the page offers for a run's model: classes, truncation, translation directions."""
    m = loaded.model
    if isinstance(m, Sampler):
        with loaded.lock:  # one forward pass: the model is shared
            c, h, w = m.image_shape
        return {"kind": "sample", "classes": m.classes, "truncatable": m.truncatable,
                "z_dim": m.z_dim, "image": [w, h, c]}
    return {"kind": "translate", "directions": m.directions, "domains": list(m.domains),
            "size": m.size, "channels": m.channels}


def summary(name: str, rd: RunDir, records: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A run as the runs page shows it, read from its files alone (no model is loaded): family,
    progress, the latest grid, loss curves, evaluations and the scores beside their floors.
    ``records``: its metrics if already read."""
    out: dict[str, Any] = {"name": name}
    try:
        cfg = rd.raw_config()
    except GanforgeError:
        cfg = {}
    run = cfg.get("run") if isinstance(cfg.get("run"), dict) else {}
    out["family"] = cfg.get("family") or run.get("family")
    out["preset"] = run.get("preset")
    out["data"] = run.get("data")
    out["epochs"], out["max_steps"] = run.get("epochs"), run.get("max_steps")
    try:
        out["kind"] = json.loads(rd.model_file.read_text()).get("kind") if rd.model_file.is_file() else None
    except (OSError, ValueError, AttributeError):
        out["kind"] = None
    if out["kind"] is None and (rd.path / "generator.safetensors").is_file():
        out["kind"] = "sample"  # a ganforge 0.1 run folder
    records = rd.metrics() if records is None else records
    steps = [r for r in records if "step" in r]
    last = steps[-1] if steps else {}
    out["step"], out["epoch"] = last.get("step"), last.get("epoch")
    times = [p.stat().st_mtime for p in (rd.metrics_file, rd.state_file) if p.is_file()]
    out["updated"] = max(times) if times else None
    out["age_s"] = round(time.time() - out["updated"], 1) if out["updated"] else None
    sample = rd.latest_sample()
    out["grid"] = None if sample is None else {"name": sample.name, "version": sample.stat().st_mtime_ns}
    out["losses"] = _curves(records)
    out["evals"] = [{"step": r.get("step"), "metric": r["eval"], "value": r.get("value")}
                    for r in records if "eval" in r]
    best = rd.best_score()
    out["best"] = best
    out["scores"] = [_score_row(file, key, entry) for file, res in rd.eval_results()
                     for key, entry in res["metrics"].items() if isinstance(entry, dict) and "value" in entry]
    return out


def _curves(records: list[dict[str, Any]]) -> dict[str, list[list[float]]]:
    logs = [r for r in records if "step" in r and any(k.endswith("_loss") for k in r)]
    keys = list(dict.fromkeys(k for r in logs for k in r if k.endswith("_loss")))
    curves = {}
    for k in keys:
        pts = [[r["step"], r[k]] for r in logs if isinstance(r.get(k), (int, float)) and math.isfinite(r[k])]
        if len(pts) > LOSS_POINTS:  # evenly thinned, the last point kept
            stride = math.ceil(len(pts) / LOSS_POINTS)
            pts = pts[::stride] + ([pts[-1]] if (len(pts) - 1) % stride else [])
        curves[k] = pts
    return curves


def _score_row(file: str, key: str, e: dict[str, Any]) -> dict[str, Any]:
    return {"file": file, "metric": key, "value": e.get("value"), "floor": e.get("real_vs_real"),
            "floor_std": e.get("real_vs_real_std")}
