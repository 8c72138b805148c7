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
from ganforge.metrics import evaluate, format_table, stats
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
    internet; a file that is not Inception weights is refused with its path named."""
    fake = tmp_path / "weights-inception.pth"
    fake.write_bytes(b"not really weights")
    with pytest.raises(GanforgeError, match="weights-inception.pth: cannot load as FID Inception"):
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

    with pytest.raises(GanforgeError, match="known: detail, digits, inception, pixels"):
        get_extractor("vgg")

    class Corners(torch.nn.Module):
        def forward(self, x):
            return x[:, :, ::8, ::8].flatten(1)

    EXTRACTORS.register("corners-test")(lambda weights=None: Extractor("corners-test", 16, 3, Corners(),
                                                                      "corners-test"))
    res = evaluate(fake=image_folder, real=image_folder, n=12, size=16, metrics="kid",
                   features="corners-test", cache=False)
    assert res["protocol"]["features"] == "corners-test"


# ---- one evaluator: its registries ----------------------------------------------------------
def test_unknown_or_misplaced_check_is_a_clear_error(image_folder):
    from ganforge.metrics import CHECKS

    with pytest.raises(GanforgeError, match="unknown check 'nope'; known: class_agreement, digit_kept"):
        CHECKS.get("nope")
    kw = dict(fake=image_folder, real=image_folder, n=12, size=16, metrics="kid", cache=False)
    with pytest.raises(GanforgeError, match="unknown check 'nope'"):
        evaluate(checks="nope", **kw)
    with pytest.raises(GanforgeError, match="check 'digit_kept' is for translation sources of mnist2color; "
                                            "this is images"):
        evaluate(checks=["digit_kept"], **kw)


def test_a_registered_check_runs_only_for_its_data_set(image_folder, gray_folder, monkeypatch):
    from ganforge.metrics import CHECKS, Check
    from ganforge.metrics.base import real_row

    ran = []

    def brightness(s):
        ran.append(s.source.dataset)
        return {"brightness": {"value": float(s.sets.fake.mean()), "real": 0.5, "n": s.sets.n}}

    monkeypatch.setitem(CHECKS._items, "test-brightness", Check(
        brightness, kinds=("images",), datasets=(str(gray_folder),),
        rows=(real_row("brightness", "mean brightness", ".3f", "(a half)"),)))
    kw = dict(n=10, size=16, metrics="kid", cache=False)
    res = evaluate(fake=gray_folder, real=gray_folder, **kw)
    assert ran == [str(gray_folder)] and "brightness" in res["metrics"]
    assert "mean brightness" in format_table(res)
    other = evaluate(fake=image_folder, real=image_folder, **kw)  # another data set: not run
    assert ran == [str(gray_folder)] and "brightness" not in other["metrics"]
    assert "mean brightness" not in format_table(other)
    assert evaluate(fake=gray_folder, real=gray_folder, checks=(), **kw)["metrics"].keys() == {"kid"}


def test_table_rows_come_from_the_registries(image_folder, monkeypatch):
    from ganforge.metrics import METRICS, Metric
    from ganforge.metrics.base import floor_row

    def gap(x, ref, seed):
        return {"mean_gap": float(abs(x.feats.mean() - ref.feats.mean())), "spread": float(x.feats.std())}

    # A metric that names its row, and one that does not: its entries still get a row each.
    named = Metric(gap, rows=(floor_row("mean_gap", "mean gap", ".3f"),))
    monkeypatch.setitem(METRICS._items, "test-gap", named)
    monkeypatch.setitem(METRICS._items, "test-plain", Metric(lambda x, ref, seed: {"test-plain": 1.0}))
    res = evaluate(fake=image_folder, real=image_folder, n=12, size=16, metrics="kid,test-gap,test-plain",
                   features="pixels", cache=False)
    table = format_table(res)
    labels = [line.split("  ")[0] for line in table.splitlines()[2:-1]]
    assert labels == ["KID", "mean gap", "test-plain", "spread"], table
    assert "±" in table.splitlines()[3]  # the new row shows its floor like the others


def test_precision_recall_on_pixels_is_skipped_or_noted(image_folder):
    """Issue 18: pixel precision read 1.0 for colour blobs. On raw pixels a mean-like image lies
    inside the real images' k-NN balls, so by default pr is skipped (and said); asked for by
    name it is computed with the note, in the table and the JSON."""
    said = []
    res = evaluate(fake=image_folder, real=image_folder, n=12, size=16, features="pixels", cache=False,
                   say=said.append)
    assert "precision" not in res["metrics"] and "fid" in res["metrics"]
    assert any(line.startswith("skipping pr: on raw pixels") for line in said), said
    assert "k-NN" in res["protocol"]["skipped"]["pr"]
    asked = evaluate(fake=image_folder, real=image_folder, n=12, size=16, metrics="pr", features="pixels",
                     cache=False)
    assert "precision" in asked["metrics"] and "k-NN" in asked["protocol"]["notes"]["pr"]
    assert "note: pr on pixels features: on raw pixels" in format_table(asked)
    digits = evaluate(fake=image_folder, real=image_folder, n=12, size=16, metrics="pr", features="digits",
                      cache=False)
    assert "notes" not in digits["protocol"]  # no caveat on features made for the data


def test_a_conditional_run_gets_its_class_check_and_row(tmp_path):
    run = ganforge.train("mnist-cgan", max_steps=2, out=tmp_path / "c", batch_size=16, width=8,
                         quiet=True, device="cpu").path
    said = []
    res = evaluate(run, metrics="fid", n=100, floor_splits=1, device="cpu", say=said.append)
    c = res["metrics"]["class_accuracy"]
    assert c["n"] == 100 and 0 <= c["value"] <= 1 and c["real"] > 0.9  # the classifier on real digits
    assert any(line.startswith("checking class_agreement") for line in said)
    assert "class asked = class seen" in format_table(res)
    pixels = evaluate(run, metrics="fid", n=20, floor_splits=1, features="pixels", device="cpu",
                      say=said.append)
    assert "class_accuracy" not in pixels["metrics"]
    assert "skipping class_agreement: the pixels extractor has no class probabilities" in said
