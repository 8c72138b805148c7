"""The ``superres`` family: sharpen images x2 or x4 with a GAN trained on any folder of images.

No labelled data: each batch of images is degraded on the fly into its low-resolution copy
(``data/degrade.py``: bicubic, or Real-ESRGAN's second-order model), a pure function of
(seed, step), so resume stays bit-exact. Generators: SRResNet (small, for the CPU) or ESRGAN's
RRDB net; discriminators: Real-ESRGAN's U-Net with spectral norm, or a PatchGAN.

Phases per step, as ESRGAN: for the first ``warmup_steps`` steps G learns L1 alone (the
"PSNR-oriented" model); its EMA at the end of the warm-up is kept and published as the
``psnr`` network. Then (1) D on real vs generated high-resolution images with the adversarial
loss (relativistic average by default, ESRGAN's), (2) G against the frozen D plus
``l1_weight * L1`` (and ``perceptual_weight`` times the L1 distance of a network's features,
when ``perceptual`` names one; nothing is ever downloaded).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..data.degrade import make_pairs
from ..env import Env
from ..errors import GanforgeError
from ..losses import LOSSES
from ..models import NetSpec
from ..models.translation import PatchDiscriminator
from ..typed import check, setting
from .base import FAMILIES, Batch, DataInfo, Export, Family, Reason, add_preset, lower_lr, make_ema
from .cyclegan import frozen, thawed


@dataclass
class SuperResConfig:
    """The superres family's settings; saved as the ``model`` section of config.json."""

    scale: Literal[2, 4] = setting(4, "upscaling factor: the inputs are the images shrunk by it")
    generator: Literal["srresnet", "rrdb"] = setting("srresnet", "srresnet (small, CPU) or rrdb "
                                                     "(ESRGAN's residual-in-residual dense blocks)")
    width: int = setting(64, "generator channels", metavar="N")
    blocks: int = setting(16, "generator blocks (SRResNet residual blocks, or RRDBs: 23 in ESRGAN)",
                          metavar="N")
    growth: int = setting(32, "RRDB dense-block growth channels", metavar="N")
    skip: bool = setting(True, "SRResNet: add the bicubic upsampling of the input to the output "
                         "(the network learns what bicubic misses)")
    discriminator: Literal["unet", "patch"] = setting("unet", "unet (Real-ESRGAN's, spectral norm, "
                                                      "a score per pixel) or patch (PatchGAN)")
    d_width: int = setting(64, "discriminator base channels", metavar="N")
    degradation: Literal["bicubic", "realesrgan"] = setting(
        "bicubic", "how the low-resolution inputs are made: bicubic (the benchmarks') or "
        "realesrgan (blur, resize, noise, JPEG, twice: for real photos)")
    loss: str = setting("ragan", "adversarial loss (ragan: relativistic average, ESRGAN's)",
                        choices=LOSSES)
    warmup_steps: int = setting(1000, "steps of L1 alone before the GAN phase (the PSNR model)",
                                metavar="N")
    l1_weight: float = setting(1.0, "L1 weight in the GAN phase", metavar="W")
    adv_weight: float = setting(0.1, "adversarial weight in the GAN phase (Real-ESRGAN's 0.1)",
                                metavar="W")
    perceptual: str = setting("", "a network file (.safetensors written by ganforge, e.g. a VAE "
                              "run's encoder.safetensors) whose conv features give a perceptual "
                              "L1 loss; empty: none", metavar="FILE")
    perceptual_weight: float = setting(1.0, "perceptual loss weight", metavar="W")
    lr: float = setting(1e-4, "learning rate of both networks (Adam)", metavar="LR")
    betas: tuple[float, float] = setting((0.9, 0.99), "Adam betas", metavar="B")  # ESRGAN's
    ema: float = setting(0.999, "EMA decay of the published generator (0: none)", metavar="D")

    ALIASES: ClassVar[dict[str, tuple[str, ...]]] = {}

    def validate(self) -> SuperResConfig:
        check(self)  # types and choices
        if min(self.width, self.blocks, self.growth, self.d_width) < 1:
            raise GanforgeError("width, blocks, growth and d_width must be >= 1")
        if self.warmup_steps < 0:
            raise GanforgeError(f"--warmup-steps must be >= 0, got {self.warmup_steps}")
        if min(self.l1_weight, self.adv_weight, self.perceptual_weight) < 0:
            raise GanforgeError("the loss weights must be >= 0")
        if self.lr <= 0:
            raise GanforgeError(f"--lr must be > 0, got {self.lr}")
        if not 0 <= self.ema < 1:
            raise GanforgeError(f"--ema must be in [0, 1), got {self.ema}")
        if self.perceptual and not Path(self.perceptual).expanduser().is_file():
            raise GanforgeError(f"--perceptual {self.perceptual}: no such network file")
        return self


class _Flag(nn.Module):
    """A number kept in the training state (whether the warm-up model was taken)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("value", torch.zeros(()))


class Features(nn.Module):
    """The outputs of every convolution of a frozen network: what the perceptual loss compares."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net.eval().requires_grad_(False)
        self.convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
        if not self.convs:
            raise GanforgeError("--perceptual: that network has no convolutions to take features from")

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats: list[torch.Tensor] = []
        hooks = [c.register_forward_hook(lambda m, i, o: feats.append(o)) for c in self.convs]
        try:
            self.net(x)
        except (RuntimeError, ValueError, TypeError) as e:
            raise GanforgeError(f"--perceptual: the network does not take these images "
                                f"({str(e).splitlines()[0]})") from None
        finally:
            for h in hooks:
                h.remove()
        return feats


def perceptual_loss(feats: Features, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean over the conv layers of the L1 distance of their outputs (ESRGAN compares VGG
    features before activation; here any ganforge network's)."""
    with torch.no_grad():
        target = feats(real)
    return torch.stack([F.l1_loss(a, b) for a, b in zip(feats(fake), target)]).mean()


def generator_spec(cfg: SuperResConfig, channels: int) -> NetSpec:
    if cfg.generator == "rrdb":
        return NetSpec("RRDBNet", dict(in_channels=channels, out_channels=channels, width=cfg.width,
                                       growth=cfg.growth, blocks=cfg.blocks, scale=cfg.scale))
    return NetSpec("SRResNet", dict(in_channels=channels, out_channels=channels, width=cfg.width,
                                    blocks=cfg.blocks, scale=cfg.scale, skip=cfg.skip))


class SuperResRecipe:
    def __init__(self, cfg: SuperResConfig, data: DataInfo, env: Env, total_steps: int) -> None:
        self.cfg, self.env = cfg, env
        c = data.channels
        if data.size % (8 if cfg.discriminator == "unet" else 1) or data.size % cfg.scale:
            raise GanforgeError(f"--size {data.size}: superres x{cfg.scale} with the "
                                f"{cfg.discriminator} discriminator needs a multiple of "
                                f"{8 if cfg.discriminator == 'unet' else cfg.scale}")
        self.info = {"scale": cfg.scale, "channels": c, "size": data.size,
                     "degradation": cfg.degradation}
        self.g_spec = generator_spec(cfg, c)
        if cfg.discriminator == "unet":
            self.d_spec = NetSpec("UNetDiscriminatorSN", dict(in_channels=c, width=cfg.d_width))
        else:
            self.d_spec = NetSpec("PatchDiscriminator", dict(in_channels=c, width=cfg.d_width,
                                                             layers=PatchDiscriminator.layers_for(data.size)))
        cl = torch.channels_last
        self.g = self.g_spec.build().to(env.device, memory_format=cl)
        self.d = self.d_spec.build().to(env.device, memory_format=cl)
        self.g_ema = make_ema(self.g, cfg.ema)
        # The PSNR model: the published generator as it was when the warm-up ended.
        self.g_psnr = copy.deepcopy(self.g).requires_grad_(False)
        self.taken = _Flag().to(env.device)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=cfg.lr, betas=cfg.betas)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=cfg.lr, betas=cfg.betas)
        self.state: dict[str, Any] = {"generator": self.g, "discriminator": self.d,
                                      "psnr_generator": self.g_psnr, "warmup_taken": self.taken,
                                      "opt_g": self.opt_g, "opt_d": self.opt_d}
        if self.g_ema is not None:
            self.state["generator_ema"] = self.g_ema
        self.G, self.D = env.parallel(self.g), env.parallel(self.d)
        self.loss = LOSSES.get(cfg.loss)
        self.features = None
        if cfg.perceptual:
            from ..serialization import load_network

            net, _ = load_network(Path(cfg.perceptual).expanduser(), env.device)
            self.features = Features(net)

    @property
    def published(self) -> nn.Module:
        return self.g_ema.module if self.g_ema is not None else self.g

    def step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        assert batch.targets is not None, "superres trains on (low-res, high-res) pairs"
        lo, hi = batch.images, batch.targets
        with self.env.autocast():
            sr = self.G(lo)
            l1 = F.l1_loss(sr.float(), hi)
        out: dict[str, torch.Tensor] = {"l1_loss": l1.detach()}
        if step < cfg.warmup_steps:  # the PSNR-oriented phase: L1 alone
            self.opt_g.zero_grad(set_to_none=True)
            l1.backward()
            self.opt_g.step()
            self._ema()
            if step == cfg.warmup_steps - 1:
                self._take_psnr_model()
            return out

        # Phase 1: D on real vs generated high-resolution images.
        with self.env.autocast():
            real_out = self.D(hi).float()
            fake_out = self.D(sr.detach()).float()
            d_loss = self.loss.d(real_out, fake_out, 1.0, 0.0)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()

        # Phase 2: G against the frozen D, plus L1 (and the perceptual loss).
        frozen(self.d)
        with self.env.autocast():
            g_out = self.D(sr).float()
            adv = (self.loss.g(g_out, self.D(hi).float().detach()) if self.loss.relativistic
                   else self.loss.g(g_out))
            loss = cfg.l1_weight * l1 + cfg.adv_weight * adv
            if self.features is not None:
                perc = perceptual_loss(self.features, sr.float(), hi)
                loss = loss + cfg.perceptual_weight * perc
                out["perceptual_loss"] = perc.detach()
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        thawed(self.d)
        self._ema()
        out.update({"g_loss": adv.detach(), "d_loss": d_loss.detach()})
        return out

    def _ema(self) -> None:
        if self.g_ema is not None:
            self.g_ema.update_parameters(self.g)

    @torch.no_grad()
    def _take_psnr_model(self) -> None:
        self.g_psnr.load_state_dict(self.published.state_dict())
        self.taken.value.fill_(1)

    def health(self, rec: dict[str, float]) -> str | None:
        return None

    def recover(self, reason: Reason) -> str:
        return f"learning rates halved (lr {lower_lr(self.opt_g, self.opt_d):.3g})"

    def export(self) -> Export:
        """The published generator (EMA), and the PSNR model: the warm-up's end, or the same
        generator while the warm-up runs (a run with no warm-up publishes no PSNR model)."""
        nets = {"generator": (self.published, self.g_spec)}
        uses = {"generator": "generator"}
        if self.cfg.warmup_steps:
            nets["psnr_generator"] = (self.g_psnr if bool(self.taken.value) else self.published, self.g_spec)
            uses["psnr"] = "psnr_generator"
        return Export("upscale", nets, uses, dict(self.info))


FAMILIES.register("superres")(Family(
    "superres", SuperResConfig, SuperResRecipe, "derived",
    "super-resolution x2/x4: pairs made on the fly by degrading one folder of images",
    derive=lambda cfg: make_pairs(cfg.degradation, cfg.scale),
    run_defaults=lambda model: {"batch_size": 16, "size": 128, "data": ""}))


# Presets. faces-sr4x: CelebA faces 32 -> 128 px on a CPU (celeba, a download, or --data FOLDER|ZIP);
# SRResNet 32 wide with 6 blocks and a 32-wide U-Net D. photo-sr4x: any folder of photos, RRDB
# and Real-ESRGAN's degradations, 256 px crops -- sized for a GPU (README "Super-resolution").
add_preset("faces-sr4x", "superres", "super-resolution x4 of faces, 32 -> 128 px, CPU-sized (--data)",
           data="celeba", size=128, channels=3, batch_size=16, epochs=5, scale=4, generator="srresnet",
           width=32, blocks=6, d_width=16, warmup_steps=500, lr=2e-4, adv_weight=0.05)
add_preset("photo-sr4x", "superres", "Real-ESRGAN-style x4 of any photos (RRDB; for a GPU; --data)",
           size=256, channels=3, batch_size=16, epochs=100, scale=4, generator="rrdb", width=64,
           blocks=23, growth=32, d_width=64, degradation="realesrgan", warmup_steps=10000, lr=1e-4)
