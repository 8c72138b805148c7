"""Prepared data sets (data/prepared.py), the data kinds behind the training shell (data/kinds.py),
a family with pairs made on the fly, and the thread rule that keeps a seed's weights fixed."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from _helpers import assert_same_state
from PIL import Image
from torch import nn

import ganforge
from ganforge.config import resolve
from ganforge.data import images as images_module
from ganforge.data import load_data, load_image_files
from ganforge.data import prepared as prepared_module
from ganforge.data.prepared import list_prepared, prepared_dir, prepared_images
from ganforge.errors import GanforgeError
from ganforge.families import FAMILIES, Batch, DataInfo, Export, Family, Reason, lower_lr
from ganforge.models import NetSpec
from ganforge.serialization import read_training_state
from ganforge.training import train_run

TINY = dict(model="dcgan", z_dim=8, width=4, size=16, batch_size=8, grid_n=4, log_every=1, device="cpu")


def _quiet(msg: str) -> None:
    pass


def test_first_use_prepares_and_later_uses_open_the_same_array(image_folder, monkeypatch):
    said: list[str] = []
    arr, names = prepared_images(image_folder, 16, None, "crop", warn=said.append)
    ref, ref_names = load_image_files(image_folder, 16, None, warn=_quiet)
    assert isinstance(arr, np.memmap) and np.array_equal(arr, ref) and names == ref_names
    assert any("preparing" in m for m in said)
    (entry,) = list_prepared()
    assert entry["images"] == 24 and entry["size"] == 16 and entry["bytes"] >= ref.nbytes

    def no_decoding(*a, **k):
        raise AssertionError("a prepared set must not be decoded again")

    monkeypatch.setattr(prepared_module, "decode_files", no_decoding)
    said.clear()
    again, _ = prepared_images(image_folder, 16, None, "crop", warn=said.append)
    assert np.array_equal(again, ref) and not said
    # A resumed run asks for the channel count the first start found: the same set serves it.
    assert np.array_equal(prepared_images(image_folder, 16, 3, "crop", warn=said.append)[0], ref)
    assert not said
    # Another size is another prepared set.
    monkeypatch.undo()
    other, _ = prepared_images(image_folder, 12, None, "crop", warn=_quiet)
    assert other.shape[-1] == 12 and len(list_prepared()) == 2


def test_gray_images_keep_one_plane(gray_folder):
    arr, _ = prepared_images(gray_folder, 16, None, "crop", warn=_quiet)
    assert arr.shape == (40, 1, 16, 16)
    assert np.array_equal(arr, load_image_files(gray_folder, 16, None, warn=_quiet)[0])


def test_a_changed_source_is_prepared_again_with_a_line_saying_why(image_folder):
    prepared_images(image_folder, 16, None, "crop", warn=_quiet)
    Image.new("RGB", (20, 20), (255, 0, 0)).save(image_folder / "a" / "new.png")
    said: list[str] = []
    arr, names = prepared_images(image_folder, 16, None, "crop", warn=said.append)
    assert len(arr) == 25 and "a/new.png" in names
    assert any("changed since it was prepared (24 -> 25 files)" in m for m in said)
    # The same number of files, one of them rewritten: found by size and time, not by count.
    os.utime(image_folder / "a" / "new.png", ns=(1, 1))
    said.clear()
    prepared_images(image_folder, 16, None, "crop", warn=said.append)
    assert any("files were changed or replaced" in m for m in said)


def test_a_killed_preparation_leaves_no_usable_half_cache(image_folder, monkeypatch):
    real = images_module.decode_files

    def killed_midway(*args, **kwargs):
        for i, item in enumerate(real(*args, **kwargs)):
            if i == 10:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(prepared_module, "decode_files", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        prepared_images(image_folder, 16, None, "crop", warn=_quiet)
    assert list_prepared() == []
    assert not [p for p in prepared_dir().iterdir() if p.is_dir()]  # no half-written folder left
    monkeypatch.undo()
    arr, _ = prepared_images(image_folder, 16, None, "crop", warn=_quiet)
    assert len(arr) == 24


def test_a_damaged_cache_is_never_used(image_folder):
    prepared_images(image_folder, 16, None, "crop", warn=_quiet)
    (entry,) = list_prepared()
    data = prepared_dir() / entry["key"] / "images.u8"
    data.write_bytes(data.read_bytes()[:1000])  # truncated: a disk that filled up, say
    arr, _ = prepared_images(image_folder, 16, None, "crop", warn=_quiet)
    assert np.array_equal(arr, load_image_files(image_folder, 16, None, warn=_quiet)[0])


def test_a_full_disk_is_one_line_and_no_cache(image_folder, monkeypatch):
    import builtins

    real_open = builtins.open

    def full(path, mode="r", *a, **k):
        f = real_open(path, mode, *a, **k)
        if str(path).endswith("images.u8") and "w" in mode:
            f.close()
            raise OSError(28, "No space left on device")
        return f

    monkeypatch.setattr(builtins, "open", full)
    with pytest.raises(GanforgeError, match=r"preparing .* failed \(No space left on device\); free "
                                            r"space .* or pass --no-cache"):
        prepared_images(image_folder, 16, None, "crop", warn=_quiet)
    monkeypatch.undo()
    assert list_prepared() == []


def test_skipped_files_are_remembered_and_strict_refuses_them(image_folder):
    (image_folder / "a" / "broken.png").write_bytes(b"not a png")
    said: list[str] = []
    arr, _ = prepared_images(image_folder, 16, None, "crop", warn=said.append)
    assert len(arr) == 24 and any("skipping" in m and "broken.png" in m for m in said)
    said.clear()
    prepared_images(image_folder, 16, None, "crop", warn=said.append)
    assert any("1 of 25 files" in m and "skipped when it was prepared" in m for m in said)
    with pytest.raises(GanforgeError, match=r"broken.png: cannot read image .* drop --strict"):
        prepared_images(image_folder, 16, None, "crop", strict=True, warn=_quiet)


def test_a_zip_is_prepared_too(image_folder, tmp_path):
    import zipfile

    z = tmp_path / "imgs.zip"
    with zipfile.ZipFile(z, "w") as f:
        for p in sorted(image_folder.rglob("*.png")):
            f.write(p, f"imgs/{p.relative_to(image_folder)}")
    ds = load_data(z, 16, cache=True)
    assert len(ds) == 24 and ds.classes == ["a", "b"] and list_prepared()[0]["source"] == str(z)


def test_training_uses_the_cache_and_no_cache_bypasses_it(image_folder, tmp_path):
    cfg = resolve("dcgan", data=str(image_folder), max_steps=1, **TINY)
    train_run(cfg, tmp_path / "a", quiet=True)
    assert len(list_prepared()) == 1
    assert cfg.run.channels is None and cfg.run.threads is None  # the caller's config is untouched
    recorded = json.loads((tmp_path / "a" / "config.json").read_text())["run"]
    assert recorded["channels"] == 3 and recorded["threads"] == 2 and recorded["cache"] is True
    prepared_module.delete_prepared("all")
    train_run(resolve("dcgan", data=str(image_folder), max_steps=1, cache=False, **TINY), tmp_path / "b",
              quiet=True)
    assert list_prepared() == []
    assert_same_state(tmp_path / "a", tmp_path / "b", 1)  # the same batches either way


def test_data_command_prepares_lists_and_deletes(cli, image_folder):
    p = cli("data", "--prepare", image_folder, "--size", "16")
    assert "24 images" in p.stdout and str(prepared_dir()) in p.stdout
    listing = cli("data").stdout
    assert "prepared" in listing and str(image_folder) in listing and "16px" in listing
    key = list_prepared()[0]["key"]
    p = cli("data", "--delete", key)
    assert key in p.stdout and list_prepared() == []
    bad = cli("data", "--delete", "nothing-like-it", check=False)
    assert bad.returncode == 2 and "no prepared set" in bad.stderr and len(bad.stderr.splitlines()) == 1
    bad = cli("data", "--prepare", image_folder / "missing", "--size", "16", check=False)
    assert bad.returncode == 2 and "missing" in bad.stderr


# ---- a family whose pairs are made on the fly, with no change to training/ ------------------
@dataclasses.dataclass
class ToyConfig:
    width: int = 4
    lr: float = 1e-2

    def validate(self) -> ToyConfig:
        return self


def _darken(images: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image with random noise added (the input) and the image itself (the target)."""
    noise = torch.randn(images.shape, generator=g, device=images.device) * 0.2
    return (images + noise).clamp(-1, 1), images


class Denoise(nn.Module):
    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(width, channels, 3, padding=1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ToyRecipe:
    def __init__(self, cfg: ToyConfig, data: DataInfo, env, total: int) -> None:
        self.net = Denoise(data.channels, cfg.width)
        self.opt = torch.optim.Adam(self.net.parameters(), cfg.lr)
        self.state = {"net": self.net, "opt": self.opt}
        self.seen: list[torch.Tensor] = []

    def step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        self.seen.append(batch.images.detach().clone())
        loss = (self.net(batch.images) - batch.targets).abs().mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"l1_loss": loss.detach()}

    def health(self, rec):
        return None

    def recover(self, reason: Reason) -> str:
        return f"learning rate lowered to {lower_lr(self.opt):.3g}"

    def export(self) -> Export:
        spec = NetSpec("toy-denoise", {"channels": 3, "width": 4})  # written, never rebuilt here
        return Export("translate", {"generator": (self.net, spec)}, {"a2b": "generator"},
                      {"size": 16, "channels": 3, "domains": ["noisy", "clean"]})


@pytest.fixture
def toy_family(monkeypatch):
    fam = Family("toy", ToyConfig, ToyRecipe, "derived", "denoising, pairs made on the fly",
                 lambda cfg: _darken)
    monkeypatch.setitem(FAMILIES._items, "toy", fam)
    return fam


def test_a_family_with_pairs_made_on_the_fly_trains_without_touching_the_shell(toy_family, image_folder,
                                                                              tmp_path, monkeypatch):
    built: list[ToyRecipe] = []
    build = toy_family.build

    def keep(*a):
        built.append(build(*a))
        return built[-1]

    monkeypatch.setitem(FAMILIES._items, "toy", dataclasses.replace(toy_family, build=keep))
    cfg = resolve("toy", data=str(image_folder), size=16, batch_size=4, epochs=2, grid_n=4, log_every=1,
                  device="cpu")
    run = train_run(cfg, tmp_path / "r", quiet=True)
    recs = [r for r in ganforge.Run(run).metrics if "l1_loss" in r]
    assert len(recs) == 2 * ((24 - 24 // 10) // 4) and recs[-1]["l1_loss"] < recs[0]["l1_loss"]
    about = json.loads((run / "config.json").read_text())["data"]
    assert about["pairs"] == "made on the fly" and about["held_out"] == 2
    seen = built[0].seen
    assert not torch.equal(seen[0], seen[1])  # fresh noise every step
    with Image.open(run / "samples" / "epoch_0002.png") as im:
        assert im.width > 3 * 16  # input | output | target rows of held-out images


def test_pairs_made_on_the_fly_resume_bit_exact(toy_family, image_folder, tmp_path):
    kw = dict(data=str(image_folder), size=16, batch_size=4, grid_n=4, log_every=1, device="cpu")
    train_run(resolve("toy", epochs=2, **kw), tmp_path / "a", quiet=True)
    train_run(resolve("toy", epochs=1, **kw), tmp_path / "b", quiet=True)
    ganforge.train(out=tmp_path / "b", resume=True, epochs=2, quiet=True)
    assert read_training_state(tmp_path / "a" / "state.safetensors")["step"] == 10
    assert_same_state(tmp_path / "a", tmp_path / "b", 10)


# ---- threads: the same command and seed give the same weights, whatever else runs ------------
def test_the_automatic_thread_count_ignores_the_load(monkeypatch):
    from ganforge import env

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(env, "usable_cores", lambda: 2)
    monkeypatch.setattr(env, "other_cpu_use", lambda window=0.3: 1.9)  # another job is running
    assert env.choose_threads(None) == (2, "2 cores")
    warning = env.contention_warning(2)
    assert "1.9 of 2 cores busy" in warning and "--threads 1" in warning
    one = env.contention_warning(1)  # a --threads 1 run is not told to use --threads 1
    assert one is not None and "--threads" not in one


@pytest.mark.slow
def test_same_seed_same_weights_with_a_busy_process_beside_it(image_folder, tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # the automatic choice, as a user gets it
    cfg = dict(data=str(image_folder), max_steps=3, **TINY)
    ganforge.train("dcgan", out=tmp_path / "idle", quiet=True, **cfg)
    busy = [subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\n"
                              "while time.time() - t < 120: pass"]) for _ in range(2)]
    time.sleep(0.5)  # both spinning before the run starts: what a thread count from the load would see
    try:
        ganforge.train("dcgan", out=tmp_path / "busy", quiet=True, **cfg)
    finally:
        for p in busy:
            p.kill()
            p.wait()
    assert_same_state(tmp_path / "idle", tmp_path / "busy", 3)
    threads = [json.loads((tmp_path / r / "config.json").read_text())["run"]["threads"]
               for r in ("idle", "busy")]
    assert threads[0] == threads[1]
