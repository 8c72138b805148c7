"""Helpers several test files share: wrapping a family's training step, and comparing two
runs' saved training states bit for bit."""

from __future__ import annotations

import dataclasses
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ganforge.families import FAMILIES
from ganforge.serialization import read_training_state


def hook_step(monkeypatch: Any, family: str, before: Callable[[Any, int], None] | None = None,
              after: Callable[[Any, int], None] | None = None) -> None:
    """Make every recipe ``family`` builds call ``before(recipe, i)`` / ``after(recipe, i)``
    around its step ``i`` (0-based), until ``monkeypatch.undo()``."""
    fam = FAMILIES.get(family)

    def build(*args: Any) -> Any:
        recipe = fam.build(*args)
        step = recipe.step

        def hooked(batch: Any, i: int) -> Any:
            if before is not None:
                before(recipe, i)
            out = step(batch, i)
            if after is not None:
                after(recipe, i)
            return out

        recipe.step = hooked
        return recipe

    monkeypatch.setitem(FAMILIES._items, family, dataclasses.replace(fam, build=build))


def ctrl_c_after(monkeypatch: Any, family: str, at: int) -> None:
    """A user's Ctrl-C (SIGINT to this process) right after step ``at`` (0-based)."""
    def after(recipe: Any, i: int) -> None:
        if i == at:
            os.kill(os.getpid(), signal.SIGINT)

    hook_step(monkeypatch, family, after=after)


def assert_same_state(a: Path, b: Path, step: int, rng: bool = True) -> None:
    """Runs ``a`` and ``b`` saved the same training state at ``step``: every tensor of every
    network, optimizer and buffer equal bit for bit (and the CPU RNG, unless ``rng=False``)."""
    sa, sb = read_training_state(a / "state.safetensors"), read_training_state(b / "state.safetensors")
    assert sa["step"] == sb["step"] == step
    assert set(sa["recipe"]) == set(sb["recipe"])
    for name, sd in sa["recipe"].items():
        for k, v in sd.items():
            if isinstance(v, torch.Tensor):
                assert torch.equal(v, sb["recipe"][name][k]), f"{name}.{k}"
    if rng:
        assert torch.equal(sa["rng"]["cpu"], sb["rng"]["cpu"])
