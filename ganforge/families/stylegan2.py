"""The ``stylegan2`` family (Karras et al. 2020), its four phases written out in ``step``:

1. G main: the non-saturating logistic loss softplus(-D(G(z))), style mixing on.
2. G reg, every ``pl_every`` steps: the path-length penalty (pl_weight * (|J^T y| - a)^2, a the
   running mean of the lengths), on a batch ``pl_batch_shrink`` times smaller.
3. D main: softplus(D(G(z))) + softplus(-D(x)).
4. D reg, every ``r1_every`` steps: R1, gamma / 2 * E|grad D(x)|^2.

D sees every image, real or generated, through ADA's augmentation at probability p (on by
default, adapted towards ``ada_target``; p is logged and resumes with the run).

Class-conditional with ``--conditional`` on labelled data (StyleGAN2-ADA's conditional
configuration): G maps (z, class) to w, D projects its features on the class's embedding; every
generated image of a step is drawn for the class of the real image at its place in the batch.

Lazy regularization as in the paper: a penalty computed every k steps is weighted by k, and
each optimizer's learning rate and betas are scaled by k / (k + 1) to match. Samples come from
an EMA of G whose half-life is ``ema_kimg`` thousand images (ramped up over the first images
seen). The networks are in ``models/stylegan2.py``; ``width`` sizes them (the paper's 512).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ..augment import ada_augment, ada_update
from ..env import Env
from ..errors import GanforgeError
from ..losses import LOSSES, path_lengths, r1_penalty
from ..models import NetSpec
from ..typed import check, setting
from .base import FAMILIES, Batch, DataInfo, Export, Family, Reason, add_preset, lower_lr


@dataclass
class StyleGAN2Config:
    """The StyleGAN2 family's settings; saved as the ``model`` section of config.json."""

    z_dim: int = setting(512, "latent size", metavar="N")  # z and w alike
    width: int = setting(512, "most feature maps any layer has; up to 32 px every layer has "
                         "them, above it they halve as resolution doubles (512: the paper's; "
                         "32-128 for a CPU)", metavar="N")
    map_layers: int = setting(2, "mapping network layers (the paper's 8; 2 in StyleGAN2-ADA's "
                              "configuration for small data)", metavar="N")
    mapping_lr: float = setting(0.01, "the mapping network's learning rate, times --lr",
                                metavar="M")
    lr: float = setting(0.0025, "learning rate of G and D (Adam)", metavar="LR")
    betas: tuple[float, float] = setting((0.0, 0.99), "Adam betas", metavar="B")
    loss: str = setting("bce", "adversarial loss: bce is the paper's non-saturating logistic loss; "
                        "rpgan is R3GAN's relativistic pairing (pair it with --r2-gamma)",
                        metavar="NAME", choices=LOSSES)
    r1_gamma: float | None = setting(None, "R1 weight gamma (none: 0.0002 * size^2 / batch, the "
                                     "paper's heuristic)", metavar="G")
    r1_every: int = setting(16, "lazy R1: every K steps, scaled by K (StyleGAN2)", metavar="K")
    r2_gamma: float = setting(0.0, "R2 weight: R1's penalty on generated images, lazily with R1 "
                              "(R3GAN: the same gamma as R1; 0 = off)", metavar="G")
    pl_weight: float = setting(2.0, "path-length penalty weight (0 = off)", metavar="W")
    pl_every: int = setting(4, "path-length penalty every K steps, weighted by K", metavar="K")
    pl_decay: float = setting(0.01, "decay of the path lengths' running mean", metavar="D")
    pl_batch_shrink: int = setting(2, "the path-length batch is the batch over this", metavar="S")
    style_mixing: float = setting(0.9, "probability that a batch mixes two latents' styles at a "
                                  "random layer (0 = off)", metavar="P")
    ema_kimg: float | None = setting(None, "half-life of G's moving average in thousands of images "
                                     "(none: batch * 10 / 32)", metavar="K")
    ema_rampup: float = setting(0.05, "the average's half-life grows to ema_kimg as this fraction of "
                                "the images seen (0 = no ramp)", metavar="R")
    mbstd: int = setting(4, "minibatch standard-deviation group size in D (0 = off)", metavar="G")
    # Adaptive discriminator augmentation (Karras et al. 2020, "Training GANs with limited data"):
    # D sees reals and fakes through the same random augmentation, applied with probability p,
    # and p follows how confidently D calls the reals real. p is part of the state: it resumes.
    ada_target: float = setting(0.6, "ADA: the target of r_t = E[sign(D(real))]; p rises while "
                                "r_t is above it (0 = no adaptation)", metavar="T")
    ada_p: float | None = setting(None, "a fixed augmentation probability instead of adapting it "
                                  "(0 with --ada-target 0: no augmentation)", metavar="P")
    ada_kimg: float = setting(500.0, "ADA: thousands of images over which p can move from 0 to 1",
                              metavar="K")
    ada_interval: int = setting(4, "ADA: steps between updates of p", metavar="K")
    conditional: bool = setting(False, "class-conditional StyleGAN2 on labelled data (one "
                                "sub-folder per class; mnist-mini): the class enters G's mapping "
                                "network and D's output (StyleGAN2-ADA's conditional config)")

    ALIASES: ClassVar[dict[str, tuple[str, ...]]] = {}

    def validate(self) -> StyleGAN2Config:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise GanforgeError(msg)

        check(self)
        need(self.z_dim >= 1 and self.width >= 1 and self.map_layers >= 1,
             "z_dim, width and map_layers must be >= 1")
        need(self.lr > 0 and self.mapping_lr > 0, "--lr and --mapping-lr must be > 0")
        need(all(0 <= b < 1 for b in self.betas), f"betas must be in [0, 1), got {self.betas}")
        LOSSES.get(self.loss)
        need(self.r1_gamma is None or self.r1_gamma >= 0, "--r1-gamma must be >= 0")
        need(self.r2_gamma >= 0, "--r2-gamma must be >= 0")
        need(self.r1_every >= 1 and self.pl_every >= 1 and self.pl_batch_shrink >= 1,
             "--r1-every, --pl-every and --pl-batch-shrink must be >= 1")
        need(self.pl_weight >= 0 and 0 < self.pl_decay <= 1, "--pl-weight >= 0, 0 < --pl-decay <= 1")
        need(0 <= self.style_mixing <= 1, "--style-mixing must be in [0, 1]")
        need(self.ema_kimg is None or self.ema_kimg >= 0, "--ema-kimg must be >= 0")
        need(self.ema_rampup >= 0, "--ema-rampup must be >= 0")
        need(self.mbstd == 0 or self.mbstd >= 2, "--mbstd must be 0 (off) or a group size >= 2")
        need(0 <= self.ada_target <= 1, f"--ada-target must be in [0, 1], got {self.ada_target}")
        need(self.ada_p is None or 0 <= self.ada_p <= 1, f"--ada-p must be in [0, 1], got {self.ada_p}")
        need(self.ada_kimg > 0 and self.ada_interval >= 1, "--ada-kimg > 0, --ada-interval >= 1")
        return self

    @property
    def adaptive(self) -> bool:
        return self.ada_p is None and self.ada_target > 0


class _Stats(nn.Module):
    """Training statistics that resume with the run: the path lengths' running mean, ADA's p
    and the sum and count of sign(D(real)) since p was last updated."""

    def __init__(self, ada_p: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("pl_mean", torch.zeros(()))
        self.register_buffer("ada_p", torch.tensor(float(ada_p), dtype=torch.float64))
        self.register_buffer("ada_signs", torch.zeros((), dtype=torch.float64))
        self.register_buffer("ada_count", torch.zeros((), dtype=torch.float64))


class _Scores(nn.Module):
    """D over one batch, or over two apart (fakes and reals: minibatch-std groups must not mix
    them) in one call. Training calls D through this, so under DDP the D phase is one forward
    per backward, as DistributedDataParallel requires; it holds no weights of its own."""

    def __init__(self, d: nn.Module) -> None:
        super().__init__()
        self.d = d

    def forward(self, a: torch.Tensor, b: torch.Tensor | None = None,
                y: torch.Tensor | None = None) -> Any:
        def score(x: torch.Tensor) -> torch.Tensor:
            return self.d(x) if y is None else self.d(x, y)

        return score(a) if b is None else (score(a), score(b))


def lazy_adam(params: Any, lr: float, betas: tuple[float, float], every: int) -> torch.optim.Adam:
    """Adam for a network whose penalty runs every ``every`` steps (the paper's lazy
    regularization): learning rate times c and betas to the power c, c = every / (every + 1)."""
    c = every / (every + 1) if every > 1 else 1.0
    return torch.optim.Adam(params, lr=lr * c, betas=(betas[0] ** c, betas[1] ** c), eps=1e-8)


class StyleGAN2Recipe:
    def __init__(self, cfg: StyleGAN2Config, data: DataInfo, env: Env, total_steps: int) -> None:
        size = data.size
        if size < 4 or 2 ** int(math.log2(size)) != size:
            raise GanforgeError(f"--size {size}: StyleGAN2 makes 2^k px images (32, 64, 128, 256, ...)")
        self.cfg, self.env, self.size, self.loss = cfg, env, size, LOSSES.get(cfg.loss)
        self.classes = list(data.classes) if cfg.conditional else []
        if cfg.conditional and not self.classes:
            raise GanforgeError(f"--conditional needs labelled data; {data.name} has no labels "
                                "(use mnist-mini or a folder with one sub-folder per class)")
        # An unconditional run's specs name no num_classes, as before conditioning existed.
        cond = {"num_classes": len(self.classes)} if self.classes else {}
        self.g_spec = NetSpec("StyleGAN2Generator", {"z_dim": cfg.z_dim, "size": size,
                                                     "channels": data.channels, "width": cfg.width,
                                                     "map_layers": cfg.map_layers,
                                                     "mapping_lr": cfg.mapping_lr, **cond})
        self.d_spec = NetSpec("StyleGAN2Discriminator", {"size": size, "channels": data.channels,
                                                         "width": cfg.width, "mbstd": cfg.mbstd,
                                                         **cond})
        self.G = self.g_spec.build().to(env.device)
        self.D = self.d_spec.build().to(env.device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.stats = _Stats(cfg.ada_p or 0.0).to(env.device)
        pl_every = cfg.pl_every if cfg.pl_weight else 1
        self.opt_g = lazy_adam(self.G.parameters(), cfg.lr, cfg.betas, pl_every)
        self.opt_d = lazy_adam(self.D.parameters(), cfg.lr, cfg.betas, cfg.r1_every)
        self.G_train, self.D_train = env.parallel(self.G), env.parallel(_Scores(self.D))
        self.state = {"generator": self.G, "discriminator": self.D, "generator_ema": self.G_ema,
                      "opt_g": self.opt_g, "opt_d": self.opt_d, "stats": self.stats}

    # ---- pieces of the step ---------------------------------------------------------------
    def _d(self, x: torch.Tensor, y: torch.Tensor | None, net: nn.Module | None = None) -> torch.Tensor:
        """D's logits for ``x`` (of classes ``y``) seen through the augmentation at the current p;
        ``net``: the raw D (no DDP: the G phases, whose D gradients are not wanted)."""
        x = ada_augment(x, float(self.stats.ada_p))
        if net is not None:
            return net(x) if y is None else net(x, y)
        return self.D_train(x, y=y)

    def _adapt(self, d_real: torch.Tensor, step: int, global_batch: int) -> None:
        """ADA: accumulate sign(D(real)); every ``ada_interval`` steps move p (all ranks alike)."""
        cfg, st = self.cfg, self.stats
        if not cfg.adaptive:
            return
        signs = torch.stack([d_real.detach().float().sign().sum().double(),
                             torch.tensor(float(d_real.shape[0]), dtype=torch.float64, device=d_real.device)])
        if self.env.enabled:
            import torch.distributed as dist

            dist.all_reduce(signs)
        st.ada_signs += signs[0]
        st.ada_count += signs[1]
        if (step + 1) % cfg.ada_interval == 0:
            r_t = float(st.ada_signs / st.ada_count.clamp(min=1))
            st.ada_p.fill_(ada_update(float(st.ada_p), r_t, cfg.ada_target,
                                      cfg.ada_interval * global_batch, cfg.ada_kimg))
            st.ada_signs.zero_()
            st.ada_count.zero_()

    def _mean_over_ranks(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` averaged over the DDP processes (itself in one process): running statistics
        that every process holds alike, so the one rank 0 saves is every process's."""
        if not self.env.enabled:
            return x
        import torch.distributed as dist

        x = x.float().clone()
        dist.all_reduce(x)
        return x / self.env.world

    def _mixing(self, n: int) -> dict[str, Any]:
        """Style mixing for one batch: a second latent and the layer it takes over from."""
        cutoff = self.G.num_ws
        if self.cfg.style_mixing and float(torch.rand(())) < self.cfg.style_mixing:
            cutoff = int(torch.randint(1, self.G.num_ws, ()))
        return {"mix_z": torch.randn(n, self.cfg.z_dim, device=self.env.device), "cutoff": cutoff}

    def r1_gamma(self, global_batch: int) -> float:
        """R1's gamma now: the config's (or the paper's heuristic), raised by the guard's
        recoveries; kept in D's optimizer state, so it resumes."""
        group = self.opt_d.param_groups[0]
        if "r1_gamma" not in group:
            g = self.cfg.r1_gamma
            group["r1_gamma"] = g if g is not None else 0.0002 * self.size**2 / global_batch
        return group["r1_gamma"]

    @torch.no_grad()
    def _update_ema(self, step: int, global_batch: int) -> None:
        cfg = self.cfg
        ema_nimg = 1000 * (cfg.ema_kimg if cfg.ema_kimg is not None else global_batch * 10 / 32)
        if cfg.ema_rampup:
            ema_nimg = min(ema_nimg, (step + 1) * global_batch * cfg.ema_rampup)
        beta = 0.5 ** (global_batch / max(ema_nimg, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.lerp_(p, 1.0 - beta)
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    # ---- one iteration, all phases ----------------------------------------------------------
    def step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        cfg, dev = self.cfg, self.env.device
        real = batch.images
        n = real.shape[0]
        y = batch.labels if self.classes else None  # fakes are drawn for the batch's classes
        global_batch = n * self.env.world
        out: dict[str, torch.Tensor] = {}

        # G main: fool D (D frozen, its raw module: DDP must not reduce its gradients).
        self.D.requires_grad_(False)
        with self.env.autocast():
            z = torch.randn(n, cfg.z_dim, device=dev)
            fake = self.G_train(z, y, track=True, **self._mixing(n))
            g_out = self._d(fake, y, self.D)
            if self.loss.relativistic:  # each fake scored against a real, as D scores them
                with torch.no_grad():
                    g_real = self._d(real, y, self.D)
                g_loss = self.loss.g(g_out, g_real)
            else:
                g_loss = self.loss.g(g_out)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        out["g_loss"] = g_loss.detach()

        # G reg: path-length penalty, lazily.
        if cfg.pl_weight and step % cfg.pl_every == 0:
            pl_n = max(1, n // cfg.pl_batch_shrink)
            z = torch.randn(pl_n, cfg.z_dim, device=dev)
            with self.env.autocast():
                img, ws = self.G_train(z, None if y is None else y[:pl_n], return_ws=True,
                                       **self._mixing(pl_n))
            lengths = path_lengths(img, ws)
            self.stats.pl_mean.lerp_(self._mean_over_ranks(lengths.mean().detach()), cfg.pl_decay)
            pl = (lengths - self.stats.pl_mean).square().mean()
            self.opt_g.zero_grad(set_to_none=True)
            (pl * cfg.pl_weight * cfg.pl_every + img[:, 0, 0, 0].sum() * 0).backward()
            self.opt_g.step()
            out["pl_penalty"] = pl.detach()
        self.D.requires_grad_(True)
        self._update_ema(step, global_batch)

        # D main: real -> high, fake -> low.
        with torch.no_grad(), self.env.autocast():
            fake = self.G(torch.randn(n, cfg.z_dim, device=dev), y, **self._mixing(n))
        with self.env.autocast():
            p = float(self.stats.ada_p)
            d_fake, d_real = self.D_train(ada_augment(fake, p), ada_augment(real, p), y=y)
            d_loss = self.loss.d(d_real, d_fake)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        out.update(d_loss=d_loss.detach(), d_real=d_real.detach().float().mean(),
                   d_fake=d_fake.detach().float().mean(), ada_p=self.stats.ada_p.float().clone())
        self._adapt(d_real, step, global_batch)

        # D reg: R1 on real images, lazily.
        gamma = self.r1_gamma(global_batch)
        if gamma and step % cfg.r1_every == 0:
            real_in = real.detach().requires_grad_(True)
            with self.env.autocast():
                logits = self._d(real_in, y)
                r1 = r1_penalty(logits, real_in)
            self.opt_d.zero_grad(set_to_none=True)
            # + 0 * logits: D's last bias, which no input gradient depends on, gets its (zero)
            # gradient too; DDP requires every parameter to get one (StyleGAN2-ADA does the same).
            (r1 * (gamma / 2) * cfg.r1_every + logits.float().sum() * 0).backward()
            self.opt_d.step()
            out["r1"] = r1.detach()
        if cfg.r2_gamma and step % cfg.r1_every == 0:
            fake_in = fake.detach().requires_grad_(True)
            with self.env.autocast():
                logits = self._d(fake_in, y)
                r2 = r1_penalty(logits, fake_in)
            self.opt_d.zero_grad(set_to_none=True)
            (r2 * (cfg.r2_gamma / 2) * cfg.r1_every + logits.float().sum() * 0).backward()
            self.opt_d.step()
            out["r2"] = r2.detach()
        return out

    # ---- the guard's contract --------------------------------------------------------------
    def health(self, rec: dict[str, float]) -> str | None:
        if "d_loss" in rec and rec["d_loss"] < 0.01:
            return f"the discriminator has won outright (d_loss {rec['d_loss']:.3g})"
        return None

    def recover(self, reason: Reason) -> str:
        if reason is Reason.UNHEALTHY:
            group = self.opt_d.param_groups[0]
            group["r1_gamma"] = group.get("r1_gamma", self.cfg.r1_gamma or 0.0) * 2 or 1.0
            return f"R1 gamma raised to {group['r1_gamma']:g}"
        return f"learning rates halved (lr {lower_lr(self.opt_g, self.opt_d):.3g})"

    def export(self) -> Export:
        info: dict[str, Any] = {"z_dim": self.cfg.z_dim}
        if self.classes:
            info["classes"] = self.classes
        return Export("sample", {"generator": (self.G_ema, self.g_spec)}, {"generator": "generator"},
                      info)


def _data_kind(cfg: StyleGAN2Config) -> str:
    return "labelled" if cfg.conditional else "images"


FAMILIES.register("stylegan2")(Family("stylegan2", StyleGAN2Config, StyleGAN2Recipe, _data_kind,
                                      "StyleGAN2: style-based generator, residual D, lazy R1 and "
                                      "path-length regularization"))

# Faces at 64 px on a CPU: a narrow network (64 maps up to 32 px, 32 at 64 px), batch 32:
# 1.3 s a step on 2 Xeon cores (benchmarks/stylegan2_speed.py; width 128: 4.6 s).
add_preset("celeba64-stylegan2", "stylegan2", "StyleGAN2 on CelebA faces at 64 px (CPU-sized)",
           data="celeba", size=64, channels=3, batch_size=32, epochs=20, width=64, z_dim=256)
add_preset("anime64-stylegan2", "stylegan2", "StyleGAN2 on anime faces at 64 px from your --data",
           data="", size=64, channels=3, batch_size=32, epochs=20, width=64, z_dim=256)
# The paper's 256 px configuration (StyleGAN2-ADA "auto": 512 maps up to 32 px, 64 at 256 px,
# batch 32 gives gamma 0.41); meant for a GPU.
add_preset("ffhq256-stylegan2", "stylegan2", "StyleGAN2 at 256 px on your folder of faces (GPU)",
           data="", size=256, channels=3, batch_size=32, epochs=100, width=512, z_dim=512)
