"""Training configuration: one typed dataclass, named presets, and validation with clear errors."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .errors import GanforgeError
from .registry import Registry


@dataclass
class TrainConfig:
    """Everything a training run depends on. The resolved copy is written to ``config.json``."""

    preset: str | None = None
    model: str = "dcgan"  # a name from ganforge.models.MODELS
    data: str = "mnist-mini"  # a registered data set name, an image folder or a zip of images
    size: int = 28  # image side in pixels; data is resized to it
    channels: int | None = None  # 1 or 3; None: what the data has
    fit: str = "crop"  # non-square images: "crop" (center) or "pad"
    strict: bool = False  # refuse bad image files instead of skipping them
    z_dim: int = 100  # latent size
    width: int = 64  # base channel count / hidden width of the networks
    epochs: int = 5
    max_steps: int | None = None  # stop after this many optimizer steps, whatever the epoch
    batch_size: int = 128  # global batch (split across DDP processes)
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)  # Adam betas, as in Radford et al.
    label_smoothing: float = 0.0  # one-sided: real targets become 1 - smoothing
    label_noise: float = 0.0  # add noise * U(0,1) to D's targets (the Keras face-GAN trick)
    seed: int = 0
    precision: str = "fp32"  # "fp32" or "bf16" (autocast)
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
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", "mps"
    eval_every: int = 0  # every K epochs: the cheap metric (digits-FID / KID), best/ weights
    eval_n: int = 2000  # images per set for that metric
    grid_n: int = 64  # images in each epoch's fixed-seed sample grid
    log_every: int = 20  # steps between metrics.jsonl lines
    checkpoint_minutes: float = 10.0  # also checkpoint mid-epoch this often (crash safety)
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> TrainConfig:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise GanforgeError(msg)

        need(self.epochs >= 1, f"--epochs must be >= 1, got {self.epochs}")
        need(self.max_steps is None or self.max_steps >= 1, "--max-steps must be >= 1")
        need(self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}")
        need(self.size >= 4, f"--size must be >= 4 pixels, got {self.size}")
        need(self.channels in (None, 1, 3), f"--channels must be 1 or 3, got {self.channels}")
        need(self.fit in ("crop", "pad"), f"--fit must be 'crop' or 'pad', got {self.fit!r}")
        need(self.precision in ("fp32", "bf16"), f"--precision must be fp32 or bf16, not {self.precision!r}")
        need(self.update in ("alternating", "simultaneous"),
             f"update must be 'alternating' or 'simultaneous', not {self.update!r}")
        need(0 <= self.ema < 1, f"--ema must be in [0, 1) (0 = off), got {self.ema}")
        from .augment import parse_policy

        parse_policy(self.diffaug)
        need(self.lr_g > 0 and self.lr_d > 0, "learning rates must be > 0")
        need(0 <= self.label_smoothing < 1, "--label-smoothing must be in [0, 1)")
        need(self.label_noise >= 0, "--label-noise must be >= 0")
        need(self.eval_every >= 0 and self.eval_n >= 2, "--eval-every must be >= 0, eval_n >= 2")
        need(self.z_dim >= 1 and self.width >= 1, "z_dim and width must be >= 1")
        self.betas = (float(self.betas[0]), float(self.betas[1]))
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        unknown = set(d) - known
        if unknown:
            raise GanforgeError(f"unknown config keys: {', '.join(sorted(unknown))}")
        cfg = TrainConfig(**d)
        cfg.betas = tuple(cfg.betas)  # type: ignore[assignment]
        return cfg


PRESETS: Registry[dict[str, Any]] = Registry("preset")

# The TensorFlow DCGAN tutorial's exact networks, BCE, batch 256 and its update (both gradients
# from one tape). On the 5k digits of mnist-mini the tutorial's literal Adam(1e-4, betas .9/.999)
# oscillates -- its own TensorFlow code too, measured here: digits-FID 42-91 between epochs 120
# and 200 -- so the preset uses the optimizer this project's spec and Radford et al. name,
# Adam(2e-4, beta1 0.5), and samples from an EMA of G (0.999). Measured, seed 0, 150 epochs:
# digits-FID 14.7, 10/10 classes; the literal recipe gets 67 (37.9 with the EMA).
# The literal tutorial: lr_g=lr_d=1e-4, betas=(0.9, 0.999), ema=0.
PRESETS.register("mnist-dcgan")(
    dict(model="dcgan28", data="mnist-mini", size=28, channels=1, batch_size=256, epochs=150,
         lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), update="simultaneous", ema=0.999)
)
# The fully connected GAN of the simple GAN tutorials.
PRESETS.register("mnist-mlp")(
    dict(model="mlp", data="mnist-mini", size=28, channels=1, batch_size=64, epochs=30,
         width=256, lr_g=2e-4, lr_d=2e-4)
)
# The face GAN of the tutorials: CelebA aligned faces, 178x178 center crop resized to 64 px,
# Radford's DCGAN, batch 128, Adam(2e-4, 0.5), 0.05 * U(0,1) label noise (Keras face GAN).
PRESETS.register("celeba64-dcgan")(
    dict(model="dcgan", data="celeba", size=64, channels=3, batch_size=128, epochs=25,
         width=64, label_noise=0.05)
)
# The demo: recognisable digits in a few CPU minutes. Radford's DCGAN at 28 px and batch 64
# makes many cheap updates; see README "The demo recipe" (width 32 was faster but blotchier).
PRESETS.register("mnist-fast")(
    dict(model="dcgan", data="mnist-mini", size=28, channels=1, batch_size=64, epochs=25,
         width=64, z_dim=64, lr_g=2e-4, lr_d=2e-4)
)


def resolve(preset: str | None, **overrides: Any) -> TrainConfig:
    """Preset defaults, then non-None overrides, validated."""
    base: dict[str, Any] = dict(PRESETS.get(preset)) if preset else {}
    base["preset"] = preset
    for k, v in overrides.items():
        if v is not None:
            base[k] = v
    return TrainConfig.from_dict(base).validate()
