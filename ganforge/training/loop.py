"""The training shell: data order, ``recipe.step``, logging, previews, eval, checkpoint, resume,
DDP and Ctrl-C -- for every model family and data kind, naming none. Read top to bottom.

What a step does is the family's (``families/``); what a batch holds is the data kind's
(``data/kinds.py``); what a run folder holds is ``RunDir``'s; rollback is the guard's.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import torch
from torch.utils.data import DistributedSampler

from .. import infer
from ..card import write_model_card
from ..config import Config, changed_settings
from ..data.kinds import DataSpec, open_data
from ..env import Env, any_flag, setup, teardown, wait_all
from ..errors import GanforgeError
from ..families import FAMILIES, Reason
from ..provenance import record
from ..rundir import RunDir
from ..visual import CAPTION_PX, add_caption, plot_losses, save_image
from .control import (
    Checkpoints,
    Console,
    Diverged,
    EpochClock,
    History,
    Meter,
    StopRequest,
    check_finite_losses,
    check_same_data,
    draw_progress,
    fmt_time,
)
from .guard import Guard, Rollback, Trouble


def train_run(cfg: Config, out: str | Path | None = None, resume: bool = False,
              quiet: bool = False, allow_new_data: bool = False) -> Path:
    """Train as ``cfg`` says into the run folder ``out`` (default ``runs/<name>-<time>``).

    With ``resume=True``, ``out`` must hold a run and ``cfg`` is its config as it continues
    (``ganforge.train(resume=True)`` checks what may change). ``cfg`` itself is left as it was:
    what the run records (channels found in the data, the thread count) goes into a copy.
    A resumed run refuses data other than its own (the same images moved are its own) unless
    ``allow_new_data``.
    """
    cfg = copy.deepcopy(cfg)
    rd = RunDir(out) if out is not None else RunDir.default(cfg.run.preset or cfg.family)
    rd.prepare(resume)
    env = setup(cfg.run.device, cfg.run.precision, cfg.run.threads)
    try:
        path = _train(cfg, rd, resume, quiet, env, allow_new_data)
        wait_all(env)
        return path
    finally:
        teardown(env)


def _train(cfg: Config, rd: RunDir, resume: bool, quiet: bool, env: Env, allow_new_data: bool) -> Path:
    run, say = cfg.run, env.say(quiet)
    family = FAMILIES.get(cfg.family)
    spec = DataSpec(run.data, run.size, run.data_b, run.channels, run.fit, run.strict, run.cache,
                    quiet, run.seed, run.side_by_side)
    data = open_data(family.data_kind(cfg.model), spec, env.device, family.pairing(cfg.model))
    # Recorded in config.json: what the networks were built for, and the thread count (it is
    # part of the arithmetic, so a resumed run computes with the same one).
    run.channels, run.threads = data.info.channels, env.threads
    if run.batch_size % env.world:
        raise GanforgeError(f"--batch-size {run.batch_size} must divide evenly over {env.world} processes")
    local_bs, per_epoch = run.batch_size // env.world, len(data) // run.batch_size
    if per_epoch == 0:
        raise GanforgeError(f"data {run.data} has {len(data)} images, fewer than --batch-size "
                            f"{run.batch_size}; lower the batch size")
    described, clock, data_note = data.describe(), EpochClock(per_epoch), None
    if resume:  # its own data (or other data, asked for), and the epoch count going on from there
        saved = rd.raw_config().get("data") or {}
        data_note = check_same_data(saved, described, allow_new_data)
        clock = EpochClock.resumed(saved, per_epoch, run.batch_size, lambda: rd.read_state()["step"])
    total = clock.total(run.epochs, run.max_steps)

    torch.manual_seed(run.seed)  # the same initial weights on every process and every run
    recipe = family.build(cfg.model, data.info, env, total)
    torch.manual_seed(run.seed + env.rank)  # each process draws its own noise
    ckpt = Checkpoints(rd, recipe, env, cfg.family, run.seed)
    step, history = 0, History(rd, env.main)
    if resume:
        changes = changed_settings(rd.config(), cfg) + ([data_note] if data_note else [])
        step = ckpt.resume(total)
        history = History(rd, env.main, [r for r in rd.metrics() if r.get("step", 0) <= step])
        if step == total:
            say(f"{rd.path} already finished: step {step} of {total}; pass a larger --epochs or "
                "--max-steps to continue it")
            return rd.path
        say(f"resuming {rd.path} from step {step} of {total}"
            + (f" with {', '.join(changes)}" if changes else ""))
    if env.main:
        rd.start(cfg, {**described, "epochs": clock.to_dict()}, env.world, history.records)
    order = DistributedSampler(range(len(data)), num_replicas=env.world, rank=env.rank, shuffle=True,
                               seed=run.seed, drop_last=True)
    evals = None
    if run.eval_every and env.main:
        from ..metrics.best import EvalEvery

        evals = EvalEvery(rd, data, run.eval_every, run.eval_n, run.seed, run.data, resume)
    console = Console(say, total, step, run.epochs, not quiet and env.main)
    console.start(f"{run.preset or cfg.family} ({cfg.family})", rd, data, total, per_epoch, env)
    guard = Guard(recipe, data.reference, run.data, run.seed) if run.guard else None
    if guard is not None and not resume and env.main:
        ckpt.save(0)  # a state to roll back to before the first epoch ends

    meter = Meter()
    t_log = last_ckpt = last_drawn = time.time()
    n_log = 0

    def log() -> dict:
        nonlocal t_log, n_log
        now = time.time()
        rec = history.add({"step": step, "epoch": clock.fraction(step), **meter.pop(),
                           "img_per_s": n_log / max(now - t_log, 1e-9), "time": history.now()})
        t_log, n_log = now, 0
        if guard is not None and (trouble := guard.check_log(rec)) is not None:
            raise Rollback(trouble)
        check_finite_losses(rec, step, ckpt.good_step, rd.state_file)
        return rec

    def save(at: int) -> None:
        ckpt.save(at)
        if guard is not None:
            guard.passed(at)

    stopping = False
    with StopRequest(announce=env.main and not quiet) as stop:
        while step < total and not stopping:
            try:
                epoch = clock.index(step)
                order.set_epoch(epoch)
                batches = torch.tensor(list(order))[: per_epoch * local_bs].view(per_epoch, local_bs)
                for b in range(clock.position(step), per_epoch):
                    batch = data.batch(batches[b], epoch, step)
                    if env.rank:  # other DDP processes: a stream of (rank, step) that the state
                        # file need not hold, so a resumed DDP run draws what an unbroken one did
                        torch.manual_seed(run.seed + env.rank * 100_003 + step)
                    meter.add(recipe.step(batch, step))
                    step += 1
                    n_log += len(batch.images) * env.world
                    logged = step % run.log_every == 0 or step == total or b == per_epoch - 1
                    console.step(log() if logged else None)
                    stopping = any_flag(stop.requested, env)
                    if stopping or step >= total:
                        break
                    if time.time() - last_ckpt > run.checkpoint_minutes * 60:
                        save(step)
                        last_ckpt = time.time()

                if clock.position(step) == 0 or step >= total:  # an epoch (or the run) finished
                    ep = clock.done(step)
                    export = recipe.export()
                    preview = infer.from_export(export)
                    if guard is not None and any_flag(env.main and (
                            trouble := guard.check_preview(preview, step, data.preview_inputs)) is not None,
                            env):
                        raise Rollback(trouble if env.main else Trouble(Reason.COLLAPSE, "collapse (rank 0)"))
                    if env.main:
                        grid = preview.preview(run.grid_n, run.seed, data.preview_inputs)
                        save_image(add_caption(grid, f"step {step} · epoch {ep}"), rd.sample(ep),
                                   record(kind="training preview", run=rd.path.name, step=step, epoch=ep,
                                          seed=run.seed, caption_px=CAPTION_PX))
                        # The GIF and the plot grow with the run: redraw them at most once a minute.
                        if step >= total or time.time() - last_drawn > 60:
                            draw_progress(rd, history.records)
                            last_drawn = time.time()
                    if evals is not None and evals.due(ep, step >= total):
                        rec = {"step": step, "epoch": clock.fraction(step), "time": history.now()}
                        say(evals(preview, export, cfg.family, rec))
                        history.add(rec)
                        plot_losses(history.records, rd.losses_plot)
                    save(step)  # refuses non-finite weights: a snapshot is only ever a good state
                    if run.snapshot_every and ep % run.snapshot_every == 0 and env.main:
                        rd.save_snapshot(export, cfg.family, step)
                    last_ckpt = time.time()
                    console.epoch(ep, step, history.last_speed())
                elif stopping:
                    if meter:  # the losses since the last log line
                        log()
                    save(step)
            except (Rollback, Diverged) as e:
                if guard is None:
                    raise
                trouble = e.trouble if isinstance(e, Rollback) else Trouble(Reason.NAN, e.what)
                meter.pop()
                stopping = False
                step = guard.rollback(trouble, step, ckpt, history, say)
                n_log, t_log = 0, time.time()
                console.moved(step)
                continue
            if stopping:
                if env.main:
                    draw_progress(rd, history.records)
                console.close()
                say(f"stopped at step {step}; continue with: ganforge train --resume {rd.path}")
                raise KeyboardInterrupt
    console.close()
    if env.main:
        write_model_card(rd.path)  # a finished run (or a resumed one, finished) says what it is
    say(f"done: {step} steps in {fmt_time(time.time() - history.t_start)}; run folder {rd.path}")
    return rd.path


__all__ = ["train_run"]
