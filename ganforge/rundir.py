"""RunDir: the only code that knows a run folder's file names.

    config.json            {ganforge_version, family, run, model, data, world_size}
    model.json             what ``ganforge.load`` rebuilds (kind, roles, architectures)
    <net>.safetensors      each published network (e.g. generator, discriminator)
    state.safetensors      everything for an exact resume (format 2: step, RNG, recipe state)
    samples/epoch_NNNN.png the fixed-seed preview after every epoch
    progress.gif           those previews as an animation
    metrics.jsonl          one JSON record per log line / evaluation
    losses.png             every logged ``*_loss`` against step, and the evaluations
    best/                  a model folder (model.json + nets) with the best --eval-every score
    snapshots/step_SSSSSS/ --snapshot-every: model folders of the run as it was at those steps
    eval*.json             `ganforge eval RUN --json RUN/eval.json`: scores beside their floors
    MODEL_CARD.md          what the model is, what it was trained on, how well, and its limits
    model.onnx             ``ganforge export`` (a translation run: model-a2b.onnx, model-b2a.onnx)
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from ._version import __version__
from .config import Config
from .errors import GanforgeError
from .serialization import (
    MODEL_FILE,
    atomic_write,
    check_writable,
    read_training_state,
    save_model,
    save_state,
    write_json,
)

CONFIG, STATE, METRICS = "config.json", "state.safetensors", "metrics.jsonl"
EVALS = "eval*.json"  # evaluation results kept in the run folder (what the runs page shows)
_NOT_RUNS = {"samples", "best", "snapshots"}  # folders inside a run that are not runs of their own
CARD = "MODEL_CARD.md"


def _short(text: str, keep: int = 80) -> str:
    """A path for a one-line message: a very long one cut in the middle."""
    return text if len(text) <= keep else f"{text[:keep // 2]}...{text[-keep // 2:]}"


class RunDir:
    def __init__(self, path: str | Path) -> None:
        self.given = str(path)  # as the user wrote it: Path("") would be the current folder
        self.path = Path(path)

    @staticmethod
    def default(name: str) -> RunDir:
        return RunDir(Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}")

    @staticmethod
    def of(path: str | Path) -> RunDir:
        """The run a folder belongs to: the folder itself, or the run around its ``best/`` or
        one of its ``snapshots/step_SSSSSS/``."""
        p = Path(path)
        if not (p / CONFIG).is_file() and (p / MODEL_FILE).is_file():
            run = p.parent.parent if p.parent.name == "snapshots" else p.parent
            if (run / CONFIG).is_file():
                return RunDir(run)
        return RunDir(p)

    # ---- names ----------------------------------------------------------------------------
    @property
    def config_file(self) -> Path:
        return self.path / CONFIG

    @property
    def state_file(self) -> Path:
        return self.path / STATE

    @property
    def metrics_file(self) -> Path:
        return self.path / METRICS

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    @property
    def gif(self) -> Path:
        return self.path / "progress.gif"

    @property
    def losses_plot(self) -> Path:
        return self.path / "losses.png"

    @property
    def best(self) -> Path:
        return self.path / "best"

    @property
    def snapshots(self) -> Path:
        return self.path / "snapshots"

    @property
    def card(self) -> Path:
        return self.path / CARD

    def onnx_file(self, direction: str | None = None) -> Path:
        """Where ``ganforge export`` writes by default (one file per translation direction)."""
        return self.path / (f"model-{direction}.onnx" if direction else "model.onnx")

    def snapshot(self, step: int) -> Path:
        return self.snapshots / f"step_{step:06d}"

    def sample(self, epoch: int) -> Path:
        return self.samples / f"epoch_{epoch:04d}.png"

    def sample_files(self) -> list[Path]:
        return sorted(self.samples.glob("epoch_*.png"))

    @property
    def model_file(self) -> Path:
        return self.path / MODEL_FILE

    def latest_sample(self) -> Path | None:
        """The newest preview grid (the last epoch's), or None before the first epoch ends."""
        files = self.sample_files()
        return files[-1] if files else None

    def model_files(self) -> list[Path]:
        """model.json and the published networks: what ``ganforge.load`` reads (their times tell
        a server that a training run has published newer weights)."""
        return [p for p in [self.model_file, *sorted(self.path.glob("*.safetensors"))]
                if p.name != STATE and p.is_file()]

    def eval_results(self) -> list[tuple[str, dict[str, Any]]]:
        """(file name, result) of every ``eval*.json`` in the run folder that holds an evaluation
        (``{"metrics": ..., "protocol": ...}``, as ``ganforge eval --json`` writes); other or
        unreadable files are left out."""
        out = []
        for p in sorted(self.path.glob(EVALS)):
            try:
                d = json.loads(p.read_text())
            except (OSError, ValueError, UnicodeDecodeError):
                continue
            if isinstance(d, dict) and isinstance(d.get("metrics"), dict):
                out.append((p.name, d))
        return out

    @staticmethod
    def find(root: str | Path, depth: int = 3) -> list[RunDir]:
        """Every run at or under ``root`` (down ``depth`` folder levels), sorted by path: a
        folder holding a config.json, a state or a model.json. A run's own ``samples/``,
        ``best/`` and ``snapshots/`` are not listed as runs, nor hidden folders."""
        root = Path(root)
        rd = RunDir(root)
        if rd.is_run() or rd.model_file.is_file():
            return [rd]
        if depth <= 0 or not root.is_dir():
            return []
        try:
            subs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            return []
        return [r for p in subs if p.name not in _NOT_RUNS for r in RunDir.find(p, depth - 1)]

    # ---- lifecycle ------------------------------------------------------------------------
    def has_state(self) -> bool:
        try:
            return self.state_file.is_file()
        except OSError:  # a name too long to look up: prepare() says so in one line
            return False

    def is_run(self) -> bool:
        """Holds a run (or the start of one): its config.json or its state."""
        return self.config_file.is_file() or self.has_state()

    def prepare(self, resume: bool) -> None:
        """Check the folder before any data is loaded: never overwrite a run, never resume
        nothing, never mix run files into a folder of other files, and one line for a folder
        that cannot be made (no permission, a name too long, a file in the way).

        Raises:
            GanforgeError: any of those, in one line.
        """
        if not self.given.strip():
            raise GanforgeError("--out '': an empty folder name; give one, e.g. runs/mine")
        try:
            self._check(resume)
        except OSError as e:  # a name too long, a folder that cannot be read, ...
            raise self._cannot(e) from None

    def _check(self, resume: bool) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise GanforgeError(f"--out {self.path}: exists and is not a folder")
        if resume and not self.has_state():
            raise GanforgeError(f"--resume: {self.path} holds no {STATE} to resume from")
        if not resume and self.has_state():
            raise GanforgeError(f"{self.path} already holds a run; continue it with "
                                f"`ganforge train --resume {self.path}`, or choose another --out")
        if not resume and self.path.is_dir() and not self.is_run():
            inside = sorted(p.name for p in self.path.iterdir())
            if inside:
                more = f" and {len(inside) - 1} more" if len(inside) > 1 else ""
                raise GanforgeError(f"--out {self.path}: holds {inside[0]}{more} and is not a run "
                                    "folder; a run goes into a new or empty folder: choose another --out")
        check_writable(self.config_file, "--out")  # before any data is loaded
        self._try_create()

    def _cannot(self, e: OSError) -> GanforgeError:
        why = e.strerror or str(e)
        if e.errno == errno.ENAMETOOLONG:
            longest = max(self.path.absolute().parts, key=len)
            why = (f"a name in it is too long ({len(longest)} characters; file systems allow "
                   "about 255, and a whole path about 4,096)")
        return GanforgeError(f"--out {_short(self.given)}: cannot use it as the run folder: {why}")

    def _try_create(self) -> None:
        """Make the folder and a file in it, then take away what was made: what the run will
        do, done now, so an impossible place fails in one line before any work."""
        made = []
        p = self.path.absolute()
        while not p.exists() and p != p.parent:
            made.append(p)
            p = p.parent
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".ganforge-probe-", dir=self.path)
            os.close(fd)
            os.unlink(probe)
        finally:
            for d in made:  # leaf first: only the folders made here, and only if still empty
                with contextlib.suppress(OSError):
                    d.rmdir()

    def start(self, cfg: Config, data: dict[str, Any], world: int, history: list[dict]) -> None:
        """Write config.json and the metrics so far (a resumed run drops records past its state)."""
        try:
            self.samples.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise self._cannot(e) from None
        write_json(self.config_file, {"ganforge_version": __version__, **cfg.to_dict(), "data": data,
                                      "world_size": world})
        self.write_metrics(history)

    # ---- config ---------------------------------------------------------------------------
    def raw_config(self) -> dict[str, Any]:
        """config.json as JSON, with one-line errors for a missing or unreadable file."""
        if not self.config_file.is_file():
            raise GanforgeError(f"{self.path}: not a ganforge run folder (no {CONFIG})")
        try:
            d = json.loads(self.config_file.read_text())
        except (ValueError, UnicodeDecodeError) as e:
            raise GanforgeError(f"{self.config_file}: not valid JSON ({e}); the run folder is "
                                "damaged") from None
        if not isinstance(d, dict):
            raise GanforgeError(f"{self.config_file}: expected a JSON object; the file is damaged")
        return d

    def config(self) -> Config:
        return Config.from_dict(self.raw_config(), str(self.config_file))

    # ---- metrics --------------------------------------------------------------------------
    def metrics(self) -> list[dict[str, Any]]:
        """Every record of metrics.jsonl; a line that is not JSON (the last one, half written
        when a run was killed) is skipped, the same way for every reader, and the lines a guard
        rollback voided are dropped."""
        if not self.metrics_file.is_file():
            return []
        out = []
        for line in self.metrics_file.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                if "rollback" in rec:  # the guard went back: what came after that step is void
                    out = [r for r in out if r.get("step", 0) <= rec["rollback"]]
                out.append(rec)
        return out

    def write_metrics(self, records: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(r) + "\n" for r in records)
        atomic_write(self.metrics_file, lambda p: Path(p).write_text(text))

    def append_metric(self, rec: dict[str, Any]) -> None:
        with open(self.metrics_file, "a") as f:
            f.write(json.dumps(rec) + "\n")

    # ---- model files and state ------------------------------------------------------------
    def save_model(self, export: Any, family: str, folder: Path | None = None) -> None:
        """Publish a recipe's :class:`Export` as a model folder (the run itself, or ``best/``)."""
        save_model(folder or self.path, family=family, kind=export.kind, nets=export.nets,
                   uses=export.uses, info=export.info, version=__version__)

    def read_state(self) -> dict[str, Any]:
        return read_training_state(self.state_file)

    def write_state(self, state: dict[str, Any]) -> None:
        save_state(self.state_file, state)

    def best_score(self) -> float | None:
        p = self.best / "score.json"
        if not p.is_file():
            return None
        try:
            return float(json.loads(p.read_text())["value"])
        except (ValueError, KeyError, TypeError):
            return None

    def save_snapshot(self, export: Any, family: str, step: int) -> Path:
        """Keep the model as it is at ``step`` beside the latest: a loadable model folder."""
        self.save_model(export, family, self.snapshot(step))
        return self.snapshot(step)

    def best_record(self) -> dict[str, Any] | None:
        """best/score.json: the --eval-every record of the best model, or None."""
        p = self.best / "score.json"
        try:
            rec = json.loads(p.read_text()) if p.is_file() else None
        except (ValueError, UnicodeDecodeError):
            return None
        return rec if isinstance(rec, dict) else None

    def write_card(self, text: str) -> Path:
        atomic_write(self.card, lambda p: Path(p).write_text(text))
        return self.card

    def save_best(self, export: Any, family: str, record: dict[str, Any]) -> None:
        self.save_model(export, family, self.best)
        write_json(self.best / "score.json", record)

