"""Evaluation end to end: extractor accuracy, c2st sanity, folder mode, CLI, training-time eval."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.data import load_data
from ganforge.errors import GanforgeError
from ganforge.metrics import evaluate, stats
from ganforge.metrics.digits import accuracy, load_digits_cnn, weights_path
from ganforge.metrics.digits_split import heldout_split
from ganforge.metrics.features import get_extractor, inception_extractor


def test_shipped_digits_extractor_accuracy_on_heldout():
    assert weights_path().stat().st_size < 1_000_000  # a few hundred KB, shipped in the package
    ds = load_data("mnist-mini", 28)
    _, te = heldout_split(len(ds))
    acc = accuracy(load_digits_cnn(), ds.images.numpy()[te], ds.labels.numpy()[te])
    assert acc >= 0.97, acc


def test_c2st_real_halves_vs_noise():
    ext = get_extractor("digits")
    ds = load_data("mnist-mini", 28)
    perm = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))
    a, _ = ext(ds.images[perm[:600]].float() / 255)
    b, _ = ext(ds.images[perm[600:1200]].float() / 255)
    noise, _ = ext(torch.rand(600, 1, 28, 28, generator=torch.Generator().manual_seed(0)))
    assert abs(stats.c2st(a, b) - 0.5) < 0.07
    assert stats.c2st(a, noise) > 0.98


def _write_pngs(folder, images: torch.Tensor):
    folder.mkdir(parents=True, exist_ok=True)
    for i, x in enumerate((images * 255).round().byte()):
        Image.fromarray(x[0].numpy()).save(folder / f"{i:04d}.png")


def test_fake_real_folder_mode(tmp_path):
    ds = load_data("mnist-mini", 28)
    x = ds.images[torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))]  # sorted by class
    _write_pngs(tmp_path / "real", x[:400].float() / 255)
    _write_pngs(tmp_path / "good", x[400:600].float() / 255)
    _write_pngs(tmp_path / "noise", torch.rand(200, 1, 28, 28))
    # A folder of digits is not a registered digit set: the digits extractor is asked for.
    good = evaluate(fake=tmp_path / "good", real=tmp_path / "real", n=200, size=28,
                    metrics="fid,kid,is,pr,c2st,mmd", features="digits")
    bad = evaluate(fake=tmp_path / "noise", real=tmp_path / "real", n=200, size=28, metrics="fid,c2st",
                   features="digits")
    assert good["protocol"]["features"] == "digits" and good["protocol"]["n"] == 200
    g, b = good["metrics"], bad["metrics"]
    assert g["fid"]["value"] < 3 * g["fid"]["real_vs_real"] + 1  # real digits score like the floor
    assert b["fid"]["value"] > 10 * g["fid"]["value"]
    assert b["c2st"]["value"] > 0.95 and g["c2st"]["value"] < 0.7
    assert g["coverage"]["classes_covered"] == 10


def test_features_pixels_on_rgb_and_custom_module(image_folder):
    res = evaluate(fake=image_folder, real=image_folder, n=12, size=16, metrics="kid,c2st,mmd",
                   features="pixels", cache=False)
    assert res["protocol"]["features"] == "pixels"

    class Mean(torch.nn.Module):
        def forward(self, x):
            return x.mean((2, 3))

    res = evaluate(fake=image_folder, real=image_folder, n=12, size=16, metrics="fid", features=Mean())
    assert res["protocol"]["features"] == "custom" and np.isfinite(res["metrics"]["fid"]["value"])


def test_is_needs_probabilities(image_folder):
    with pytest.raises(GanforgeError, match="class probabilities"):
        evaluate(fake=image_folder, real=image_folder, n=12, size=16, metrics="is", features="pixels")


def test_inception_offline_errors_are_clear(tmp_path, monkeypatch):
    monkeypatch.delenv("GANFORGE_INCEPTION_WEIGHTS", raising=False)
    with pytest.raises(GanforgeError, match="--feature-weights PATH") as e:
        inception_extractor()
    assert "\n" not in str(e.value)
    with pytest.raises(GanforgeError, match="no such file"):
        inception_extractor(tmp_path / "missing.pth")


def test_inception_local_weight_file_path(tmp_path):
    """A locally created weights file is taken from --feature-weights / the env var, never the
    internet: without torch-fidelity installed the error says how to install it; with it, a
    file that is not Inception weights is refused with its path named."""
    fake = tmp_path / "weights-inception.pth"
    fake.write_bytes(b"not really weights")
    try:
        import torch_fidelity  # noqa: F401

        want = "cannot load as FID Inception-v3 weights"
    except ImportError:
        want = "need torch-fidelity"
    with pytest.raises(GanforgeError, match=want):
        inception_extractor(fake)


def test_reference_statistics_are_cached(tmp_path):
    from ganforge.data import data_dir

    ds = load_data("mnist-mini", 28)
    _write_pngs(tmp_path / "fake", ds.images[:100].float() / 255)
    evaluate(fake=tmp_path / "fake", real="mnist-mini", n=100, size=28, metrics="fid")
    cached = list((data_dir() / "ref_stats").glob("*.npz"))
    assert len(cached) == 1  # every real image the splits score, extracted once
    mtimes = [p.stat().st_mtime_ns for p in cached]
    evaluate(fake=tmp_path / "fake", real="mnist-mini", n=100, size=28, metrics="fid")
    assert [p.stat().st_mtime_ns for p in cached] == mtimes  # reused, not rewritten


def test_eval_every_logs_metric_and_keeps_best(tmp_path):
    run = ganforge.train("mnist-fast", epochs=2, max_steps=10, out=tmp_path / "r", batch_size=16,
                         width=8, eval_every=1, eval_n=200, quiet=True)
    evals = [r for r in run.metrics if "eval" in r]
    assert len(evals) >= 1 and evals[0]["eval"] == "digits-fid200"
    best = json.loads((run.path / "best" / "score.json").read_text())
    assert best["value"] == min(r["value"] for r in evals)
    assert ganforge.load(run.path / "best" / "generator.safetensors").generate(2).shape == (2, 1, 28, 28)


def test_cli_eval_end_to_end(cli, tmp_path):
    run = tmp_path / "r"
    ganforge.train("mnist-fast", max_steps=5, out=run, batch_size=16, width=8, quiet=True)
    out = tmp_path / "scores.json"
    p = cli("eval", run, "--n", "300", "--json", out)
    for word in ("FID", "KID", "IS", "precision", "recall", "classes covered", "real vs real"):
        assert word in p.stdout
    res = json.loads(out.read_text())
    assert res["protocol"]["n"] == 300 and res["protocol"]["real"] == "mnist-mini"
    assert res["metrics"]["fid"]["value"] > res["metrics"]["fid"]["real_vs_real"]  # 5 steps: bad
    p = cli("eval", run, "--metrics", "fid,xyz", check=False)
    assert p.returncode == 2 and "xyz" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_extractor_registry_is_open_and_names_unknowns(image_folder):
    from ganforge.metrics import EXTRACTORS
    from ganforge.metrics.features import Extractor

    with pytest.raises(GanforgeError, match="known: digits, inception, pixels"):
        get_extractor("vgg")

    class Corners(torch.nn.Module):
        def forward(self, x):
            return x[:, :, ::8, ::8].flatten(1)

    EXTRACTORS.register("corners-test")(lambda weights=None: Extractor("corners-test", 16, 3, Corners(),
                                                                      "corners-test"))
    res = evaluate(fake=image_folder, real=image_folder, n=12, size=16, metrics="kid",
                   features="corners-test", cache=False)
    assert res["protocol"]["features"] == "corners-test"
