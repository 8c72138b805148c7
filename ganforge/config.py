"""Run configuration: family-blind run settings, each family's own typed config, and the one
registry of named presets (``PRESETS``; each family's file adds its own beside its config).

config.json holds ``{ganforge_version, family, run: RunConfig, model: <family config>, data,
world_size}``. Files written by ganforge 0.1 (one flat ``train`` section, GAN only) still read.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Literal

from .data import resolve_source
from .errors import GanforgeError
from .families import FAMILIES, PRESETS, Preset  # noqa: F401  (re-exported: ganforge.config.Preset)
from .models import MODELS
from .typed import as_dict, build, check, fields_of, setting


@dataclass
class RunConfig:
    """Settings of a run that mean the same for every model family."""

    preset: str | None = setting(None, "the preset the run started from (the PRESET argument)")
    family: str = setting("gan", "the model family (the PRESET argument's)", choices=FAMILIES)
    data: str = setting("mnist-mini", "data set name (see `ganforge data`), image folder or zip of "
                        "images; translation: domain A, or a set/folder holding both domains",
                        metavar="NAME|DIR")
    data_b: str | None = setting(None, "translation: domain B's folder or zip (cyclegan: unpaired; "
                                 "pix2pix: the same file names as --data)", metavar="DIR")
    size: int = setting(28, "image side in pixels; the data is resized to it", metavar="PX")
    channels: Literal[1, 3] | None = setting(None, "1 (gray) or 3 (RGB); none: what the data has")
    fit: Literal["crop", "pad"] = setting("crop", "non-square images: crop (center) or pad")
    strict: bool = setting(False, "refuse unreadable image files instead of skipping them")
    side_by_side: bool | None = setting(None, "translation from one folder: its images are A|B "
                                        "pairs side by side (what --pairs DIR sets); none: only "
                                        "when every image is about 2:1, said out loud")
    cache: bool = setting(True, "decode a folder or zip once into a memory-mapped prepared set under "
                          "the data directory (see `ganforge data`); --no-cache: decode into memory "
                          "every start")
    epochs: int = setting(5, "passes over the data", metavar="N")
    max_steps: int | None = setting(None, "stop after N optimizer steps, whatever the epoch",
                                    metavar="N")
    batch_size: int = setting(128, "global batch size (split across DDP processes)", metavar="B")
    seed: int = setting(0, "random seed: same seed, same run", metavar="S")
    precision: Literal["fp32", "bf16"] = setting("fp32", "bf16: autocast, faster on CPUs with "
                                                 "AVX512-BF16 and on GPUs")
    device: str = setting("auto", "auto, cpu, cuda, cuda:N or mps", metavar="D")
    threads: int | None = setting(None, "CPU threads (default: $OMP_NUM_THREADS, else the usable "
                                  "cores; see README 'Threads')", metavar="N")
    eval_every: int = setting(0, "every K epochs compute the cheap metric (digits-FID for "
                              "grayscale, else KID), log it, keep the best weights in RUN/best/ "
                              "(0 = off)", metavar="K")
    eval_n: int = setting(2000, "images per set for --eval-every's metric", metavar="N")
    grid_n: int = setting(64, "images in each epoch's fixed-seed preview grid", metavar="N")
    log_every: int = setting(20, "steps between metrics.jsonl lines", metavar="K")
    checkpoint_minutes: float = setting(10.0, "also checkpoint mid-epoch this often (crash safety)",
                                        metavar="MIN")
    snapshot_every: int = setting(0, "every K epochs also keep the model as it is then, in "
                                  "RUN/snapshots/step_SSSSSS/ (a model folder ganforge.load and "
                                  "generate take; 0 = off)", metavar="K")
    # The guard's remedies live with each family (training/guard.py).
    guard: bool = setting(True, "roll back to the last good checkpoint on NaN, mode collapse or a "
                          "discriminator that won outright, with the family's remedy")

    def validate(self) -> RunConfig:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise GanforgeError(msg)

        check(self)  # types and choices
        FAMILIES.get(self.family)
        need(self.epochs >= 1, f"--epochs must be >= 1, got {self.epochs}")
        need(self.max_steps is None or self.max_steps >= 1, "--max-steps must be >= 1")
        need(self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}")
        need(0 <= self.seed < 2**63, f"--seed must be in [0, 2^63), got {self.seed}")
        need(self.size >= 4, f"--size must be >= 4 pixels, got {self.size}")
        need(self.threads is None or self.threads >= 1, f"--threads must be >= 1, got {self.threads}")
        need(self.eval_every >= 0, f"--eval-every must be >= 0, got {self.eval_every}")
        need(self.eval_n >= 2, f"eval_n must be >= 2, got {self.eval_n}")
        need(self.grid_n >= 1, f"grid_n must be >= 1, got {self.grid_n}")
        need(self.log_every >= 1, f"log_every must be >= 1, got {self.log_every}")
        need(self.checkpoint_minutes > 0, f"checkpoint_minutes must be > 0, got {self.checkpoint_minutes}")
        need(self.snapshot_every >= 0, f"--snapshot-every must be >= 0, got {self.snapshot_every}")
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
        if run.side_by_side is None and (d.get("data") or {}).get("layout") == "A|B":
            run.side_by_side = True  # a run from before --pairs was a setting: as it trained
        family = FAMILIES.get(run.family)
        return Config(run, build(family.config, d["model"], f"{where}: model.")).validate()


def family_settings(family: str) -> set[str]:
    """The names a family takes besides the run settings: its config's fields and aliases."""
    cfg = FAMILIES.get(family).config
    return fields_of(cfg) | set(getattr(cfg, "ALIASES", {}))


def split_settings(family: str, settings: dict[str, Any], where: str = "") -> tuple[dict, dict]:
    """Flat settings -> (run settings, family settings); aliases (``lr``) expanded.

    Raises:
        GanforgeError: a name that is not a run setting nor one of the family's, in one line
            that names the family and its own settings (not every name ganforge knows).
    """
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
        raise GanforgeError(where + _not_settings(family, sorted(unknown)))
    return run, model


def _not_settings(family: str, names: list[str]) -> str:
    own = sorted(family_settings(family))
    said = []
    for k in names:
        others = [f for f in FAMILIES.names() if f != family and k in family_settings(f)]
        close = difflib.get_close_matches(k, own + sorted(fields_of(RunConfig)), n=1)
        said.append(k + (f" (a setting of {', '.join(others)})" if others else
                         f" (did you mean {close[0]}?)" if close else ""))
    return (f"unknown setting{'s' if len(names) > 1 else ''} {', '.join(said)} for the {family} "
            f"family; its own settings: {', '.join(own)}; the run settings: ganforge.RunConfig")


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


def preset_settings(family: str, settings: dict[str, Any]) -> tuple[dict, dict]:
    """(run settings, family settings) a PRESET argument's settings (and the user's) come to:
    the family's run defaults first (``Family.run_defaults``), then ``settings`` over them."""
    run, model = split_settings(family, settings)
    return {**FAMILIES.get(family).run_settings(model), **run}, model


def resolve(preset: str | None = None, **overrides: Any) -> Config:
    """The family's run defaults, then the preset's (or GAN model name's) settings, then
    non-None overrides, validated."""
    family, base = name_settings(preset)
    family = overrides.pop("family", None) or family or "gan"
    base["preset"] = preset if preset in PRESETS else None
    base.update({k: v for k, v in overrides.items() if v is not None})
    run, model = preset_settings(family, base)
    if run.get("data") == "":
        what = (f"preset {preset} has no default data: pass --data FOLDER|ZIP ({PRESETS.get(preset).doc})"
                if preset in PRESETS else
                f"the {family} family has no default data: pass --data NAME|FOLDER|ZIP (see "
                f"`ganforge data` and `ganforge train {family} --help`)")
        raise GanforgeError(what)
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
             "eval_every", "eval_n", "log_every", "checkpoint_minutes", "snapshot_every", "precision",
             "guard")


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
