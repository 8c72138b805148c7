"""The ``gan`` family: one generator, one discriminator, the D and G phases written out.

Every alternative is one setting away: the adversarial loss (``losses.LOSSES``), spectral norm,
a WGAN gradient penalty, lazy R1, n critic steps per G step, Adam or RMSprop with gradient-value
clipping, label smoothing / noise, EMA of G, DiffAugment, and class conditioning (projection or
auxiliary-classifier D; embedding or conditional-BN G).

Update modes: "alternating" (D step, then G step through the updated D: the PyTorch DCGAN example)
and "simultaneous" (both gradients from one forward pass, as the TensorFlow tutorial does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from ..augment import augmenter, parse_policy
from ..env import Env
from ..errors import GanforgeError
from ..losses import LOSSES, gradient_penalty, r1_penalty, smooth_targets
from ..models import MODELS, PairOptions, build_family
from ..models.dcgan import UPSAMPLE
from ..models.layers import COND_D, COND_G
from .base import FAMILIES, Batch, DataInfo, Export, Family, Reason, has_batchnorm, lower_lr, make_ema


@dataclass
class GANConfig:
    """The GAN family's settings; saved as the ``model`` section of config.json."""

    model: str = "dcgan"  # a network pair from ganforge.models.MODELS
    z_dim: int = 100  # latent size
    width: int = 64  # base channel count / hidden width of the networks
    loss: str = "bce"  # a name from ganforge.losses.LOSSES
    optimizer: str = "adam"  # "adam" or "rmsprop" (the Keras face GAN's)
    lr_g: float = 2e-4  # separate rates: TTUR (Heusel et al. 2017) is lr_d > lr_g
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)  # Adam betas, as in Radford et al.
    clip_value: float = 0.0  # clip every gradient element to [-c, c] (Keras clipvalue; 0 = off)
    n_critic: int = 1  # D steps (one batch each) per G step: 5 for WGAN-GP and SNGAN
    sn: bool = False  # spectral norm on every D layer (Miyato et al. 2018)
    gp: float = 0.0  # WGAN-GP weight lambda (10 in Gulrajani et al.; 0 = off)
    r1: float = 0.0  # R1 weight gamma on real images (Mescheder et al. 2018; 0 = off)
    r1_every: int = 16  # lazy R1: every k steps, scaled by k (StyleGAN2)
    # D's normalization: "auto" = BatchNorm unless sn/gp/r1 ask D to score each image alone.
    d_norm: str = "auto"
    label_smoothing: float = 0.0  # one-sided: real targets become 1 - smoothing
    label_noise: float = 0.0  # add noise * U(0,1) to D's targets (the Keras face-GAN trick)
    update: str = "alternating"
    # Generator EMA: decay of an exponential moving average of G's weights (0 = off). Training is
    # unchanged; the saved generator, the grids and the evals use the average (Yazici et al. 2019).
    ema: float = 0.0
    # DiffAugment policy for D's inputs, e.g. "translation,cutout" ('' = off): data-efficient
    # training on small data sets (Zhao et al. 2020).
    diffaug: str = ""
    # Minibatch standard deviation (Karras et al. 2018): D sees the spread of groups of this
    # many images, so a G that draws one layout is caught (0 = off; 4 in ProGAN/StyleGAN).
    mbstd: int = 0
    # G's 2x layers: "convt" (Radford's transposed convs) or "resize" (nearest 2x + 3x3 conv,
    # Odena et al. 2016: no fixed-position checkerboard, ~2.25x G's FLOPs).
    g_upsample: str = "convt"
    conditional: bool = False  # class-conditional: needs labelled data
    g_cond: str = "embed"  # "embed" (label embedding beside z) or "cbn" (conditional BatchNorm)
    d_cond: str = "projection"  # "projection" (Miyato & Koyama 2018) or "acgan" (Odena et al.)

    # One user-facing knob that sets several fields: --lr sets both learning rates.
    ALIASES: ClassVar[dict[str, tuple[str, ...]]] = {"lr": ("lr_g", "lr_d")}

    def validate(self) -> GANConfig:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise GanforgeError(msg)

        MODELS.get(self.model)
        loss = LOSSES.get(self.loss)
        need(self.update in ("alternating", "simultaneous"),
             f"update must be 'alternating' or 'simultaneous', not {self.update!r}")
        need(self.optimizer in ("adam", "rmsprop"),
             f"--optimizer must be adam or rmsprop, not {self.optimizer!r}")
        need(0 <= self.ema < 1, f"--ema must be in [0, 1) (0 = off), got {self.ema}")
        parse_policy(self.diffaug)
        need(self.lr_g > 0 and self.lr_d > 0, f"--lr (lr_g, lr_d) must be > 0, got {self.lr_g}, {self.lr_d}")
        need(all(0 <= b < 1 for b in self.betas), f"betas must be in [0, 1), got {self.betas}")
        need(self.clip_value >= 0, f"--clip-value must be >= 0 (0 = off), got {self.clip_value}")
        need(self.n_critic >= 1, f"--n-critic must be >= 1, got {self.n_critic}")
        need(self.gp >= 0 and self.r1 >= 0, "--gp and --r1 must be >= 0 (0 = off)")
        need(self.r1_every >= 1, f"--r1-every must be >= 1, got {self.r1_every}")
        need(self.mbstd == 0 or self.mbstd >= 2, f"--mbstd must be 0 (off) or a group size >= 2, "
             f"got {self.mbstd}")
        need(self.d_norm in ("auto", "batch", "none"),
             f"--d-norm must be auto, batch or none, not {self.d_norm!r}")
        need(not (self.update == "simultaneous" and (self.n_critic > 1 or self.gp or self.r1)),
             "update 'simultaneous' takes one tape for both networks: use update 'alternating' "
             "with --n-critic, --gp or --r1")
        need(0 <= self.label_smoothing < 1, "label_smoothing must be in [0, 1)")
        need(self.label_noise >= 0, "label_noise must be >= 0")
        need(loss.targets or not (self.label_smoothing or self.label_noise),
             f"--loss {self.loss} has no targets to smooth or noise; drop label_smoothing/label_noise")
        need(self.z_dim >= 1 and self.width >= 1, "z_dim and width must be >= 1")
        need(self.g_upsample in UPSAMPLE,
             f"--g-upsample must be one of {', '.join(UPSAMPLE)}, not {self.g_upsample!r}")
        need(self.g_cond in COND_G, f"--g-cond must be one of {', '.join(COND_G)}, not {self.g_cond!r}")
        need(self.d_cond in COND_D, f"--d-cond must be one of {', '.join(COND_D)}, not {self.d_cond!r}")
        return self

    def resolved_d_norm(self) -> str:
        if self.d_norm != "auto":
            return self.d_norm
        return "none" if (self.sn or self.gp or self.r1) else "batch"


class GANRecipe:
    """G and D, each with its optimizer; the options above switch pieces of the step on."""

    def __init__(self, cfg: GANConfig, data: DataInfo, env: Env, total_steps: int) -> None:
        self.cfg, self.env = cfg, env
        self.loss = LOSSES.get(cfg.loss)
        self.classes = list(data.classes)
        if cfg.conditional and not self.classes:
            raise GanforgeError(f"a conditional GAN needs labelled data; {data.name} has no labels "
                                "(use mnist-mini or a folder with one sub-folder per class)")
        opts = PairOptions(num_classes=len(self.classes) if cfg.conditional else 0, g_cond=cfg.g_cond,
                           d_cond=cfg.d_cond, spectral_norm=cfg.sn, d_norm=cfg.resolved_d_norm(),
                           mbstd=cfg.mbstd, g_upsample=cfg.g_upsample)
        self.g_spec, self.d_spec = build_family(cfg.model, data.size, data.channels, cfg.z_dim,
                                                cfg.width, opts)
        self.conditional = opts.num_classes > 0
        # channels_last: oneDNN's and cuDNN's fast convolution layout (measured ~5% per DCGAN
        # step on CPU); a no-op for the MLP.
        self.G = self.g_spec.build().to(env.device, memory_format=torch.channels_last)
        self.D = self.d_spec.build().to(env.device, memory_format=torch.channels_last)
        # Without BatchNorm (or a minibatch-std map), D(real) and D(fake) are independent per
        # image, so one forward pass over both halves computes the same with larger kernels.
        self.d_batched = not has_batchnorm(self.D) and not cfg.mbstd
        self.opt_g, self.opt_d = self._optimizer(self.G, cfg.lr_g), self._optimizer(self.D, cfg.lr_d)
        self.ema = make_ema(self.G, cfg.ema)
        self.state: dict[str, Any] = {"generator": self.G, "discriminator": self.D,
                                      "opt_g": self.opt_g, "opt_d": self.opt_d}
        if self.ema is not None:
            self.state["generator_ema"] = self.ema
        self.G_train, self.D_train = env.parallel(self.G), env.parallel(self.D)
        self.aug = augmenter(cfg.diffaug)  # identity without --diffaug

    def _optimizer(self, net: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
        if self.cfg.optimizer == "rmsprop":  # Keras' RMSprop defaults: rho 0.9, epsilon 1e-7
            return torch.optim.RMSprop(net.parameters(), lr=lr, alpha=0.9, eps=1e-7)
        return torch.optim.Adam(net.parameters(), lr=lr, betas=self.cfg.betas)

    @property
    def r1_gamma(self) -> float:
        """R1's weight now: the config's, raised by the guard's recoveries. Kept in D's optimizer
        param group so it is saved, rolled back and resumed with the optimizer."""
        return float(self.opt_d.param_groups[0].get("r1_gamma", self.cfg.r1))

    def _d(self, x: torch.Tensor, y: torch.Tensor | None, net: Any = None,
           aug: bool = True) -> tuple[torch.Tensor, Any]:
        """D's (real/fake output (N,), class logits (N, K) or None) for a batch."""
        net = self.D_train if net is None else net
        x = self.aug(x) if aug else x
        out = (net(x) if y is None else net(x, y)).float()
        return (out[:, 0], out[:, 1:]) if out.dim() == 2 else (out, None)

    def _step_opt(self, opt: torch.optim.Optimizer, net: torch.nn.Module) -> None:
        if self.cfg.clip_value:
            torch.nn.utils.clip_grad_value_(net.parameters(), self.cfg.clip_value)
        opt.step()

    def step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        cfg, dev, G, loss = self.cfg, self.env.device, self.G_train, self.loss
        real, n = batch.images, batch.images.shape[0]
        y = batch.labels if self.conditional else None  # fakes are drawn for the batch's classes
        z = torch.randn(n, cfg.z_dim, device=dev)
        rt: Any = 1.0
        ft: Any = 0.0
        if loss.targets:
            rt = smooth_targets(n, True, cfg.label_smoothing, cfg.label_noise, dev)
            ft = smooth_targets(n, False, 0.0, cfg.label_noise, dev)
        simultaneous = cfg.update == "simultaneous"
        train_g = (step + 1) % cfg.n_critic == 0
        lazy_r1 = cfg.r1 > 0 and step % cfg.r1_every == 0
        out: dict[str, torch.Tensor] = {}
        with self.env.autocast():
            fake = G(z, y) if self.conditional else G(z)
            # D's loss: D(real) -> real target, D(G(z)) -> fake target.
            d_in = fake if simultaneous else fake.detach()
            real_in = real.detach().requires_grad_(True) if lazy_r1 else real
            if self.d_batched:
                both, cls = self._d(torch.cat([real_in, d_in]), None if y is None else torch.cat([y, y]))
                real_out, fake_out = both.split(n)
                real_cls, fake_cls = cls.split(n) if cls is not None else (None, None)
            else:
                real_out, real_cls = self._d(real_in, y)
                fake_out, fake_cls = self._d(d_in, y)
        d_loss = loss.d(real_out, fake_out, rt, ft)
        if real_cls is not None:  # ACGAN: D also learns to tell the class of real and fake
            d_loss = d_loss + F.cross_entropy(real_cls, y) + F.cross_entropy(fake_cls, y)
        if cfg.gp:
            gp = gradient_penalty(lambda x: self._d(x, y, aug=False)[0], real, fake)
            d_loss = d_loss + cfg.gp * gp
            out["gp"] = gp.detach()
        if lazy_r1:
            r1 = r1_penalty(real_out, real_in)
            d_loss = d_loss + 0.5 * self.r1_gamma * cfg.r1_every * r1
            out["r1"] = r1.detach()
        self.opt_d.zero_grad(set_to_none=True)
        self.opt_g.zero_grad(set_to_none=True)
        if simultaneous:
            # TF tutorial: both gradients from this one forward pass, then both steps.
            g_loss = loss.g(fake_out)
            if fake_cls is not None:
                g_loss = g_loss + F.cross_entropy(fake_cls, y)
            d_loss.backward(inputs=list(self.D.parameters()), retain_graph=True)
            g_loss.backward(inputs=list(self.G.parameters()))
            self._step_opt(self.opt_d, self.D)
            self._step_opt(self.opt_g, self.G)
        else:
            d_loss.backward()
            self._step_opt(self.opt_d, self.D)
            if train_g:
                # G phase through the just-updated D, D frozen. The raw D: its gradients are not
                # wanted here, so DDP must not reduce them.
                self.D.requires_grad_(False)
                with self.env.autocast():
                    g_out, g_cls = self._d(fake, y, self.D)
                g_loss = loss.g(g_out)
                if g_cls is not None:
                    g_loss = g_loss + F.cross_entropy(g_cls, y)
                g_loss.backward()
                self._step_opt(self.opt_g, self.G)
                self.D.requires_grad_(True)
        if self.ema is not None and (simultaneous or train_g):
            self.ema.update_parameters(self.G)
        out["d_loss"] = d_loss.detach()
        if simultaneous or train_g:
            out["g_loss"] = g_loss.detach()
        # Probabilities for the BCE losses, raw mean scores for the others.
        act = torch.sigmoid if loss.probabilities else (lambda t: t)
        out["d_real"] = act(real_out.detach().float()).mean()
        out["d_fake"] = act(fake_out.detach().float()).mean()
        return out

    def health(self, rec: dict[str, float]) -> str | None:
        """D winning outright (G learns nothing from it any more), or None."""
        if self.cfg.loss == "wasserstein" or "d_loss" not in rec:
            return None
        if self.loss.probabilities:
            won = rec.get("d_real", 0.0) > 0.98 and rec.get("d_fake", 1.0) < 0.02
        else:
            won = rec["d_loss"] < 0.01
        return f"the discriminator has won outright (d_loss {rec['d_loss']:.3g})" if won else None

    def recover(self, reason: Reason) -> str:
        """After a rollback: what to change so the run does not fail the same way again."""
        if reason is Reason.UNHEALTHY and self.cfg.r1:
            gamma = self.r1_gamma * 2
            self.opt_d.param_groups[0]["r1_gamma"] = gamma
            return f"R1 gamma raised to {gamma:g}"
        opts = [self.opt_d] if reason is Reason.UNHEALTHY else [self.opt_g, self.opt_d]
        lower_lr(*opts)
        lrs = ", ".join(f"{name} {o.param_groups[0]['lr']:.3g}" for name, o in
                        (("lr_g", self.opt_g), ("lr_d", self.opt_d)) if o in opts)
        return f"learning rate halved ({lrs})"

    def export(self) -> Export:
        g = self.ema.module if self.ema is not None else self.G
        info: dict[str, Any] = {"z_dim": self.cfg.z_dim}
        if self.conditional:
            info["classes"] = self.classes
        return Export("sample", {"generator": (g, self.g_spec), "discriminator": (self.D, self.d_spec)},
                      {"generator": "generator"}, info)


def _data_kind(cfg: GANConfig) -> str:
    return "labelled" if cfg.conditional else "images"


FAMILIES.register("gan")(Family("gan", GANConfig, GANRecipe, _data_kind,
                                "a generator and a discriminator (DCGAN, MLP, the TF tutorial's)"))
