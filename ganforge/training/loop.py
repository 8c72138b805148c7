"""The training shell: data order, ``recipe.step``, logging, previews, eval, checkpoint, resume,
DDP and Ctrl-C -- for every model family, naming none. Read top to bottom.

What a step does is the family's (``families/``); what a run folder holds is ``RunDir``'s.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DistributedSampler

from .. import infer
from ..config import Config, changed_settings
from ..data import DATASETS, DomainPair, ImageSet, load_data, load_domains
from ..env import Env, any_flag, contention_warning, setup, teardown, wait_all
from ..errors import GanforgeError
from ..families import FAMILIES, Batch, DataInfo
from ..rundir import RunDir
from ..visual import plot_losses, save_image
from .control import (
    Checkpoints,
    Diverged,
    Meter,
    StopRequest,
    check_finite_losses,
    draw_progress,
    fmt_losses,
    fmt_time,
    progress_bar,
)
from .guard import Guard, Rollback, Trouble


def train_run(cfg: Config, out: str | Path | None = None, resume: bool = False,
              quiet: bool = False) -> Path:
    """Train as ``cfg`` says into the run folder ``out`` (default ``runs/<name>-<time>``).

    With ``resume=True``, ``out`` must hold a run and ``cfg`` is its config as it continues
    (``ganforge.train(resume=True)`` checks what may change).
    """
    rd = RunDir(out) if out is not None else RunDir.default(cfg.run.preset or cfg.family)
    rd.prepare(resume)
    env = setup(cfg.run.device, cfg.run.precision, cfg.run.threads)
    try:
        path = _train(cfg, rd, resume, quiet, env)
        wait_all(env)
        return path
    finally:
        teardown(env)


def _train(cfg: Config, rd: RunDir, resume: bool, quiet: bool, env: Env) -> Path:
    run, dev, say = cfg.run, env.device, env.say(quiet)
    if run.data not in DATASETS and Path(run.data).expanduser().exists():
        run.data = str(Path(run.data).expanduser().resolve())  # resume and eval from any folder
    family = FAMILIES.get(cfg.family)
    if family.data == "images":
        data: ImageSet | DomainPair = load_data(run.data, run.size, run.channels, run.fit, run.strict,
                                                quiet=quiet)
        inputs, reference = None, data.images  # what the outputs should look like
    else:  # two domains; held-out images feed the previews (inputs) and the metrics
        if run.data_b and Path(run.data_b).expanduser().exists():
            run.data_b = str(Path(run.data_b).expanduser().resolve())
        data = load_domains(run.data, run.data_b, family.data == "paired", run.size, run.channels,
                            run.fit, run.strict, quiet)
        inputs, reference = (data.held, data.held_targets), data.held_targets
    run.channels = data.channels  # recorded: what the networks were built for
    run.threads = env.threads  # recorded: a resumed run computes with the same count
    if run.batch_size % env.world:
        raise GanforgeError(f"--batch-size {run.batch_size} must divide evenly over {env.world} processes")
    local_bs, per_epoch = run.batch_size // env.world, len(data) // run.batch_size
    if per_epoch == 0:
        raise GanforgeError(f"data {run.data} has {len(data)} images, fewer than --batch-size "
                            f"{run.batch_size}; lower the batch size")
    total = min(run.epochs * per_epoch, run.max_steps or math.inf)
    images = data.images.to(dev)
    labels = data.labels.to(dev) if data.labels is not None else None
    pair = data if isinstance(data, DomainPair) else None
    if pair is not None:
        pair.images, pair.targets = images, pair.targets.to(dev)

    torch.manual_seed(run.seed)  # the same initial weights on every process and every run
    info = DataInfo(data.name, data.size, data.channels, len(data), tuple(data.classes or ()),
                    tuple(pair.domains) if pair is not None else ())
    recipe = family.build(cfg.model, info, env, total)
    torch.manual_seed(run.seed + env.rank)  # each process draws its own noise
    ckpt = Checkpoints(rd, recipe, env, cfg.family)
    step, history = 0, []
    if resume:
        changes = changed_settings(rd.config(), cfg)
        step = ckpt.restore(run.seed)
        history = [r for r in rd.metrics() if r.get("step", 0) <= step]
        if step > total:
            raise GanforgeError(f"--resume: {rd.path} is at step {step}, past the asked target of "
                                f"{total} steps; pass a larger --epochs or --max-steps")
        if step == total:
            say(f"{rd.path} already finished: step {step} of {total}; pass a larger --epochs or "
                "--max-steps to continue it")
            return rd.path
        say(f"resuming {rd.path} from step {step} of {total}"
            + (f" with {', '.join(changes)}" if changes else ""))
    if env.main:
        about = pair.describe() if pair is not None else {
            "name": data.name, "images": len(data), "channels": data.channels, "size": data.size,
            "classes": data.classes}
        rd.start(cfg, about, env.world, history)
    order = DistributedSampler(range(len(data)), num_replicas=env.world, rank=env.rank, shuffle=True,
                               seed=run.seed, drop_last=True)
    quick, best = None, math.inf
    if run.eval_every and env.main:
        from ..metrics.evaluate import QuickEval

        quick = QuickEval(reference, run.eval_n, run.seed, run.data, inputs)
        best = (rd.best_score() if resume else None) or math.inf
    say(f"training {cfg.run.preset or cfg.family} ({cfg.family}) on {data.name} ({len(data)} images, "
        f"{data.size}px, {data.channels}ch) for {total} steps ({per_epoch}/epoch) on {dev}"
        + (f" x{env.world} processes" if env.enabled else "")
        + f", {env.threads} threads ({env.threads_why}) -> {rd.path}")
    if dev.type == "cpu" and env.threads_why in ("--threads", "OMP_NUM_THREADS") \
            and (warning := contention_warning(env.threads)):
        say(warning)

    guard = Guard(recipe, reference, run.data, run.seed) if run.guard else None
    if guard is not None and not resume and env.main:
        ckpt.save(0)  # a state to roll back to before the first epoch ends

    def rollback(trouble: Trouble, at: int) -> int:
        """Back to the last good state, the family's remedy applied and saved; returns its step."""
        assert guard is not None
        ckpt.restore(run.seed)
        good = ckpt.good_step
        action = guard.recover(trouble, at, good, rd.state_file)
        ckpt.save(good)  # the remedy is part of the state from here on (and across a resume)
        wait_all(env)
        history[:] = [r for r in history if r.get("step", 0) <= good]
        rec = {"step": good, "rollback": good, "guard": trouble.reason, "detail": trouble.what,
               "action": action, "recovery": guard.recoveries, "time": elapsed0 + time.time() - t_start}
        history.append(rec)
        if env.main:
            rd.append_metric(rec)
        say(f"guard: {trouble.what}; rolled back to step {good}, {action} "
            f"(recovery {guard.recoveries} of {guard.retries})")
        return good

    meter, bar = Meter(), progress_bar(total, step, quiet or not env.main)
    t_start = t_log = last_ckpt = last_drawn = time.time()
    n_log, elapsed0 = 0, history[-1]["time"] if history else 0.0

    def log() -> dict[str, Any]:
        nonlocal t_log, n_log
        now = time.time()
        rec = {"step": step, "epoch": step / per_epoch, **meter.pop(),
               "img_per_s": n_log / max(now - t_log, 1e-9), "time": elapsed0 + now - t_start}
        t_log, n_log = now, 0
        history.append(rec)
        if env.main:
            rd.append_metric(rec)
        if guard is not None and (trouble := guard.check_log(rec)) is not None:
            raise Rollback(trouble)
        check_finite_losses(rec, step, ckpt.good_step, rd.state_file)
        if bar is not None:
            bar.set_postfix_str(f"ep {math.ceil(rec['epoch'])}/{run.epochs} {fmt_losses(rec)} "
                                f"{rec['img_per_s']:.0f} img/s")
        return rec

    def save(at: int) -> None:
        ckpt.save(at)
        if guard is not None:
            guard.passed(at)

    stopping = False
    with StopRequest(announce=env.main and not quiet) as stop:
        while step < total and not stopping:
            try:
                order.set_epoch(step // per_epoch)
                batches = torch.tensor(list(order), device=dev)[: per_epoch * local_bs]
                batches = batches.view(per_epoch, local_bs)
                for b in range(step % per_epoch, per_epoch):
                    if pair is None:
                        real, target = images[batches[b]], None
                    else:
                        real, target = pair.pick(batches[b], step // per_epoch, run.seed)
                    real = real.float().div_(127.5).sub_(1.0)
                    batch = Batch(real.contiguous(memory_format=torch.channels_last),
                                  None if labels is None else labels[batches[b]],
                                  None if target is None else target.float().div_(127.5).sub_(1.0)
                                  .contiguous(memory_format=torch.channels_last))
                    meter.add(recipe.step(batch, step))
                    step += 1
                    n_log += len(real) * env.world
                    if step % run.log_every == 0 or step == total or b == per_epoch - 1:
                        log()
                    if bar is not None:
                        bar.update(1)
                    stopping = any_flag(stop.requested, env)
                    if stopping or step >= total:
                        break
                    if time.time() - last_ckpt > run.checkpoint_minutes * 60:
                        save(step)
                        last_ckpt = time.time()

                if step % per_epoch == 0 or step >= total:  # an epoch (or the run) finished
                    ep = math.ceil(step / per_epoch)
                    export = recipe.export()
                    preview = infer.build(export.kind, {r: export.net(r) for r in export.uses}, export.info)
                    if guard is not None and any_flag(
                            env.main and (trouble := guard.check_preview(preview, step, inputs)) is not None,
                            env):
                        raise Rollback(trouble if env.main else Trouble("collapse", "collapse (rank 0)"))
                    if env.main:
                        save_image(preview.preview(run.grid_n, run.seed, inputs), rd.sample(ep))
                        # The GIF and the plot grow with the run: redraw them at most once a minute.
                        if step >= total or time.time() - last_drawn > 60:
                            draw_progress(rd, history)
                            last_drawn = time.time()
                    if quick is not None and (ep % run.eval_every == 0 or step >= total):
                        rec = {"step": step, "epoch": step / per_epoch, "eval": quick.name,
                               "value": quick(preview), "time": elapsed0 + time.time() - t_start}
                        history.append(rec)
                        rd.append_metric(rec)
                        if rec["value"] < best:
                            best = rec["value"]
                            rd.save_best(export, cfg.family, rec)
                        say(f"epoch {ep}: {quick.name} {rec['value']:.4g} (best {best:.4g})")
                        plot_losses(history, rd.losses_plot)
                    save(step)
                    last_ckpt = time.time()
                    r = next((h for h in reversed(history) if "img_per_s" in h), None)
                    if bar is None and r is not None:
                        say(f"epoch {ep}/{run.epochs} step {step}/{total} {fmt_losses(r)} "
                            f"{r['img_per_s']:.0f} img/s elapsed {fmt_time(r['time'])} "
                            f"eta {fmt_time((total - step) * r['time'] / step)}")
                elif stopping:
                    if meter:  # the losses since the last log line
                        log()
                    save(step)
            except (Rollback, Diverged) as e:
                if guard is None:
                    raise
                trouble = e.trouble if isinstance(e, Rollback) else Trouble("nan", e.what)
                meter.pop()
                stopping = False
                step = rollback(trouble, step)
                n_log, t_log = 0, time.time()
                if bar is not None:
                    bar.n = step
                    bar.refresh()
                continue
            if stopping:
                if env.main:
                    draw_progress(rd, history)
                if bar is not None:
                    bar.close()
                say(f"stopped at step {step}; continue with: ganforge train --resume {rd.path}")
                raise KeyboardInterrupt
    if bar is not None:
        bar.close()
    say(f"done: {step} steps in {fmt_time(time.time() - t_start)}; run folder {rd.path}")
    return rd.path


__all__ = ["train_run"]
