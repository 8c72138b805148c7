"""The ``vae`` family: a variational autoencoder (Kingma & Welling 2014), no discriminator.

Loss per image: reconstruction (Bernoulli cross-entropy or squared error, summed over pixels)
+ beta * KL(q(z|x) || N(0, I)). Its decoder is published as the run's generator, so previews,
``generate``, ``--interpolate`` and ``eval`` treat a VAE exactly like a GAN: the seeds' "VAEs
give blurrier faces, GANs sharper ones" can be checked on the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F

from ..env import Env
from ..errors import GanforgeError
from ..models import NetSpec
from ..models.dcgan import DCGANGenerator
from ..typed import check, setting
from .base import FAMILIES, Batch, DataInfo, Export, Family, Reason, add_preset, lower_lr, make_ema


@dataclass
class VAEConfig:
    """The VAE family's settings; saved as the ``model`` section of config.json."""

    z_dim: int = setting(32, "latent size", metavar="N")
    width: int = setting(32, "base channel count of the networks", metavar="N")  # DCGAN's layout
    beta: float = setting(1.0, "weight of the KL term (1: the ELBO; > 1: beta-VAE, smoother "
                          "latents)", metavar="B")
    # "mse" is a Gaussian likelihood with sigma 0.1: squared error on [0, 1] times 1 / (2 * 0.1^2).
    recon: Literal["bce", "mse"] = setting("bce", "reconstruction loss: bce (pixels as Bernoulli "
                                           "probabilities; sharp digits) or mse (colour photos)")
    lr: float = setting(1e-3, "learning rate of every network (Adam)", metavar="LR")
    betas: tuple[float, float] = setting((0.9, 0.999), "Adam betas", metavar="B")
    # The decoder is the published generator: averaged as a GAN's G is.
    ema: float = setting(0.0, "decay of a moving average of the generator's weights that samples "
                         "are drawn from (e.g. 0.999; 0 = off)", metavar="DECAY")

    ALIASES: ClassVar[dict[str, tuple[str, ...]]] = {}

    def validate(self) -> VAEConfig:
        check(self)  # types and choices
        if self.beta < 0:
            raise GanforgeError(f"beta must be >= 0, got {self.beta}")
        if self.lr <= 0:
            raise GanforgeError(f"--lr must be > 0, got {self.lr}")
        if not all(0 <= b < 1 for b in self.betas):
            raise GanforgeError(f"betas must be in [0, 1), got {self.betas}")
        if not 0 <= self.ema < 1:
            raise GanforgeError(f"--ema must be in [0, 1) (0 = off), got {self.ema}")
        if self.z_dim < 1 or self.width < 1:
            raise GanforgeError("z_dim and width must be >= 1")
        return self


# Gaussian likelihood with sigma 0.1 on [0, 1] pixels: 1 / (2 sigma^2).
_MSE_SCALE = 1.0 / (2 * 0.1**2)


def vae_losses(x: torch.Tensor, decoded: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
               recon: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(reconstruction, KL), each summed over an image's pixels / latents, averaged over images.

    ``x`` and ``decoded`` are in [-1, 1] (the decoder ends in tanh).
    """
    n = x.shape[0]
    target, p = (x + 1) / 2, (decoded + 1) / 2
    if recon == "bce":  # written out: F.binary_cross_entropy raises on NaN instead of passing it on
        p = p.clamp(1e-6, 1 - 1e-6)
        rec = -(target * p.log() + (1 - target) * (-p).log1p()).sum() / n
    else:
        rec = _MSE_SCALE * F.mse_loss(p, target, reduction="sum") / n
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / n
    return rec, kl


class VAERecipe:
    """Encoder + decoder trained jointly with Adam on the (beta-weighted) negative ELBO."""

    def __init__(self, cfg: VAEConfig, data: DataInfo, env: Env, total_steps: int) -> None:
        self.cfg, self.env = cfg, env
        DCGANGenerator.check_size(data.size)
        self.dec_spec = NetSpec("DCGANGenerator", dict(z_dim=cfg.z_dim, size=data.size,
                                                      channels=data.channels, width=cfg.width))
        self.enc_spec = NetSpec("ConvEncoder", dict(size=data.size, channels=data.channels,
                                                    z_dim=cfg.z_dim, width=cfg.width))
        self.dec = self.dec_spec.build().to(env.device, memory_format=torch.channels_last)
        self.enc = self.enc_spec.build().to(env.device, memory_format=torch.channels_last)
        params = list(self.enc.parameters()) + list(self.dec.parameters())
        self.opt = torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas)
        self.ema = make_ema(self.dec, cfg.ema)
        self.state: dict[str, Any] = {"encoder": self.enc, "decoder": self.dec, "opt": self.opt}
        if self.ema is not None:
            self.state["decoder_ema"] = self.ema
        self.enc_train, self.dec_train = env.parallel(self.enc), env.parallel(self.dec)

    def step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        x = batch.images
        with self.env.autocast():
            mu, logvar = self.enc_train(x)
            mu, logvar = mu.float(), logvar.float()
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()  # reparameterisation
            decoded = self.dec_train(z).float()
        rec, kl = vae_losses(x.float(), decoded, mu, logvar, self.cfg.recon)
        loss = rec + self.cfg.beta * kl
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        if self.ema is not None:
            self.ema.update_parameters(self.dec)
        return {"total_loss": loss.detach(), "recon_loss": rec.detach(), "kl_loss": kl.detach()}

    def health(self, rec: dict[str, float]) -> str | None:
        return None

    def recover(self, reason: Reason) -> str:
        """After the guard's rollback (a NaN): halve the learning rate."""
        return f"learning rate halved (lr {lower_lr(self.opt):.3g})"

    def export(self) -> Export:
        dec = self.ema.module if self.ema is not None else self.dec
        return Export("sample", {"generator": (dec, self.dec_spec), "encoder": (self.enc, self.enc_spec)},
                      {"generator": "generator"}, {"z_dim": self.cfg.z_dim})


FAMILIES.register("vae")(Family("vae", VAEConfig, VAERecipe, "images",
                                "a variational autoencoder: DCGAN decoder, no discriminator"))


# Presets: a name, a one-line doc and the settings that differ from the defaults.
# VAEs on the same data and with the same decoder network as the DCGAN presets (their decoder
# *is* DCGANGenerator), so README's "GAN vs VAE" compares objectives, not architectures.
add_preset("mnist-vae", "vae", "a VAE on the bundled digits (compare with mnist-fast)",
           data="mnist-mini", size=28, channels=1, batch_size=64, epochs=25, z_dim=32, width=64,
           recon="bce", lr=1e-3)
add_preset("celeba64-vae", "vae", "a VAE on CelebA faces at 64 px (compare with celeba64-dcgan)",
           data="celeba", size=64, channels=3, batch_size=128, epochs=25, z_dim=128, width=64,
           recon="mse", lr=1e-3)
