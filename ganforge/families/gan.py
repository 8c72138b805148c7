"""The ``gan`` family: one generator, one discriminator, the D and G phases written out.

Update modes: "alternating" (D step, then G step through the updated D: the PyTorch DCGAN example)
and "simultaneous" (both gradients from one forward pass, as the TensorFlow tutorial does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from ..augment import augmenter, parse_policy
from ..env import Env
from ..errors import GanforgeError
from ..losses import d_bce_loss, g_nonsaturating_loss, smooth_targets
from ..models import MODELS, build_family
from .base import FAMILIES, Batch, DataInfo, Export, Family, has_batchnorm, make_ema


@dataclass
class GANConfig:
    """The GAN family's settings; saved as the ``model`` section of config.json."""

    model: str = "dcgan"  # a network pair from ganforge.models.MODELS
    z_dim: int = 100  # latent size
    width: int = 64  # base channel count / hidden width of the networks
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)  # Adam betas, as in Radford et al.
    label_smoothing: float = 0.0  # one-sided: real targets become 1 - smoothing
    label_noise: float = 0.0  # add noise * U(0,1) to D's targets (the Keras face-GAN trick)
    # "alternating": D step, then G step through the updated D (PyTorch DCGAN example).
    # "simultaneous": both gradients from one forward pass, as the TensorFlow tutorial does.
    update: str = "alternating"
    # Generator EMA: decay of an exponential moving average of G's weights (0 = off). Training is
    # unchanged; the saved generator, the grids and the evals use the average, which irons out
    # the step-to-step oscillation of GAN training (Yazici et al. 2019; StyleGAN's G_ema).
    ema: float = 0.0
    # DiffAugment policy for D's inputs, e.g. "translation,cutout" ('' = off): data-efficient
    # training on small data sets (Zhao et al. 2020).
    diffaug: str = ""

    # One user-facing knob that sets several fields: --lr sets both learning rates.
    ALIASES: ClassVar[dict[str, tuple[str, ...]]] = {"lr": ("lr_g", "lr_d")}

    def validate(self) -> GANConfig:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise GanforgeError(msg)

        MODELS.get(self.model)
        need(self.update in ("alternating", "simultaneous"),
             f"update must be 'alternating' or 'simultaneous', not {self.update!r}")
        need(0 <= self.ema < 1, f"--ema must be in [0, 1) (0 = off), got {self.ema}")
        parse_policy(self.diffaug)
        need(self.lr_g > 0 and self.lr_d > 0, f"--lr (lr_g, lr_d) must be > 0, got {self.lr_g}, {self.lr_d}")
        need(all(0 <= b < 1 for b in self.betas), f"betas must be in [0, 1), got {self.betas}")
        need(0 <= self.label_smoothing < 1, "label_smoothing must be in [0, 1)")
        need(self.label_noise >= 0, "label_noise must be >= 0")
        need(self.z_dim >= 1 and self.width >= 1, "z_dim and width must be >= 1")
        return self


class GANRecipe:
    """G and D with Adam each, optional EMA of G and DiffAugment of D's inputs."""

    def __init__(self, cfg: GANConfig, data: DataInfo, env: Env, total_steps: int) -> None:
        self.cfg, self.env = cfg, env
        self.g_spec, self.d_spec = build_family(cfg.model, data.size, data.channels, cfg.z_dim, cfg.width)
        # channels_last: oneDNN's and cuDNN's fast convolution layout (measured ~5% per DCGAN
        # step on CPU); a no-op for the MLP.
        self.G = self.g_spec.build().to(env.device, memory_format=torch.channels_last)
        self.D = self.d_spec.build().to(env.device, memory_format=torch.channels_last)
        # Without BatchNorm, D(real) and D(fake) are independent per image, so one forward pass
        # over both halves computes the same thing with fewer, larger kernels.
        self.d_batched = not has_batchnorm(self.D)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=cfg.betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=cfg.betas)
        self.ema = make_ema(self.G, cfg.ema)
        self.state: dict[str, Any] = {"generator": self.G, "discriminator": self.D,
                                      "opt_g": self.opt_g, "opt_d": self.opt_d}
        if self.ema is not None:
            self.state["generator_ema"] = self.ema
        self.G_train, self.D_train = env.parallel(self.G), env.parallel(self.D)
        self.aug = augmenter(cfg.diffaug)  # identity without --diffaug

    def step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        cfg, dev, G, D = self.cfg, self.env.device, self.G_train, self.D_train
        real = batch.images
        n = real.shape[0]
        z = torch.randn(n, cfg.z_dim, device=dev)
        rt = smooth_targets(n, True, cfg.label_smoothing, cfg.label_noise, dev)
        ft = smooth_targets(n, False, 0.0, cfg.label_noise, dev)
        simultaneous = cfg.update == "simultaneous"
        with self.env.autocast():
            fake = G(z)
            # D's loss: D(real) -> real target, D(G(z)) -> fake target.
            d_in = fake if simultaneous else fake.detach()
            if self.d_batched:
                real_logits, fake_logits = D(self.aug(torch.cat([real, d_in]))).float().split(n)
            else:
                real_logits, fake_logits = D(self.aug(real)).float(), D(self.aug(d_in)).float()
        d_loss = d_bce_loss(real_logits, fake_logits, rt, ft)
        self.opt_d.zero_grad(set_to_none=True)
        self.opt_g.zero_grad(set_to_none=True)
        if simultaneous:
            # TF tutorial: both gradients from this one forward pass, then both steps.
            g_loss = g_nonsaturating_loss(fake_logits)
            d_loss.backward(inputs=list(D.parameters()), retain_graph=True)
            g_loss.backward(inputs=list(G.parameters()))
            self.opt_d.step()
            self.opt_g.step()
        else:
            d_loss.backward()
            self.opt_d.step()
            # G phase: non-saturating loss through the just-updated D, D frozen. The raw D: its
            # gradients are not wanted here, so DDP must not reduce them.
            self.D.requires_grad_(False)
            with self.env.autocast():
                g_logits = self.D(self.aug(fake)).float()
            g_loss = g_nonsaturating_loss(g_logits)
            g_loss.backward()
            self.opt_g.step()
            self.D.requires_grad_(True)
        if self.ema is not None:
            self.ema.update_parameters(self.G)
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(),
                "d_real": torch.sigmoid(real_logits.detach().float()).mean(),
                "d_fake": torch.sigmoid(fake_logits.detach().float()).mean()}

    def export(self) -> Export:
        g = self.ema.module if self.ema is not None else self.G
        return Export("sample", {"generator": (g, self.g_spec), "discriminator": (self.D, self.d_spec)},
                      {"generator": "generator"}, {"z_dim": self.cfg.z_dim})


FAMILIES.register("gan")(Family("gan", GANConfig, GANRecipe, "images",
                                "a generator and a discriminator (DCGAN, MLP, the TF tutorial's)"))
