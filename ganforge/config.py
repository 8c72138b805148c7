"""Run configuration: family-blind run settings, each family's own typed config, and one
registry of named presets for every family.

config.json holds ``{ganforge_version, family, run: RunConfig, model: <family config>, data,
world_size}``. Files written by ganforge 0.1 (one flat ``train`` section, GAN only) still read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .data import resolve_source
from .errors import GanforgeError
from .families import FAMILIES
from .models import MODELS
from .registry import Registry
from .typed import as_dict, build, fields_of


@dataclass
class RunConfig:
    """Settings of a run that mean the same for every model family."""

    preset: str | None = None
    family: str = "gan"  # a name from ganforge.families.FAMILIES
    data: str = "mnist-mini"  # a registered data set name, an image folder or a zip of images
    data_b: str | None = None  # translation families: domain B's folder or zip (--data-b)
    size: int = 28  # image side in pixels; data is resized to it
    channels: int | None = None  # 1 or 3; None: what the data has
    fit: str = "crop"  # non-square images: "crop" (center) or "pad"
    strict: bool = False  # refuse bad image files instead of skipping them
    # Decode a folder or zip once into a memory-mapped prepared set under the data directory
    # (ganforge data); False: --no-cache, decode into memory every start.
    cache: bool = True
    epochs: int = 5
    max_steps: int | None = None  # stop after this many optimizer steps, whatever the epoch
    batch_size: int = 128  # global batch (split across DDP processes)
    seed: int = 0
    precision: str = "fp32"  # "fp32" or "bf16" (autocast)
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", "mps"
    threads: int | None = None  # CPU threads; None: $OMP_NUM_THREADS, else the usable cores
    eval_every: int = 0  # every K epochs: the cheap metric (digits-FID / KID), best/ weights
    eval_n: int = 2000  # images per set for that metric
    grid_n: int = 64  # images in each epoch's fixed-seed preview grid
    log_every: int = 20  # steps between metrics.jsonl lines
    checkpoint_minutes: float = 10.0  # also checkpoint mid-epoch this often (crash safety)
    # Roll back to the last good checkpoint on NaN, mode collapse or a discriminator that won
    # outright, with the family's remedy (training/guard.py); False: --no-guard.
    guard: bool = True

    def validate(self) -> RunConfig:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise GanforgeError(msg)

        FAMILIES.get(self.family)
        need(self.epochs >= 1, f"--epochs must be >= 1, got {self.epochs}")
        need(self.max_steps is None or self.max_steps >= 1, "--max-steps must be >= 1")
        need(self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}")
        need(0 <= self.seed < 2**63, f"--seed must be in [0, 2^63), got {self.seed}")
        need(self.size >= 4, f"--size must be >= 4 pixels, got {self.size}")
        need(self.channels in (None, 1, 3), f"--channels must be 1 or 3, got {self.channels}")
        need(self.fit in ("crop", "pad"), f"--fit must be 'crop' or 'pad', got {self.fit!r}")
        need(self.precision in ("fp32", "bf16"), f"--precision must be fp32 or bf16, not {self.precision!r}")
        need(self.threads is None or self.threads >= 1, f"--threads must be >= 1, got {self.threads}")
        need(self.eval_every >= 0, f"--eval-every must be >= 0, got {self.eval_every}")
        need(self.eval_n >= 2, f"eval_n must be >= 2, got {self.eval_n}")
        need(self.grid_n >= 1, f"grid_n must be >= 1, got {self.grid_n}")
        need(self.log_every >= 1, f"log_every must be >= 1, got {self.log_every}")
        need(self.checkpoint_minutes > 0, f"checkpoint_minutes must be > 0, got {self.checkpoint_minutes}")
        return self


@dataclass
class Config:
    """A whole run's configuration: the run settings and the family's own config."""

    run: RunConfig = field(default_factory=RunConfig)
    model: Any = None  # the family's config dataclass (GANConfig, VAEConfig, ...)

    @property
    def family(self) -> str:
        return self.run.family

    def validate(self) -> Config:
        self.run.validate()
        want = FAMILIES.get(self.run.family).config
        if not isinstance(self.model, want):
            raise GanforgeError(f"family {self.run.family!r} needs a {want.__name__}, "
                                f"not {type(self.model).__name__}")
        self.model.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.run.family, "run": as_dict(self.run), "model": as_dict(self.model)}

    @staticmethod
    def from_dict(d: Any, where: str = "config") -> Config:
        """From a config.json's contents (this release's or ganforge 0.1's), checked.

        Raises:
            GanforgeError: a missing section or a setting of the wrong type, named.
        """
        if not isinstance(d, dict):
            raise GanforgeError(f"{where}: expected a JSON object, got {type(d).__name__}")
        if "run" not in d and "train" in d:  # ganforge 0.1: one flat GAN section
            train = d["train"]
            if not isinstance(train, dict):
                raise GanforgeError(f"{where}: section 'train' must be a JSON object")
            flat = {k: v for k, v in train.items() if k != "extra"}
            run, model = split_settings("gan", flat, where + ": train.")
            return Config(build(RunConfig, {**run, "family": "gan"}, f"{where}: train."),
                          build(FAMILIES.get("gan").config, model, f"{where}: train.")).validate()
        for section in ("run", "model"):
            if not isinstance(d.get(section), dict):
                raise GanforgeError(f"{where}: has no '{section}' section (a JSON object); "
                                    "the file is damaged or not a ganforge config")
        run = build(RunConfig, d["run"], f"{where}: run.")
        family = FAMILIES.get(run.family)
        return Config(run, build(family.config, d["model"], f"{where}: model.")).validate()


def split_settings(family: str, settings: dict[str, Any], where: str = "") -> tuple[dict, dict]:
    """Flat settings -> (run settings, family settings); aliases (``lr``) expanded."""
    cfg_cls = FAMILIES.get(family).config
    run_keys, model_keys = fields_of(RunConfig), fields_of(cfg_cls)
    aliases = getattr(cfg_cls, "ALIASES", {})
    run: dict[str, Any] = {}
    model: dict[str, Any] = {}
    unknown = []
    for k, v in settings.items():
        if k in aliases:
            model.update({a: v for a in aliases[k]})
        elif k in run_keys:
            run[k] = v
        elif k in model_keys:
            model[k] = v
        else:
            unknown.append(k)
    if unknown:
        known = sorted(run_keys | model_keys | set(aliases))
        raise GanforgeError(f"{where}unknown setting{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(sorted(unknown))} for family {family!r}; known: {', '.join(known)}")
    return run, model


@dataclass(frozen=True)
class Preset:
    """A named starting point: a family and the settings that differ from its defaults."""

    family: str
    settings: dict[str, Any]
    doc: str = ""


PRESETS: Registry[Preset] = Registry("preset")


def _preset(name: str, family: str, doc: str, **settings: Any) -> None:
    PRESETS.register(name)(Preset(family, settings, doc))


# The TensorFlow DCGAN tutorial's exact networks, BCE, batch 256 and its update (both gradients
# from one tape). On the 5k digits of mnist-mini the tutorial's literal Adam(1e-4, betas .9/.999)
# oscillates -- its own TensorFlow code too, measured here: digits-FID 42-91 between epochs 120
# and 200 -- so the preset uses the optimizer this project's spec and Radford et al. name,
# Adam(2e-4, beta1 0.5), and samples from an EMA of G (0.999). Measured, seed 0, 150 epochs:
# digits-FID 14.7, 10/10 classes; the literal recipe gets 67 (37.9 with the EMA).
# The literal tutorial: lr_g=lr_d=1e-4, betas=(0.9, 0.999), ema=0.
_preset("mnist-dcgan", "gan", "the TensorFlow DCGAN tutorial's networks on the bundled digits",
        model="dcgan28", data="mnist-mini", size=28, channels=1, batch_size=256, epochs=150,
        lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), update="simultaneous", ema=0.999)
_preset("mnist-mlp", "gan", "the fully connected GAN of the simple GAN tutorials",
        model="mlp", data="mnist-mini", size=28, channels=1, batch_size=64, epochs=30,
        width=256, lr_g=2e-4, lr_d=2e-4)
# The face GAN of the tutorials: CelebA aligned faces, 178x178 center crop resized to 64 px,
# Radford's DCGAN, batch 128, Adam(2e-4, 0.5), 0.05 * U(0,1) label noise (Keras face GAN).
_preset("celeba64-dcgan", "gan", "the face GAN of the tutorials: CelebA 64 px, Radford's DCGAN",
        model="dcgan", data="celeba", size=64, channels=3, batch_size=128, epochs=25,
        width=64, label_noise=0.05)
# The demo: recognisable digits in a few CPU minutes. Radford's DCGAN at 28 px and batch 64
# makes many cheap updates; see README "The demo recipe" (width 32 was faster but blotchier).
_preset("mnist-fast", "gan", "the demo: recognisable digits in a few CPU minutes",
        model="dcgan", data="mnist-mini", size=28, channels=1, batch_size=64, epochs=25,
        width=64, z_dim=64, lr_g=2e-4, lr_d=2e-4)
# Class-conditional: mnist-fast's networks, the one-hot label beside z in G and as ten extra
# input maps of D (the cDCGAN tutorials' conditioning), an EMA of G. On mnist-mini a projection
# head with D's BatchNorm ignored the label, ACGAN and the maps both reached ~0.87 class agreement
# at 25 epochs (README "Class-conditional GANs"); the preview draws one row per digit.
_preset("mnist-cgan", "gan", "class-conditional DCGAN on the bundled digits: --class 7 draws sevens",
        model="dcgan", data="mnist-mini", size=28, channels=1, batch_size=64, epochs=60,
        width=64, z_dim=64, lr_g=2e-4, lr_d=2e-4, conditional=True, g_cond="embed",
        d_cond="concat", ema=0.999)
# Hinge loss + spectral norm (SNGAN's objective and D constraint) on mnist-fast's networks, D
# without BatchNorm, sampled from an EMA of G.
_preset("mnist-hinge-sn", "gan", "hinge loss + spectral norm + EMA on the bundled digits",
        model="dcgan", data="mnist-mini", size=28, channels=1, batch_size=64, epochs=25,
        width=64, z_dim=64, loss="hinge", sn=True, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999),
        ema=0.999)
# WGAN-GP (Gulrajani et al. 2017): Wasserstein loss, gradient penalty 10, 5 critic steps per G
# step, Adam(1e-4, betas 0.5/0.9) as in the paper, critic without BatchNorm.
_preset("fashion-mnist-wgangp", "gan", "WGAN-GP on Fashion-MNIST (download, 30 MB)",
        model="dcgan", data="fashion-mnist", size=28, channels=1, batch_size=64, epochs=20,
        width=64, z_dim=128, loss="wasserstein", gp=10.0, n_critic=5, lr_g=1e-4, lr_d=1e-4,
        betas=(0.5, 0.9))
# SNGAN's CIFAR-10 ResNet (Miyato et al. 2018, table 4): hinge, spectral norm, 5 critic steps,
# Adam(2e-4, betas 0/0.9), batch 64, G 256 / D 128 channels.
_preset("cifar10-sngan", "gan", "SNGAN's ResNet on CIFAR-10 at 32 px (download, 162 MB)",
        model="resnet32", data="cifar10", size=32, channels=3, batch_size=64, epochs=100,
        width=128, z_dim=128, loss="hinge", sn=True, n_critic=5, lr_g=2e-4, lr_d=2e-4,
        betas=(0.0, 0.9))
# The seeds' Keras face GAN, exactly: its networks (models/facegan.py), RMSprop(1e-4) with
# gradient values clipped to 1, batch 16, 0.05 * U(0,1) label noise, aligned CelebA centre-cropped
# to 178x178 and resized to 128 px, a fixed 6x6 grid of latents each epoch.
_preset("celeba128-facegan", "gan", "the Keras face GAN of the seed article, exactly (CelebA 128 px)",
        model="facegan", data="celeba", size=128, channels=3, batch_size=16, epochs=10, z_dim=32,
        optimizer="rmsprop", lr_g=1e-4, lr_d=1e-4, clip_value=1.0, label_noise=0.05, grid_n=36)
# Anime faces in colour: DCGAN's G with resize-conv upsampling, a spectrally normalised D without
# BatchNorm with a minibatch-std map, hinge loss and an EMA of G. Measured at equal 30-min budgets
# (README "Faces on a CPU"): the transposed-conv G drew one face layout with a fixed-position
# texture; resize-conv + minibatch-std + no DiffAugment (17,000 faces seen ~3 times: nothing to
# memorise) took KID 0.052 -> 0.012. No default data (the public anime-face sets are not
# downloadable without an account): --data FOLDER|ZIP of 64 px faces.
_preset("anime64", "gan", "anime faces at 64 px from your folder or zip (--data)",
        model="dcgan", data="", size=64, channels=3, batch_size=64, epochs=30, width=64,
        z_dim=128, loss="hinge", sn=True, ema=0.999, mbstd=4, g_upsample="resize", lr_g=2e-4,
        lr_d=2e-4, betas=(0.5, 0.999))
# Image-to-image translation. CycleGAN as in Zhu et al. and the Keras tutorial: 256 px, batch 1,
# ResNet G (9 blocks), 70x70 PatchGAN, LSGAN, cycle 10, identity 0.5, pool 50, Adam(2e-4, 0.5),
# 100 epochs + 100 of linear decay, jitter 286 -> 256 and mirror.
_preset("horse2zebra", "cyclegan", "CycleGAN: horses <-> zebras, the Keras tutorial's (download, 112 MB)",
        data="horse2zebra", size=256, channels=3, batch_size=1, epochs=200)
_preset("monet2photo", "cyclegan", "CycleGAN: Monet paintings <-> photos (download, 291 MB)",
        data="monet2photo", size=256, channels=3, batch_size=1, epochs=200)
# pix2pix as in Isola et al.: U-Net 256, PatchGAN on the pair, L1 100, batch 1 for facades
# (200 epochs), batch 4 for edges2shoes (15 epochs).
_preset("facades", "pix2pix", "pix2pix: facade label maps -> photos (download, 29 MB)",
        data="facades", size=256, channels=3, batch_size=1, epochs=200)
_preset("edges2shoes", "pix2pix", "pix2pix: shoe edge maps -> photos (download, 2 GB)",
        data="edges2shoes", size=256, channels=3, batch_size=4, epochs=15)
# The offline digit pair at 32 px, small networks: README "Translating images" measures them
# (6 epochs, 7.5 min on 2 CPU cores: the digit kept in 92% of held-out a2b translations; width
# 32 for 3 epochs, 9.5 min: 83%).
_preset("mnist2color-cyclegan", "cyclegan", "CycleGAN on the offline digit pair (no download)",
        data="mnist2color", size=32, channels=3, batch_size=8, epochs=6, width=16, d_width=16)
_preset("mnist2color-pix2pix", "pix2pix", "pix2pix on the offline digit pair (no download)",
        data="mnist2color", size=32, channels=3, batch_size=8, epochs=2, width=32, d_width=32)
# Faces -> anime faces, unpaired, 64 px, CPU-sized networks: --data FACES --data-b ANIME.
_preset("face2anime", "cyclegan", "CycleGAN: photos of faces <-> anime faces, 64 px (--data, --data-b)",
        data="", size=64, channels=3, batch_size=4, epochs=10, width=16, d_width=32)
# VAEs on the same data and with the same decoder network as the DCGAN presets (their decoder
# *is* DCGANGenerator), so README's "GAN vs VAE" compares objectives, not architectures.
_preset("mnist-vae", "vae", "a VAE on the bundled digits (compare with mnist-fast)",
        data="mnist-mini", size=28, channels=1, batch_size=64, epochs=25, z_dim=32, width=64,
        recon="bce", lr=1e-3)
_preset("celeba64-vae", "vae", "a VAE on CelebA faces at 64 px (compare with celeba64-dcgan)",
        data="celeba", size=64, channels=3, batch_size=128, epochs=25, z_dim=128, width=64,
        recon="mse", lr=1e-3)


def name_settings(name: str | None) -> tuple[str | None, dict[str, Any]]:
    """What a PRESET argument means: (family, settings) for a preset, a family or a GAN model.

    Raises:
        GanforgeError: an unknown name, listing presets, families and models.
    """
    if name is None:
        return None, {}
    if name in PRESETS:
        p = PRESETS.get(name)
        return p.family, {**p.settings, "preset": name}
    if name in FAMILIES:
        return name, {}
    if name in MODELS:
        return "gan", {"model": name}
    raise GanforgeError(f"unknown preset {name!r}; known: presets {', '.join(PRESETS.names())}; "
                        f"families {', '.join(FAMILIES.names())}; bare GAN models "
                        f"{', '.join(MODELS.names())}")


def resolve(preset: str | None = None, **overrides: Any) -> Config:
    """Preset (or family, or GAN model name) defaults, then non-None overrides, validated."""
    family, base = name_settings(preset)
    family = overrides.pop("family", None) or family or "gan"
    base["preset"] = preset if preset in PRESETS else None
    base.update({k: v for k, v in overrides.items() if v is not None})
    run, model = split_settings(family, base)
    if run.get("data") == "":
        raise GanforgeError(f"preset {preset} has no default data: pass --data FOLDER|ZIP "
                            f"({PRESETS.get(preset).doc})")
    _absolute_paths(run)
    cfg = Config(build(RunConfig, {**run, "family": family}), build(FAMILIES.get(family).config, model))
    if run.get("data_b") and FAMILIES.get(family).data_kind(cfg.model) not in ("paired", "unpaired"):
        raise GanforgeError(f"--data-b: family {family!r} trains on one image set; --data-b is for "
                            "cyclegan and pix2pix")
    return cfg.validate()


def _absolute_paths(run: dict[str, Any]) -> None:
    """Data folders and zips as absolute paths, so resume and eval find them from anywhere."""
    for key in ("data", "data_b"):
        if isinstance(run.get(key), str):
            run[key] = resolve_source(run[key])


# Run settings a resumed run may change: where and how fast it runs, and how long, never what
# it learns. Everything else (networks, optimizer, batch, data size, seed) is fixed by the state.
RESUMABLE = ("device", "data", "data_b", "strict", "cache", "epochs", "max_steps", "threads",
             "eval_every", "eval_n", "log_every", "checkpoint_minutes", "precision", "guard")


def resume_config(saved: Config, preset: str | None = None, **overrides: Any) -> Config:
    """The saved config with the user's changes applied.

    Raises:
        GanforgeError: a change that would alter the model or its optimizer, named.
    """
    family, named = name_settings(preset)
    if family is not None and family != saved.family:
        raise GanforgeError(f"--resume: this run is a {saved.family!r} run, not {family!r}; "
                            "omit the PRESET argument to continue it")
    asked = {**named, **{k: v for k, v in overrides.items() if v is not None}}
    asked.pop("family", None)
    if preset in PRESETS and saved.run.preset == preset:
        asked = {k: v for k, v in asked.items() if k in overrides}  # the preset's own values stand
    run_ask, model_ask = split_settings(saved.family, asked)
    _absolute_paths(run_ask)
    new_run, new_model = as_dict(saved.run), as_dict(saved.model)
    if "epochs" in run_ask and "max_steps" not in run_ask:
        run_ask["max_steps"] = None  # a new epoch target replaces an old step cap
    checked_run = as_dict(build(RunConfig, {**new_run, **run_ask}))
    checked_model = as_dict(build(type(saved.model), {**new_model, **model_ask}))
    refused = [f"{k} (saved {new_run[k]!r}, asked {checked_run[k]!r})" for k in run_ask
               if k not in RESUMABLE and checked_run[k] != new_run[k]]
    refused += [f"{k} (saved {new_model[k]!r}, asked {checked_model[k]!r})" for k in model_ask
                if checked_model[k] != new_model[k]]
    if refused:
        raise GanforgeError(f"--resume cannot change {'; '.join(refused)}: it would change the "
                            "model or how it trains; start a new run with another --out instead")
    return Config(build(RunConfig, checked_run), build(type(saved.model), checked_model)).validate()


def changed_settings(old: Config, new: Config) -> list[str]:
    """``name=value`` for each resumable run setting that differs between two configs."""
    return [f"{k}={getattr(new.run, k)!r}" for k in RESUMABLE if getattr(old.run, k) != getattr(new.run, k)]
