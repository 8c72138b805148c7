"""What the evaluator's parts share: a set of features, a line of the printed table, and what a
source of images hands the evaluator. No work happens here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

Say = Callable[[str], None]


@dataclass
class Sample:
    """Features of one image set, and the extractor's class probabilities when it has them."""

    feats: np.ndarray
    probs: np.ndarray | None = None

    def __getitem__(self, idx: np.ndarray) -> Sample:
        return Sample(self.feats[idx], None if self.probs is None else self.probs[idx])


@dataclass(frozen=True)
class Row:
    """One line of the printed table: the result entry ``key``, its ``label``, and ``cells``,
    which turns the entry into its two cells (the value, what real data scores)."""

    key: str
    label: str
    cells: Callable[[dict[str, Any]], tuple[str, str]]


def floor_row(key: str, label: str, fmt: str = ".4g", note: str = "") -> Row:
    """A metric beside its real-vs-real floor: ``value | mean ± std of the floor [note]``."""
    tail = f" {note}" if note else ""
    return Row(key, label, lambda e: (f"{e['value']:{fmt}}",
                                      f"{e['real_vs_real']:{fmt}} ± {e['real_vs_real_std']:.2g}{tail}"))


def real_row(key: str, label: str, fmt: str, note: str) -> Row:
    """A check beside what real images score on it: ``value | real (note)``."""
    return Row(key, label, lambda e: (f"{e['value']:{fmt}}", f"{e['real']:{fmt}} {note}"))


def plain_row(key: str, entry: dict[str, Any]) -> tuple[str, str, str]:
    """A result entry no registered row claims (a metric or check registered without rows)."""
    value = f"{entry['value']:.4g}" if isinstance(entry.get("value"), (int, float)) else "-"
    if "real_vs_real" in entry:
        return key, value, f"{entry['real_vs_real']:.4g} ± {entry.get('real_vs_real_std', 0):.2g}"
    if isinstance(entry.get("real"), (int, float)):
        return key, value, f"{entry['real']:.4g} (real)"
    return key, value, ""


@dataclass
class Sets:
    """What a source hands the evaluator: the images to score and the real images they are
    compared with (split into half A, compared, and half B, the floor), and what the protocol
    says about them."""

    fake: torch.Tensor  # (n, C, S, S) float in [0, 1], with the real images' channels
    real: torch.Tensor  # (M, C, S, S) uint8
    n: int  # images per set, after capping
    what: dict[str, Any] = field(default_factory=dict)  # protocol entries: real, fake, how made
