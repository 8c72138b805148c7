"""The ``ganforge`` command: thin subcommands over the Python API."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn

from .errors import GanforgeError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (and exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


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


MAIN_HELP = """\
Train GANs and make images that never existed.

examples:
  ganforge demo                                   # digits in a few CPU minutes, no download
  ganforge train mnist-dcgan --epochs 50          # the TensorFlow DCGAN tutorial, in PyTorch
  ganforge train celeba64-dcgan --data faces.zip  # the face GAN on your own zip or folder
  ganforge generate runs/mnist-dcgan-... --n 64 --seed 0 --out grid.png
  ganforge eval runs/demo                         # digits-FID/KID/IS/precision-recall + floor
  ganforge train horse2zebra                      # CycleGAN, then: ganforge translate RUN IN --out OUT
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
  ganforge generate runs/mnist-cgan --class 7 --n 64 --out sevens.png   # conditional runs
"""


TRANSLATE_HELP = """\
examples:
  ganforge train horse2zebra --out runs/h2z                  # CycleGAN (download, 112 MB)
  ganforge translate runs/h2z horses/ --out zebras/          # a folder, names and sizes kept
  ganforge translate runs/h2z zebra.jpg --out horses/ --direction b2a
  ganforge train pix2pix --pairs facades/ --size 256 --out runs/facades
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


def build_parser() -> argparse.ArgumentParser:
    from ._version import __version__
    from .config import PRESETS
    from .families import FAMILIES
    from .models import MODELS

    p = _Parser(prog="ganforge", description=MAIN_HELP,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"ganforge {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    t = sub.add_parser("train", help="train a model from a preset", epilog=TRAIN_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("preset", metavar="PRESET", nargs="?",
                   help=f"preset ({', '.join(PRESETS.names())}), family "
                        f"({', '.join(FAMILIES.names())}) or bare GAN model ({', '.join(MODELS.names())})")
    t.add_argument("--data", "--data-a", metavar="NAME|DIR",
                   help="data set name (see `ganforge data`), image folder or zip of images; "
                        "translation: domain A, or a set/folder holding both domains")
    t.add_argument("--data-b", metavar="DIR", help="translation: domain B's folder or zip (cyclegan: "
                   "unpaired; pix2pix: the same file names as --data)")
    t.add_argument("--pairs", metavar="NAME|DIR", help="pix2pix: paired data (side-by-side A|B "
                   "images, as the pix2pix sets ship); the same as --data")
    t.add_argument("--epochs", type=_positive, metavar="N", help="passes over the data")
    t.add_argument("--max-steps", type=_positive, metavar="N", help="stop after N steps")
    t.add_argument("--batch-size", type=_positive, metavar="B", help="global batch size")
    t.add_argument("--size", type=_positive, metavar="PX", help="image side in pixels")
    t.add_argument("--channels", type=int, choices=(1, 3), help="1 (gray) or 3 (RGB)")
    t.add_argument("--fit", choices=("crop", "pad"), help="non-square images: crop or pad")
    t.add_argument("--seed", type=_seed, metavar="S", help="random seed (default 0)")
    t.add_argument("--out", type=Path, metavar="RUN_DIR", help="run folder (default runs/...)")
    t.add_argument("--resume", nargs="?", const="", metavar="RUN",
                   help="continue RUN (or the run in --out) from its last checkpoint")
    t.add_argument("--device", metavar="D", help="auto (default), cpu, cuda, cuda:N or mps")
    t.add_argument("--threads", type=_positive, metavar="N", help="CPU threads (default: "
                   "$OMP_NUM_THREADS, else the usable cores; see README 'Threads')")
    t.add_argument("--precision", choices=("fp32", "bf16"), help="bf16: autocast, faster on "
                   "CPUs with AVX512-BF16 and on GPUs")
    t.add_argument("--lr", type=float, metavar="LR", help="learning rate of both networks")
    t.add_argument("--ema", type=float, metavar="DECAY", help="keep an exponential moving average "
                   "of G's weights (e.g. 0.999) and sample from it; 0 turns it off")
    t.add_argument("--diffaug", metavar="POLICY", help="DiffAugment for small data sets: "
                   "comma-separated color,translation,cutout ('' turns it off)")
    t.add_argument("--strict", action="store_true", default=None,
                   help="refuse unreadable image files instead of skipping them")
    t.add_argument("--eval-every", type=_nonneg, metavar="K", help="every K epochs compute "
                   "digits-FID (grayscale) or KID, log it, keep the best weights in RUN/best/")
    t.add_argument("--no-guard", dest="guard", action="store_false", default=None,
                   help="do not roll back on NaN, mode collapse or a discriminator that won")
    t.add_argument("--quiet", action="store_true", help="print nothing but errors")
    from .losses import LOSSES

    k = t.add_argument_group("GAN toolkit (gan family; each is recorded in config.json)")
    k.add_argument("--model", metavar="NAME", help=f"network pair: {', '.join(MODELS.names())}")
    k.add_argument("--z-dim", type=_positive, metavar="N", help="latent size")
    k.add_argument("--width", type=_positive, metavar="N", help="base channel count of the networks")
    k.add_argument("--loss", metavar="NAME", help="adversarial loss: " + "; ".join(
        f"{n} ({LOSSES.get(n).doc})" for n in LOSSES.names()))
    k.add_argument("--optimizer", choices=("adam", "rmsprop"), help="adam (default) or rmsprop")
    k.add_argument("--lr-g", type=float, metavar="LR", help="generator learning rate (TTUR)")
    k.add_argument("--lr-d", type=float, metavar="LR", help="discriminator learning rate (TTUR)")
    k.add_argument("--clip-value", type=float, metavar="C", help="clip each gradient element to "
                   "[-C, C] (Keras clipvalue)")
    k.add_argument("--n-critic", type=_positive, metavar="N", help="D steps per G step (WGAN-GP: 5)")
    k.add_argument("--sn", action="store_true", default=None, help="spectral norm on D's layers")
    k.add_argument("--gp", type=float, metavar="LAMBDA", help="WGAN-GP gradient penalty (10)")
    k.add_argument("--r1", type=float, metavar="GAMMA", help="R1 penalty on real images")
    k.add_argument("--r1-every", type=_positive, metavar="K", help="lazy R1: every K steps (16)")
    k.add_argument("--d-norm", choices=("auto", "batch", "none"), help="BatchNorm in D or none "
                   "(auto: none with --sn/--gp/--r1)")
    k.add_argument("--mbstd", type=int, metavar="G", help="minibatch standard-deviation map in D "
                   "over groups of G images (ProGAN's 4; 0 = off): catches a G with one layout")
    k.add_argument("--g-upsample", choices=("convt", "resize"), help="G's 2x layers: transposed "
                   "conv (DCGAN) or nearest resize + 3x3 conv (no checkerboard, ~2x G's cost)")
    k.add_argument("--label-smoothing", type=float, metavar="S", help="one-sided: real targets 1-S")
    k.add_argument("--label-noise", type=float, metavar="A", help="add A*U(0,1) to D's targets")
    k.add_argument("--conditional", action="store_true", default=None,
                   help="class-conditional GAN on labelled data (one sub-folder per class)")
    k.add_argument("--g-cond", choices=("embed", "cbn"), help="G's conditioning: label embedding "
                   "or conditional BatchNorm")
    k.add_argument("--d-cond", choices=("projection", "acgan", "concat"), help="D's conditioning: projection "
                   "head or auxiliary classifier")

    x = t.add_argument_group("image-to-image translation (cyclegan and pix2pix families)")
    x.add_argument("--d-width", type=_positive, metavar="N", help="discriminator base channels (64)")
    x.add_argument("--blocks", type=_nonneg, metavar="N", help="cyclegan: residual blocks (0: 9 at "
                   ">= 256 px, 6 below)")
    x.add_argument("--lambda-cycle", type=float, metavar="L", help="cyclegan: cycle-consistency weight (10)")
    x.add_argument("--lambda-identity", type=float, metavar="L", help="cyclegan: identity weight, "
                   "times lambda-cycle (0.5; 0 turns it off)")
    x.add_argument("--pool-size", type=_nonneg, metavar="N", help="cyclegan: fakes in each "
                   "discriminator's history pool (50)")
    x.add_argument("--lambda-l1", type=float, metavar="L", help="pix2pix: L1 weight (100)")
    x.add_argument("--no-jitter", dest="jitter", action="store_false", default=None,
                   help="no random resize-crop-mirror of the training images")

    g = sub.add_parser("generate", help="make images with a trained run", epilog=GENERATE_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    g.add_argument("run", type=Path, metavar="RUN", help="run folder (or a generator.safetensors)")
    g.add_argument("--n", type=_positive, default=64, help="number of images (default 64)")
    g.add_argument("--seed", type=_seed, default=0, metavar="S", help="same seed, same images (default 0)")
    g.add_argument("--out", type=Path, metavar="FILE", help="grid image to write: .png, .jpg or .webp "
                   "(default RUN/generated_seedS.png)")
    g.add_argument("--out-dir", type=Path, metavar="DIR", help="write one PNG per image into this "
                   "folder (streamed in batches: any --n fits in memory)")
    g.add_argument("--seeds", metavar="LIST", help="with --out-dir: one image per seed, e.g. 0-99 or "
                   "1,5,9-12 (files seedSSSS.png), as StyleGAN's generate does")
    g.add_argument("--interpolate", type=Path, metavar="FILE", help="write a latent walk (.gif, "
                   ".webp, or .mp4 with imageio[ffmpeg]) of at most 16 images")
    g.add_argument("--class", dest="label", metavar="C", help="class-conditional runs: draw this "
                   "class (its name or index); default: every class in turn")
    g.add_argument("--device", default="auto", metavar="D", help="auto (default), cpu, cuda or mps")

    tr = sub.add_parser("translate", help="translate an image or a folder with a cyclegan/pix2pix run",
                        epilog=TRANSLATE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    tr.add_argument("run", type=Path, metavar="RUN", help="run folder (or its best/)")
    tr.add_argument("input", type=Path, metavar="INPUT", help="an image file or a folder of images "
                    "(searched recursively)")
    tr.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder; file "
                    "names and sub-folders are kept, each image keeps its size")
    tr.add_argument("--direction", default="a2b", choices=("a2b", "b2a"), help="a2b (default) or "
                    "b2a (cyclegan only)")
    tr.add_argument("--size", type=_positive, metavar="PX", help="translate at this side (default: "
                    "the training size), then back to each image's own size")
    tr.add_argument("--strict", action="store_true", help="refuse unreadable files instead of "
                    "skipping them")
    tr.add_argument("--device", default="auto", metavar="D", help="auto (default), cpu, cuda or mps")

    dm = sub.add_parser("demo", help="train a small DCGAN on bundled MNIST digits (no download)",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog="example:\n  ganforge demo --out runs/demo\n")
    dm.add_argument("--out", type=Path, default=Path("runs/demo"), help="run folder")
    dm.add_argument("--epochs", type=_positive, help="passes over the 5,000 digits")
    dm.add_argument("--device", default="auto", metavar="D", help="auto (default), cpu, cuda or mps")

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
    ev.add_argument("--device", default="auto", metavar="D", help="auto (default), cpu, cuda or mps")

    dt = sub.add_parser("data", help="list data sets, or download one ahead of time",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog="examples:\n  ganforge data\n  ganforge data --fetch mnist\n")
    dt.add_argument("--fetch", metavar="NAME", help="download and check this data set now")
    return p


def _cmd_train(a: argparse.Namespace) -> int:
    from .api import train

    overrides = dict(data=a.data, epochs=a.epochs, max_steps=a.max_steps,
                     batch_size=a.batch_size, size=a.size, channels=a.channels, fit=a.fit,
                     seed=a.seed, device=a.device, precision=a.precision, strict=a.strict,
                     eval_every=a.eval_every, ema=a.ema, diffaug=a.diffaug, lr=a.lr,
                     threads=a.threads, guard=a.guard, model=a.model, z_dim=a.z_dim,
                     width=a.width, loss=a.loss, optimizer=a.optimizer, lr_g=a.lr_g, lr_d=a.lr_d,
                     clip_value=a.clip_value, n_critic=a.n_critic, sn=a.sn, gp=a.gp, r1=a.r1,
                     r1_every=a.r1_every, d_norm=a.d_norm, mbstd=a.mbstd, g_upsample=a.g_upsample,
                     label_smoothing=a.label_smoothing,
                     label_noise=a.label_noise, conditional=a.conditional, g_cond=a.g_cond,
                     d_cond=a.d_cond, data_b=a.data_b, d_width=a.d_width, blocks=a.blocks,
                     lambda_cycle=a.lambda_cycle, lambda_identity=a.lambda_identity,
                     pool_size=a.pool_size, lambda_l1=a.lambda_l1, jitter=a.jitter)
    if a.pairs is not None:
        if a.data is not None:
            raise GanforgeError("--pairs and --data both name the data; give one")
        overrides["data"] = a.pairs
    overrides = {k: v for k, v in overrides.items() if v is not None}
    resume = a.resume is not None
    if resume and a.resume and a.out is not None and Path(a.resume) != a.out:
        raise GanforgeError(f"--resume {a.resume} and --out {a.out} name two runs; give one")
    out = Path(a.resume) if a.resume else a.out
    if resume and out is None:
        raise GanforgeError("--resume needs the run folder: ganforge train --resume RUN")
    if not resume and a.preset is None:
        raise GanforgeError("train needs a PRESET (see ganforge train --help), or --resume RUN")
    run = train(a.preset, out=out, resume=resume, quiet=a.quiet, **overrides)
    if not a.quiet and os.environ.get("RANK", "0") == "0":  # torchrun: print once
        print(run.path)
    return 0


def _parse_seeds(text: str) -> list[int]:
    """'0-99' or '1,5,9-12' -> seeds, checked."""
    seeds: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            a, b = _seed(lo), _seed(hi or lo)
        except argparse.ArgumentTypeError as e:
            raise GanforgeError(f"--seeds {text}: {part!r} {e}") from None
        if b < a:
            raise GanforgeError(f"--seeds {text}: range {part!r} runs backwards")
        seeds += range(a, b + 1)
    return seeds


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
    for flag, path in (("--out", out), ("--out-dir", a.out_dir and a.out_dir / "x"),
                       ("--interpolate", a.interpolate)):
        if path is not None:
            check_writable(path, flag)

    s = load(a.run, device=a.device)
    from .infer import Sampler

    if not isinstance(s, Sampler):
        raise GanforgeError(f"{a.run}: a translation model (it turns images into images); use "
                            f"ganforge translate {a.run} INPUT --out DIR")
    label = a.label
    if label is not None:
        s.label(label)  # an unknown class or an unconditional run: one line, before any image
    wrote = []
    show = sys.stderr.isatty()
    if a.out_dir and seeds is not None:
        s.save_seeds(a.out_dir, seeds, progress=show, label=label)
        wrote.append(f"{len(seeds)} images (one per seed) in {a.out_dir}")
    elif a.out_dir:
        s.save_images(a.out_dir, a.n, a.seed, progress=show, label=label)
        wrote.append(f"{a.n} images in {a.out_dir}")
    if a.interpolate:
        if a.n > 16:
            print(f"--interpolate: a walk shows 16 of the --n {a.n} images", file=sys.stderr)
        wrote.append(str(s.interpolate(a.interpolate, n=min(a.n, 16), seed=a.seed, label=label)))
    if out is not None:
        wrote.append(str(s.save_grid(out, a.n, a.seed, label=label)))
    print("\n".join(wrote))
    return 0


def _cmd_translate(a: argparse.Namespace) -> int:
    from .api import load
    from .infer import Translator
    from .serialization import check_writable

    check_writable(a.out / "x", "--out")  # before the model is loaded
    t = load(a.run, device=a.device)
    if not isinstance(t, Translator):
        raise GanforgeError(f"{a.run}: a model that generates images, not one that translates them; "
                            "use ganforge generate")
    written, bad = t.translate_folder(a.input, a.out, a.direction, size=a.size, strict=a.strict,
                                      progress=sys.stderr.isatty(),
                                      warn=lambda msg: print(msg, file=sys.stderr))
    print(f"translated {written} image{'s' if written != 1 else ''} ({a.direction}) into {a.out}"
          + (f"; skipped {len(bad)} unreadable file{'s' if len(bad) != 1 else ''}" if bad else ""))
    return 0


def _cmd_demo(a: argparse.Namespace) -> int:
    import time

    from .api import train
    from .rundir import RunDir

    t0 = time.time()
    run = train("mnist-fast", data="mnist-mini", epochs=a.epochs, out=a.out, device=a.device,
                resume=RunDir(a.out).has_state())
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

    res = evaluate(a.run, fake=a.fake, real=a.real, metrics=a.metrics, features=a.features,
                   n=a.n, seed=a.seed, feature_weights=a.feature_weights, size=a.size,
                   device=a.device, json_out=a.json, floor_splits=a.floor_splits,
                   say=lambda msg: print(msg, file=sys.stderr))
    print(format_table(res))
    if a.json:
        print(f"wrote {a.json}")
    return 0


def _cmd_data(a: argparse.Namespace) -> int:
    from .data import data_dir, describe, load_data

    if a.fetch:
        from .data import DATASETS, PAIRSETS, load_domains

        if a.fetch in PAIRSETS:
            pair = load_domains(a.fetch, None, False, size=32)
            print(f"{a.fetch}: {len(pair.images)} + {len(pair.targets)} training images "
                  f"({' / '.join(pair.domains)}) ready under {data_dir()}")
            return 0
        if a.fetch not in DATASETS:
            raise GanforgeError(f"--fetch {a.fetch}: not a registered data set "
                                f"({', '.join(DATASETS.names() + PAIRSETS.names())}); image folders "
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
    print(f"\ndownloads are cached in {data_dir()} (set GANFORGE_DATA to change); any image "
          "folder or .zip of images works as --data too")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    if a.command is None:
        parser.print_help()
        return 2
    handler = {"train": _cmd_train, "generate": _cmd_generate, "translate": _cmd_translate,
               "demo": _cmd_demo,
               "eval": _cmd_eval, "data": _cmd_data}[a.command]
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
