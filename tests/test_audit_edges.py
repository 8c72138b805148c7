"""Issue 18, "What a new user still trips over": each edge a new user hit, as a test that failed
before its fix. Tiny seeded CPU runs (16 px, batch 8), as the other tests."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ganforge
from ganforge.cli import build_parser
from ganforge.config import resolve
from ganforge.errors import GanforgeError
from ganforge.serialization import read_training_state
from ganforge.visual import preview_region

TINY = ["--size", "16", "--batch-size", "8", "--seed", "0", "--z-dim", "8", "--width", "4",
        "--grid-n", "4", "--log-every", "1", "--device", "cpu"]
TINY_API = dict(size=16, batch_size=8, z_dim=8, width=4, grid_n=4, log_every=1, device="cpu",
                quiet=True)
REPO = Path(__file__).parent.parent


def one_line(p, needle):
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert p.returncode == 2 and len(lines) == 1 and needle in lines[0], p.stderr
    assert "Traceback" not in p.stderr
    return lines[0]


@pytest.fixture
def run(image_folder, tmp_path):
    """A 2-epoch DCGAN run on 24 images: 3 steps an epoch, 6 steps."""
    return ganforge.train("dcgan", data=image_folder, epochs=2, out=tmp_path / "run", **TINY_API).path


def _images(folder: Path, n: int, size: int = 16, seed: int = 5) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


# ---- 1. family defaults that suit the family ---------------------------------------------------


def test_translation_families_train_at_their_papers_batch_and_size(tmp_path):
    for family in ("pix2pix", "cyclegan"):
        cfg = resolve(family, data=str(tmp_path))
        assert (cfg.run.batch_size, cfg.run.size) == (1, 256), family  # was RunConfig's 128, 28
        assert resolve(family, data=str(tmp_path), batch_size=4, size=64).run.batch_size == 4
        with pytest.raises(GanforgeError, match=f"the {family} family has no default data: pass --data"):
            resolve(family)  # was: "--data 'mnist-mini': not a known translation set"
    assert resolve("facades").run.batch_size == 1 and resolve("edges2shoes").run.batch_size == 4
    assert resolve("mnist2color-pix2pix").run.batch_size == 8  # a preset's own values stand
    assert resolve("gan").run.batch_size == 128 and resolve("vae").run.size == 28  # unchanged


def test_family_help_shows_the_family_defaults(cli):
    out = " ".join(cli("train", "pix2pix", "--help").stdout.split())
    assert "global batch size (split across DDP processes) (default: 1)" in out
    assert "the data is resized to it (default: 256)" in out


def test_bare_model_names_get_a_size_they_support():
    assert resolve("resnet32").run.size == 32 and resolve("facegan").run.size == 128
    assert resolve("gan", model="resnet32").run.size == 32
    assert resolve("facegan").run.batch_size == 16
    assert resolve("resnet32", size=64).run.size == 64  # the user's value still wins
    from ganforge.models import build_family

    with pytest.raises(GanforgeError, match="makes 32px images, not 64px; use --size 32"):
        build_family("resnet32", 64, 3, 8, 4)


# ---- 2. --out ------------------------------------------------------------------------------------


def test_out_refuses_empty_uncreatable_and_foreign_folders(cli, image_folder, tmp_path, monkeypatch):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # `--out ''` used to train into the current folder
    args = ["train", "dcgan", "--data", image_folder, "--max-steps", "1", *TINY]
    one_line(cli(*args, "--out", "", check=False), "empty folder name")
    assert not any(cwd.iterdir())
    with pytest.raises(GanforgeError, match="empty folder name"):
        ganforge.train("dcgan", data=image_folder, out="", **TINY_API)

    long = tmp_path / ("x" * 300)
    line = one_line(cli(*args, "--out", long, check=False), "too long (300 characters")
    assert len(line) < 300  # the name is shortened in the message
    if Path("/proc/self").exists():  # a folder nobody can make: one line, whoever runs it
        one_line(cli(*args, "--out", "/proc/ganforge-run", check=False), "/proc/ganforge-run")
    blocked = tmp_path / "file"
    blocked.write_text("x")
    one_line(cli(*args, "--out", blocked / "run", check=False), "is a file, not a folder")

    before = sorted(p.name for p in image_folder.rglob("*"))
    one_line(cli(*args, "--out", image_folder, check=False), "holds a and 1 more and is not a run")
    assert sorted(p.name for p in image_folder.rglob("*")) == before  # nothing mixed in
    empty = tmp_path / "empty"
    empty.mkdir()
    cli(*args, "--out", empty)  # an empty folder is fine
    assert (empty / "config.json").is_file()


def test_a_failed_out_check_leaves_no_folders_behind(image_folder, tmp_path, monkeypatch):
    def no_data(*args, **kwargs):
        raise GanforgeError("no data here")

    monkeypatch.setattr("ganforge.training.loop.open_data", no_data)
    with pytest.raises(GanforgeError, match="no data here"):
        ganforge.train("dcgan", data=image_folder, out=tmp_path / "a" / "b" / "run", **TINY_API)
    assert not (tmp_path / "a").exists()  # the probe's folders were taken away again


# ---- 3. --resume on other data -------------------------------------------------------------------


def test_resume_refuses_other_data_unless_asked(cli, run, gray_folder, tmp_path):
    cfg = json.loads((run / "config.json").read_text())
    assert len(cfg["data"]["fingerprint"]) == 16 and cfg["data"]["epochs"]["steps_per_epoch"] == 3
    line = one_line(cli("train", "--resume", run, "--data", gray_folder, "--epochs", "3", "--quiet",
                        check=False), "not the data the run trained on")
    assert "--data-changed" in line and "24 images" in line and "40 images" in line
    assert read_training_state(run / "state.safetensors")["step"] == 6  # untouched
    # a folder whose images changed under the same path is other data too
    extra = _images(tmp_path / "extra", 1)
    shutil.copy(extra / "0.png", Path(cfg["run"]["data"]) / "new.png")
    one_line(cli("train", "--resume", run, "--epochs", "3", "--quiet", check=False),
             "not the data the run trained on")
    one_line(cli("train", "dcgan", "--data", gray_folder, "--data-changed", "--out", tmp_path / "n",
                 check=False), "--data-changed goes with --resume")


def test_resume_on_other_data_counts_epochs_on(cli, gray_folder, tmp_path):
    """An MNIST run continued on a few faces went from epoch 1 to 13: the epoch number is
    counted from where the new data began, not as step // (new steps per epoch)."""
    run = tmp_path / "r"
    ganforge.train("dcgan", data=gray_folder, epochs=2, out=run, **TINY_API)  # 5 steps/epoch
    few = _images(tmp_path / "few", 8)  # 1 step an epoch: step 10 // 1 would be "epoch 10"
    p = cli("train", "--resume", run, "--data", few, "--data-changed", "--epochs", "4")
    assert "other data" in p.stderr and "from step 10 of 12" in p.stderr
    recs = [r for r in ganforge.Run(run).metrics if "d_loss" in r]
    assert [r["epoch"] for r in recs if r["step"] > 10] == [3.0, 4.0]
    assert [r["step"] for r in recs][-3:] == [10, 11, 12]
    assert sorted(x.name for x in (run / "samples").iterdir()) == [
        f"epoch_{i:04d}.png" for i in range(1, 5)]
    clock = json.loads((run / "config.json").read_text())["data"]["epochs"]
    assert clock == {"steps_per_epoch": 1, "from_step": 10, "from_epoch": 2}
    p = cli("train", "--resume", run, "--epochs", "5")  # the same (new) data: the clock is kept
    assert "from step 12 of 13" in p.stderr
    assert (run / "samples" / "epoch_0005.png").exists()


def test_resume_python_api_takes_allow_new_data(run, gray_folder):
    with pytest.raises(GanforgeError, match="allow_new_data=True"):
        ganforge.train(out=run, resume=True, data=gray_folder, epochs=3, quiet=True)
    ganforge.train(out=run, resume=True, data=gray_folder, epochs=3, quiet=True, allow_new_data=True)
    assert read_training_state(run / "state.safetensors")["step"] == 6 + 40 // 8


# ---- 4. --threads --------------------------------------------------------------------------------


def test_generate_eval_and_demo_take_threads(cli, run, tmp_path, monkeypatch):
    import torch

    seen = []
    monkeypatch.setattr(torch, "set_num_threads", seen.append)
    cli("generate", run, "--n", "4", "--out", tmp_path / "g.png", "--threads", "1", "--device", "cpu")
    cli("eval", run, "--n", "10", "--metrics", "kid", "--floor-splits", "1", "--threads", "1")
    assert seen == [1, 1]
    asked = {}

    def fake_train(*args, **kwargs):
        asked.update(kwargs)
        raise GanforgeError("not training in this test")

    monkeypatch.setattr("ganforge.api.train", fake_train)
    cli("demo", "--out", tmp_path / "demo", "--threads", "1", check=False)
    assert asked["threads"] == 1
    assert build_parser().parse_args(["demo"]).threads is None


# ---- 5. the small confusing things ---------------------------------------------------------------


def test_losses_png_of_a_short_run_shows_its_points(tmp_path):
    from ganforge.visual import plot_losses

    def blue(records):  # pixels of the first curve's colour (matplotlib's C0)
        plot_losses(records, tmp_path / "l.png")
        a = np.asarray(Image.open(tmp_path / "l.png").convert("RGB")).astype(int)
        return int((np.abs(a - [31, 119, 180]).sum(-1) < 40).sum())

    legend_only = blue([{"step": 3, "d_loss": float("nan"), "g_loss": float("nan")}])
    assert blue([{"step": 3, "d_loss": 0.5, "g_loss": 0.7}]) > legend_only + 8


def test_conditional_grid_is_square_and_captioned(image_folder, tmp_path):
    r = ganforge.train("dcgan", data=image_folder, max_steps=1, out=tmp_path / "c", conditional=True,
                       **TINY_API)
    s = ganforge.load(r.path, device="cpu")
    g = s.grid(64, seed=0)  # two classes: was one 1090x70 strip of 32 columns
    tiles = 8 * 18 + 2  # 8 columns of 16 px tiles with 2 px gaps, 8 rows (4 per class)
    margin = g.width - tiles
    assert g.height == tiles and 0 < margin < 40
    caption = np.asarray(g.convert("L"))[:, :margin] < 60  # black text on the gray margin
    assert caption[2:20].sum() > 2 and caption[74:92].sum() > 2  # "a" by row 1, "b" by row 5
    assert caption[20:72].sum() == 0  # nothing by the other rows of a class's block
    with Image.open(r.path / "samples" / "epoch_0001.png") as im:
        assert preview_region(im).size == s.grid(4, seed=0).size  # the epoch preview is that grid
    # Run.generate takes label= as ganforge.load(...).generate does
    assert np.array_equal(r.generate(2, seed=1, label="b").numpy(), s.generate(2, seed=1, label="b").numpy())


def test_an_unknown_flag_points_at_the_subcommand(cli, run):
    line = one_line(cli("train", "mnist-fast", "--epochz", "3", check=False), "--epochz")
    assert line.startswith("ganforge train: error: unrecognized arguments: --epochz 3")
    assert "did you mean --epochs?" in line and line.endswith("(see ganforge train --help)")
    line = one_line(cli("generate", run, "--bogus", check=False), "--bogus")
    assert line.startswith("ganforge generate: error:") and "see ganforge generate --help" in line


def test_ctrl_c_while_starting_is_one_line(cli, monkeypatch):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("ganforge.cli.build_parser", interrupted)  # as if during `import torch`
    p = cli("train", "mnist-fast", check=False)
    assert p.returncode == 130 and p.stderr.strip() == "ganforge: interrupted"


def test_ctrl_c_in_the_first_second_of_a_real_process(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "ganforge", "train", "mnist-fast", "--out",
                             str(tmp_path / "r"), "--max-steps", "1"], stderr=subprocess.PIPE,
                            text=True, env=env)
    time.sleep(0.5)  # importing torch takes seconds
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err


def test_interpolate_and_seeds_messages(cli, run, tmp_path):
    p = cli("generate", run, "--interpolate", tmp_path / "w.gif", "--device", "cpu")
    assert "--n" not in p.stderr  # no "--n 64" the user never gave
    p = cli("generate", run, "--n", "32", "--interpolate", tmp_path / "w.gif", "--device", "cpu")
    assert "shows 16 of the --n 32 images" in p.stderr
    line = one_line(cli("generate", run, "--seeds", "a", "--out-dir", tmp_path / "s", check=False),
                    "--seeds a: 'a' is not a seed or a range of seeds")
    assert "'a' 'a'" not in line
    one_line(cli("generate", run, "--seeds", "1-x", "--out-dir", tmp_path / "s", check=False),
             "'1-x' is not a seed")


def test_mp4_names_its_extra_before_any_work(cli, run, tmp_path, monkeypatch):
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(r.startswith("imageio[ffmpeg]") for r in extras["video"])
    monkeypatch.setattr("ganforge.visual._has_mp4_writer", lambda: False)
    monkeypatch.setattr("ganforge.api.load", lambda *a, **k: pytest.fail("loaded the model first"))
    one_line(cli("generate", run, "--interpolate", tmp_path / "w.mp4", check=False),
             "pip install 'ganforge[video]'")


@pytest.mark.parametrize("args", [["--help"], ["generate", "--help"], ["eval", "--help"]])
def test_help_does_not_import_torch(args):
    code = (f"import sys\nfrom ganforge.cli import main\ntry:\n    main({args!r})\nexcept SystemExit:\n"
            "    pass\nprint('TORCH', 'torch' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert "TORCH False" in p.stdout, p.stdout[-500:] + p.stderr[-2000:]


def test_the_package_names_still_import():
    from ganforge import PRESETS, Sampler, train

    assert "mnist-fast" in PRESETS and callable(train) and Sampler.__name__ == "Sampler"
    assert set(ganforge.__all__) <= set(dir(ganforge))
    with pytest.raises(AttributeError):
        ganforge.no_such_name  # noqa: B018


# ---- 6. snapshots and x-flips ------------------------------------------------------------------


def test_snapshots_every_k_epochs_are_loadable_model_folders(cli, image_folder, tmp_path):
    import torch

    run = ganforge.train("dcgan", data=image_folder, epochs=4, out=tmp_path / "r", snapshot_every=2,
                         **TINY_API).path
    assert sorted(p.name for p in (run / "snapshots").iterdir()) == ["step_000006", "step_000012"]
    early, last = (ganforge.load(run / "snapshots" / f"step_{s:06d}", device="cpu") for s in (6, 12))
    latest = ganforge.load(run, device="cpu")
    assert torch.equal(last.generate(2, seed=0), latest.generate(2, seed=0))
    assert not torch.equal(early.generate(2, seed=0), latest.generate(2, seed=0))
    cli("generate", run / "snapshots" / "step_000006", "--n", "4", "--out", tmp_path / "g.png")
    res = ganforge.evaluate(run / "snapshots" / "step_000006", metrics="kid", n=10, floor_splits=1,
                            device="cpu")  # finds its run's data, as best/ does
    assert "kid" in res["metrics"]


def test_mirror_flips_real_images_and_resumes_exactly(image_folder, tmp_path):
    from _helpers import assert_same_state

    kw = dict(data=image_folder, **TINY_API)
    ganforge.train("dcgan", epochs=2, out=tmp_path / "a", mirror=True, **kw)
    ganforge.train("dcgan", epochs=1, out=tmp_path / "b", mirror=True, **kw)
    ganforge.train(out=tmp_path / "b", resume=True, epochs=2, quiet=True)
    assert_same_state(tmp_path / "a", tmp_path / "b", step=6)  # 1 + resume + 1 == 2 epochs
    ganforge.train("dcgan", epochs=2, out=tmp_path / "c", **kw)
    a, c = (read_training_state(tmp_path / x / "state.safetensors")["recipe"]["generator"] for x in "ac")
    assert any(not np.array_equal(a[k].numpy(), c[k].numpy()) for k in a)  # the flips reached D


def test_generate_batch_size_bounds_each_render(cli, run, tmp_path, monkeypatch):
    from ganforge.infer import sampler as sampler_module

    sizes: list[int] = []
    real = sampler_module.render

    def spy(net, z, batch_size=256, labels=None, psi=None):
        sizes.append(batch_size)
        return real(net, z, batch_size, labels, psi)

    monkeypatch.setattr(sampler_module, "render", spy)
    cli("generate", run, "--n", "5", "--batch-size", "2", "--out-dir", tmp_path / "a", "--device", "cpu")
    assert sizes and set(sizes) == {2}
    cli("generate", run, "--n", "5", "--out-dir", tmp_path / "b", "--device", "cpu")
    for f in sorted((tmp_path / "a").iterdir()):  # the same images, whatever the batch
        assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes()
