"""`ganforge train`'s flags are made from the config dataclasses: every field is a flag, with its
help, default and choices; a flag of another family is refused by name. Nothing here trains:
the command line is parsed and resolved into a Config."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import types
import typing

import pytest

import ganforge
from ganforge.cli import build_parser, main, train_settings
from ganforge.config import PRESETS, RunConfig, resolve, split_settings
from ganforge.errors import GanforgeError
from ganforge.families import FAMILIES, GANConfig
from ganforge.typed import build, literal_values


def _settings(*argv: str) -> dict:
    return train_settings(build_parser().parse_args(["train", *argv]))


def _config(preset: str, *argv: str):
    return resolve(preset, **_settings(preset, *argv))


def _a_value(field: dataclasses.Field, hint) -> tuple[list[str], object]:
    """Command-line words for ``--field`` and the value they should give, not the default."""
    flag = "--" + field.name.replace("_", "-")
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if hint is bool:
        return ([flag.replace("--", "--no-")] if field.default else [flag]), not field.default
    choices = literal_values(hint)
    if choices is None and "choices" in field.metadata:
        choices = tuple(field.metadata["choices"].names())
    if choices is not None:
        pick = next(c for c in reversed(choices) if c != field.default)
        return [flag, str(pick)], pick
    if typing.get_origin(hint) is tuple:
        return [flag, "0.25", "0.75"], (0.25, 0.75)
    text = {int: "3", float: "0.25", str: "x"}[hint]
    return [flag, text], hint(text)


def _fields(cls):
    hints = typing.get_type_hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls) if f.init]


@pytest.mark.parametrize("family", FAMILIES.names())
def test_every_field_of_every_family_is_a_flag(family):
    """A new config field without a working flag fails here."""
    cfg = FAMILIES.get(family).config
    for f, hint in _fields(cfg):
        words, want = _a_value(f, hint)
        got = _settings(family, *words)
        assert got == {f.name: want}, (words, got)
    for alias in getattr(cfg, "ALIASES", {}):
        assert _settings(family, "--" + alias, "0.001") == {alias: 0.001}


def test_every_run_setting_is_a_flag():
    for f, hint in _fields(RunConfig):
        if f.name in ("preset", "family"):  # the PRESET argument
            continue
        words, want = _a_value(f, hint)
        assert _settings("gan", *words) == {f.name: want}, words


def test_help_shows_defaults_choices_and_families(cli):
    out = " ".join(cli("train", "--help").stdout.split())  # argparse wraps lines
    assert "--z-dim N [gan, stylegan2, vae] latent size (default: gan: 100; stylegan2: 512; vae: 32)" in out
    assert "--update {alternating,simultaneous}" in out and "(default: 'alternating')" in out
    assert "--betas B1 B2 [every family] Adam betas" in out
    assert "--sn, --no-sn" in out and "--no-guard" in out and "--no-jitter" in out
    assert "--loss {bce,hinge,ls,minimax,ragan,rpgan,wasserstein}" in out and "hinge (SNGAN, BigGAN)" in out
    for fam in FAMILIES.names():
        assert f"{fam} family: " in out  # one group per family
    assert out.count("--width N") == 1  # a shared flag appears once


def test_preset_help_shows_only_its_family_with_its_values(cli):
    out = " ".join(cli("train", "mnist-fast", "--help").stdout.split())
    assert "gan settings (preset mnist-fast; the defaults are its values)" in out
    assert "--z-dim N latent size (default: 64)" in out  # mnist-fast's, not GANConfig's 100
    assert "--epochs N passes over the data (default: 25)" in out
    assert "--d-width" not in out and "--recon" not in out and "--lambda-cycle" not in out
    out = " ".join(cli("train", "mnist-vae", "--help").stdout.split())
    assert "--recon {bce,mse}" in out and "--update" not in out and "(default: 0.001)" in out


@pytest.mark.parametrize("args,needle", [
    (["--update", "x"], "argument --update: invalid choice: 'x' (choose from 'alternating', "
                        "'simultaneous')"),
    (["--d-norm", "group"], "'auto', 'batch', 'none'"),
    (["--loss", "wgan"], "'bce', 'hinge', 'ls', 'minimax', 'ragan', 'rpgan', 'wasserstein'"),
    (["--precision", "fp16"], "'fp32', 'bf16'"),
    (["--channels", "2"], "invalid choice: 2"),
    (["--betas", "0.5"], "--betas: expected 2 arguments"),
    (["--z-dim", "big"], "--z-dim: 'big' is not a whole number"),
])
def test_bad_values_are_refused_with_the_choices(cli, args, needle):
    p = cli("train", "mnist-fast", *args, check=False)
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert p.returncode == 2 and len(lines) == 1 and needle in lines[0], p.stderr


def test_literal_choices_are_checked_from_python_and_old_files():
    with pytest.raises(GanforgeError, match=r"^update must be one of 'alternating', 'simultaneous', "
                                            r"got 'x'$"):
        resolve("mnist-fast", update="x")
    with pytest.raises(GanforgeError, match="recon must be one of 'bce', 'mse', got 'l1'"):
        resolve("mnist-vae", recon="l1")
    with pytest.raises(GanforgeError, match="channels must be one of 1, 3 or null, got True"):
        resolve("mnist-fast", channels=True)  # True == 1, but not a channel count
    with pytest.raises(GanforgeError, match="d_cond must be one of"):
        GANConfig(d_cond="aux").validate()  # built without typed.build: still checked
    assert build(GANConfig, {"update": "simultaneous", "betas": [0.5, 0.9]}).betas == (0.5, 0.9)


@pytest.mark.parametrize("args,line", [
    (["mnist-fast", "--d-width", "4"], "ganforge train: error: --d-width is not a setting of the "
     "gan family (preset mnist-fast); its settings: see ganforge train mnist-fast --help"),
    (["dcgan", "--recon", "mse", "--beta", "2"], "ganforge train: error: --beta, --recon are not "
     "settings of the gan family (model dcgan); its settings: see ganforge train dcgan --help"),
    (["facades", "--update", "simultaneous"], "ganforge train: error: --update is not a setting "
     "of the pix2pix family (preset facades); its settings: see ganforge train facades --help"),
])
def test_a_flag_of_another_family_is_refused_by_name(cli, args, line):
    p = cli("train", *args, check=False)
    assert p.returncode == 2 and p.stderr.strip() == line


def test_a_setting_of_another_family_from_python_names_the_family():
    with pytest.raises(GanforgeError) as e:
        ganforge.train("mnist-fast", d_width=4)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("unknown setting d_width (a setting of cyclegan, pix2pix, superres) for the gan "
                          "family")
    assert "lambda_cycle" not in msg and "checkpoint_minutes" not in msg  # not all 46 names
    with pytest.raises(GanforgeError, match=r"unknown setting bacth_size \(did you mean batch_size\?\)"):
        resolve("mnist-fast", bacth_size=8)


def test_flags_that_had_none_reach_the_config():
    cfg = _config("mnist-fast", "--update", "simultaneous", "--betas", "0.5", "0.9")
    assert cfg.model.update == "simultaneous" and cfg.model.betas == (0.5, 0.9)
    cfg = _config("mnist-vae", "--beta", "4", "--recon", "mse", "--ema", "0.99")
    assert (cfg.model.beta, cfg.model.recon, cfg.model.ema) == (4.0, "mse", 0.99)
    cfg = _config("facades", "--dropout", "0.2", "--decay-from", "0.8", "--no-jitter")
    assert (cfg.model.dropout, cfg.model.decay_from, cfg.model.jitter) == (0.2, 0.8, False)
    cfg = _config("horse2zebra", "--lambda-cycle", "5", "--d-width", "32", "--blocks", "6")
    assert (cfg.model.lambda_cycle, cfg.model.d_width, cfg.model.blocks) == (5.0, 32, 6)
    cfg = _config("mnist-fast", "--eval-n", "100", "--grid-n", "4", "--log-every", "1",
                  "--checkpoint-minutes", "0.5")
    assert (cfg.run.eval_n, cfg.run.grid_n, cfg.run.log_every, cfg.run.checkpoint_minutes) == (
        100, 4, 1, 0.5)


def test_existing_spellings_still_work():
    cfg = _config("mnist-fast", "--lr", "0.001", "--no-guard", "--strict", "--sn", "--data-a",
                  "mnist-mini", "--max-steps", "3", "--batch-size", "8", "--eval-every", "2")
    assert (cfg.model.lr_g, cfg.model.lr_d) == (0.001, 0.001)  # --lr: the ALIASES
    assert (cfg.run.guard, cfg.run.strict, cfg.model.sn) == (False, True, True)
    assert (cfg.run.data, cfg.run.max_steps, cfg.run.batch_size, cfg.run.eval_every) == (
        "mnist-mini", 3, 8, 2)
    cfg = _config("mnist-cgan", "--conditional", "--d-cond", "acgan", "--mbstd", "4",
                  "--g-upsample", "resize")
    assert (cfg.model.d_cond, cfg.model.mbstd, cfg.model.g_upsample) == ("acgan", 4, "resize")
    cfg = _config("mnist2color-cyclegan", "--lr", "0.001", "--lambda-identity", "0")
    assert cfg.model.lr == 0.001 and cfg.model.lambda_identity == 0.0
    assert _settings("mnist2color-pix2pix", "--pairs", "mnist2color") == {"data": "mnist2color",
                                                                          "side_by_side": True}
    assert _settings("mnist-fast") == {}  # nothing given, nothing overridden


def test_range_checks_stay_in_validate(cli):
    p = cli("train", "mnist-fast", "--epochs", "-1", check=False)
    assert p.returncode == 2 and p.stderr.strip() == ("ganforge train: error: --epochs must be >= 1, "
                                                      "got -1")


def test_presets_live_beside_their_family_and_name_its_settings():
    import ganforge.config
    import ganforge.families

    assert ganforge.config.PRESETS is ganforge.families.PRESETS is ganforge.PRESETS
    for name in PRESETS.names():
        p = PRESETS.get(name)
        source = inspect.getsource(importlib.import_module(FAMILIES.get(p.family).config.__module__))
        assert f'add_preset("{name}", "{p.family}"' in source, name
        split_settings(p.family, p.settings)  # every setting is its family's or the run's


def test_main_help_still_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "train" in capsys.readouterr().out
