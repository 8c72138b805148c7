"""The contract between the training shell and a model family, kept tiny.

A family owns its networks, optimizers and every other piece of training state, and writes out
its phases in ``step()``. The shell (``training/loop.py``) knows none of that: it feeds batches,
logs what ``step`` returns, checkpoints ``state`` and publishes ``export()``.

Rules that keep resume exact: randomness only from torch's global RNG (the shell saves it) or
module buffers; learning-rate schedules as pure functions of (step, total), set every step; the
state holds raw modules, training calls them through ``env.parallel`` wrappers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal, Protocol

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from ..data.kinds import DATA_KINDS, Batch, DataInfo, Derive
from ..env import Env
from ..errors import GanforgeError
from ..models import NetSpec
from ..registry import Registry


@dataclass
class Export:
    """The networks a run publishes and the inference object that uses them.

    ``nets``: name -> (module, spec), each written as ``<name>.safetensors``. ``uses``: the
    inference object's roles -> net names (a sampler's ``generator``; a translator's ``a2b`` and
    ``b2a``). ``info``: what inference needs besides the nets (a sampler's ``z_dim``).
    """

    kind: Literal["sample", "translate", "upscale"]
    nets: dict[str, tuple[nn.Module, NetSpec]]
    uses: dict[str, str]
    info: dict[str, Any] = field(default_factory=dict)

    def net(self, role: str) -> nn.Module:
        return self.nets[self.uses[role]][0]


class Stateful(Protocol):
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> Any: ...


class Reason(str, Enum):
    """Why the guard rolled a run back; the family's :meth:`Recipe.recover` is told which."""

    NAN = "nan"  # a non-finite loss or weight
    COLLAPSE = "collapse"  # the previews lost their diversity (or digit classes)
    UNHEALTHY = "unhealthy"  # the family's own health check failed for many steps on end


class Recipe(Protocol):
    """One model family's training, as the shell and the guard see it."""

    state: dict[str, Stateful]  # every piece of training state by a stable name

    def step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """One iteration, all phases; detached scalars to log (``*_loss`` keys are plotted)."""
        ...

    def export(self) -> Export:
        """The networks to publish (e.g. the EMA generator, not the live one)."""
        ...

    def health(self, rec: dict[str, float]) -> str | None:
        """What is wrong in one log line that the guard should act on if it lasts (a GAN's
        discriminator that won outright), or None. Families with no such check return None."""
        ...

    def recover(self, reason: Reason) -> str:
        """After the guard's rollback: change what will keep the run from failing the same way
        (:func:`lower_lr` is the remedy any family can use); returns what was done, for people."""
        ...


@dataclass(frozen=True)
class Family:
    name: str
    config: type  # the family's typed config dataclass
    build: Callable[[Any, DataInfo, Env, int], Recipe]  # (config, data, env, total steps)
    # The data kind it trains on (a name in data.kinds.DATA_KINDS), or a function of its config
    # that names one (a conditional GAN needs labelled images).
    data: str | Callable[[Any], str] = "images"
    doc: str = ""
    # The "derived" kind: given the family's config, the function that turns a batch of images
    # into (inputs, targets) on the fly (super-resolution: its degradation at its scale).
    derive: Callable[[Any], Derive] | None = None
    # Run settings that suit the family (or, given its settings as asked, the network it
    # builds), applied before a preset's and the user's: pix2pix and CycleGAN train at batch 1
    # and 256 px as their papers, not at RunConfig's batch 128 and 28 px.
    run_defaults: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    def run_settings(self, model: dict[str, Any]) -> dict[str, Any]:
        """The family's run defaults for these (asked-for) family settings."""
        return dict(self.run_defaults(model)) if self.run_defaults is not None else {}

    def data_kind(self, cfg: Any) -> str:
        kind = self.data(cfg) if callable(self.data) else self.data
        DATA_KINDS.get(kind)
        return kind

    def pairing(self, cfg: Any) -> Derive | None:
        """The derived kind's pair maker for this config (None for the other kinds)."""
        return self.derive(cfg) if self.derive is not None else None


FAMILIES: Registry[Family] = Registry("model family")

# The translation papers' run settings (CycleGAN, pix2pix): batch 1 at 256 px, and no default
# data, so a bare `ganforge train cyclegan` names what to pass. Presets and flags override each.
TRANSLATION_RUN_DEFAULTS = {"batch_size": 1, "size": 256, "data": ""}


@dataclass(frozen=True)
class Preset:
    """A named starting point: a family and the settings that differ from its defaults (run
    settings and the family's own, by field name; aliases such as ``lr`` allowed)."""

    family: str
    settings: dict[str, Any]
    doc: str = ""


# One registry for every family; each family's file adds its presets beside its config.
PRESETS: Registry[Preset] = Registry("preset")


def add_preset(name: str, family: str, doc: str, **settings: Any) -> None:
    PRESETS.register(name)(Preset(family, settings, doc))


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


def make_ema(net: nn.Module, decay: float) -> AveragedModel | None:
    """An exponential moving average of ``net`` (None when ``decay`` is 0): sample from it."""
    if not decay:
        return None
    return AveragedModel(net, multi_avg_fn=ema_update(decay), use_buffers=True)


def linear_decay(step: int, total: int, start: float = 0.5) -> float:
    """The learning-rate factor of CycleGAN and pix2pix: 1 for the first ``start`` of the run,
    then linearly down to 0 at its end; a pure function of the step, so resume stays exact."""
    begin = total * start
    if step < begin or total <= begin:
        return 1.0
    return max(0.0, 1.0 - (step - begin) / (total - begin))


def check_schedule(lr: float, betas: tuple[float, float], decay_from: float) -> None:
    """The Adam + linear-decay settings of the translation families, checked in one line each."""
    if lr <= 0:
        raise GanforgeError(f"--lr must be > 0, got {lr}")
    if not all(0 <= b < 1 for b in betas):
        raise GanforgeError(f"betas must be in [0, 1), got {betas}")
    if not 0 <= decay_from <= 1:
        raise GanforgeError(f"decay_from must be in [0, 1], got {decay_from}")


def scale_lr(opt: torch.optim.Optimizer, factor: float) -> None:
    """Set each group's learning rate to its ``base_lr`` times ``factor``. ``base_lr`` (the
    constructor's lr until a remedy lowers it) lives in the optimizer's state, so it resumes."""
    for group in opt.param_groups:
        group["lr"] = group.setdefault("base_lr", group["lr"]) * factor


def lower_lr(*opts: torch.optim.Optimizer, factor: float = 0.5) -> float:
    """The guard's learning-rate remedy, for any family: every group's rate times ``factor``.
    ``base_lr`` (what a schedule scales each step, :func:`scale_lr`) and ``lr`` both move, so it
    works with and without a schedule, and, living in the optimizer's state, it resumes.
    Returns the first group's new rate."""
    for opt in opts:
        for group in opt.param_groups:
            group["base_lr"] = group.setdefault("base_lr", group["lr"]) * factor
            group["lr"] *= factor
    return opts[0].param_groups[0]["base_lr"]


def has_batchnorm(net: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
