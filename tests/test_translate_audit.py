"""Issue 18, translation: what a new user tripped over. A single folder is no longer cut into
left and right halves unasked; ``translate`` streams (bounded memory, --batch-size), reads images
as training does, reads zips, takes --threads, and exits 2 when it translated nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.data import load_domains, to_array
from ganforge.data.pairs import load_pair
from ganforge.errors import GanforgeError
from ganforge.models import NetSpec
from ganforge.serialization import save_model


def _images(root, names, size=(24, 24), color=(200, 50, 50)):
    for n in names:
        (root / n).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, color).save(root / n)
    return root


@pytest.fixture
def model(tmp_path):
    """A tiny CycleGAN model folder (both directions), written as training publishes one."""
    torch.manual_seed(0)
    spec = NetSpec("ResNetTranslator", {"in_channels": 3, "out_channels": 3, "width": 2, "blocks": 1})
    folder = tmp_path / "model"
    save_model(folder, family="cyclegan", kind="translate",
               nets={"generator_ab": (spec.build(), spec), "generator_ba": (spec.build(), spec)},
               uses={"a2b": "generator_ab", "b2a": "generator_ba"},
               info={"size": 16, "channels": 3, "domains": ["A", "B"]}, version="test")
    return folder


def _identity(self, x, direction="a2b", batch_size=16):
    return x.clone()


# ---- 1. a single folder is not cut in halves unasked ----------------------------------------
@pytest.mark.parametrize("paired", [False, True], ids=["cyclegan", "pix2pix"])
def test_a_folder_of_ordinary_images_is_refused_not_cut_in_halves(tmp_path, paired):
    """`train face2anime --data faces/` trained left half-faces vs right half-faces."""
    faces = _images(tmp_path / "faces", [f"{i:02d}.png" for i in range(12)], size=(30, 36))
    with pytest.raises(GanforgeError) as e:
        load_domains(str(faces), None, paired, 16, quiet=True)
    msg = str(e.value)
    assert "\n" not in msg and "--data-b" in msg and "--pairs" in msg and "30x36" in msg, msg
    ab = tmp_path / "ab"  # a folder of two folders: the likely split is named
    _images(ab, ["A/0.png", "A/1.png", "B/0.png", "B/1.png"])
    with pytest.raises(GanforgeError, match=re.escape(f"--data {ab / 'A'} --data-b {ab / 'B'}")):
        load_domains(str(ab), None, paired, 16, quiet=True)
    # asked for (--pairs), the same folder is read side by side: the user's word is taken
    p = load_pair(faces, None, paired, 16, quiet=True, side_by_side=True)
    assert p.source["layout"] == "A|B"


def test_side_by_side_images_are_recognised_and_said_in_one_line(tmp_path, capsys):
    sbs = tmp_path / "sbs"
    sbs.mkdir()
    for i in range(10):
        im = Image.new("RGB", (40, 20), (255, 0, 0))
        im.paste((0, 0, 255), (20, 0, 40, 20))  # A red | B blue
        im.save(sbs / f"{i}.png")
    capsys.readouterr()
    p = load_domains(str(sbs), None, True, 16)
    said = [line for line in capsys.readouterr().err.splitlines() if "side-by-side" in line]
    assert len(said) == 1 and "left half A, right half B" in said[0], said
    assert p.images[0, 0].float().mean() > 250 and p.targets[0, 2].float().mean() > 250
    with pytest.raises(GanforgeError, match="drop --data-b"):
        load_pair(sbs, sbs, True, 16, quiet=True, side_by_side=True)


def test_registered_side_by_side_sets_keep_working_without_a_word(tmp_path, monkeypatch, capsys):
    from ganforge.data import pairs

    root = tmp_path / "facades"
    for split, n in (("train", 4), ("val", 2)):
        _images(root / split, [f"{i}.jpg" for i in range(n)], size=(64, 32))
    monkeypatch.setattr(pairs, "_archive", lambda res, name: root)
    capsys.readouterr()
    p = load_domains("facades", None, True, 16)
    assert (p.name, p.paired, len(p.images), len(p.held)) == ("facades", True, 4, 2)
    assert "twice as wide" not in capsys.readouterr().err  # registered: its layout is known
    cyc = tmp_path / "h2z"
    for split in ("trainA", "trainB"):
        _images(cyc / split, [f"{i}.png" for i in range(3)])
    with pytest.raises(GanforgeError, match="--pairs .*trainA/ and trainB/"):
        load_pair(cyc, None, False, 16, quiet=True, side_by_side=True)


# ---- 2. translate streams, in batches --------------------------------------------------------
def test_translate_streams_in_batches(cli, model, tmp_path, monkeypatch):
    """Each batch is translated and written before the next is read (it used to decode the
    whole folder first: 2.9 GB for 40 photos of 12 MP)."""
    src = _images(tmp_path / "in", [f"{i}.png" for i in range(5)], size=(30, 20))
    (src / "9_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    events: list[str] = []

    def run(self, x, direction="a2b", batch_size=16):
        events.append(f"run {len(x)}")
        return x.clone()

    monkeypatch.setattr(ganforge.Translator, "run", run)
    t = ganforge.load(model, device="cpu")
    written, bad = t.translate_folder(src, tmp_path / "o1", batch_size=2, warn=events.append)
    assert (written, len(bad)) == (5, 1) and "9_broken.png" in bad[0]
    # read, translated, written two at a time; the bad file is met in the last batch
    assert events[:2] == ["run 2", "run 2"] and "9_broken.png" in events[2], events
    assert events[3:] == ["run 1"], events
    events.clear()
    p = cli("translate", model, src, "--out", tmp_path / "o2", "--batch-size", "3")
    assert events == ["run 3", "run 2"] and "translated 5 images" in p.stdout
    with Image.open(tmp_path / "o2" / "4.png") as im:
        assert im.size == (30, 20)


@pytest.mark.slow
def test_translate_peak_memory_does_not_grow_with_the_folder(tmp_path, model):
    """Peak RSS of `translate` over 24 images of 3 MP minus that over 1: the old reader held
    every decoded image (24 x 9 MB); streaming holds one batch at the model's size."""
    rng = np.random.default_rng(0)
    big = tmp_path / "big"
    big.mkdir()
    base = rng.integers(0, 255, (1500, 2000, 3), dtype=np.uint8)
    for i in range(24):
        Image.fromarray(np.roll(base, i, 0)).save(big / f"{i:02d}.jpg", quality=90)
    one = tmp_path / "one"
    one.mkdir()
    (one / "00.jpg").write_bytes((big / "00.jpg").read_bytes())
    script = textwrap.dedent("""
        import resource, sys
        from ganforge.cli import main
        code = main(["translate", sys.argv[1], sys.argv[2], "--out", sys.argv[3], "--device", "cpu"])
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        raise SystemExit(code)
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(ganforge.__file__).parents[1]),  # this checkout's
           "OMP_NUM_THREADS": "1"}
    peak = {}
    for name, src in (("one", one), ("many", big)):
        p = subprocess.run([sys.executable, "-c", script, str(model), str(src), str(tmp_path / f"o-{name}")],
                           capture_output=True, text=True, timeout=300, env=env)
        assert p.returncode == 0, p.stderr
        peak[name] = int(p.stdout.split()[-1]) / 1024  # MB (ru_maxrss is in KiB on Linux)
    assert peak["many"] - peak["one"] < 60, peak  # decoding all first: + ~450 MB


# ---- 3. one image reader for training and translation ---------------------------------------
def test_translate_reads_16_bit_gray_and_transparency_as_training_does(cli, model, tmp_path, monkeypatch):
    """A 30%-gray 16-bit PNG went in as white, a transparent one as black."""
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(np.full((16, 16), 20000, np.uint16)).save(src / "gray16.png")
    Image.new("RGBA", (16, 16), (0, 0, 0, 0)).save(src / "clear.png")
    t = ganforge.load(model, device="cpu")
    for name, want in (("gray16.png", 20000 / 65535), ("clear.png", 1.0)):
        with Image.open(src / name) as im:
            got = t._to_tensor(im, 16)
            trained = torch.from_numpy(to_array(im, 16, 3)).float() / 255
        assert torch.allclose(got, trained, atol=1 / 255), name
        assert abs(got.mean().item() - want) < 2 / 255, (name, got.mean().item())
    monkeypatch.setattr(ganforge.Translator, "run", _identity)
    cli("translate", model, src, "--out", tmp_path / "out")
    with Image.open(tmp_path / "out" / "gray16.png") as im:
        assert abs(np.asarray(im.convert("L"), np.float64).mean() - 20000 / 65535 * 255) < 2
    with Image.open(tmp_path / "out" / "clear.png") as im:
        assert np.asarray(im.convert("L")).min() >= 253


# ---- 4. nothing translated is an error ------------------------------------------------------
def test_translate_exits_2_when_it_translated_nothing(cli, model, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    p = cli("translate", model, notes, "--out", tmp_path / "o1", check=False)
    err = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(err) == 1 and "notes.txt" in err[0] and "nothing translated" in err[0]
    bad = tmp_path / "bad"
    bad.mkdir()
    for i in range(2):
        (bad / f"{i}.png").write_bytes(b"")
    p = cli("translate", model, bad, "--out", tmp_path / "o2", check=False)
    err = p.stderr.strip().splitlines()
    assert p.returncode == 2 and "none of its 2 image files" in err[-1] and "nothing translated" in err[-1]
    assert p.stdout == ""


# ---- 5. zips, --threads ---------------------------------------------------------------------
def test_translate_straight_from_a_zip(cli, model, tmp_path):
    import io

    def png(size):
        buf = io.BytesIO()
        Image.new("RGB", size, (10, 200, 30)).save(buf, "PNG")
        return buf.getvalue()

    z = tmp_path / "photos.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("photos/a.png", png((21, 17)))
        f.writestr("photos/sub/b.png", png((8, 12)))
        f.writestr("../evil.png", png((8, 8)))  # a hostile name must not escape --out
        f.writestr("photos/readme.txt", "hello")
    out = tmp_path / "sub" / "out"
    p = cli("translate", model, z, "--out", out)
    assert "translated 2 images" in p.stdout and "skipped 1" in p.stdout and "evil.png" in p.stderr
    with Image.open(out / "photos" / "a.png") as im:
        assert im.size == (21, 17)
    with Image.open(out / "photos" / "sub" / "b.png") as im:
        assert im.size == (8, 12)
    assert not (tmp_path / "sub" / "evil.png").exists() and not (out / "evil.png").exists()


def test_translate_threads(cli, model, tmp_path):
    src = _images(tmp_path / "in", ["a.png"])
    before = torch.get_num_threads()
    try:
        cli("translate", model, src, "--out", tmp_path / "out", "--threads", "1")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_pairs_flag_reaches_the_loader_and_resume_keeps_it(cli, tmp_path):
    """`train pix2pix --pairs DIR` on square A|B images: read side by side because it was asked
    (the same folder without --pairs is refused), recorded, and kept by a resume and eval."""
    rng = np.random.default_rng(0)
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    for i in range(22):
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(pairs / f"{i:02d}.png")
    base = ["--size", "16", "--batch-size", "4", "--width", "4", "--d-width", "4", "--epochs", "1",
            "--device", "cpu", "--grid-n", "4"]
    refused = cli("train", "pix2pix", "--data", pairs, "--out", tmp_path / "no", *base, check=False)
    assert refused.returncode == 2 and "--pairs" in refused.stderr
    cli("train", "pix2pix", "--pairs", pairs, "--out", tmp_path / "r", *base)
    import json

    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["run"]["side_by_side"] is True and cfg["data"]["layout"] == "A|B"
    cli("train", "--resume", tmp_path / "r", "--epochs", "2")
    p = cli("eval", tmp_path / "r", "--n", "2", "--metrics", "kid", "--floor-splits", "1")
    assert "kid" in p.stdout.lower()


def test_an_old_run_that_trained_side_by_side_reads_so():
    from ganforge.config import Config, RunConfig
    from ganforge.families.pix2pix import Pix2PixConfig
    from ganforge.typed import as_dict

    d = {"run": {**as_dict(RunConfig(family="pix2pix")), "data": "x"}, "model": as_dict(Pix2PixConfig()),
         "data": {"layout": "A|B"}}
    del d["run"]["side_by_side"]
    assert Config.from_dict(d).run.side_by_side is True
