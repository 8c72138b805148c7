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
"""

from __future__ import annotations

import json
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


class RunDir:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @staticmethod
    def default(name: str) -> RunDir:
        return RunDir(Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}")

    @staticmethod
    def of(path: str | Path) -> RunDir:
        """The run a folder belongs to: the folder itself, or the run around its ``best/``."""
        p = Path(path)
        if not (p / CONFIG).is_file() and (p / MODEL_FILE).is_file() and (p.parent / CONFIG).is_file():
            return RunDir(p.parent)
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

    def sample(self, epoch: int) -> Path:
        return self.samples / f"epoch_{epoch:04d}.png"

    def sample_files(self) -> list[Path]:
        return sorted(self.samples.glob("epoch_*.png"))

    # ---- lifecycle ------------------------------------------------------------------------
    def has_state(self) -> bool:
        return self.state_file.is_file()

    def prepare(self, resume: bool) -> None:
        """Check the folder against --resume: never overwrite a run, never resume nothing."""
        if self.path.exists() and not self.path.is_dir():
            raise GanforgeError(f"--out {self.path}: exists and is not a folder")
        if resume and not self.has_state():
            raise GanforgeError(f"--resume: {self.path} holds no {STATE} to resume from")
        if not resume and self.has_state():
            raise GanforgeError(f"{self.path} already holds a run; continue it with "
                                f"`ganforge train --resume {self.path}`, or choose another --out")
        check_writable(self.config_file, "--out")  # before any data is loaded

    def start(self, cfg: Config, data: dict[str, Any], world: int, history: list[dict]) -> None:
        """Write config.json and the metrics so far (a resumed run drops records past its state)."""
        self.samples.mkdir(parents=True, exist_ok=True)
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

    def save_best(self, export: Any, family: str, record: dict[str, Any]) -> None:
        self.save_model(export, family, self.best)
        write_json(self.best / "score.json", record)

