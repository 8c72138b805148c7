"""The ``pix2pix`` family: paired image-to-image translation (Isola et al. 2017).

A U-Net generator and a PatchGAN that judges the (input, output) pair stacked on channels.
Phases per step: (1) D on (a, b) as real and (a, G(a)) as fake, non-saturating BCE, halved as
in the paper "to slow the rate at which D learns"; (2) G against the frozen D plus
``lambda_l1 * |G(a) - b|``. Adam(2e-4, beta1 0.5), learning rate constant for the first half of
the run, then linearly down to 0; random jitter applied to the pair alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from ..augment import jitter
from ..env import Env
from ..errors import GanforgeError
from ..losses import d_bce_loss, g_nonsaturating_loss
from ..models import NetSpec
from ..models.translation import PatchDiscriminator, UNetTranslator
from ..typed import check, setting
from .base import (
    FAMILIES,
    TRANSLATION_RUN_DEFAULTS,
    Batch,
    DataInfo,
    Export,
    Family,
    Reason,
    add_preset,
    check_schedule,
    linear_decay,
    lower_lr,
    scale_lr,
)
from .cyclegan import frozen, thawed


@dataclass
class Pix2PixConfig:
    """The pix2pix family's settings; saved as the ``model`` section of config.json."""

    width: int = setting(64, "generator base channels (ngf)", metavar="N")
    d_width: int = setting(64, "discriminator base channels (ndf)", metavar="N")
    lambda_l1: float = setting(100.0, "L1 weight (the generated image against the target)",
                               metavar="L")
    dropout: float = setting(0.5, "dropout on the U-Net's inner decoder layers, in training "
                             "(the paper's only noise source)", metavar="P")
    lr: float = setting(2e-4, "learning rate of every network (Adam)", metavar="LR")
    betas: tuple[float, float] = setting((0.5, 0.999), "Adam betas", metavar="B")
    decay_from: float = setting(0.5, "fraction of the run after which the learning rate falls "
                                "linearly to 0", metavar="F")
    jitter: bool = setting(True, "random resize (286/256), crop back and mirror of the training "
                           "images")

    ALIASES: ClassVar[dict[str, tuple[str, ...]]] = {}

    def validate(self) -> Pix2PixConfig:
        check(self)  # types and choices
        if self.width < 1 or self.d_width < 1:
            raise GanforgeError("width and d_width must be >= 1")
        if self.lambda_l1 < 0:
            raise GanforgeError(f"--lambda-l1 must be >= 0, got {self.lambda_l1}")
        if not 0 <= self.dropout < 1:
            raise GanforgeError(f"dropout must be in [0, 1), got {self.dropout}")
        check_schedule(self.lr, self.betas, self.decay_from)
        return self


class Pix2PixRecipe:
    def __init__(self, cfg: Pix2PixConfig, data: DataInfo, env: Env, total_steps: int) -> None:
        self.cfg, self.env, self.total = cfg, env, total_steps
        self.info = {"size": data.size, "channels": data.channels,
                     "domains": list(data.domains or ("A", "B"))}
        c = data.channels
        self.g_spec = NetSpec("UNetTranslator", dict(in_channels=c, out_channels=c, width=cfg.width,
                                                    depth=UNetTranslator.depth_for(data.size),
                                                    dropout=cfg.dropout))
        self.d_spec = NetSpec("PatchDiscriminator", dict(in_channels=2 * c, width=cfg.d_width,
                                                         layers=PatchDiscriminator.layers_for(data.size)))
        cl = torch.channels_last
        self.g = self.g_spec.build().to(env.device, memory_format=cl)
        self.d = self.d_spec.build().to(env.device, memory_format=cl)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=cfg.lr, betas=cfg.betas)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=cfg.lr, betas=cfg.betas)
        self.state: dict[str, Any] = {"generator": self.g, "discriminator": self.d,
                                      "opt_g": self.opt_g, "opt_d": self.opt_d}
        self.G, self.D = env.parallel(self.g), env.parallel(self.d)

    def step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        assert batch.targets is not None, "pix2pix trains on pairs"
        a, b = batch.images, batch.targets
        if cfg.jitter:
            a, b = jitter(a, b)  # the same crop and mirror for input and target
        factor = linear_decay(step, self.total, cfg.decay_from)
        scale_lr(self.opt_g, factor)
        scale_lr(self.opt_d, factor)

        with self.env.autocast():
            fake = self.G(a)
            # Phase 1: D on real and generated pairs (halved, as the paper).
            d_loss = 0.5 * d_bce_loss(self.D(torch.cat([a, b], 1)).float(),
                                      self.D(torch.cat([a, fake.detach()], 1)).float())
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()

        # Phase 2: G fools the frozen D and stays close to the target.
        frozen(self.d)
        with self.env.autocast():
            adv = g_nonsaturating_loss(self.D(torch.cat([a, fake], 1)).float())
            l1 = F.l1_loss(fake.float(), b)
            loss = adv + cfg.lambda_l1 * l1
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        thawed(self.d)
        return {"g_loss": adv.detach(), "l1_loss": l1.detach(), "d_loss": d_loss.detach()}

    def health(self, rec: dict[str, float]) -> str | None:
        return None

    def recover(self, reason: Reason) -> str:
        return f"learning rates halved (lr {lower_lr(self.opt_g, self.opt_d):.3g})"

    def export(self) -> Export:
        return Export("translate", {"generator": (self.g, self.g_spec)}, {"a2b": "generator"}, self.info)


FAMILIES.register("pix2pix")(Family("pix2pix", Pix2PixConfig, Pix2PixRecipe, "paired",
                                    "paired image-to-image translation (label map -> photo)",
                                    run_defaults=lambda model: TRANSLATION_RUN_DEFAULTS))


# Presets: a name, a one-line doc and the settings that differ from the defaults.
# pix2pix as in Isola et al.: U-Net 256, PatchGAN on the pair, L1 100, batch 1 for facades
# (200 epochs), batch 4 for edges2shoes (15 epochs).
add_preset("facades", "pix2pix", "pix2pix: facade label maps -> photos (download, 29 MB)",
           data="facades", size=256, channels=3, batch_size=1, epochs=200)
add_preset("edges2shoes", "pix2pix", "pix2pix: shoe edge maps -> photos (download, 2 GB)",
           data="edges2shoes", size=256, channels=3, batch_size=4, epochs=15)
# The offline digit pair at 32 px, small networks: README "Translating images" measures them.
add_preset("mnist2color-pix2pix", "pix2pix", "pix2pix on the offline digit pair (no download)",
           data="mnist2color", size=32, channels=3, batch_size=8, epochs=2, width=32, d_width=32)
