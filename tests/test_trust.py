"""Numbers and files you can trust: the evaluation protocol, and outputs that fail in one line."""

from __future__ import annotations

import errno
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge import cli
from ganforge.data import load_data
from ganforge.errors import GanforgeError
from ganforge.metrics import evaluate, stats
from ganforge.metrics.features import custom_extractor

TINY = dict(size=16, batch_size=8, z_dim=8, width=4, grid_n=4, log_every=1, device="cpu", quiet=True)


@pytest.fixture
def rgb_run(image_folder, tmp_path):
    return ganforge.train("dcgan", data=image_folder, epochs=1, out=tmp_path / "rgb", **TINY).path


def run_cli(capsys, *args):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(code, err, needle):
    lines = [x for x in err.splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1 and needle in lines[0], err


def _pngs(folder: Path, images: torch.Tensor) -> Path:
    folder.mkdir(parents=True)
    for i, x in enumerate((images * 255).round().byte()):
        Image.fromarray(x[0].numpy()).save(folder / f"{i:04d}.png")
    return folder


# ---- evaluation ------------------------------------------------------------------------------


def test_colour_run_with_default_metrics_completes_and_says_what_it_skipped(rgb_run, capsys):
    code, out, err = run_cli(capsys, "eval", rgb_run, "--n", "10")
    assert code == 0, err
    assert "skipping is: the pixels extractor has no class probabilities" in err
    assert "FID" in out and "KID" in out and "IS" not in out
    for stage in ("features: pixels", "generating 10 images", "extracting features", "computing fid"):
        assert stage in err


def test_impossible_metric_is_refused_before_any_work(rgb_run, monkeypatch):
    monkeypatch.setattr("ganforge.infer.sampler.Sampler.generate",
                        lambda *a, **k: pytest.fail("generated images before refusing"))
    with pytest.raises(GanforgeError, match="is needs class probabilities"):
        evaluate(rgb_run, metrics="is", n=10)


def test_inception_needs_no_extra_and_no_torchvision():
    """Standard FID costs the user no package: the network is ganforge's own, in plain torch
    (the old [inception] extra pulled torchvision, and with it another torch)."""
    import subprocess

    import tomllib

    extras = tomllib.loads(Path("pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "inception" not in extras and not any("torchvision" in r for v in extras.values() for r in v)
    code = ("import sys, ganforge.metrics.inception as m; m.FIDInceptionV3(); "
            "print('torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_custom_extractor_cache_is_keyed_on_weights(image_folder):
    torch.manual_seed(0)
    a, b = torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(3, 4, 3)
    assert custom_extractor(a).ident != custom_extractor(b).ident

    class Flat(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1)

    assert custom_extractor(Flat()).ident is None  # no weights to key on: never cached
    kw = dict(fake=image_folder, real=image_folder, n=12, size=16, metrics="fid")
    with_a = evaluate(features=torch.nn.Sequential(a, torch.nn.Flatten()), **kw)
    with_b = evaluate(features=torch.nn.Sequential(b, torch.nn.Flatten()), **kw)
    fresh_b = evaluate(features=torch.nn.Sequential(b, torch.nn.Flatten()), cache=False, **kw)
    assert with_b["metrics"]["fid"]["value"] == pytest.approx(fresh_b["metrics"]["fid"]["value"])
    assert with_a["metrics"]["fid"]["value"] != with_b["metrics"]["fid"]["value"]


def test_one_dimensional_features_give_a_fid():
    class Mean(torch.nn.Module):
        def forward(self, x):
            return x.mean((1, 2, 3))[:, None]

    assert stats.fid_from_features(np.ones((5, 1)), np.zeros((5, 1))) == pytest.approx(1.0)
    res = evaluate(fake=torch.rand(20, 1, 8, 8), real="mnist-mini", n=20, metrics="fid",
                   features=Mean())
    assert np.isfinite(res["metrics"]["fid"]["value"])


def test_size_is_the_generators_and_folders_default_to_their_own(tmp_path):
    run = ganforge.train("mnist-fast", max_steps=2, out=tmp_path / "r", batch_size=16, width=8,
                         quiet=True, device="cpu").path
    with pytest.raises(GanforgeError, match="--size 7: the generated images are 28px"):
        evaluate(run, size=7, n=10, metrics="fid")
    fakes = _pngs(tmp_path / "f", load_data("mnist-mini", 28).images[:30].float() / 255)
    res = evaluate(fake=fakes, real="mnist-mini", n=20, metrics="fid")
    assert res["protocol"]["image_size"] == 28  # not 64


def test_fakes_are_a_seeded_random_subset_and_is_splits_are_shuffled(tmp_path):
    ds = load_data("mnist-mini", 28)
    order = torch.argsort(ds.labels, stable=True)  # file names sorted by class
    fakes = _pngs(tmp_path / "sorted", ds.images[order[::5]].float() / 255)  # 1000 digits
    res = evaluate(fake=fakes, real="mnist-mini", n=300, metrics="fid,is")
    assert res["metrics"]["coverage"]["classes_covered"] == 10  # not the first 3 classes
    probs = np.eye(10)[np.sort(np.arange(1000) % 10)]  # confident, sorted by class
    assert stats.inception_score(probs)[0] == pytest.approx(10, rel=0.05)


def test_floor_has_a_spread_in_the_table_and_json(tmp_path, capsys):
    run = ganforge.train("mnist-fast", max_steps=2, out=tmp_path / "r", batch_size=16, width=8,
                         quiet=True, device="cpu").path
    code, out, err = run_cli(capsys, "eval", run, "--n", "100", "--metrics", "fid,kid,is",
                             "--json", tmp_path / "s.json")
    assert code == 0, err
    m = json.loads((tmp_path / "s.json").read_text())
    fid = m["metrics"]["fid"]
    assert len(fid["real_vs_real_splits"]) == m["protocol"]["floor_splits"] == 5
    assert fid["real_vs_real_std"] > 0
    assert fid["real_vs_real"] == pytest.approx(np.mean(fid["real_vs_real_splits"]))
    assert "±" in out
    assert "held-out" in m["protocol"]["is_real"]  # real IS on digits the extractor never saw


def test_auto_features_are_digits_only_for_digit_data(gray_folder, tmp_path):
    res = evaluate(fake=gray_folder, real=gray_folder, n=10, metrics="kid")
    assert res["protocol"]["features"] == "pixels" and "not a digit set" in res["protocol"]["features_why"]
    run = ganforge.train("dcgan", data=gray_folder, epochs=1, out=tmp_path / "g", eval_every=1,
                         eval_n=10, **TINY)
    evals = [r for r in run.metrics if "eval" in r]
    assert evals and evals[0]["eval"].startswith("pixels-kid")


def test_n_capped_is_said(capsys, tmp_path):
    fakes = _pngs(tmp_path / "f", torch.rand(30, 1, 28, 28))
    code, _, err = run_cli(capsys, "eval", "--fake", fakes, "--real", "mnist-mini", "--n", "4000",
                           "--metrics", "kid")
    assert code == 2 or "--n 4000 capped at 2500" in err  # 30 fakes < 2500: refused after saying it
    assert "--n 4000 capped at 2500" in err


# ---- files and outputs -----------------------------------------------------------------------


def _read_only(monkeypatch, folder: Path):
    """os.access says no for ``folder`` (tests may run as root, who can write anywhere)."""
    import os

    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if Path(p).absolute() == folder.absolute()
                        and mode == os.W_OK else real(p, mode, **k))


def test_read_only_outputs_are_one_line_before_work(tmp_path, monkeypatch, capsys, image_folder):
    ro = tmp_path / "ro"
    ro.mkdir()
    _read_only(monkeypatch, ro)
    monkeypatch.setattr("ganforge.training.loop.open_data", lambda *a, **k: pytest.fail("loaded data first"))
    code, _, err = run_cli(capsys, "train", "dcgan", "--data", image_folder, "--out", ro / "run")
    one_line(code, err, "cannot write into")
    code, _, err = run_cli(capsys, "demo", "--out", ro / "demo")
    one_line(code, err, "cannot write into")


def test_read_only_generate_and_eval_json(rgb_run, tmp_path, monkeypatch, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    _read_only(monkeypatch, ro)
    for args in (["--out", ro / "g.png"], ["--out-dir", ro / "each"], ["--interpolate", ro / "w.gif"]):
        code, _, err = run_cli(capsys, "generate", rgb_run, *args)
        one_line(code, err, "cannot write into")
    code, _, err = run_cli(capsys, "eval", rgb_run, "--n", "10", "--json", ro / "s.json")
    one_line(code, err, "cannot write into")


def test_read_only_data_cache(tmp_path, monkeypatch):
    ro = tmp_path / "cache"
    ro.mkdir()
    monkeypatch.setenv("GANFORGE_DATA", str(ro))
    _read_only(monkeypatch, ro / "mnist")
    (ro / "mnist").mkdir()
    with pytest.raises(GanforgeError, match="read-only; set GANFORGE_DATA"):
        load_data("mnist", 28)


def test_a_read_only_data_dir_decodes_into_memory_with_a_warning(tmp_path, monkeypatch, capsys,
                                                                 image_folder):
    ro = tmp_path / "cache"
    ro.mkdir()
    monkeypatch.setenv("GANFORGE_DATA", str(ro))
    _read_only(monkeypatch, ro / "prepared")
    (ro / "prepared").mkdir()
    ds = load_data(image_folder, 16, cache=True)
    assert len(ds) == 24 and not any((ro / "prepared").iterdir())
    assert "cannot write prepared sets" in capsys.readouterr().err


def test_disk_full_during_training_keeps_the_last_good_state(image_folder, tmp_path, monkeypatch):
    run = tmp_path / "r"
    ganforge.train("dcgan", data=image_folder, epochs=1, out=run, **TINY)
    import safetensors.torch

    real_save = safetensors.torch.save_file

    def full(tensors, path, metadata=None):
        if "state" in Path(path).name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(tensors, path, metadata=metadata)

    monkeypatch.setattr("ganforge.serialization.save_file", full)
    with pytest.raises(GanforgeError, match=r"checkpoint at step 6 failed: .*No space left on device.*"
                                            r"the last good state \(step 3\) is intact"):
        ganforge.train(out=run, resume=True, epochs=2, quiet=True)
    monkeypatch.undo()
    from ganforge.serialization import read_training_state

    assert read_training_state(run / "state.safetensors")["step"] == 3
    assert not list(run.glob(".*.tmp"))


def test_disk_full_during_generate_says_what_was_written(rgb_run, tmp_path, monkeypatch, capsys):
    from PIL import Image as PILImage

    real_save, count = PILImage.Image.save, [0]

    def full(self, fp, *a, **k):
        count[0] += 1
        if count[0] > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, fp, *a, **k)

    monkeypatch.setattr(PILImage.Image, "save", full)
    code, _, err = run_cli(capsys, "generate", rgb_run, "--n", "10", "--out-dir", tmp_path / "each")
    one_line(code, err, "wrote 3 of 10 images to")
    assert "No space left on device" in err


def test_huge_seed_is_one_line(rgb_run, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["generate", str(rgb_run), "--seed", str(2**70)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.strip().splitlines()) == 1 and "must be <=" in err
    with pytest.raises(GanforgeError, match="seed must be in"):
        ganforge.load(rgb_run, device="cpu").generate(2, seed=2**64)


def test_output_formats_follow_the_extension(rgb_run, tmp_path, capsys):
    for name, magic in (("g.jpg", b"\xff\xd8"), ("g.webp", b"RIFF"), ("g.png", b"\x89PNG")):
        code, _, err = run_cli(capsys, "generate", rgb_run, "--n", "4", "--out", tmp_path / name)
        assert code == 0, err
        assert (tmp_path / name).read_bytes()[:len(magic)] == magic
    code, _, err = run_cli(capsys, "generate", rgb_run, "--out", tmp_path / "g.tiff")
    one_line(code, err, "name it .png, .jpg, .jpeg, .webp")
    code, _, err = run_cli(capsys, "generate", rgb_run, "--interpolate", tmp_path / "walk.png")
    one_line(code, err, "a walk is an animation")
    code, _, err = run_cli(capsys, "generate", rgb_run, "--n", "2", "--interpolate", tmp_path / "walk.webp")
    assert code == 0, err
    with Image.open(tmp_path / "walk.webp") as im:
        assert im.format == "WEBP"
    from ganforge.visual import save_animation

    frames = [Image.new("RGB", (8, 8), (40 * i, 0, 0)) for i in range(5)]
    save_animation(frames, tmp_path / "anim.webp")
    with Image.open(tmp_path / "anim.webp") as im:
        assert im.n_frames == 5  # (identical frames would be merged by the encoder)


def test_seeds_write_one_file_per_seed(rgb_run, tmp_path, capsys):
    code, _, err = run_cli(capsys, "generate", rgb_run, "--seeds", "3-5,9", "--out-dir", tmp_path / "s")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        "seed0003.png", "seed0004.png", "seed0005.png", "seed0009.png"]
    g = ganforge.load(rgb_run, device="cpu")
    with Image.open(tmp_path / "s" / "seed0004.png") as im:
        want = (g.generate(1, seed=4)[0] * 255 + 0.5).clamp(0, 255).byte().permute(1, 2, 0).numpy()
        assert np.array_equal(np.asarray(im), want)
    code, _, err = run_cli(capsys, "generate", rgb_run, "--seeds", "5-3", "--out-dir", tmp_path / "x")
    one_line(code, err, "runs backwards")


def test_interpolate_says_when_it_caps(rgb_run, tmp_path, capsys):
    code, _, err = run_cli(capsys, "generate", rgb_run, "--n", "64", "--interpolate", tmp_path / "w.gif")
    assert code == 0 and "shows 16 of the --n 64 images" in err


def test_small_messages(tmp_path, capsys, image_folder):
    code, _, err = run_cli(capsys, "data", "--fetch", str(image_folder))
    one_line(code, err, "not a registered data set")
    from ganforge.models import build_family

    with pytest.raises(GanforgeError, match=r"k >= 2 \(16, 28, 32"):
        build_family("dcgan", 8, 1, 8, 4)
    broken = tmp_path / "faces.zip"
    broken.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(GanforgeError, match="damaged zip archive"):
        load_data(broken, 16)
    with pytest.raises(GanforgeError, match="train-labels-idx1-ubyte.gz"):
        load_data("mnist", 28)  # offline here: the hint names both files


def test_quiet_drops_per_file_warnings(image_folder, tmp_path, capsys):
    (image_folder / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    code, _, err = run_cli(capsys, "train", "dcgan", "--data", image_folder, "--max-steps", "1",
                           "--out", tmp_path / "r", "--size", "16", "--batch-size", "8", "--quiet")
    assert code == 0 and "broken.jpg" not in err


def test_scikit_learn_is_declared():
    import tomllib

    deps = tomllib.loads(Path("pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.startswith("scikit-learn") for d in deps)


def test_grid_separator_is_visible_on_black_and_white():
    from ganforge.visual import make_grid

    for fill in (0.0, 1.0):
        g = np.asarray(make_grid(torch.full((4, 1, 5, 5), fill), pad=2))
        assert g.shape == (16, 16) and g[0, 0] == 128 and g[2:7, 2:7].max() == round(fill * 255)
