"""The guard: notices a run going bad, rolls it back to its last good checkpoint, changes what
the family says will help, and goes on -- at most ``retries`` times in a row.

What it watches: non-finite losses or weights; mode collapse (the fixed-seed preview batch losing
its diversity, or for digit data the digits classifier's class coverage, falling far below what
the run already reached); and the family's own health check (``recipe.health(log line)``)
failing for ``bad_steps`` steps on end. What to change
is the family's: ``recipe.recover(reason)`` (see ``families.base.Recipe``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..env import wait_all
from ..errors import GanforgeError
from ..families import Reason, Recipe


@dataclass
class Trouble:
    reason: Reason
    what: str  # one line for people


class Rollback(Exception):
    """Raised inside the training loop; the loop rolls back and continues."""

    def __init__(self, trouble: Trouble) -> None:
        super().__init__(trouble.what)
        self.trouble = trouble


def diversity(images: torch.Tensor) -> float:
    """Mean pairwise L2 distance between images (N, C, H, W) in [0, 1], at most 32 px a side:
    near 0 when a generator draws one image for every latent."""
    x = images.float()
    if x.shape[-1] > 32:
        x = F.interpolate(x, size=(32, 32), mode="area")
    x = x.flatten(1)
    d = torch.cdist(x, x)
    n = len(x)
    return float(d.sum() / max(n * (n - 1), 1))


class Guard:
    """Health checks for one run, and the count of recoveries since the run last got past the
    point where it failed."""

    def __init__(self, recipe: Recipe, real: torch.Tensor, data: str, seed: int, retries: int = 3,
                 bad_steps: int = 500, n: int = 64) -> None:
        self.recipe, self.retries, self.bad_steps, self.n, self.seed = recipe, retries, bad_steps, n, seed
        g = torch.Generator().manual_seed(seed)
        pick = torch.randperm(len(real), generator=g)[: min(n, len(real))]
        self.real_diversity = diversity(real[pick].float() / 255)
        self.classifier = None
        from ..metrics.features import DIGIT_SETS

        if data in DIGIT_SETS:
            from ..metrics.features import get_extractor

            with torch.random.fork_rng(devices=[]):  # building it draws init weights: not the run's
                self.classifier = get_extractor("digits")
        self.best_diversity = 0.0
        self.best_coverage = 0
        self.bad_since: int | None = None
        self.recoveries = 0
        self.failed_at = -1

    # ---- checks ---------------------------------------------------------------------------
    def check_log(self, rec: dict[str, Any]) -> Trouble | None:
        bad = [f"{k} = {v}" for k, v in rec.items() if isinstance(v, float) and not math.isfinite(v)]
        if bad:
            return Trouble(Reason.NAN, f"{', '.join(bad)} by step {rec['step']}")
        problem = self.recipe.health(rec)
        if problem is None:
            self.bad_since = None
        elif self.bad_since is None:
            self.bad_since = rec["step"]
        elif rec["step"] - self.bad_since >= self.bad_steps:
            return Trouble(Reason.UNHEALTHY, f"{problem} since step {self.bad_since} "
                                             f"(still at step {rec['step']})")
        return None

    def check_preview(self, sampler: Any, step: int, inputs: tuple | None = None) -> Trouble | None:
        """Collapse: the preview batch's diversity (or digit class coverage) fell below 40% (half)
        of the best this run reached, after it had once been at least half the real data's."""
        images = sampler.preview_batch(self.n, self.seed, inputs)
        ratio = diversity(images) / max(self.real_diversity, 1e-12)
        if self.best_diversity >= 0.5 and ratio < 0.4 * self.best_diversity:
            return Trouble(Reason.COLLAPSE, f"mode collapse at step {step}: sample diversity "
                                       f"{ratio:.2f} of the real data's, down from {self.best_diversity:.2f}")
        self.best_diversity = max(self.best_diversity, ratio)
        if self.classifier is not None:
            _, probs = self.classifier(images)
            counts = torch.bincount(torch.from_numpy(probs.argmax(1)), minlength=10)
            coverage = int((counts >= max(1, len(images) // 50)).sum())
            if self.best_coverage >= 8 and coverage <= self.best_coverage // 2:
                return Trouble(Reason.COLLAPSE, f"mode collapse at step {step}: the samples show "
                                           f"{coverage} of 10 digit classes, down from {self.best_coverage}")
            self.best_coverage = max(self.best_coverage, coverage)
        return None

    # ---- recovery -------------------------------------------------------------------------
    def passed(self, step: int) -> None:
        """A good checkpoint at ``step``: past the last failure point, the count starts over."""
        if step > self.failed_at:
            self.recoveries = 0

    def rollback(self, trouble: Trouble, at: int, ckpt: Any, history: Any,
                 say: Callable[[str], None]) -> int:
        """Back to the last good checkpoint with the family's remedy applied and saved (it is
        part of the state from here on, across a resume too); returns the step gone back to.

        Raises:
            GanforgeError: out of retries (the good state is kept and named).
        """
        ckpt.restore()
        good = ckpt.good_step
        self.failed_at = max(self.failed_at, at)
        self.bad_since = None
        if self.recoveries >= self.retries:
            raise GanforgeError(
                f"training diverged: {trouble.what}, again after {self.retries} recoveries; the "
                f"last good state (step {good}) is kept in {ckpt.rd.state_file} and resumes as it "
                "was; to train past this point, start a new run with a lower --lr (or --no-guard "
                "to see it fail)")
        self.recoveries += 1
        action = self.recipe.recover(trouble.reason)
        ckpt.save(good)
        wait_all(ckpt.env)
        history.trim(good)
        history.add({"step": good, "rollback": good, "guard": trouble.reason.value, "detail": trouble.what,
                     "action": action, "recovery": self.recoveries, "time": history.now()})
        say(f"guard: {trouble.what}; rolled back to step {good}, {action} "
            f"(recovery {self.recoveries} of {self.retries})")
        return good
