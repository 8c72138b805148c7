"""The ``cyclegan`` family: unpaired image-to-image translation (Zhu et al. 2017), as the Keras
CycleGAN tutorial trains horses into zebras.

Two generators (A -> B, B -> A) and two PatchGAN discriminators. Phases per step, written out in
``step``: (1) both generators against both discriminators with least-squares adversarial loss,
cycle consistency ``lambda_cycle * |G_BA(G_AB(a)) - a|`` (and the same from B), and identity
``lambda_identity * lambda_cycle * |G_AB(b) - b|`` (and from A); (2) each discriminator on real
images and on a fake drawn from its 50-image history pool. Adam(2e-4, beta1 0.5), the learning
rate constant for the first half of the run and then linearly down to 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..augment import jitter
from ..env import Env
from ..errors import GanforgeError
from ..losses import d_ls_loss
from ..models import NetSpec
from ..models.translation import PatchDiscriminator, ResNetTranslator
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


@dataclass
class CycleGANConfig:
    """The CycleGAN family's settings; saved as the ``model`` section of config.json."""

    width: int = setting(64, "generator base channels (ngf)", metavar="N")
    d_width: int = setting(64, "discriminator base channels (ndf)", metavar="N")
    blocks: int = setting(0, "residual blocks in each generator (0: 9 at >= 256 px, 6 below, as "
                          "the paper)", metavar="N")
    lambda_cycle: float = setting(10.0, "cycle-consistency weight", metavar="L")
    lambda_identity: float = setting(0.5, "identity weight, times lambda-cycle (0 turns it off)",
                                     metavar="L")
    # Shrivastava et al. 2017: D also trains on older fakes, so G cannot chase D's latest whim.
    pool_size: int = setting(50, "fakes in each discriminator's history pool (0: none)", metavar="N")
    lr: float = setting(2e-4, "learning rate of every network (Adam)", metavar="LR")
    betas: tuple[float, float] = setting((0.5, 0.999), "Adam betas", metavar="B")
    decay_from: float = setting(0.5, "fraction of the run after which the learning rate falls "
                                "linearly to 0", metavar="F")
    jitter: bool = setting(True, "random resize (286/256), crop back and mirror of the training "
                           "images")

    ALIASES: ClassVar[dict[str, tuple[str, ...]]] = {}

    def validate(self) -> CycleGANConfig:
        check(self)  # types and choices
        if self.width < 1 or self.d_width < 1 or self.blocks < 0:
            raise GanforgeError("width and d_width must be >= 1, blocks >= 0")
        if self.lambda_cycle < 0 or self.lambda_identity < 0:
            raise GanforgeError("lambda_cycle and lambda_identity must be >= 0")
        if self.pool_size < 0:
            raise GanforgeError(f"--pool-size must be >= 0, got {self.pool_size}")
        check_schedule(self.lr, self.betas, self.decay_from)
        return self


class ImagePool(nn.Module):
    """The history of generated images a discriminator also trains on (Shrivastava et al. 2017).

    Until full, every fake is stored and passed through; then each fake is, with probability 1/2,
    swapped for a random stored one (which it replaces). Its contents are buffers, so the pool is
    saved in the training state and a resumed run draws exactly what it would have.
    """

    def __init__(self, size: int, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, *shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def query(self, fakes: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return fakes
        out = []
        for img in fakes:
            n = int(self.count)
            if n < self.size:
                self.images[n] = img
                self.count += 1
                out.append(img)
            elif float(torch.rand(())) < 0.5:
                i = int(torch.randint(0, self.size, ()))
                out.append(self.images[i].clone())
                self.images[i] = img
            else:
                out.append(img)
        return torch.stack(out)


def frozen(*nets: nn.Module) -> None:
    for net in nets:
        net.requires_grad_(False)


def thawed(*nets: nn.Module) -> None:
    for net in nets:
        net.requires_grad_(True)


def mse_to(out: torch.Tensor, target: float) -> torch.Tensor:
    """The least-squares generator loss of the tutorial: mean (D(G(x)) - 1)^2."""
    return ((out - target) ** 2).mean()


class CycleGANRecipe:
    def __init__(self, cfg: CycleGANConfig, data: DataInfo, env: Env, total_steps: int) -> None:
        self.cfg, self.env, self.total = cfg, env, total_steps
        self.info = {"size": data.size, "channels": data.channels,
                     "domains": list(data.domains or ("A", "B"))}
        ResNetTranslator.check_size(data.size)
        c = data.channels
        blocks = cfg.blocks or (9 if data.size >= 256 else 6)
        g = NetSpec("ResNetTranslator", dict(in_channels=c, out_channels=c, width=cfg.width, blocks=blocks))
        d = NetSpec("PatchDiscriminator", dict(in_channels=c, width=cfg.d_width,
                                               layers=PatchDiscriminator.layers_for(data.size)))
        self.g_spec, self.d_spec = g, d
        cl = torch.channels_last
        self.g_ab, self.g_ba = (g.build().to(env.device, memory_format=cl) for _ in range(2))
        self.d_a, self.d_b = (d.build().to(env.device, memory_format=cl) for _ in range(2))
        self.opt_g = torch.optim.Adam([*self.g_ab.parameters(), *self.g_ba.parameters()], lr=cfg.lr,
                                      betas=cfg.betas)
        self.opt_d = torch.optim.Adam([*self.d_a.parameters(), *self.d_b.parameters()], lr=cfg.lr,
                                      betas=cfg.betas)
        shape = (c, data.size, data.size)
        self.pool_a, self.pool_b = ImagePool(cfg.pool_size, shape), ImagePool(cfg.pool_size, shape)
        self.pool_a.to(env.device)
        self.pool_b.to(env.device)
        self.state: dict[str, Any] = {
            "generator_ab": self.g_ab, "generator_ba": self.g_ba, "discriminator_a": self.d_a,
            "discriminator_b": self.d_b, "opt_g": self.opt_g, "opt_d": self.opt_d,
            "pool_a": self.pool_a, "pool_b": self.pool_b,
        }
        self.G_ab, self.G_ba = env.parallel(self.g_ab), env.parallel(self.g_ba)
        self.D_a, self.D_b = env.parallel(self.d_a), env.parallel(self.d_b)

    def step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        assert batch.targets is not None, "cyclegan trains on two domains"
        a, b = batch.images, batch.targets
        if cfg.jitter:
            (a,), (b,) = jitter(a), jitter(b)  # unpaired: each domain its own crop
        factor = linear_decay(step, self.total, cfg.decay_from)
        scale_lr(self.opt_g, factor)
        scale_lr(self.opt_d, factor)

        # Phase 1: both generators, the discriminators frozen.
        frozen(self.d_a, self.d_b)
        with self.env.autocast():
            fake_b, fake_a = self.G_ab(a), self.G_ba(b)
            rec_a, rec_b = self.G_ba(fake_b), self.G_ab(fake_a)
            adv = mse_to(self.D_b(fake_b).float(), 1.0) + mse_to(self.D_a(fake_a).float(), 1.0)
            cycle = F.l1_loss(rec_a.float(), a) + F.l1_loss(rec_b.float(), b)
            loss = adv + cfg.lambda_cycle * cycle
            identity = torch.zeros((), device=a.device)
            if cfg.lambda_identity > 0:
                identity = F.l1_loss(self.G_ab(b).float(), b) + F.l1_loss(self.G_ba(a).float(), a)
                loss = loss + cfg.lambda_identity * cfg.lambda_cycle * identity
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        thawed(self.d_a, self.d_b)

        # Phase 2: each discriminator on real images and fakes from its history pool.
        pool_b = self.pool_b.query(fake_b.detach().float())
        pool_a = self.pool_a.query(fake_a.detach().float())
        with self.env.autocast():
            d_b = d_ls_loss(self.D_b(b).float(), self.D_b(pool_b).float())
            d_a = d_ls_loss(self.D_a(a).float(), self.D_a(pool_a).float())
        self.opt_d.zero_grad(set_to_none=True)
        (d_a + d_b).backward()
        self.opt_d.step()
        return {"g_loss": adv.detach(), "cycle_loss": cycle.detach(), "identity_loss": identity.detach(),
                "d_a_loss": d_a.detach(), "d_b_loss": d_b.detach()}

    def health(self, rec: dict[str, float]) -> str | None:
        return None

    def recover(self, reason: Reason) -> str:
        """After the guard's rollback: halve both learning rates (saved with the optimizers)."""
        return f"learning rates halved (lr {lower_lr(self.opt_g, self.opt_d):.3g})"

    def export(self) -> Export:
        return Export("translate", {"generator_ab": (self.g_ab, self.g_spec),
                                    "generator_ba": (self.g_ba, self.g_spec)},
                      {"a2b": "generator_ab", "b2a": "generator_ba"}, self.info)


FAMILIES.register("cyclegan")(Family("cyclegan", CycleGANConfig, CycleGANRecipe, "unpaired",
                                     "unpaired image-to-image translation (horse -> zebra)",
                                     run_defaults=lambda model: TRANSLATION_RUN_DEFAULTS))


# Presets: a name, a one-line doc and the settings that differ from the defaults.
# Image-to-image translation. CycleGAN as in Zhu et al. and the Keras tutorial: 256 px, batch 1,
# ResNet G (9 blocks), 70x70 PatchGAN, LSGAN, cycle 10, identity 0.5, pool 50, Adam(2e-4, 0.5),
# 100 epochs + 100 of linear decay, jitter 286 -> 256 and mirror.
add_preset("horse2zebra", "cyclegan", "CycleGAN: horses <-> zebras, the Keras tutorial's (download, 112 MB)",
           data="horse2zebra", size=256, channels=3, batch_size=1, epochs=200)
add_preset("monet2photo", "cyclegan", "CycleGAN: Monet paintings <-> photos (download, 291 MB)",
           data="monet2photo", size=256, channels=3, batch_size=1, epochs=200)
# The offline digit pair at 32 px, small networks: README "Translating images" measures them
# (6 epochs, 7.5 min on 2 CPU cores: the digit kept in 92% of held-out a2b translations; width
# 32 for 3 epochs, 9.5 min: 83%).
add_preset("mnist2color-cyclegan", "cyclegan", "CycleGAN on the offline digit pair (no download)",
           data="mnist2color", size=32, channels=3, batch_size=8, epochs=6, width=16, d_width=16)
# Faces -> anime faces, unpaired, 64 px, CPU-sized networks: --data FACES --data-b ANIME.
add_preset("face2anime", "cyclegan", "CycleGAN: photos of faces <-> anime faces, 64 px (--data, --data-b)",
           data="", size=64, channels=3, batch_size=4, epochs=10, width=16, d_width=32)
