"""What the shell needs besides the data: Ctrl-C, loss averaging, the divergence check, and the
progress it shows (console line, GIF, loss plot)."""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from ..env import Env, contention_warning, rng_state, set_rng_state
from ..errors import GanforgeError
from ..provenance import record
from ..rundir import RunDir
from ..visual import plot_losses, save_gif


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
    """Sums logged values as tensors between log lines (no per-step device sync), each key with
    its own count, so a value a family logs only on some steps is averaged over those steps."""

    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, values: dict[str, torch.Tensor]) -> None:
        for k, v in values.items():
            v = v.detach().float()
            self.sums[k] = self.sums[k] + v if k in self.sums else v
            self.counts[k] = self.counts.get(k, 0) + 1

    def __bool__(self) -> bool:
        return bool(self.counts)

    def pop(self) -> dict[str, float]:
        out = {k: float(v) / self.counts[k] for k, v in self.sums.items()}
        self.sums, self.counts = {}, {}
        return out


class Diverged(GanforgeError):
    """Training produced a non-finite loss or weight; the last good state is kept."""

    def __init__(self, message: str, what: str) -> None:
        super().__init__(message)
        self.what = what  # the failure alone, for the guard's log


def check_finite_losses(values: dict[str, float], step: int, good_step: int, state_file: Any) -> None:
    """Raise :class:`Diverged` naming the non-finite value and the last good resume point."""
    bad = [f"{k} = {v}" for k, v in values.items() if not math.isfinite(v)]
    if bad:
        what = f"{', '.join(bad)} by step {step}"
        raise Diverged(_diverged(what, good_step, state_file), what)


def check_finite_state(state: dict[str, Any], step: int, good_step: int, state_file: Any) -> None:
    """Refuse to checkpoint non-finite weights or optimizer moments over a good state.

    ``state``: name -> state_dict, as the state file will hold it.
    """
    for name, sd in state.items():
        for t in _tensors(sd):
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                what = f"non-finite values in {name} at step {step}"
                raise Diverged(_diverged(what, good_step, state_file), what)


class Checkpoints:
    """The resume point: the recipe's state by name, the step and torch's RNG, written only
    when every tensor is finite, so the state on disk is always a good one."""

    def __init__(self, rd: RunDir, recipe: Any, env: Env, family: str, seed: int) -> None:
        self.rd, self.recipe, self.env, self.family, self.seed = rd, recipe, env, family, seed
        self.good_step = 0  # the step the state file on disk holds

    def restore(self) -> int:
        state = self.rd.read_state()
        for name, obj in self.recipe.state.items():
            obj.load_state_dict(state["recipe"][name])
        step = self.good_step = state["step"]
        if self.env.main and state["rng"]:
            set_rng_state(state["rng"], self.env.device)
        else:  # other DDP processes: a fresh stream per (rank, step), not bitwise-exact
            torch.manual_seed(self.seed + self.env.rank * 100_003 + step)
        return step

    def resume(self, total: int) -> int:
        """Restore the saved state for a run that continues to ``total`` steps; its step.

        Raises:
            GanforgeError: the run is already past ``total``.
        """
        step = self.restore()
        if step > total:
            raise GanforgeError(f"--resume: {self.rd.path} is at step {step}, past the asked target "
                                f"of {total} steps; pass a larger --epochs or --max-steps")
        return step

    def save(self, step: int) -> None:
        state = {k: v.state_dict() for k, v in self.recipe.state.items()}
        check_finite_state(state, step, self.good_step, self.rd.state_file)
        if self.env.main:
            try:
                self.rd.save_model(self.recipe.export(), self.family)
                # The state goes last: the resume point moves only once the model files are written.
                self.rd.write_state({"step": step, "rng": rng_state(self.env.device), "recipe": state})
            except GanforgeError as e:
                kept = "no state was saved"
                if self.good_step:
                    kept = (f"the last good state (step {self.good_step}) is intact; free space and "
                            f"`ganforge train --resume {self.rd.path}`")
                raise GanforgeError(f"checkpoint at step {step} failed: {e}; {kept}") from None
        self.good_step = step


def _tensors(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, dict):
        return [t for v in obj.values() for t in _tensors(v)]
    if isinstance(obj, (list, tuple)):
        return [t for v in obj for t in _tensors(v)]
    return []


def _diverged(what: str, good_step: int, state_file: Any) -> str:
    if good_step > 0:
        where = (f"the last good state (step {good_step}) is kept in {state_file} and resumes as "
                 "it was; to train past this point, start a new run with a lower --lr")
    else:
        where = "no checkpoint was written yet; start again with a lower --lr"
    return f"training diverged: {what}; {where}"


@dataclass(frozen=True)
class EpochClock:
    """Which epoch a step belongs to. Steps per epoch change when a run resumes on other data,
    so the epoch is counted from where the current data began, not as ``step // per_epoch``
    (that made an MNIST run continued on 24 faces jump from epoch 1 to epoch 13).

    ``step`` below is a count of steps done; epochs are 0-based in ``index`` and counted whole
    in ``done``, as ``samples/epoch_NNNN.png`` numbers them.
    """

    per_epoch: int
    from_step: int = 0
    from_epoch: int = 0

    def index(self, step: int) -> int:
        """The epoch the next step is in."""
        return self.from_epoch + (step - self.from_step) // self.per_epoch

    def position(self, step: int) -> int:
        """Steps of the current epoch done."""
        return (step - self.from_step) % self.per_epoch

    def fraction(self, step: int) -> float:
        """Epochs done, with the part of the current one: what metrics.jsonl logs."""
        return self.from_epoch + (step - self.from_step) / self.per_epoch

    def done(self, step: int) -> int:
        """Epochs done, a started one counted (the number of the epoch grid to write)."""
        return self.from_epoch + math.ceil((step - self.from_step) / self.per_epoch)

    def total(self, epochs: int, max_steps: int | None) -> int:
        """The step the run ends at: ``epochs`` epochs, or ``max_steps`` if that comes first."""
        return min(self.from_step + max(epochs - self.from_epoch, 0) * self.per_epoch,
                   max_steps or math.inf)

    def to_dict(self) -> dict[str, int]:
        return {"steps_per_epoch": self.per_epoch, "from_step": self.from_step,
                "from_epoch": self.from_epoch}

    @staticmethod
    def resumed(saved: dict[str, Any], per_epoch: int, batch_size: int,
                step: Callable[[], int]) -> EpochClock:
        """The clock of a run resuming with ``per_epoch`` steps per epoch, from its config.json
        ``data`` section. Unchanged steps per epoch: the saved clock. Changed (other data): a
        new clock from the resume step (``step()`` reads it), the epoch in progress starting
        over on the new data, so the count goes on where it was."""
        c = saved.get("epochs")
        if isinstance(c, dict):
            old = EpochClock(int(c["steps_per_epoch"]), int(c["from_step"]), int(c["from_epoch"]))
        else:  # written before the clock was recorded: the saved item count says the old pace
            items = saved.get("images")
            if isinstance(items, int) and not saved.get("paired", True):
                items = max(items, int(saved.get("images_b", 0)))
            old = EpochClock(items // batch_size if isinstance(items, int) and items >= batch_size
                             else per_epoch)
        if old.per_epoch == per_epoch:
            return old
        at = step()
        return EpochClock(per_epoch, at, old.index(at))


def check_same_data(saved: dict[str, Any], now: dict[str, Any], allowed: bool) -> str | None:
    """Compare a resumed run's data with what it trained on (config.json's ``data`` section):
    the fingerprint of the decoded images where both have one, else the image counts. The same
    images at a new path pass. Returns a note for the resume line when other data is allowed.

    Raises:
        GanforgeError: other data, unless ``allowed`` (``--data-changed``).
    """
    if not saved:
        return None  # a ganforge 0.1 run: nothing recorded to compare with
    if saved.get("fingerprint") and now.get("fingerprint"):
        same = saved["fingerprint"] == now["fingerprint"]
    else:
        same = all(saved.get(k) == now.get(k) for k in ("images", "images_b") if k in saved)
    if same:
        return None
    if not allowed:
        raise GanforgeError(f"--resume: this is not the data the run trained on ({_data(saved)}; "
                            f"now {_data(now)}); to continue it on other data anyway, add "
                            "--data-changed (Python: allow_new_data=True)")
    return f"other data ({_data(saved)} -> {_data(now)})"


def _data(d: dict[str, Any]) -> str:
    n = f"{d.get('images', '?')}" + (f"+{d['images_b']}" if "images_b" in d else "")
    return f"{d.get('name', '?')}: {n} images"


class History:
    """The run's log records (metrics.jsonl): kept in memory for the plot, appended to the file
    by the main process, trimmed when the guard rolls back."""

    def __init__(self, rd: RunDir, main: bool, records: list[dict[str, Any]] | None = None) -> None:
        self.rd, self.main, self.records = rd, main, records or []
        self.elapsed0 = self.records[-1]["time"] if self.records else 0.0  # a resumed run's clock
        self.t_start = time.time()

    def now(self) -> float:
        """Seconds of training so far, across resumes."""
        return self.elapsed0 + time.time() - self.t_start

    def add(self, rec: dict[str, Any]) -> dict[str, Any]:
        self.records.append(rec)
        if self.main:
            self.rd.append_metric(rec)
        return rec

    def trim(self, step: int) -> None:
        self.records[:] = [r for r in self.records if r.get("step", 0) <= step]

    def last_speed(self) -> dict[str, Any] | None:
        return next((h for h in reversed(self.records) if "img_per_s" in h), None)


class Console:
    """Every line the training shell says: the start, a progress bar (on a terminal) or one
    line per epoch, eval results, the stop hint and the end."""

    def __init__(self, say: Callable[[str], None], total: int, step: int, epochs: int,
                 show_bar: bool) -> None:
        self.say, self.total, self.epochs = say, total, epochs
        self.bar = progress_bar(total, step, not show_bar)

    def start(self, what: str, rd: RunDir, data: Any, total: int, per_epoch: int, env: Env) -> None:
        i = data.info
        self.say(f"training {what} on {i.name} ({i.images} images, {i.size}px, {i.channels}ch) for "
                 f"{total} steps ({per_epoch}/epoch) on {env.device}"
                 + (f" x{env.world} processes" if env.enabled else "")
                 + f", {env.threads} threads ({env.threads_why}) -> {rd.path}")
        if env.device.type == "cpu" and env.main and (warning := contention_warning(env.threads)):
            self.say(warning)

    def step(self, rec: dict[str, Any] | None) -> None:
        if self.bar is None:
            return
        if rec is not None:
            self.bar.set_postfix_str(f"ep {math.ceil(rec['epoch'])}/{self.epochs} {fmt_losses(rec)} "
                                     f"{rec['img_per_s']:.0f} img/s")
        self.bar.update(1)

    def moved(self, step: int) -> None:
        """The guard rolled the run back to ``step``."""
        if self.bar is not None:
            self.bar.n = step
            self.bar.refresh()

    def epoch(self, ep: int, step: int, rec: dict[str, Any] | None) -> None:
        if self.bar is None and rec is not None:
            self.say(f"epoch {ep}/{self.epochs} step {step}/{self.total} {fmt_losses(rec)} "
                     f"{rec['img_per_s']:.0f} img/s elapsed {fmt_time(rec['time'])} "
                     f"eta {fmt_time((self.total - step) * rec['time'] / step)}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def draw_progress(rd: RunDir, history: list[dict]) -> None:
    """Redraw progress.gif from the epoch previews and losses.png from the history."""
    frames = []
    for p in rd.sample_files():
        with Image.open(p) as im:
            frames.append(im.copy())
    if frames:
        save_gif(frames, rd.gif, info=record(kind="training progress", run=rd.path.name))
    if history:
        plot_losses(history, rd.losses_plot)


def fmt_losses(rec: dict[str, Any]) -> str:
    return " ".join(f"{k.removesuffix('_loss')} {v:.3f}" for k, v in rec.items() if k.endswith("_loss"))


def progress_bar(total: int, initial: int, disable: bool) -> Any:
    if disable or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, desc="train")


def fmt_time(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"
