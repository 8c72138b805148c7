"""The ``ganforge`` command: thin subcommands over the Python API."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from .errors import GanforgeError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (and exit status 2).

    ``fill``: a function that adds this parser's arguments, called on first use (parsing or
    help) rather than when the parser is made: train's flags come from the config dataclasses,
    which import torch, and ``ganforge --help`` or ``ganforge generate`` must not wait for that.
    """

    def __init__(self, *args: Any, fill: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fill = fill

    def _filled(self) -> None:
        if self._fill is not None:
            fill, self._fill = self._fill, None
            fill(self)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._filled()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._filled()
        return super().format_help()

    def format_usage(self) -> str:
        self._filled()
        return super().format_usage()

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def unknown(self, words: list[str]) -> NoReturn:
        """Arguments no option of this (sub)command takes: one line, with the nearest flag."""
        import difflib

        flag = words[0].split("=")[0]
        close = difflib.get_close_matches(flag, [o for o in self._option_string_actions
                                                 if o.startswith("--")], n=1)
        self.error(f"unrecognized argument{'s' if len(words) > 1 else ''}: {' '.join(words)}"
                   + (f" (did you mean {close[0]}?)" if close and flag.startswith("-") else ""))


def _int_at_least(low: int):
    """An argparse type: a whole number >= ``low``, with a one-line error otherwise."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {v}")
        return v

    return parse


_positive, _nonneg = _int_at_least(1), _int_at_least(0)
SEED_MAX = 2**63 - 1  # torch seeds are signed 64-bit


def _seed(text: str) -> int:
    v = _nonneg(text)
    if v > SEED_MAX:
        raise argparse.ArgumentTypeError(f"must be <= {SEED_MAX}, got {v}")
    return v


def _folder(text: str) -> Path:
    """An argparse type for an output folder: any name but an empty one (``--out ''`` would
    otherwise mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty folder name; give one, e.g. runs/mine")
    return Path(text)


MAIN_HELP = """\
Train GANs and make images that never existed.

examples:
  ganforge demo                                   # digits in a few CPU minutes, no download
  ganforge train mnist-dcgan --epochs 50          # the TensorFlow DCGAN tutorial, in PyTorch
  ganforge train celeba64-dcgan --data faces.zip  # the face GAN on your own zip or folder
  ganforge generate runs/mnist-dcgan-... --n 64 --seed 0 --out grid.png
  ganforge eval runs/demo                         # digits-FID/KID/IS/precision-recall + floor
  ganforge train horse2zebra                      # CycleGAN, then: ganforge translate RUN IN --out OUT
  ganforge serve runs/                            # a web page: sample, translate, watch training
  ganforge export runs/demo                       # runs/demo/model.onnx, for onnxruntime & co.
  torchrun --nproc_per_node=4 -m ganforge train celeba64-dcgan   # many GPUs (DDP)
"""

TRAIN_HELP = """\
examples:
  ganforge train mnist-fast                         # small, fast DCGAN on the bundled digits
  ganforge train mnist-dcgan --epochs 150 --out runs/tf-dcgan
  ganforge train --resume runs/tf-dcgan              # continue after Ctrl-C or a crash
  ganforge train --resume runs/tf-dcgan --epochs 200 # extend it (also --device, --data)
  ganforge train mnist-vae                           # a VAE on the same digits, to compare
  ganforge train celeba64-dcgan --data ~/img_align_celeba.zip --size 64
  ganforge train dcgan --data ./my_images --size 64 --batch-size 64 --strict

Ctrl-C once: finish the step, save a checkpoint, exit (continue with --resume RUN).
"""

GENERATE_HELP = """\
examples:
  ganforge generate runs/demo --n 64 --seed 0 --out grid.png
  ganforge generate runs/demo --n 500 --out-dir fakes/       # one PNG per image
  ganforge generate runs/demo --interpolate walk.gif         # a latent-space walk
  ganforge generate runs/faces --interpolate w.gif --psi 0.7 # StyleGAN2: walks in W (--walk-space z: in z)
  ganforge generate runs/mnist-cgan --class 7 --n 64 --out sevens.png   # conditional runs
"""


MIX_HELP = """\
examples:
  ganforge mix runs/faces --rows 1,2,3 --cols 4,5,6 --out mix.png
  ganforge mix runs/faces --rows 0-4 --cols 10-14 --styles 4-9 --psi 0.7 --out fine.png

The top row draws the --cols seeds, the left column the --rows seeds; each cell is its row's
face with the --styles layers (default: the coarse half) taken from its column's.
"""

PROJECT_HELP = """\
examples:
  ganforge project runs/faces photo.jpg --out proj/            # 500 steps
  ganforge project runs/faces photo.jpg --out proj/ --steps 1000

The loss is pixel-based at several scales (nothing is downloaded), so colours and layout are
matched better than fine texture. proj/w.safetensors holds the w found (1, w_dim).
"""

TRANSLATE_HELP = """\
examples:
  ganforge train horse2zebra --out runs/h2z                  # CycleGAN (download, 112 MB)
  ganforge translate runs/h2z horses/ --out zebras/          # a folder, names and sizes kept
  ganforge translate runs/h2z zebra.jpg --out horses/ --direction b2a
  ganforge translate runs/h2z photos.zip --out zebras/ --batch-size 4 --threads 2
  ganforge train pix2pix --pairs facades/ --size 256 --out runs/facades
"""

UPSCALE_HELP = """\
examples:
  ganforge train faces-sr4x --data faces/ --out runs/sr4x    # learn x4 from any folder of images
  ganforge upscale runs/sr4x photo.jpg --out big/             # one image, x4
  ganforge upscale runs/sr4x photos/ --out big/ --tile 128    # a folder, names kept, tiled
  ganforge upscale runs/sr4x photos/ --out big/ --model psnr  # the L1 warm-up model (no GAN texture)

Any size goes in; each image comes out scale times larger. Large images are upscaled in tiles
of --tile input pixels with --overlap pixels of context around each, so memory stays bounded.
"""

EVAL_HELP = """\
examples:
  ganforge eval runs/demo                                   # digits-FID, KID, IS, P/R vs mnist-mini
  ganforge eval runs/demo --metrics fid,kid,is,pr,c2st --n 2000 --json scores.json
  ganforge eval --fake fakes/ --real faces.zip --metrics kid,c2st,mmd --features pixels
  ganforge eval runs/faces --features inception --feature-weights ~/pt_inception.pth

Every score is printed beside its floor: the same metric between two disjoint halves of the
real set at the same n.
"""


# ---- train's flags, made from the config dataclasses -------------------------------------
# Every init field of RunConfig and of each family's config is a flag --field-name, with its
# help from the field's metadata (typed.setting), its choices from a Literal annotation or a
# registry, and its default shown. Nothing here lists a setting by name but these two:
BY_PRESET = ("preset", "family")  # RunConfig fields the PRESET argument sets, not flags
ALSO = {"data": ("--data-a",)}  # extra spellings of a setting's flag


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


_PARSE = {int: _whole, float: _number, str: str}


@dataclass
class _Setting:
    """One setting as a flag: its argparse keywords and, per family, its help and default."""

    name: str
    kwargs: dict[str, Any]
    families: list[str] = field(default_factory=list)  # empty: a run setting
    helps: dict[str, str] = field(default_factory=dict)  # family (or "") -> help
    defaults: dict[str, Any] = field(default_factory=dict)  # family (or "") -> default

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _flag_kwargs(hint: Any, meta: Any) -> dict[str, Any]:
    """argparse keywords for a field's annotation: bools as --x/--no-x, tuples as nargs,
    Literals and registries as choices."""
    from .typed import literal_values

    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None: the X
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if hint is bool:
        return {"action": argparse.BooleanOptionalAction}
    choices = literal_values(hint)
    if choices is not None:
        return {"type": _PARSE[type(choices[0])], "choices": choices}
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        m = meta.get("metavar", "X")
        return {"type": _PARSE[args[0]], "nargs": len(args),
                "metavar": tuple(f"{m}{i + 1}" for i in range(len(args)))}
    if "choices" in meta:  # a registry (MODELS, LOSSES): its names
        return {"type": _PARSE[hint], "choices": meta["choices"].names()}
    return {"type": _PARSE[hint], "metavar": meta.get("metavar")}


def _settings(cls: type, family: str, into: dict[str, _Setting]) -> None:
    """Add ``cls``'s init fields (and its ALIASES) to ``into``, merging flags shared by families."""
    hints = typing.get_type_hints(cls)
    items = [(f.name, _flag_kwargs(hints[f.name], f.metadata), _field_help(f), f.default)
             for f in dataclasses.fields(cls) if f.init and f.name not in BY_PRESET]
    for alias, targets in getattr(cls, "ALIASES", {}).items():
        target = next(f for f in dataclasses.fields(cls) if f.name == targets[0])
        items.append((alias, _flag_kwargs(hints[target.name], target.metadata),
                      f"sets {' and '.join(targets)}", None))
    for name, kwargs, help_, default in items:
        s = into.setdefault(name, _Setting(name, kwargs))
        if {**s.kwargs, "metavar": None} != {**kwargs, "metavar": None}:
            raise TypeError(f"setting {name} has another type or choices in {family} than in "
                            f"{', '.join(s.families)}; one flag cannot take both: rename one")
        if family:
            s.families.append(family)
        s.helps[family] = help_
        s.defaults[family] = default


def _field_help(f: dataclasses.Field) -> str:
    """A field's help; a registry's names with what each is, where its entries say."""
    text = f.metadata.get("help", "")
    registry = f.metadata.get("choices")
    if registry is not None:
        docs = [(n, getattr(registry.get(n), "doc", "")) for n in registry.names()]
        if any(d for _, d in docs):
            text += ": " + "; ".join(f"{n} ({d})" if d else n for n, d in docs)
    return text


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, tuple):
        return " ".join(map(str, v))
    return repr(v) if isinstance(v, str) else str(v)


def _by_value(per: dict[str, Any]) -> list[tuple[Any, list[str]]]:
    """[(value, families having it)], in the order first seen."""
    out: list[tuple[Any, list[str]]] = []
    for fam, v in per.items():
        for value, fams in out:
            if value == v and type(value) is type(v):
                fams.append(fam)
                break
        else:
            out.append((v, [fam]))
    return out


def _help(s: _Setting, every: int) -> str:
    """The help line of a setting: one text, or one per group of families, and the default(s)."""
    helps = _by_value(s.helps)
    if len(helps) == 1:
        text = helps[0][0]
    else:
        text = "; ".join(f"{', '.join(fams)}: {h}" for h, fams in helps)
    if len(s.families) > 1:
        text = f"[{'every family' if len(s.families) == every else ', '.join(s.families)}] " + text
    defaults = _by_value({f: v for f, v in s.defaults.items() if v is not None})
    if len(defaults) == 1:
        text += f" (default: {_show(defaults[0][0])})"
    elif defaults:
        text += " (default: " + "; ".join(f"{', '.join(fams)}: {_show(v)}" for v, fams in defaults) + ")"
    return text.replace("%", "%%")


def _add(group: Any, s: _Setting, every: int) -> None:
    group.add_argument(s.flag, *ALSO.get(s.name, ()), dest=s.name, default=None, help=_help(s, every),
                       **{k: v for k, v in s.kwargs.items() if v is not None})


def _add_settings(t: argparse.ArgumentParser, preset: str | None) -> None:
    """The run's and the families' settings as flags; for one preset (``train PRESET --help``)
    only the run's and its family's, with the preset's values as defaults."""
    from .config import PRESETS, RunConfig, name_settings, preset_settings
    from .families import FAMILIES

    run: dict[str, _Setting] = {}
    _settings(RunConfig, "", run)
    fams: dict[str, _Setting] = {}
    names = FAMILIES.names()
    if preset is not None:
        family, named = name_settings(preset)
        assert family is not None
        names = [family]
        run_values, model_values = preset_settings(family, named)
    for fam in names:
        _settings(FAMILIES.get(fam).config, fam, fams)
    if preset is not None:
        for s in run.values():
            s.defaults[""] = run_values.get(s.name, s.defaults[""])
        for s in fams.values():
            s.defaults[family] = model_values.get(s.name, s.defaults[family])
        what = (f" (preset {preset}; the defaults are its values)" if preset in PRESETS else
                "" if preset == family else f" (model {preset})")
        groups = [(f"{family} settings{what}", list(fams.values()))]
    else:
        shared = [s for s in fams.values() if len(s.families) > 1]
        groups = [("settings of several families (those in [...])", shared)]
        groups += [(f"{fam} family: {FAMILIES.get(fam).doc}",
                    [s for s in fams.values() if s.families == [fam]]) for fam in names]
    every = len(FAMILIES.names())
    for title, settings in [("run settings (every family)", list(run.values())), *groups]:
        g = t.add_argument_group(title)
        for s in settings:
            _add(g, s, every)


def setting_names() -> set[str]:
    """Every name a train flag sets: the run's settings and every family's (aliases included)."""
    from .config import RunConfig, family_settings
    from .families import FAMILIES
    from .typed import fields_of

    names = fields_of(RunConfig) - set(BY_PRESET)
    for fam in FAMILIES.names():
        names |= family_settings(fam)
    return names


class _TrainHelp(argparse.Action):
    """``train --help``: every flag; ``train PRESET --help``: the run's and that family's, with
    the preset's values as defaults."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0,
                         **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        preset = getattr(namespace, "preset", None)
        if preset is not None:
            try:
                parser = _train_parser(_Parser(prog=parser.prog, add_help=False), preset)
            except GanforgeError:
                pass  # an unknown name: every flag (train will name the mistake)
        parser.print_help()
        parser.exit()


def _train_parser(t: argparse.ArgumentParser, preset: str | None = None) -> argparse.ArgumentParser:
    from .config import PRESETS
    from .families import FAMILIES
    from .models import MODELS

    t.usage = "ganforge train PRESET [flags] | ganforge train --resume RUN [flags]"
    t.description = ("Each setting's flag is made from a field of ganforge.RunConfig or of a "
                     "family's config.\n`ganforge train PRESET --help` shows the run's and that "
                     "family's, with the preset's values.")
    t.epilog = TRAIN_HELP
    t.formatter_class = argparse.RawDescriptionHelpFormatter
    t.add_argument("-h", "--help", action=_TrainHelp, help="show this help (after a PRESET: only "
                   "its family's flags, with its values as defaults) and exit")
    t.add_argument("preset", metavar="PRESET", nargs="?",
                   help=f"preset ({', '.join(PRESETS.names())}), family "
                        f"({', '.join(FAMILIES.names())}) or bare GAN model ({', '.join(MODELS.names())})")
    t.add_argument("--pairs", metavar="NAME|DIR", help="pix2pix: paired data (side-by-side A|B "
                   "images, as the pix2pix sets ship); the same as --data")
    t.add_argument("--out", type=_folder, metavar="RUN_DIR", help="run folder: a new or empty one "
                   "(default runs/PRESET-TIME)")
    t.add_argument("--resume", nargs="?", const="", metavar="RUN",
                   help="continue RUN (or the run in --out) from its last checkpoint")
    t.add_argument("--data-changed", action="store_true", help="with --resume: continue on data "
                   "that is not the run's (other images, not the same ones moved); refused without it")
    t.add_argument("--quiet", action="store_true", help="print nothing but errors")
    _add_settings(t, preset)
    return t


def _device_flags(p: argparse.ArgumentParser) -> None:
    """--device and --threads, as every command that runs a network takes them."""
    p.add_argument("--device", default="auto", metavar="D", help="auto (default), cpu, cuda or mps")
    _threads_flag(p)


def _threads_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=_positive, metavar="N", help="CPU threads (default: "
                   "$OMP_NUM_THREADS, else the usable cores; see README 'Threads')")


def _use_threads(requested: int | None) -> None:
    """Set torch's CPU thread count as training does: --threads, $OMP_NUM_THREADS, the cores."""
    import torch

    from .env import choose_threads

    torch.set_num_threads(choose_threads(requested)[0])


def build_parser() -> argparse.ArgumentParser:
    from ._version import __version__

    p = _Parser(prog="ganforge", description=MAIN_HELP,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"ganforge {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    # train's flags are made from the config dataclasses (torch): added on first use only.
    sub.add_parser("train", help="train a model from a preset", add_help=False, fill=_train_parser)

    g = sub.add_parser("generate", help="make images with a trained run", epilog=GENERATE_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    g.add_argument("run", type=Path, metavar="RUN", help="run folder (or a generator.safetensors)")
    g.add_argument("--n", type=_positive, help="number of images (default 64; a walk: 16)")
    g.add_argument("--seed", type=_seed, default=0, metavar="S", help="same seed, same images (default 0)")
    g.add_argument("--out", type=Path, metavar="FILE", help="grid image to write: .png, .jpg or .webp "
                   "(default RUN/generated_seedS.png)")
    g.add_argument("--out-dir", type=Path, metavar="DIR", help="write one PNG per image into this "
                   "folder (streamed in batches: any --n fits in memory)")
    g.add_argument("--seeds", metavar="LIST", help="with --out-dir: one image per seed, e.g. 0-99 or "
                   "1,5,9-12 (files seedSSSS.png), as StyleGAN's generate does")
    g.add_argument("--interpolate", type=Path, metavar="FILE", help="write a latent walk (.gif, "
                   ".webp, or .mp4 after pip install 'ganforge[video]') of at most 16 images")
    g.add_argument("--walk-space", choices=("w", "z"), help="with --interpolate: walk in W (straight "
                   "lines between the latents' ws; the default for StyleGAN2 runs, whose mapping "
                   "network makes W) or in z (spherical; the default and only choice for others)")
    g.add_argument("--class", dest="label", metavar="C", help="class-conditional runs: draw this "
                   "class (its name or index); default: every class in turn")
    g.add_argument("--batch-size", type=_positive, default=256, metavar="B", help="images rendered at "
                   "once (default 256; lower it for big generators or little memory)")
    g.add_argument("--psi", type=float, metavar="P", help="StyleGAN2 runs: truncation, 1 = none, "
                   "0 = the average face; 0.5-0.7 trades variety for typical, cleaner images")
    g.add_argument("--watermark", action="store_true", help="also hide an invisible watermark in "
                   "each still image of at least 256x256 px (grids; needs 'ganforge[watermark]'; "
                   "README 'Provenance' says what it survives)")
    _device_flags(g)

    mx = sub.add_parser("mix", help="StyleGAN2: a style-mixing grid of seeds", epilog=MIX_HELP,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    mx.add_argument("run", type=Path, metavar="RUN", help="a stylegan2 run folder")
    mx.add_argument("--rows", required=True, metavar="LIST", help="seeds down the left, e.g. 1,2,3 or 0-4")
    mx.add_argument("--cols", required=True, metavar="LIST", help="seeds along the top")
    mx.add_argument("--styles", metavar="LIST", help="the layers each cell takes from its column's "
                    "seed (default: the coarse half: pose, face shape), e.g. 0-3")
    mx.add_argument("--psi", type=float, default=1.0, metavar="P", help="truncation (default 1: none)")
    mx.add_argument("--class", dest="label", metavar="C", help="class-conditional runs: the class "
                    "every seed is drawn as (its name or index; default: the first class)")
    mx.add_argument("--out", type=Path, required=True, metavar="FILE", help=".png, .jpg or .webp")
    _device_flags(mx)

    pj = sub.add_parser("project", help="StyleGAN2: find the generated image closest to a real one",
                        epilog=PROJECT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    pj.add_argument("run", type=Path, metavar="RUN", help="a stylegan2 run folder")
    pj.add_argument("image", type=Path, metavar="IMAGE", help="the image to project (cropped to a "
                    "square and resized to the generator's size, as training reads images)")
    pj.add_argument("--out", type=Path, required=True, metavar="DIR", help="writes target.png, "
                    "projected.png, w.safetensors and loss.json")
    pj.add_argument("--steps", type=_positive, default=500, metavar="N", help="optimisation steps "
                    "(default 500)")
    pj.add_argument("--seed", type=_seed, default=0, metavar="S", help="seed of the noise and of the "
                    "w samples the spread of W is measured on (default 0)")
    _device_flags(pj)

    tr = sub.add_parser("translate", help="translate an image or a folder with a cyclegan/pix2pix run",
                        epilog=TRANSLATE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    tr.add_argument("run", type=Path, metavar="RUN", help="run folder (or its best/)")
    tr.add_argument("input", type=Path, metavar="INPUT", help="an image file, a folder of images "
                    "(searched recursively) or a .zip of images")
    tr.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder; file "
                    "names and sub-folders are kept, each image keeps its size")
    tr.add_argument("--direction", default="a2b", choices=("a2b", "b2a"), help="a2b (default) or "
                    "b2a (cyclegan only)")
    tr.add_argument("--size", type=_positive, metavar="PX", help="translate at this side (default: "
                    "the training size), then back to each image's own size")
    tr.add_argument("--strict", action="store_true", help="refuse unreadable files instead of "
                    "skipping them")
    tr.add_argument("--batch-size", type=_positive, default=8, metavar="N", help="images read, "
                    "translated and written at a time (default 8); memory does not grow with the "
                    "number of images")
    _device_flags(tr)

    up = sub.add_parser("upscale", help="upscale an image or a folder with a superres run",
                        epilog=UPSCALE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    up.add_argument("run", type=Path, metavar="RUN", help="superres run folder (or its best/)")
    up.add_argument("input", type=Path, metavar="INPUT", help="an image file, a folder of images "
                    "(searched recursively) or a .zip of images")
    up.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder; file "
                    "names and sub-folders are kept")
    up.add_argument("--tile", type=_nonneg, default=256, metavar="PX", help="input pixels per tile "
                    "side (default 256; 0: whole images at once)")
    up.add_argument("--overlap", type=_nonneg, default=32, metavar="PX", help="input pixels of "
                    "context around each tile (default 32)")
    up.add_argument("--model", default="generator", choices=("generator", "psnr"), help="generator "
                    "(default: the GAN model) or psnr (the model at the end of the L1 warm-up)")
    up.add_argument("--strict", action="store_true", help="refuse unreadable files instead of "
                    "skipping them")
    _device_flags(up)

    dm = sub.add_parser("demo", help="train a small DCGAN on bundled MNIST digits (no download)",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog="example:\n  ganforge demo --out runs/demo\n")
    dm.add_argument("--out", type=_folder, default=Path("runs/demo"), help="run folder (default "
                    "runs/demo; run again, it continues)")
    dm.add_argument("--epochs", type=_positive, help="passes over the 5,000 digits (default 25)")
    _device_flags(dm)

    ev = sub.add_parser("eval", help="score a run (or a folder of images) against real data",
                        epilog=EVAL_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    ev.add_argument("run", type=Path, nargs="?", metavar="RUN", help="run folder to score")
    ev.add_argument("--fake", type=Path, metavar="DIR", help="score this image folder/zip instead")
    ev.add_argument("--real", metavar="DATA", help="real data: name, folder or zip "
                    "(default: the run's training data)")
    ev.add_argument("--metrics", metavar="LIST",
                    help="comma-separated: fid,kid,is,pr,c2st,mmd (default fid,kid,pr, and is "
                         "where the features have class probabilities; pr not on pixel features; "
                         "a translation run: fid,kid,c2st)")
    ev.add_argument("--features", default="auto",
                    help="auto (digits for a digit data set, inception if its weights are set, else "
                         "pixels), digits, inception, pixels")
    ev.add_argument("--feature-weights", type=Path, metavar="PATH",
                    help="local FID Inception-v3 weights file (or $GANFORGE_INCEPTION_WEIGHTS)")
    ev.add_argument("--n", type=_positive, default=5000, help="images per set (default 5000)")
    ev.add_argument("--size", type=_positive, metavar="PX", help="image side of both sets (default: "
                    "the generator's; for --fake, the images' own)")
    ev.add_argument("--seed", type=_seed, default=0, metavar="S",
                    help="seed of the generated images and the real/real splits (default 0)")
    ev.add_argument("--floor-splits", type=_positive, default=5, metavar="K",
                    help="real/real splits the floor is averaged over (default 5; each costs one "
                         "more computation of every metric)")
    ev.add_argument("--json", type=Path, metavar="FILE", help="also write every number as JSON")
    _device_flags(ev)

    _export_parser(sub)

    dt = sub.add_parser("data", help="list data sets and prepared sets; download or prepare ahead",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog="examples:\n  ganforge data\n  ganforge data --fetch mnist\n"
                               "  ganforge data --prepare ~/ffhq.zip --size 256   # decode once, now\n"
                               "  ganforge data --delete all                     # free the disk\n")
    dt.add_argument("--fetch", metavar="NAME", help="download and check this data set now "
                    "(or `inception`: the FID Inception-v3 weights, 91 MB)")
    dt.add_argument("--prepare", metavar="DIR|ZIP", help="decode this folder or zip once into a "
                    "memory-mapped prepared set (what training does on first use)")
    dt.add_argument("--size", type=_positive, metavar="PX", help="with --prepare: the image side "
                    "training will ask for (default 64)")
    dt.add_argument("--channels", type=int, choices=(1, 3), help="with --prepare: 1 or 3 (default: "
                    "what the images have)")
    dt.add_argument("--fit", choices=("crop", "pad"), default="crop", help="with --prepare: "
                    "non-square images: crop (default) or pad")
    dt.add_argument("--delete", metavar="KEY|SRC|all", help="delete prepared sets by key, by source "
                    "path, or all of them")

    _serve_parser(sub)
    _inspect_parser(sub)
    return p


# ---- ganforge serve -------------------------------------------------------------------------
SERVE_HELP = """\
examples:
  ganforge serve runs/demo                        # http://127.0.0.1:8000/ : new digits, seeds, walks
  ganforge serve runs/                            # every run under runs/: a run picker and a
                                                  # runs page that follows training as it goes
  ganforge serve runs/cond runs/h2z --port 8080   # a class picker; a translation upload
  ganforge serve runs/ --host 0.0.0.0             # reachable from other machines (said loudly)

The API beside the page (its OpenAPI page at /docs): GET /api/runs, /api/run?run=NAME,
/api/generate?run=NAME&seed=S&class=C&psi=P&seed_b=S2&t=0.5 (PNG), /api/grid?run=NAME (PNG),
POST /api/translate (form: run, direction, file; PNG), GET /healthz.
Needs: pip install 'ganforge[serve]'
"""


def _serve_parser(sub: Any) -> None:
    sv = sub.add_parser("serve", help="a web page and a JSON/PNG API over trained runs",
                        epilog=SERVE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    sv.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="run folders, or folders of runs")
    sv.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1: this machine only)")
    sv.add_argument("--port", type=_int_at_least(0), default=8000, help="port (default 8000)")
    sv.add_argument("--max-batch", type=_positive, default=32, metavar="N",
                    help="images rendered in one pass when requests arrive together (default 32; "
                         "1 renders each request alone)")
    _device_flags(sv)


def _cmd_serve(a: argparse.Namespace) -> int:
    try:
        import fastapi  # noqa: F401
        import multipart  # noqa: F401  (python-multipart: the upload form)
        import uvicorn  # noqa: F401
    except ImportError:
        from .serve import MISSING

        raise GanforgeError(MISSING) from None
    from .serve import serve

    if a.port > 65535:
        raise GanforgeError(f"--port {a.port}: ports go up to 65535")
    _use_threads(a.threads)
    serve(a.runs, host=a.host, port=a.port, device=a.device, max_batch=a.max_batch,
          say=lambda msg: print(msg, file=sys.stderr))
    return 0


def train_settings(a: argparse.Namespace) -> dict[str, Any]:
    """The settings a parsed ``train`` command line asks for (the flags given, by field name),
    checked against the PRESET's family: what ``_cmd_train`` passes to ``ganforge.train``.

    Raises:
        GanforgeError: an unknown PRESET, or a flag its family does not have, in one line.
    """
    from .config import PRESETS, RunConfig, family_settings, name_settings
    from .typed import fields_of

    settings = {k: tuple(v) if isinstance(v, list) else v  # nargs=2 gives a list: betas' tuple
                for k, v in vars(a).items() if k in setting_names() and v is not None}
    if a.pairs is not None:
        if a.data is not None:
            raise GanforgeError("--pairs and --data both name the data; give one")
        settings["data"], settings["side_by_side"] = a.pairs, True
    if a.preset is not None:
        family, _ = name_settings(a.preset)  # an unknown name: one line listing the known ones
        wrong = sorted(set(settings) - fields_of(RunConfig) - family_settings(family))
        if wrong:
            flags = ", ".join("--" + k.replace("_", "-") for k in wrong)
            what = (f" (preset {a.preset})" if a.preset in PRESETS else
                    "" if a.preset == family else f" (model {a.preset})")
            raise GanforgeError(f"{flags} {'is not a setting' if len(wrong) == 1 else 'are not settings'}"
                                f" of the {family} family{what}; its settings: see ganforge train "
                                f"{a.preset} --help")
    return settings


def _cmd_train(a: argparse.Namespace) -> int:
    from .api import train

    settings = train_settings(a)
    resume = a.resume is not None
    if resume and a.resume and a.out is not None and Path(a.resume) != a.out:
        raise GanforgeError(f"--resume {a.resume} and --out {a.out} name two runs; give one")
    out = Path(a.resume) if a.resume else a.out
    if resume and out is None:
        raise GanforgeError("--resume needs the run folder: ganforge train --resume RUN")
    if not resume and a.preset is None:
        raise GanforgeError("train needs a PRESET (see ganforge train --help), or --resume RUN")
    if a.data_changed and not resume:
        raise GanforgeError("--data-changed goes with --resume (a new run takes any data)")
    run = train(a.preset, out=out, resume=resume, quiet=a.quiet, allow_new_data=a.data_changed,
                **settings)
    if not a.quiet and os.environ.get("RANK", "0") == "0":  # torchrun: print once
        print(run.path)
    return 0


def _parse_seeds(text: str, flag: str = "--seeds", noun: str = "seed") -> list[int]:
    """'0-99' or '1,5,9-12' -> seeds (or layer numbers), checked; errors name ``flag``."""
    seeds: list[int] = []
    for part in text.split(","):
        word = part.strip()
        lo, dash, hi = word.partition("-")
        if not _digits(lo) or (dash and not _digits(hi)):
            raise GanforgeError(f"{flag} {text}: {word!r} is not a {noun} or a range of {noun}s "
                                "(e.g. 7 or 0-99)")
        a, b = int(lo), int(hi if dash else lo)
        if max(a, b) > SEED_MAX:
            raise GanforgeError(f"{flag} {text}: {noun}s must be <= {SEED_MAX}")
        if b < a:
            raise GanforgeError(f"{flag} {text}: range {word!r} runs backwards")
        seeds += range(a, b + 1)
    return seeds


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _cmd_generate(a: argparse.Namespace) -> int:
    from .api import load
    from .serialization import check_writable
    from .visual import check_animation_name, image_format

    seeds = _parse_seeds(a.seeds) if a.seeds else None
    if seeds is not None and a.out_dir is None:
        raise GanforgeError("--seeds writes one file per seed: give --out-dir DIR too")
    base = a.run if a.run.is_dir() else a.run.parent
    out = a.out or (None if (a.out_dir or a.interpolate) else base / f"generated_seed{a.seed}.png")
    # Every output is checked before the model is loaded or an image made.
    if out is not None:
        image_format(out)
    if a.interpolate:
        check_animation_name(a.interpolate)
    elif a.walk_space:
        raise GanforgeError("--walk-space goes with --interpolate FILE")
    for flag, path in (("--out", out), ("--out-dir", a.out_dir and a.out_dir / "x"),
                       ("--interpolate", a.interpolate)):
        if path is not None:
            check_writable(path, flag)
    if a.watermark:
        from . import watermark

        watermark.require()  # not installed: one line, before the model is loaded

    _use_threads(a.threads)
    s = load(a.run, device=a.device)
    from .infer import Sampler

    if not isinstance(s, Sampler):
        verb = "upscale" if type(s).__name__ == "Upscaler" else "translate"
        raise GanforgeError(f"{a.run}: a model that turns images into images; use "
                            f"ganforge {verb} {a.run} INPUT --out DIR")
    label = a.label
    if label is not None:
        s.label(label)  # an unknown class or an unconditional run: one line, before any image
    s.truncate(a.psi)  # a generator without an average latent: one line, before any image
    if a.walk_space and a.walk_space not in s.walk_spaces():  # one line, before any image
        raise GanforgeError(f"--walk-space {a.walk_space}: this generator has no mapping network "
                            "(no W; StyleGAN2 runs have one); drop it to walk in z")
    s.batch_size = a.batch_size
    s.watermark = a.watermark
    n = a.n or 64
    wrote = []
    show = sys.stderr.isatty()
    if a.out_dir and seeds is not None:
        s.save_seeds(a.out_dir, seeds, progress=show, label=label)
        wrote.append(f"{len(seeds)} images (one per seed) in {a.out_dir}")
    elif a.out_dir:
        s.save_images(a.out_dir, n, a.seed, progress=show, label=label)
        wrote.append(f"{n} images in {a.out_dir}")
    if a.interpolate:
        if a.n is not None and a.n > 16:  # said only when the user asked for more
            print(f"--interpolate: a walk shows 16 of the --n {a.n} images", file=sys.stderr)
        wrote.append(str(s.interpolate(a.interpolate, n=min(a.n or 16, 16), seed=a.seed, label=label,
                                       space=a.walk_space)))
    if out is not None:
        wrote.append(str(s.save_grid(out, n, a.seed, label=label)))
    print("\n".join(wrote))
    if s.watermark_missed:
        k = len(s.watermark_missed)
        print(f"--watermark: {k} image{'s' if k > 1 else ''} had too little texture to carry it and "
              f"{'were' if k > 1 else 'was'} written without it (no watermark in the record): "
              f"{', '.join(s.watermark_missed[:3])}{' ...' if k > 3 else ''}", file=sys.stderr)
    return 0


def _style_sampler(a: argparse.Namespace) -> object:
    """The run's sampler for mix/project, threads set; one line for a translation run."""
    from .api import load
    from .infer import Sampler

    _use_threads(a.threads)
    s = load(a.run, device=a.device)
    if not isinstance(s, Sampler):
        raise GanforgeError(f"{a.run}: a translation model; {a.command} needs a stylegan2 run")
    return s


def _cmd_mix(a: argparse.Namespace) -> int:
    from .infer.style import mix_grid
    from .provenance import record
    from .serialization import check_writable
    from .visual import image_format, save_image

    rows, cols = _parse_seeds(a.rows, "--rows"), _parse_seeds(a.cols, "--cols")
    styles = _parse_seeds(a.styles, "--styles", "layer") if a.styles else None
    image_format(a.out)
    check_writable(a.out, "--out")
    s = _style_sampler(a)
    label = None if a.label is None else s.label(a.label)  # a name -> its index; one line if unknown
    save_image(mix_grid(s.net, rows, cols, styles, a.psi, label), a.out,
               record(**s.provenance, kind="style mix", rows=a.rows, cols=a.cols, styles=a.styles, psi=a.psi,
                      **{"class": None if label is None else s._class_name(label)}))
    print(a.out)
    return 0


def _cmd_project(a: argparse.Namespace) -> int:
    import json

    from PIL import Image
    from safetensors.torch import save_file

    from .data.images import to_array
    from .infer.style import project, style_net
    from .provenance import record
    from .serialization import check_writable
    from .visual import save_image, to_pil

    check_writable(a.out / "x", "--out")
    try:
        with Image.open(a.image) as im:
            im.load()
            img = im.copy()
    except (OSError, ValueError) as e:
        raise GanforgeError(f"{a.image}: cannot read image ({str(e).splitlines()[0]})") from None
    s = _style_sampler(a)
    net = style_net(s.net, "projection")
    import torch

    target = torch.from_numpy(to_array(img, net.size, net.channels)).float()[None] / 255
    bar = None
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=a.steps, unit="step", desc="project", dynamic_ncols=True)

    def progress(i: int, loss: float) -> None:
        if bar is not None:
            bar.set_postfix_str(f"loss {loss:.4f}")
            bar.update(1)

    try:
        w, image, losses = project(net, target, a.steps, a.seed, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    a.out.mkdir(parents=True, exist_ok=True)
    save_image(to_pil(target)[0], a.out / "target.png", None)  # the user's own image: not synthetic
    save_image(to_pil(image)[0], a.out / "projected.png",
               record(**s.provenance, kind="projection", source=Path(a.image).name, steps=a.steps,
                      seed=a.seed))
    save_file({"w": w.contiguous()}, str(a.out / "w.safetensors"))
    (a.out / "loss.json").write_text(json.dumps({"first": losses[0], "last": losses[-1],
                                                 "steps": len(losses)}) + "\n")
    print(f"projected {a.image} in {a.steps} steps (loss {losses[0]:.4f} -> {losses[-1]:.4f}): "
          f"{a.out / 'projected.png'}, w in {a.out / 'w.safetensors'}")
    return 0


def _cmd_translate(a: argparse.Namespace) -> int:
    import torch

    from .api import load
    from .env import choose_threads
    from .infer import Translator
    from .serialization import check_writable

    check_writable(a.out / "x", "--out")  # before the model is loaded
    torch.set_num_threads(choose_threads(a.threads)[0])  # as training chooses them
    t = load(a.run, device=a.device)
    if type(t).__name__ == "Upscaler":
        raise GanforgeError(f"{a.run}: a super-resolution model; use ganforge upscale {a.run} INPUT "
                            "--out DIR")
    if not isinstance(t, Translator):
        raise GanforgeError(f"{a.run}: a model that generates images, not one that translates them; "
                            "use ganforge generate")
    written, bad = t.translate_folder(a.input, a.out, a.direction, size=a.size, strict=a.strict,
                                      progress=sys.stderr.isatty(), batch_size=a.batch_size,
                                      warn=lambda msg: print(msg, file=sys.stderr))
    print(f"translated {written} image{'s' if written != 1 else ''} ({a.direction}) into {a.out}"
          + (f"; skipped {len(bad)} unreadable file{'s' if len(bad) != 1 else ''}" if bad else ""))
    return 0


def _cmd_upscale(a: argparse.Namespace) -> int:
    from .api import load
    from .infer import Upscaler
    from .serialization import check_writable

    check_writable(a.out / "x", "--out")  # before the model is loaded
    _use_threads(a.threads)
    up = load(a.run, device=a.device)
    if not isinstance(up, Upscaler):
        raise GanforgeError(f"{a.run}: not a super-resolution run; use ganforge generate or translate")
    written, bad = up.upscale_folder(a.input, a.out, a.tile, a.overlap, a.model, strict=a.strict,
                                     progress=sys.stderr.isatty(),
                                     warn=lambda msg: print(msg, file=sys.stderr))
    print(f"upscaled {written} image{'s' if written != 1 else ''} x{up.scale} into {a.out}"
          + (f"; skipped {len(bad)} unreadable file{'s' if len(bad) != 1 else ''}" if bad else ""))
    return 0


def _cmd_demo(a: argparse.Namespace) -> int:
    import time

    from .api import train
    from .rundir import RunDir

    t0 = time.time()
    run = train("mnist-fast", data="mnist-mini", epochs=a.epochs, out=a.out, device=a.device,
                threads=a.threads, resume=RunDir(a.out).has_state())
    grid = run.sampler.save_grid(run.path / "generated_seed0.png", 64, seed=0)
    print(f"\ndemo finished in {time.time() - t0:.0f} s. Run folder: {run.path}")
    for item in sorted(run.path.iterdir()):
        if item.name.startswith("."):
            continue
        extra = f"  ({len(list(item.iterdir()))} per-epoch grids)" if item.is_dir() else ""
        print(f"  {item.name}{'/' if item.is_dir() else ''}{extra}")
    print(f"look at {run.path / 'samples'} (one grid per epoch), {run.path / 'progress.gif'}, "
          f"and new digits in {grid}")
    print(f"more: ganforge generate {run.path} --n 64 --seed 1 --out grid.png")
    return 0


def _cmd_eval(a: argparse.Namespace) -> int:
    from .metrics import evaluate, format_table

    _use_threads(a.threads)
    res = evaluate(a.run, fake=a.fake, real=a.real, metrics=a.metrics, features=a.features,
                   n=a.n, seed=a.seed, feature_weights=a.feature_weights, size=a.size,
                   device=a.device, json_out=a.json, floor_splits=a.floor_splits,
                   say=lambda msg: print(msg, file=sys.stderr))
    print(format_table(res))
    if a.json:
        print(f"wrote {a.json}")
    return 0


def _cmd_data(a: argparse.Namespace) -> int:
    from .data import data_dir, delete_prepared, describe, list_prepared, load_data

    if a.prepare:
        from .data import DATASETS

        if a.prepare in DATASETS and a.prepare != "celeba":
            raise GanforgeError(f"--prepare {a.prepare}: a registered set held in memory as arrays; "
                                "only folders, zips (and celeba) are prepared")
        size = a.size or 64
        ds = load_data(a.prepare, size, a.channels, a.fit, cache=True)
        src = str(Path(a.prepare).expanduser().resolve())
        where = next((s for s in list_prepared() if s["source"] == src), None)
        print(f"{a.prepare}: {len(ds)} images at {size}px ready in {data_dir() / 'prepared'}"
              + (f" ({_mb(where['bytes'])})" if where else ""))
        return 0
    if a.delete:
        gone = delete_prepared(a.delete)
        print(f"deleted {len(gone)} prepared set{'s' if len(gone) != 1 else ''}"
              + (f": {', '.join(gone)}" if gone else ""))
        return 0
    if a.fetch == "inception":
        from .metrics.features import fetch_inception

        print(f"FID Inception-v3 weights ready: {fetch_inception()} (used by --features inception)")
        return 0
    if a.fetch:
        from .data import DATASETS, PAIRSETS, load_domains

        if a.fetch in PAIRSETS:
            pair = load_domains(a.fetch, None, False, size=32)
            print(f"{a.fetch}: {len(pair.images)} + {len(pair.targets)} training images "
                  f"({' / '.join(pair.domains)}) ready under {data_dir()}")
            return 0
        if a.fetch not in DATASETS:
            raise GanforgeError(f"--fetch {a.fetch}: not a registered data set "
                                f"({', '.join(DATASETS.names() + PAIRSETS.names())}, or inception "
                                "for the FID weights); image folders "
                                "and zips need no fetching: pass them as --data")
        ds = load_data(a.fetch, size=32 if a.fetch == "cifar10" else 28)
        print(f"{a.fetch}: {len(ds)} images ready under {data_dir()}")
        return 0
    from .data.pairs import describe_pairs

    for name, doc in describe():
        print(f"  {name:15s} {doc}")
    print("translation (two domains; cyclegan and pix2pix):")
    for name, doc in describe_pairs():
        print(f"  {name:15s} {doc}")
    prepared = list_prepared()
    print(f"\nprepared sets (decoded once, memory-mapped) in {data_dir() / 'prepared'}:"
          + ("" if prepared else " none yet"))
    for s in prepared:
        part = f" [{s['part']}]" if s["part"] else ""
        print(f"  {s['key']}  {s['source']}{part}  {s['images']} images, {s['size']}px, "
              f"{s['channels']}ch, {_mb(s['bytes'])}")
    if prepared:
        print(f"  total {_mb(sum(s['bytes'] for s in prepared))}; free it with ganforge data --delete "
              "KEY|SRC|all")
    print(f"\ndownloads are cached in {data_dir()} (set GANFORGE_DATA to change); any image "
          "folder or .zip of images works as --data too")
    return 0


# ---- export: ONNX and the model card ----------------------------------------------------------
EXPORT_HELP = """\
examples:
  ganforge export runs/demo                       # runs/demo/model.onnx: z -> image in [0, 1]
  ganforge export runs/h2z --direction b2a --out b2a.onnx
  ganforge export runs/demo --format card         # (re)write runs/demo/MODEL_CARD.md
  ganforge eval runs/demo --json e.json && ganforge export runs/demo --format card --eval e.json

An ONNX file's inputs: z (N, z_dim) float32 N(0, 1) latents; label (N,) int64 for a
class-conditional run; psi (1,) float32 for StyleGAN2 (truncation; 1 = none). A translation
run's: image (N, C, S, S) in [0, 1] at the run's size. Output: image / translated (N, C, H, W)
in [0, 1]. Each file is run with onnxruntime at batch 1 and 3 and compared with PyTorch before
it is kept. Needs: pip install 'ganforge[export]'."""


def _export_parser(sub: Any) -> None:
    ex = sub.add_parser("export", help="export a run as ONNX, or (re)write its MODEL_CARD.md",
                        epilog=EXPORT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    ex.add_argument("run", type=Path, metavar="RUN", help="run folder (or its best/, or a model folder)")
    ex.add_argument("--format", default="onnx", choices=("onnx", "card"), help="onnx (default) or "
                    "card (MODEL_CARD.md, as training writes it when it finishes)")
    ex.add_argument("--out", type=Path, metavar="FILE", help="the .onnx file (default RUN/model.onnx; "
                    "translation: RUN/model-a2b.onnx and, for cyclegan, RUN/model-b2a.onnx)")
    ex.add_argument("--direction", choices=("a2b", "b2a"), help="translation runs: export this "
                    "direction only (default: every direction the run has, a file each)")
    ex.add_argument("--eval", type=Path, metavar="FILE", help="--format card: a `ganforge eval "
                    "--json` result to list with its real-vs-real floors")
    ex.add_argument("--no-check", action="store_true", help="skip running the file with "
                    "onnxruntime against PyTorch")


def _cmd_export(a: argparse.Namespace) -> int:
    from .api import export, write_model_card

    if a.format == "card":
        for flag, given in (("--out", a.out), ("--direction", a.direction), ("--no-check", a.no_check)):
            if given:
                raise GanforgeError(f"{flag} is for --format onnx; a card is always RUN/MODEL_CARD.md")
        print(f"wrote {write_model_card(a.run, a.eval)}")
        return 0
    if a.eval is not None:
        raise GanforgeError("--eval is for --format card")
    for done in export(a.run, a.out, a.direction, check=not a.no_check):
        print(done.summary())
    return 0
# ---- ganforge inspect: the provenance written into images ------------------------------------
INSPECT_HELP = """\
exit status: 0 every image carries ganforge provenance (metadata, or the opt-in watermark when
'ganforge[watermark]' is installed), 1 one or more does not, 2 bad input.

examples:
  ganforge inspect generated_seed0.png
  ganforge inspect out/ --json
"""


def _inspect_parser(sub: Any) -> None:
    ins = sub.add_parser("inspect", help="show the provenance ganforge wrote into images",
                         epilog=INSPECT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    ins.add_argument("path", type=Path, metavar="IMAGE|DIR", help="an image, or a folder of them "
                     "(searched recursively)")
    ins.add_argument("--json", action="store_true", help="print one JSON list instead of tables")


def _cmd_inspect(a: argparse.Namespace) -> int:
    import json

    from . import watermark
    from .provenance import DIGITAL_SOURCE_TYPE, image_files, read_provenance

    files = image_files(a.path)
    found = []
    for f in files:
        try:
            found.append(read_provenance(f))
        except GanforgeError as e:
            if len(files) == 1:
                raise
            found.append({"file": str(f), "format": None, "record": None, "error": str(e)})
            continue
        if watermark.available():  # the opt-in watermark outlives metadata: look for it too
            from PIL import Image

            with Image.open(f) as im:
                found[-1]["watermark"] = watermark.detect(im)
    if a.json:
        print(json.dumps(found, indent=1))
    for i, r in enumerate([] if a.json else found):
        rec = r["record"]
        if i:
            print()
        mark = r.get("watermark")
        said = None
        if mark:
            said = (f"  in the pixels  watermark {'found' if mark['found'] else 'not found'} "
                    f"({mark['bits_right']}/32 bits" + (", read after scaling up to 256 px" if mark["scaled"]
                                                        else "") + ")")
        if rec is None:
            why = r.get("error") or "no ganforge provenance"
            other = r.get("digital_source_type")
            if mark and mark["found"]:
                why = "no ganforge provenance in its metadata, but the ganforge watermark is in its pixels"
            print(f"{r['file']}: {why}"
                  + (f" (its XMP gives the digital source type {other})" if other else ""))
            if said and mark["found"]:
                print(said)
            continue
        where = {"png-text": "PNG text chunk + XMP", "xmp": "XMP", "gif-comment": "GIF comment"}
        print(f"{r['file']}: ganforge provenance ({where.get(r['found_in'], r['found_in'])})")
        source = r.get("digital_source_type")
        rows = [("synthetic", "yes" if rec.get("synthetic") else "no"),
                ("source type", "trainedAlgorithmicMedia (IPTC)" if source == DIGITAL_SOURCE_TYPE
                 else str(source))]
        first = ("kind", "run", "model_sha256", "seed", "index", "class", "psi", "direction", "source")
        keys = [k for k in first if k in rec] + sorted(k for k in rec if k not in first)
        rows += [(k.replace("_", " "), rec[k] if isinstance(rec[k], str) else json.dumps(rec[k]))
                 for k in keys if k not in ("synthetic", "digital_source_type")]
        for k, v in rows:
            print(f"  {k:<14} {v}")
        if said and (mark["found"] or "watermark" in rec):  # silent on unmarked images
            print(said)
    return 0 if all(r["record"] is not None or (r.get("watermark") or {}).get("found")
                    for r in found) else 1


def _mb(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C while Python imports torch or reads the data: no traceback
        print("ganforge: interrupted", file=sys.stderr)
        return 130


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    a, extra = parser.parse_known_args(argv)
    if extra:  # said by the subcommand, so the hint points at its own --help
        subs = next(x for x in parser._actions if isinstance(x, argparse._SubParsersAction))
        sub = subs._name_parser_map.get(a.command, parser) if a.command else parser
        sub.unknown(extra)
    if a.command is None:
        parser.print_help()
        return 2
    handler = {"train": _cmd_train, "generate": _cmd_generate, "translate": _cmd_translate,
               "upscale": _cmd_upscale,
               "demo": _cmd_demo, "mix": _cmd_mix, "project": _cmd_project,
               "eval": _cmd_eval, "data": _cmd_data, "serve": _cmd_serve,
               "export": _cmd_export, "inspect": _cmd_inspect}[a.command]
    try:
        return handler(a)
    except GanforgeError as e:
        if os.environ.get("RANK", "0") == "0":  # under torchrun: said once, by rank 0
            print(f"ganforge {a.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ganforge {a.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
