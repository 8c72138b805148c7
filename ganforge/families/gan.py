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
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F

from ..augment import augmenter, parse_policy
from ..env import Env
from ..errors import GanforgeError
from ..losses import LOSSES, gradient_penalty, r1_penalty, smooth_targets
from ..models import MODELS, PairOptions, build_family
from ..models.dcgan import Upsample
from ..models.layers import CondD, CondG
from ..typed import check, setting
from .base import (
    FAMILIES,
    Batch,
    DataInfo,
    Export,
    Family,
    Reason,
    add_preset,
    has_batchnorm,
    lower_lr,
    make_ema,
)


@dataclass
class GANConfig:
    """The GAN family's settings; saved as the ``model`` section of config.json."""

    model: str = setting("dcgan", "network pair", choices=MODELS)
    z_dim: int = setting(100, "latent size", metavar="N")
    width: int = setting(64, "base channel count of the networks", metavar="N")
    loss: str = setting("bce", "adversarial loss", choices=LOSSES)
    optimizer: Literal["adam", "rmsprop"] = setting("adam", "rmsprop: the Keras face GAN's "
                                                    "(rho 0.9, epsilon 1e-7)")
    # Separate rates: TTUR (Heusel et al. 2017) is lr_d > lr_g.
    lr_g: float = setting(2e-4, "generator learning rate (TTUR)", metavar="LR")
    lr_d: float = setting(2e-4, "discriminator learning rate (TTUR)", metavar="LR")
    betas: tuple[float, float] = setting((0.5, 0.999), "Adam betas", metavar="B")  # Radford et al.'s
    clip_value: float = setting(0.0, "clip each gradient element to [-C, C] (Keras clipvalue; "
                                "0 = off)", metavar="C")
    n_critic: int = setting(1, "D steps (one batch each) per G step: 5 for WGAN-GP and SNGAN",
                            metavar="N")
    sn: bool = setting(False, "spectral norm on every D layer (Miyato et al. 2018)")
    gp: float = setting(0.0, "WGAN-GP gradient penalty weight (10 in Gulrajani et al.; 0 = off)",
                        metavar="LAMBDA")
    r1: float = setting(0.0, "R1 penalty weight on real images (Mescheder et al. 2018; 0 = off)",
                        metavar="GAMMA")
    r1_every: int = setting(16, "lazy R1: every K steps, scaled by K (StyleGAN2)", metavar="K")
    r2: float = setting(0.0, "R2 penalty weight: R1's gradient penalty on generated images, lazily "
                        "with R1 (R3GAN pairs it with --loss rpgan; 0 = off)", metavar="GAMMA")
    # D's normalization: "auto" = BatchNorm unless sn/gp/r1 ask D to score each image alone.
    d_norm: Literal["auto", "batch", "none"] = setting(
        "auto", "BatchNorm in D or none (auto: none with --sn, --gp, --r1 or --r2)")
    label_smoothing: float = setting(0.0, "one-sided: real targets become 1 - S", metavar="S")
    label_noise: float = setting(0.0, "add A * U(0,1) to D's targets (the Keras face-GAN trick)",
                                 metavar="A")
    update: Literal["alternating", "simultaneous"] = setting(
        "alternating", "alternating: D step, then G through the updated D; simultaneous: both "
        "gradients from one forward pass (the TensorFlow tutorial)")
    # Generator EMA: training is unchanged; the saved generator, the grids and the evals use the
    # average (Yazici et al. 2019).
    ema: float = setting(0.0, "decay of a moving average of the generator's weights that samples "
                         "are drawn from (e.g. 0.999; 0 = off)", metavar="DECAY")
    # x-flips of the real images (StyleGAN2-ADA's --mirror): twice the data for subjects that
    # look the same mirrored (faces), drawn from torch's global RNG, so resume stays exact.
    mirror: bool = setting(False, "mirror each real image left-right with probability 1/2 (for "
                           "faces, not for digits or text)")
    # Data-efficient training on small data sets (Zhao et al. 2020).
    diffaug: str = setting("", "DiffAugment policy for D's inputs: comma-separated color,"
                           "translation,cutout ('' = off)", metavar="POLICY")
    # Minibatch standard deviation (Karras et al. 2018): D sees the spread of groups of this
    # many images, so a G that draws one layout is caught.
    mbstd: int = setting(0, "minibatch standard-deviation map in D over groups of G images "
                         "(ProGAN's 4; 0 = off)", metavar="G")
    # Resize-conv: Odena et al. 2016.
    g_upsample: Upsample = setting("convt", "G's 2x layers: transposed conv (DCGAN) or nearest "
                                   "resize + 3x3 conv (no checkerboard, ~2.25x G's FLOPs)")
    conditional: bool = setting(False, "class-conditional GAN on labelled data (one sub-folder "
                                "per class)")
    g_cond: CondG = setting("embed", "G's conditioning: label embedding beside z or conditional "
                            "BatchNorm")
    # projection: Miyato & Koyama 2018; acgan: Odena et al. 2017; concat: one-hot label maps.
    d_cond: CondD = setting("projection", "D's conditioning: projection head, auxiliary "
                            "classifier or label maps beside the image")

    # One user-facing knob that sets several fields: --lr sets both learning rates.
    ALIASES: ClassVar[dict[str, tuple[str, ...]]] = {"lr": ("lr_g", "lr_d")}

    def validate(self) -> GANConfig:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise GanforgeError(msg)

        check(self)  # types and choices
        MODELS.get(self.model)
        loss = LOSSES.get(self.loss)
        need(0 <= self.ema < 1, f"--ema must be in [0, 1) (0 = off), got {self.ema}")
        parse_policy(self.diffaug)
        need(self.lr_g > 0 and self.lr_d > 0, f"--lr (lr_g, lr_d) must be > 0, got {self.lr_g}, {self.lr_d}")
        need(all(0 <= b < 1 for b in self.betas), f"betas must be in [0, 1), got {self.betas}")
        need(self.clip_value >= 0, f"--clip-value must be >= 0 (0 = off), got {self.clip_value}")
        need(self.n_critic >= 1, f"--n-critic must be >= 1, got {self.n_critic}")
        need(self.gp >= 0 and self.r1 >= 0 and self.r2 >= 0, "--gp, --r1 and --r2 must be >= 0 (0 = off)")
        need(self.r1_every >= 1, f"--r1-every must be >= 1, got {self.r1_every}")
        need(self.mbstd == 0 or self.mbstd >= 2, f"--mbstd must be 0 (off) or a group size >= 2, "
             f"got {self.mbstd}")
        need(not (self.update == "simultaneous" and (self.n_critic > 1 or self.gp or self.r1 or self.r2)),
             "update 'simultaneous' takes one tape for both networks: use update 'alternating' "
             "with --n-critic, --gp, --r1 or --r2")
        need(0 <= self.label_smoothing < 1, "label_smoothing must be in [0, 1)")
        need(self.label_noise >= 0, "label_noise must be >= 0")
        need(loss.targets or not (self.label_smoothing or self.label_noise),
             f"--loss {self.loss} has no targets to smooth or noise; drop label_smoothing/label_noise")
        need(self.z_dim >= 1 and self.width >= 1, "z_dim and width must be >= 1")
        return self

    def resolved_d_norm(self) -> str:
        if self.d_norm != "auto":
            return self.d_norm
        return "none" if (self.sn or self.gp or self.r1 or self.r2) else "batch"


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
        if cfg.mirror:
            flip = (torch.rand(n, device=dev) < 0.5).view(n, 1, 1, 1)
            real = torch.where(flip, real.flip(3), real).contiguous(memory_format=torch.channels_last)
        rt: Any = 1.0
        ft: Any = 0.0
        if loss.targets:
            rt = smooth_targets(n, True, cfg.label_smoothing, cfg.label_noise, dev)
            ft = smooth_targets(n, False, 0.0, cfg.label_noise, dev)
        simultaneous = cfg.update == "simultaneous"
        train_g = (step + 1) % cfg.n_critic == 0
        lazy_r1 = cfg.r1 > 0 and step % cfg.r1_every == 0
        lazy_r2 = cfg.r2 > 0 and step % cfg.r1_every == 0
        out: dict[str, torch.Tensor] = {}
        with self.env.autocast():
            fake = G(z, y) if self.conditional else G(z)
            # D's loss: D(real) -> real target, D(G(z)) -> fake target.
            d_in = fake if simultaneous else fake.detach().requires_grad_(lazy_r2)
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
        if lazy_r2:
            r2 = r1_penalty(fake_out, d_in)
            d_loss = d_loss + 0.5 * cfg.r2 * cfg.r1_every * r2
            out["r2"] = r2.detach()
        self.opt_d.zero_grad(set_to_none=True)
        self.opt_g.zero_grad(set_to_none=True)
        if simultaneous:
            # TF tutorial: both gradients from this one forward pass, then both steps.
            g_loss = loss.g(fake_out, real_out.detach()) if loss.relativistic else loss.g(fake_out)
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
                    if loss.relativistic:  # each fake is scored against a real, as D was
                        with torch.no_grad():
                            g_real = self._d(real, y, self.D)[0]
                g_loss = loss.g(g_out, g_real) if loss.relativistic else loss.g(g_out)
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


# The image side (and batch) of the networks built for one size, where RunConfig's 28 px and
# batch 128 do not fit: a bare model name (`ganforge train facegan`) or --model gets them.
# SNGAN's CIFAR ResNet: 32 px, batch 64; the Keras face GAN: 128 px, batch 16.
MODEL_RUN_DEFAULTS: dict[str, dict[str, Any]] = {
    "resnet32": {"size": 32, "batch_size": 64},
    "facegan": {"size": 128, "batch_size": 16},
}


def _run_defaults(model: dict[str, Any]) -> dict[str, Any]:
    return MODEL_RUN_DEFAULTS.get(model.get("model", GANConfig.model), {})


FAMILIES.register("gan")(Family("gan", GANConfig, GANRecipe, _data_kind,
                                "a generator and a discriminator (DCGAN, MLP, the TF tutorial's)",
                                run_defaults=_run_defaults))


# Presets: a name, a one-line doc and the settings that differ from the defaults.
# The TensorFlow DCGAN tutorial's exact networks, BCE, batch 256 and its update (both gradients
# from one tape). On the 5k digits of mnist-mini the tutorial's literal Adam(1e-4, betas .9/.999)
# oscillates -- its own TensorFlow code too, measured here: digits-FID 42-91 between epochs 120
# and 200 -- so the preset uses the optimizer this project's spec and Radford et al. name,
# Adam(2e-4, beta1 0.5), and samples from an EMA of G (0.999). Measured, seed 0, 150 epochs:
# digits-FID 14.7, 10/10 classes; the literal recipe gets 67 (37.9 with the EMA).
# The literal tutorial: lr_g=lr_d=1e-4, betas=(0.9, 0.999), ema=0.
add_preset("mnist-dcgan", "gan", "the TensorFlow DCGAN tutorial's networks on the bundled digits",
           model="dcgan28", data="mnist-mini", size=28, channels=1, batch_size=256, epochs=150,
           lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), update="simultaneous", ema=0.999)
add_preset("mnist-mlp", "gan", "the fully connected GAN of the simple GAN tutorials",
           model="mlp", data="mnist-mini", size=28, channels=1, batch_size=64, epochs=30,
           width=256, lr_g=2e-4, lr_d=2e-4)
# The face GAN of the tutorials: CelebA aligned faces, 178x178 center crop resized to 64 px,
# Radford's DCGAN, batch 128, Adam(2e-4, 0.5), 0.05 * U(0,1) label noise (Keras face GAN).
add_preset("celeba64-dcgan", "gan", "the face GAN of the tutorials: CelebA 64 px, Radford's DCGAN",
           model="dcgan", data="celeba", size=64, channels=3, batch_size=128, epochs=25,
           width=64, label_noise=0.05)
# The demo: recognisable digits in a few CPU minutes. Radford's DCGAN at 28 px and batch 64
# makes many cheap updates; see README "The demo recipe" (width 32 was faster but blotchier).
add_preset("mnist-fast", "gan", "the demo: recognisable digits in a few CPU minutes",
           model="dcgan", data="mnist-mini", size=28, channels=1, batch_size=64, epochs=25,
           width=64, z_dim=64, lr_g=2e-4, lr_d=2e-4)
# Class-conditional: mnist-fast's networks, the one-hot label beside z in G and as ten extra
# input maps of D (the cDCGAN tutorials' conditioning), an EMA of G. On mnist-mini a projection
# head with D's BatchNorm ignored the label, ACGAN and the maps both reached ~0.87 class agreement
# at 25 epochs (README "Class-conditional GANs"); the preview draws one row per digit.
add_preset("mnist-cgan", "gan", "class-conditional DCGAN on the bundled digits: --class 7 draws sevens",
           model="dcgan", data="mnist-mini", size=28, channels=1, batch_size=64, epochs=60,
           width=64, z_dim=64, lr_g=2e-4, lr_d=2e-4, conditional=True, g_cond="embed",
           d_cond="concat", ema=0.999)
# Hinge loss + spectral norm (SNGAN's objective and D constraint) on mnist-fast's networks, D
# without BatchNorm, sampled from an EMA of G.
add_preset("mnist-hinge-sn", "gan", "hinge loss + spectral norm + EMA on the bundled digits",
           model="dcgan", data="mnist-mini", size=28, channels=1, batch_size=64, epochs=25,
           width=64, z_dim=64, loss="hinge", sn=True, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999),
           ema=0.999)
# WGAN-GP (Gulrajani et al. 2017): Wasserstein loss, gradient penalty 10, 5 critic steps per G
# step, Adam(1e-4, betas 0.5/0.9) as in the paper, critic without BatchNorm.
add_preset("fashion-mnist-wgangp", "gan", "WGAN-GP on Fashion-MNIST (download, 30 MB)",
           model="dcgan", data="fashion-mnist", size=28, channels=1, batch_size=64, epochs=20,
           width=64, z_dim=128, loss="wasserstein", gp=10.0, n_critic=5, lr_g=1e-4, lr_d=1e-4,
           betas=(0.5, 0.9))
# SNGAN's CIFAR-10 ResNet (Miyato et al. 2018, table 4): hinge, spectral norm, 5 critic steps,
# Adam(2e-4, betas 0/0.9), batch 64, G 256 / D 128 channels.
add_preset("cifar10-sngan", "gan", "SNGAN's ResNet on CIFAR-10 at 32 px (download, 162 MB)",
           model="resnet32", data="cifar10", size=32, channels=3, batch_size=64, epochs=100,
           width=128, z_dim=128, loss="hinge", sn=True, n_critic=5, lr_g=2e-4, lr_d=2e-4,
           betas=(0.0, 0.9))
# The seeds' Keras face GAN, exactly: its networks (models/facegan.py), RMSprop(1e-4) with
# gradient values clipped to 1, batch 16, 0.05 * U(0,1) label noise, aligned CelebA centre-cropped
# to 178x178 and resized to 128 px, a fixed 6x6 grid of latents each epoch.
add_preset("celeba128-facegan", "gan", "the Keras face GAN of the seed article, exactly (CelebA 128 px)",
           model="facegan", data="celeba", size=128, channels=3, batch_size=16, epochs=10, z_dim=32,
           optimizer="rmsprop", lr_g=1e-4, lr_d=1e-4, clip_value=1.0, label_noise=0.05, grid_n=36)
# Anime faces in colour: DCGAN's G with resize-conv upsampling, a spectrally normalised D without
# BatchNorm with a minibatch-std map, hinge loss and an EMA of G. Measured at equal 30-min budgets
# (README "Faces on a CPU"): the transposed-conv G drew one face layout with a fixed-position
# texture; resize-conv + minibatch-std + no DiffAugment (17,000 faces seen ~3 times: nothing to
# memorise) took KID 0.052 -> 0.012. No default data (the public anime-face sets are not
# downloadable without an account): --data FOLDER|ZIP of 64 px faces.
add_preset("anime64", "gan", "anime faces at 64 px from your folder or zip (--data)",
           model="dcgan", data="", size=64, channels=3, batch_size=64, epochs=30, width=64,
           z_dim=128, loss="hinge", sn=True, ema=0.999, mbstd=4, g_upsample="resize", lr_g=2e-4,
           lr_d=2e-4, betas=(0.5, 0.999))
