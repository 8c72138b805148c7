"""One explicit training loop: D step, G step, log, sample, checkpoint. Read top to bottom.

Run folder written by the main process:
    config.json                   the resolved TrainConfig + both networks' architectures
    generator.safetensors         weights + architecture metadata (what ``ganforge.load`` reads)
    discriminator.safetensors
    state.safetensors             everything for an exact resume (nets, optimizers, step, RNG)
    samples/epoch_NNNN.png        the same fixed latents, rendered after every epoch
    progress.gif                  those grids as an animation
    metrics.jsonl                 losses, D's outputs, images/s, elapsed time
    losses.png                    the loss curves
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DistributedSampler

from .. import __version__
from ..augment import augmenter
from ..config import TrainConfig
from ..data import DATASETS, load_data
from ..errors import GanforgeError
from ..losses import d_bce_loss, g_nonsaturating_loss, smooth_targets
from ..models import build_family
from ..sampling import latents, render
from ..serialization import load_state, save_network, save_state, write_json
from ..visual import make_grid, plot_losses, save_gif, save_image
from .distributed import Dist, any_flag, setup, teardown, wait_all

STATE = "state.safetensors"


class StopRequest:
    """First Ctrl-C: finish the current step, checkpoint, exit. Second Ctrl-C: abort at once."""

    def __init__(self, announce: bool) -> None:
        self.requested = False
        self._announce = announce
        self._old: Any = None

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if self._announce:
            print("\nstopping after this step and saving a checkpoint "
                  "(Ctrl-C again to abort without saving)", file=sys.stderr)

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


@dataclass
class Meter:
    """Sums losses as tensors between log lines, so logging forces no per-step device sync."""

    n: int = 0
    sums: dict[str, torch.Tensor] = field(default_factory=dict)

    def add(self, **values: torch.Tensor) -> None:
        for k, v in values.items():
            v = v.detach().float()
            self.sums[k] = self.sums[k] + v if k in self.sums else v
        self.n += 1

    def pop(self) -> dict[str, float]:
        out = {k: float(v) / max(self.n, 1) for k, v in self.sums.items()}
        self.n, self.sums = 0, {}
        return out


def _default_out(cfg: TrainConfig) -> Path:
    return Path("runs") / f"{cfg.preset or cfg.model}-{time.strftime('%Y%m%d-%H%M%S')}"


def prepare_run_dir(out: Path, resume: bool) -> None:
    """Check the run folder against --resume: never overwrite a run, never resume nothing."""
    has_state = (out / STATE).is_file()
    if resume and not has_state:
        raise GanforgeError(f"--resume: {out} holds no {STATE} to resume from")
    if not resume and has_state:
        raise GanforgeError(f"{out} already holds a run; pass --resume to continue it, "
                            "or choose another --out")
    if out.exists() and not out.is_dir():
        raise GanforgeError(f"--out {out}: exists and is not a folder")


def saved_config(out: Path, epochs: int | None, max_steps: int | None) -> TrainConfig:
    """A run's own config, extended by an explicit ``epochs`` and/or ``max_steps``."""
    path = out / "config.json"
    if not path.is_file():
        raise GanforgeError(f"--resume: {out} is not a ganforge run folder (no config.json)")
    cfg = TrainConfig.from_dict(json.loads(path.read_text())["train"])
    if epochs is not None:
        cfg.epochs = epochs
        cfg.max_steps = max_steps  # a new epoch target replaces an old step cap
    elif max_steps is not None:
        cfg.max_steps = max_steps
    return cfg.validate()


def train_run(
    cfg: TrainConfig, out: Path | None = None, resume: bool = False, quiet: bool = False
) -> Path:
    """Train a GAN as ``cfg`` says, writing the run folder ``out``; returns its path.

    With ``resume=True`` the saved config in ``out`` is used; only ``epochs`` and
    ``max_steps`` of ``cfg`` are taken over (to extend a run).
    """
    out = Path(out) if out is not None else _default_out(cfg)
    prepare_run_dir(out, resume)
    if resume:
        cfg = saved_config(out, cfg.epochs, cfg.max_steps)

    d = setup(cfg.device)
    try:
        path = _train(cfg, out, resume, quiet, d)
        wait_all(d)
        return path
    finally:
        teardown(d)


def _train(cfg: TrainConfig, out: Path, resume: bool, quiet: bool, d: Dist) -> Path:
    dev = d.device
    say = (lambda msg: None) if (quiet or not d.main) else (lambda msg: print(msg, file=sys.stderr))

    # ---- data -------------------------------------------------------------------------------
    if cfg.data not in DATASETS and Path(cfg.data).expanduser().exists():
        cfg.data = str(Path(cfg.data).expanduser().resolve())  # resume/eval from any folder
    data = load_data(cfg.data, cfg.size, cfg.channels, cfg.fit, cfg.strict)
    cfg.channels = data.channels
    if cfg.batch_size % d.world:
        raise GanforgeError(f"--batch-size {cfg.batch_size} must divide evenly over "
                            f"{d.world} processes")
    local_bs = cfg.batch_size // d.world
    steps_per_epoch = len(data) // cfg.batch_size
    if steps_per_epoch == 0:
        raise GanforgeError(f"data {cfg.data} has {len(data)} images, fewer than --batch-size "
                            f"{cfg.batch_size}; lower the batch size")
    total = cfg.epochs * steps_per_epoch
    if cfg.max_steps:
        total = min(total, cfg.max_steps)
    images = data.images.to(dev)

    # ---- networks and optimizers ------------------------------------------------------------
    torch.manual_seed(cfg.seed)  # same initial weights on every process and every run
    g_spec, d_spec = build_family(cfg.model, cfg.size, cfg.channels, cfg.z_dim, cfg.width)
    # channels_last: oneDNN's and cuDNN's fast convolution layout (measured ~5% per DCGAN step
    # on this CPU); a no-op for the MLP.
    G = g_spec.build().to(dev, memory_format=torch.channels_last)
    D = d_spec.build().to(dev, memory_format=torch.channels_last)
    # Without BatchNorm, D(real) and D(fake) are independent per image, so one forward pass
    # over both halves computes the same thing with fewer, larger kernels.
    d_batched = not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in D.modules())
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas)
    ema = AveragedModel(G, multi_avg_fn=ema_update(cfg.ema), use_buffers=True) if cfg.ema else None
    torch.manual_seed(cfg.seed + d.rank)  # each process draws its own latents
    step, history = 0, []
    if resume:
        state = load_state(out / STATE)
        G.load_state_dict(state["generator"])
        if ema is not None:
            ema.load_state_dict(state["generator_ema"])
        D.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        step = int(state["step"])
        if d.main and "rng_cpu" in state:
            torch.set_rng_state(state["rng_cpu"])
            if dev.type == "cuda" and "rng_cuda" in state:
                torch.cuda.set_rng_state(state["rng_cuda"], dev)
        else:  # other DDP processes: a fresh stream per (rank, step), not bitwise-exact
            torch.manual_seed(cfg.seed + d.rank * 100_003 + step)
        history = [r for r in _read_jsonl(out / "metrics.jsonl") if r.get("step", 0) <= step]
    D_raw = D  # the G step calls D without DDP: D's gradients are not wanted there
    G_raw = G
    G_out = ema.module if ema is not None else G  # the generator the run saves and samples from
    if d.enabled:
        G, D = DDP(G), DDP(D)

    if d.main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "samples").mkdir(exist_ok=True)
        write_json(out / "config.json", {
            "ganforge_version": __version__,
            "train": cfg.to_dict(),
            "generator": g_spec.to_dict(),
            "discriminator": d_spec.to_dict(),
            "data": {"name": data.name, "images": len(data), "channels": data.channels,
                     "size": data.size},
            "world_size": d.world,
        })
        _write_jsonl(out / "metrics.jsonl", history)
    fixed_z = latents(cfg.grid_n, cfg.z_dim, cfg.seed).to(dev)
    sampler = DistributedSampler(range(len(data)), num_replicas=d.world, rank=d.rank,
                                 shuffle=True, seed=cfg.seed, drop_last=True)
    aug = augmenter(cfg.diffaug)  # identity without --diffaug
    autocast = (lambda: torch.autocast(dev.type, dtype=torch.bfloat16)) \
        if cfg.precision == "bf16" else contextlib.nullcontext

    def checkpoint() -> None:
        if not d.main:
            return
        state = {
            "step": step,
            "generator": G_raw.state_dict(),
            "discriminator": D_raw.state_dict(),
            "opt_g": opt_g.state_dict(),
            "opt_d": opt_d.state_dict(),
            "rng_cpu": torch.get_rng_state(),
        }
        if ema is not None:
            state["generator_ema"] = ema.state_dict()
        if dev.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(dev)
        save_network(out / "generator.safetensors", G_out, g_spec)
        save_network(out / "discriminator.safetensors", D_raw, d_spec)
        save_state(out / STATE, state)  # last: the resume point moves only when all is written

    quick = None
    best = float("inf")
    if cfg.eval_every and d.main:
        from ..metrics.evaluate import QuickEval

        quick = QuickEval(data.images, cfg.eval_n, cfg.seed)
        best_file = out / "best" / "score.json"
        if resume and best_file.is_file():
            best = json.loads(best_file.read_text())["value"]

    say(f"training {cfg.model} on {data.name} ({len(data)} images, {data.size}px, "
        f"{data.channels}ch) for {total} steps ({steps_per_epoch}/epoch) on {dev}"
        + (f" x{d.world} processes" if d.enabled else "") + f" -> {out}")

    # ---- the loop ---------------------------------------------------------------------------
    meter = Meter()
    bar = _progress(total, step, quiet or not d.main)
    t_start = time.time()
    t_log, n_log = time.time(), 0
    last_ckpt = last_drawn = time.time()
    elapsed0 = history[-1]["time"] if history else 0.0
    stopping = False
    with StopRequest(announce=d.main and not quiet) as stop:
        while step < total and not stopping:
            epoch = step // steps_per_epoch
            sampler.set_epoch(epoch)
            order = torch.tensor(list(sampler), device=dev)
            batches = order[: steps_per_epoch * local_bs].view(steps_per_epoch, local_bs)
            for b in range(step % steps_per_epoch, steps_per_epoch):
                real = images[batches[b]].float().div_(127.5).sub_(1.0)
                real = real.contiguous(memory_format=torch.channels_last)
                n = real.shape[0]

                z = torch.randn(n, cfg.z_dim, device=dev)
                rt = smooth_targets(n, True, cfg.label_smoothing, cfg.label_noise, dev)
                ft = smooth_targets(n, False, 0.0, cfg.label_noise, dev)
                simultaneous = cfg.update == "simultaneous"
                with autocast():
                    fake = G(z)
                    # D's loss: D(real) -> real target, D(G(z)) -> fake target.
                    d_in = fake if simultaneous else fake.detach()
                    if d_batched:
                        real_logits, fake_logits = D(aug(torch.cat([real, d_in]))).float().split(n)
                    else:
                        real_logits, fake_logits = D(aug(real)).float(), D(aug(d_in)).float()
                d_loss = d_bce_loss(real_logits, fake_logits, rt, ft)
                opt_d.zero_grad(set_to_none=True)
                opt_g.zero_grad(set_to_none=True)
                if simultaneous:
                    # TF tutorial: both gradients from this one forward pass, then both steps.
                    g_loss = g_nonsaturating_loss(fake_logits)
                    d_loss.backward(inputs=list(D.parameters()), retain_graph=True)
                    g_loss.backward(inputs=list(G.parameters()))
                    opt_d.step()
                    opt_g.step()
                else:
                    d_loss.backward()
                    opt_d.step()
                    # G step: non-saturating loss through the just-updated D, D frozen.
                    D_raw.requires_grad_(False)
                    with autocast():
                        g_logits = D_raw(aug(fake)).float()
                    g_loss = g_nonsaturating_loss(g_logits)
                    g_loss.backward()
                    opt_g.step()
                    D_raw.requires_grad_(True)
                if ema is not None:
                    ema.update_parameters(G_raw)

                step += 1
                n_log += n * d.world
                meter.add(d_loss=d_loss, g_loss=g_loss,
                          d_real=torch.sigmoid(real_logits.detach().float()).mean(),
                          d_fake=torch.sigmoid(fake_logits.detach().float()).mean())
                if step % cfg.log_every == 0 or step == total or b == steps_per_epoch - 1:
                    now = time.time()
                    rec = {"step": step, "epoch": step / steps_per_epoch, **meter.pop(),
                           "img_per_s": n_log / max(now - t_log, 1e-9),
                           "time": elapsed0 + now - t_start}
                    t_log, n_log = now, 0
                    history.append(rec)
                    if d.main:
                        _append_jsonl(out / "metrics.jsonl", rec)
                    if bar is not None:
                        bar.set_postfix_str(f"ep {epoch + 1}/{cfg.epochs} d {rec['d_loss']:.3f} "
                                            f"g {rec['g_loss']:.3f} {rec['img_per_s']:.0f} img/s")
                if bar is not None:
                    bar.update(1)
                stopping = any_flag(stop.requested, d)
                if stopping or step >= total:
                    break
                if time.time() - last_ckpt > cfg.checkpoint_minutes * 60:
                    checkpoint()
                    last_ckpt = time.time()

            if step % steps_per_epoch == 0 or step >= total:  # epoch (or run) finished
                ep = math.ceil(step / steps_per_epoch)
                if d.main:
                    # The GIF and the plot grow with the run: redraw them at most once a minute.
                    slow = step >= total or time.time() - last_drawn > 60
                    _epoch_artifacts(out, G_out, fixed_z, ep, history if slow else None)
                    last_drawn = time.time() if slow else last_drawn
                if quick is not None and (ep % cfg.eval_every == 0 or step >= total):
                    value = quick(G_out, cfg.z_dim)
                    rec = {"step": step, "epoch": step / steps_per_epoch, "eval": quick.name,
                           "value": value, "time": elapsed0 + time.time() - t_start}
                    history.append(rec)
                    _append_jsonl(out / "metrics.jsonl", rec)
                    if value < best:
                        best = value
                        save_network(out / "best" / "generator.safetensors", G_out, g_spec)
                        write_json(out / "best" / "score.json", rec)
                    say(f"epoch {ep}: {quick.name} {value:.4g} (best {best:.4g})")
                    plot_losses(history, out / "losses.png")
                checkpoint()
                last_ckpt = time.time()
                r = next((h for h in reversed(history) if "d_loss" in h), None)
                if bar is None and r is not None:
                    say(f"epoch {ep}/{cfg.epochs} step {step}/{total} d_loss {r['d_loss']:.3f} "
                        f"g_loss {r['g_loss']:.3f} {r['img_per_s']:.0f} img/s "
                        f"elapsed {_fmt(r['time'])} eta {_fmt((total - step) * r['time'] / step)}")
            elif stopping:
                checkpoint()
            if stopping and d.main:
                _draw_progress(out, history)
            if stopping:
                if bar is not None:
                    bar.close()
                say(f"stopped at step {step}; continue with --resume --out {out}")
                raise KeyboardInterrupt
    if bar is not None:
        bar.close()
    say(f"done: {step} steps in {_fmt(time.time() - t_start)}; run folder {out}")
    return out


def ema_update(decay: float) -> Callable[[list[torch.Tensor], list[torch.Tensor], torch.Tensor], None]:
    """AveragedModel update with warm-up: decay min(decay, (1+n)/(10+n)) after n updates.

    The warm-up (as in TensorFlow's ExponentialMovingAverage) keeps the average from dragging
    the random initial weights along for the first ~1/(1-decay) steps. Buffers (BatchNorm's
    running statistics) are averaged like the weights they belong to.
    """

    @torch.no_grad()
    def update(avg: list[torch.Tensor], cur: list[torch.Tensor], n: torch.Tensor) -> None:
        k = min(decay, (1.0 + float(n)) / (10.0 + float(n)))
        for a, c in zip(avg, cur):
            if a.is_floating_point():
                a.lerp_(c, 1.0 - k)
            else:  # integer buffers (BatchNorm's batch counter) follow the live network
                a.copy_(c)

    return update


def _epoch_artifacts(out: Path, G: torch.nn.Module, z: torch.Tensor, epoch: int,
                     history: list[dict] | None) -> None:
    """The epoch's sample grid; with ``history``, also redraw progress.gif and losses.png."""
    save_image(make_grid(render(G, z)), out / "samples" / f"epoch_{epoch:04d}.png")
    if history is not None:
        _draw_progress(out, history)


def _draw_progress(out: Path, history: list[dict]) -> None:
    frames = []
    for p in sorted((out / "samples").glob("epoch_*.png")):
        with Image.open(p) as im:
            frames.append(im.copy())
    if frames:
        save_gif(frames, out / "progress.gif")
    if history:
        plot_losses(history, out / "losses.png")


def _progress(total: int, initial: int, disable: bool) -> Any:
    if disable or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, desc="train")


def _fmt(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            out.append(json.loads(line))
    return out


def _write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _append_jsonl(path: Path, rec: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")


__all__ = ["train_run", "prepare_run_dir", "saved_config"]
