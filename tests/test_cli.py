"""The command line as a user runs it: arguments in, exit code and printed lines out (in-process
through the ``cli`` fixture; Ctrl-C and torchrun in real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

TINY = ["--size", "16", "--batch-size", "8", "--seed", "0"]


def test_help_shows_examples(capsys):
    from ganforge.cli import main

    for args in ([], ["train"], ["generate"], ["translate"], ["demo"], ["data"]):
        with pytest.raises(SystemExit) as e:  # in-process: argparse prints help, then exits 0
            main([*args, "--help"])
        assert e.value.code == 0 and "example" in capsys.readouterr().out


def test_train_then_generate_end_to_end(cli, image_folder, tmp_path):
    run = tmp_path / "run"
    p = cli("train", "dcgan", "--data", image_folder, "--epochs", "2", "--out", run, *TINY)
    assert p.stdout.strip() == str(run)
    assert (run / "samples" / "epoch_0002.png").exists()

    grid = tmp_path / "grid.png"
    cli("generate", run, "--n", "9", "--seed", "1", "--out", grid)
    with Image.open(grid) as im:
        assert im.size == (3 * 18 + 2, 3 * 18 + 2)  # 3x3 tiles of 16px with 2px padding
        first = np.asarray(im).copy()
    cli("generate", run, "--n", "9", "--seed", "1", "--out", grid)
    with Image.open(grid) as im:
        assert np.array_equal(np.asarray(im), first)  # same seed, same images

    cli("generate", run, "--n", "5", "--out-dir", tmp_path / "each")
    assert len(list((tmp_path / "each").glob("*.png"))) == 5

    gif = tmp_path / "walk.gif"
    cli("generate", run, "--n", "4", "--interpolate", gif)
    with Image.open(gif) as im:
        assert im.n_frames > 10

    # resume extends the run by one epoch
    cli("train", "dcgan", "--out", run, "--resume", "--epochs", "3")
    assert (run / "samples" / "epoch_0003.png").exists()


@pytest.mark.parametrize("args,needle", [
    (["train", "no-such-preset"], "unknown preset"),
    (["train", "mnist-dcgan", "--epochs", "-1"], "--epochs"),
    (["train", "mnist-dcgan", "--epochs", "two"], "--epochs"),
    (["train", "dcgan", "--data", "/no/such/folder"], "/no/such/folder"),
    (["train", "dcgan", "--data", "nosuchset"], "not a known data set"),
    (["train", "mnist-dcgan", "--resume"], "--resume needs the run folder"),
    (["train", "mnist-dcgan", "--device", "cuda:7", "--max-steps", "1"], "cuda"),
    (["generate", "/no/such/run"], "no such run folder"),
    (["generate", ".", "--n", "0"], "--n"),
])
def test_wrong_arguments_exit_2_with_one_line(cli, args, needle):
    p = cli(*args, check=False)
    assert p.returncode == 2, p.stderr
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, p.stderr
    assert needle in lines[0] and "Traceback" not in p.stderr


def test_bad_images_warn_then_train(cli, image_folder, tmp_path):
    (image_folder / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    p = cli("train", "dcgan", "--data", image_folder, "--max-steps", "1", "--out", tmp_path / "r",
            *TINY)
    assert "warning: skipping" in p.stderr and "broken.jpg" in p.stderr
    p = cli("train", "dcgan", "--data", image_folder, "--max-steps", "1", "--out", tmp_path / "s",
            "--strict", *TINY, check=False)
    assert p.returncode == 2 and "broken.jpg" in p.stderr


def test_ctrl_c_saves_and_resume_continues(cli, image_folder, tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ganforge", "train", "mlp", "--data", str(image_folder), "--out",
         str(run), "--epochs", "100000", *TINY], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    metrics = run / "metrics.jsonl"
    while proc.poll() is None and not (metrics.exists() and metrics.read_text().count("\n") > 2):
        time.sleep(0.2)  # however long the machine takes to get going
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate()
    assert proc.returncode == 130, err
    assert "stopped at step" in err and "Traceback" not in err
    hint = err.split("continue with: ")[1].split()  # the printed command must work as printed
    assert hint[:3] == ["ganforge", "train", "--resume"] and hint[3] == str(run)
    from ganforge.serialization import read_training_state as load_state

    step = load_state(run / "state.safetensors")["step"]
    assert step > 0
    cli("train", "--resume", run, "--max-steps", str(step + 3))
    assert load_state(run / "state.safetensors")["step"] == step + 3


def test_data_list(cli):
    out = cli("data").stdout
    for name in ("mnist-mini", "mnist", "fashion-mnist", "cifar10", "celeba"):
        assert name in out


# Each rank records the rows it read, then runs the CLI as `python -m ganforge` would.
_SPY = """
import json, os, sys
from ganforge.data import kinds
seen = []
read = kinds.ImageData.batch
def spy(self, idx, epoch, step):
    seen.append([epoch, idx.tolist()])
    return read(self, idx, epoch, step)
kinds.ImageData.batch = spy
from ganforge.cli import main
code = main(sys.argv[1:])
with open(os.environ["SEEN"] + os.environ["RANK"], "w") as f:
    json.dump(seen, f)
raise SystemExit(code)
"""


@pytest.mark.slow
def test_ddp_two_processes_on_cpu(image_folder, tmp_path):
    """torchrun with 2 CPU processes (gloo): both train, each reading only its own shard of
    every epoch, and rank 0 writes the run."""
    run = tmp_path / "ddp"
    (tmp_path / "spy.py").write_text(_SPY)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SEEN": str(tmp_path / "seen")}
    p = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(tmp_path / "spy.py"), "train", "dcgan", "--data", str(image_folder), "--out", str(run),
         "--epochs", "2", *TINY], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    import json

    cfg = json.loads((run / "config.json").read_text())
    assert cfg["world_size"] == 2
    from ganforge.serialization import read_training_state

    assert read_training_state(run / "state.safetensors")["step"] == 2 * (24 // 8)
    assert (run / "samples" / "epoch_0002.png").exists()
    seen = [json.loads((tmp_path / f"seen{r}").read_text()) for r in (0, 1)]
    for epoch in (0, 1):
        rows = [{i for e, idx in s if e == epoch for i in idx} for s in seen]
        assert len(rows[0]) == len(rows[1]) == 12 and not rows[0] & rows[1]  # disjoint halves
        assert rows[0] | rows[1] == set(range(24))


def test_demo_prints_run_folder_and_contents(cli, tmp_path):
    p = cli("demo", "--epochs", "1", "--out", tmp_path / "demo")
    assert "Run folder:" in p.stdout and "progress.gif" in p.stdout and "samples/" in p.stdout
    assert (tmp_path / "demo" / "generated_seed0.png").exists()
