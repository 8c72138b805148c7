"""Resume as a user does it, old run folders, and broken run folders: one line, never a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from _helpers import ctrl_c_after
from safetensors.torch import load_file

import ganforge
from ganforge.errors import GanforgeError
from ganforge.serialization import read_training_state

FIXTURES = Path(__file__).parent / "fixtures"
TINY = dict(size=16, batch_size=8, z_dim=8, width=4, grid_n=4, log_every=1, device="cpu")


def one_line_error(p, needle):
    assert p.returncode == 2, p.stderr
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in p.stderr, p.stderr


@pytest.fixture
def old_run(tmp_path):
    """A run folder written by ganforge 0.1 (config 'train' section, state format 1)."""
    dst = tmp_path / "old"
    shutil.copytree(FIXTURES / "run_v010", dst)
    return dst


@pytest.fixture
def run(image_folder, tmp_path):
    return ganforge.train("dcgan", data=image_folder, epochs=2, out=tmp_path / "run", quiet=True,
                          **TINY).path


def test_old_run_folder_loads_generates_and_evaluates(old_run):
    expected = load_file(str(FIXTURES / "run_v010_expected.safetensors"))
    imgs = ganforge.load(old_run, device="cpu").generate(4, seed=0)
    assert torch.equal(imgs, expected["generate_seed0"])  # what ganforge 0.1 drew
    assert ganforge.Run(old_run).config.model.model == "dcgan"
    res = ganforge.evaluate(old_run, metrics="fid", n=50, device="cpu")
    assert res["metrics"]["fid"]["value"] > 0 and res["protocol"]["image_size"] == 16


def test_old_run_folder_resumes_exactly_as_ganforge_0_1_did(old_run):
    expected = load_file(str(FIXTURES / "run_v010_expected.safetensors"))
    ganforge.train(out=old_run, resume=True, max_steps=6, quiet=True)
    assert read_training_state(old_run / "state.safetensors")["step"] == 6
    imgs = ganforge.load(old_run, device="cpu").generate(4, seed=0)
    # The expected images were made on an AVX2 CPU; AVX-512/AMX kernels round the three training
    # steps differently in the last bits (measured 3e-8 on a Xeon with AMX, same before and after
    # the data-layer rewrite). Bit-exact resume on one machine is the family contract's test.
    torch.testing.assert_close(imgs, expected["resumed_to_6_generate_seed0"], rtol=0, atol=1e-6)
    cfg = json.loads((old_run / "config.json").read_text())
    assert cfg["family"] == "gan" and cfg["run"]["max_steps"] == 6  # rewritten in today's layout


def test_cli_resume_needs_no_preset_and_says_where_it_is(cli, run):
    p = cli("train", "--resume", run, "--epochs", "3")
    assert "resuming" in p.stderr and "from step 6 of 9" in p.stderr
    p = cli("train", "--resume", run)
    assert "already finished: step 9 of 9" in p.stderr and "done:" not in p.stderr


def test_resume_applies_safe_changes_and_records_them(cli, run, image_folder, tmp_path):
    moved = tmp_path / "moved"
    shutil.move(str(image_folder), moved)
    p = cli("train", "--resume", run, "--epochs", "3", check=False)
    one_line_error(p, "is gone; pass --data")
    p = cli("train", "--resume", run, "--epochs", "3", "--data", moved, "--device", "cpu",
            "--threads", "1")
    assert "data=" in p.stderr and "threads=1" in p.stderr
    cfg = json.loads((run / "config.json").read_text())["run"]
    assert cfg["data"] == str(moved.resolve()) and cfg["threads"] == 1 and cfg["epochs"] == 3


@pytest.mark.parametrize("args,needle", [
    (["--lr", "0.01"], "cannot change lr_g"),
    (["--batch-size", "4"], "cannot change batch_size"),
    (["--epochs", "1"], "past the asked target of 3 steps"),
    (["--max-steps", "2"], "past the asked target of 2 steps"),
])
def test_resume_refuses_changes_to_what_the_run_learns(cli, run, args, needle):
    one_line_error(cli("train", "--resume", run, *args, check=False), needle)
    assert read_training_state(run / "state.safetensors")["step"] == 6  # untouched


def test_resume_refuses_another_preset(cli, run):
    one_line_error(cli("train", "mnist-vae", "--resume", run, check=False), "not 'vae'")


@pytest.mark.parametrize("content,needle", [
    ("{ not json", "not valid JSON"),
    (json.dumps({"family": "gan", "run": {}}), "no 'model' section"),
    (None, "run.batch_size must be a whole number, got 'sixty'"),
])
def test_broken_config_json_is_one_line(cli, run, content, needle):
    cfg = run / "config.json"
    if content is None:
        d = json.loads(cfg.read_text())
        d["run"]["batch_size"] = "sixty"
        content = json.dumps(d)
    cfg.write_text(content)
    one_line_error(cli("train", "--resume", run, "--epochs", "3", check=False), needle)
    one_line_error(cli("eval", run, "--n", "10", check=False), needle)


def test_api_type_errors_are_one_line(image_folder):
    with pytest.raises(GanforgeError, match="batch_size must be a whole number, got '64'"):
        ganforge.train("dcgan", data=image_folder, batch_size="64")
    with pytest.raises(GanforgeError, match="betas must be a list of 2 numbers, got 0.5"):
        ganforge.train("dcgan", data=image_folder, betas=0.5)
    with pytest.raises(GanforgeError, match="unknown setting bacth_size"):
        ganforge.train("dcgan", data=image_folder, bacth_size=8)


def test_best_folder_generates_and_evaluates(cli, tmp_path):
    run = ganforge.train("mnist-fast", max_steps=10, out=tmp_path / "r", batch_size=16, width=8,
                         eval_every=1, eval_n=100, quiet=True, device="cpu").path
    best = run / "best"
    assert ganforge.load(best, device="cpu").generate(2).shape == (2, 1, 28, 28)
    res = ganforge.evaluate(best, metrics="fid", n=50, device="cpu")
    assert res["protocol"]["real"] == "mnist-mini"
    p = cli("generate", best, "--n", "4", "--out", tmp_path / "g.png")
    assert (tmp_path / "g.png").exists() and p.returncode == 0


def test_half_written_metrics_line_is_skipped_everywhere(run):
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 7, "d_lo')  # a run killed mid-write
    n = len(ganforge.Run(run).metrics)
    assert n == 6  # log_every=1, 6 steps; the broken line dropped
    ganforge.train(out=run, resume=True, epochs=3, quiet=True)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert all(json.loads(x) for x in lines) and len(lines) == 9


def test_ctrl_c_keeps_the_losses_since_the_last_log_line(image_folder, tmp_path, monkeypatch):
    ctrl_c_after(monkeypatch, "gan", at=1)  # as a user's Ctrl-C, during step 2
    with pytest.raises(KeyboardInterrupt):
        ganforge.train("dcgan", data=image_folder, epochs=2, out=tmp_path / "r", quiet=True,
                       **{**TINY, "log_every": 100})
    recs = ganforge.Run(tmp_path / "r").metrics
    assert [r["step"] for r in recs] == [2] and "g_loss" in recs[0]
    assert read_training_state(tmp_path / "r" / "state.safetensors")["step"] == 2


def test_threads_respect_the_user_then_the_machine(monkeypatch):
    from ganforge import env

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(env, "usable_cores", lambda: 2)
    assert env.choose_threads(None) == (2, "2 cores")
    assert env.choose_threads(3) == (3, "--threads")
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert env.choose_threads(None) == (4, "OMP_NUM_THREADS")
    assert env.choose_threads(1) == (1, "--threads")


def test_the_thread_count_is_recorded_and_reused(cli, run):
    cfg = json.loads((run / "config.json").read_text())["run"]
    assert cfg["threads"] == 2  # OMP_NUM_THREADS in the tests
    p = cli("train", "--resume", run, "--epochs", "3")
    assert "2 threads (--threads)" in p.stderr
