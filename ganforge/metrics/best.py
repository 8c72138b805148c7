"""``--eval-every``: the cheap metric every K epochs, and the best weights so far in ``best/``."""

from __future__ import annotations

import math
from typing import Any

from ..rundir import RunDir
from .evaluate import QuickEval


class EvalEvery:
    """Scores the epoch's preview object every ``every`` epochs (and at the end), logs it and
    keeps the best model seen in ``RUN/best/`` -- across resumes, which read the best score back."""

    def __init__(self, rd: RunDir, data: Any, every: int, n: int, seed: int, name: str,
                 resume: bool) -> None:
        self.rd, self.every = rd, every
        self.quick = QuickEval(data.reference, n, seed, name, data.preview_inputs)
        self.best = (rd.best_score() if resume else None) or math.inf

    def due(self, epoch: int, last: bool) -> bool:
        return epoch % self.every == 0 or last

    def __call__(self, preview: Any, export: Any, family: str, rec: dict[str, Any]) -> str:
        """Score ``preview``, complete ``rec`` (step, epoch, time) with it, keep best/ up to date;
        returns the console line."""
        rec.update({"eval": self.quick.name, "value": self.quick(preview)})
        if rec["value"] < self.best:
            self.best = rec["value"]
            self.rd.save_best(export, family, rec)
        return f"epoch {math.ceil(rec['epoch'])}: {self.quick.name} {rec['value']:.4g} (best {self.best:.4g})"
