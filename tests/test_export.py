"""ONNX export beyond the family contract (tests/test_families.py checks every family's export
against PyTorch): the GAN family's other networks and conditional variants, the CLI, its
refusals, and MODEL_CARD.md."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch
from conftest import _blob
from PIL import Image
from test_families import onnx_vs_torch, tiny

import ganforge
from ganforge.errors import GanforgeError
from ganforge.infer import Sampler
from ganforge.infer.export import export_onnx
from ganforge.models import NetSpec, PairOptions, build_family
from ganforge.training import train_run


@pytest.mark.parametrize("model,size,opts", [
    ("mlp", 16, PairOptions()),
    ("dcgan", 16, PairOptions(num_classes=3, g_cond="embed")),
    ("dcgan", 16, PairOptions(num_classes=3, g_cond="cbn", g_upsample="resize")),
    ("resnet32", 32, PairOptions(num_classes=3)),
])  # facegan (128 px, 512-channel 5x5 convs: ~100 GFLOP an image) passed too, in 96 s: not kept
def test_every_gan_network_exports(model, size, opts, tmp_path):
    """Each GAN generator (class-conditional ones with a ``label`` input) matches PyTorch at
    batch 1 and 3 within 1e-4, BatchNorm in eval mode (running statistics, not the batch's)."""
    torch.manual_seed(0)
    spec, _ = build_family(model, size, 3, 8, 4, opts)
    net = NetSpec.from_dict(spec.to_dict()).build()
    with torch.no_grad():  # running statistics away from (0, 1): the batch's would differ
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    classes = [f"c{i}" for i in range(opts.num_classes)] or None
    s = Sampler(net.eval(), 8, "cpu", classes)
    e = export_onnx(s, tmp_path / "g.onnx")
    diff, names = onnx_vs_torch(e.path, s)
    assert diff < 1e-4
    assert names == (["z", "label"] if classes else ["z"])
    assert e.inputs["z"] == ["batch", 8] and e.outputs["image"] == ["batch", 3, size, size]
    if classes:
        assert json.loads(e.metadata["classes"]) == classes


def test_stylegan2_psi_is_an_input_and_the_sampler_is_left_fused(tmp_path):
    """One file serves every truncation (psi 1 = none, 0 = the average image), and exporting
    does not switch the user's generator to the unfused path."""
    import onnxruntime as ort

    from ganforge.models import StyleGAN2Generator

    torch.manual_seed(0)
    net = StyleGAN2Generator(8, 8, 3, width=8, map_layers=2).eval()
    net.mapping.w_avg.normal_()
    s = Sampler(net, 8, "cpu")
    path = export_onnx(s, tmp_path / "s.onnx").path
    assert all(m.fused for m in net.modules() if hasattr(m, "fused"))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    z = torch.randn(5, 8)
    for psi in (1.0, 0.5, 0.0):
        got = sess.run(None, {"z": z.numpy(), "psi": np.array([psi], np.float32)})[0]
        assert np.abs(got - s.from_latents(z, psi=psi).numpy()).max() < 1e-4
    avg = sess.run(None, {"z": z.numpy(), "psi": np.array([0.0], np.float32)})[0]
    assert np.abs(avg - avg[:1]).max() < 1e-6  # psi 0: every z gives the average image


@pytest.fixture
def gan_run(image_folder, tmp_path):
    """A tiny finished GAN run with --eval-every (2 epochs, evaluated after each)."""
    return train_run(tiny("gan", image_folder, epochs=2, eval_every=1, eval_n=16), tmp_path / "run",
                     quiet=True)


def test_a_finished_run_has_a_model_card_with_its_numbers(gan_run):
    card = (gan_run / "MODEL_CARD.md").read_text()
    cfg = json.loads((gan_run / "config.json").read_text())
    evals = [r for r in ganforge.Run(gan_run).metrics if "eval" in r]
    best = json.loads((gan_run / "best" / "score.json").read_text())
    assert len(evals) == 2
    assert f"`{evals[-1]['eval']}`" in card
    assert f"{evals[0]['value']:.4g} at step 3, {evals[-1]['value']:.4g} at step 6" in card
    assert f"Best: {best['value']:.4g} at step {best['step']}" in card
    assert f"Fingerprint: `{cfg['data']['fingerprint']}`" in card and "Images: 24" in card
    assert "Trained: 6 steps, 48 images seen" in card and "model=dcgan" in card
    assert "Floor: not measured during training" in card
    for heading in ("## Data", "## Recipe", "## Measured", "## Intended use", "## Limits", "## Ethics"):
        assert heading in card
    assert "synthetic" in card and "impersonate real people" in card
    assert "trained on images of faces" not in card  # random blobs, not faces

    # A resumed run that finishes rewrites it with the new length.
    ganforge.train(out=gan_run, resume=True, epochs=3, quiet=True)
    assert "Trained: 9 steps, 72 images seen" in (gan_run / "MODEL_CARD.md").read_text()


def test_card_for_an_older_run_with_a_full_evaluation(cli, gan_run, tmp_path):
    """`export --format card` rewrites the card (a run from before cards had none), with a
    `ganforge eval --json` result's scores beside their floors."""
    (gan_run / "MODEL_CARD.md").unlink()
    result = {"metrics": {"kid": {"value": 0.25, "real_vs_real": 0.0125, "real_vs_real_std": 0.002}},
              "protocol": {"features": "pixels", "n": 16, "image_size": 16, "seed": 0,
                           "floor": "real half B vs real half A"}}
    (tmp_path / "e.json").write_text(json.dumps(result))
    p = cli("export", gan_run / "best", "--format", "card", "--eval", tmp_path / "e.json")
    assert p.stdout.strip() == f"wrote {gan_run / 'MODEL_CARD.md'}"
    card = (gan_run / "MODEL_CARD.md").read_text()
    assert "| kid | 0.25 | 0.0125 ± 0.002 |" in card and "pixels features, n=16" in card
    (tmp_path / "bad.json").write_text("{}")
    p = cli("export", gan_run, "--format", "card", "--eval", tmp_path / "bad.json", check=False)
    assert p.returncode == 2 and "not a `ganforge eval --json` result" in p.stderr


def test_cli_export_and_its_refusals(cli, gan_run, tmp_path, monkeypatch):
    p = cli("export", "--help")
    assert p.returncode == 0 and "examples:" in p.stdout and "psi (1,)" in p.stdout
    p = cli("export", gan_run, "--out", tmp_path / "g.onnx")
    assert p.stdout.startswith(f"wrote {tmp_path / 'g.onnx'}: z ('batch', 8) -> image ('batch', 3, 16, 16)")
    assert "max |diff| batch 1:" in p.stdout and (tmp_path / "g.onnx").is_file()
    assert not list(tmp_path.glob(".g.onnx*"))  # no temporary file left behind
    (bare,) = ganforge.export(gan_run / "best" / "generator.safetensors", check=False)
    assert bare.path == gan_run / "best" / "model.onnx" and bare.metadata["run"] == "run"
    for args, why in [(["--direction", "b2a"], "directions are for translation runs"),
                      (["--format", "card", "--out", "x.onnx"], "--out is for --format onnx"),
                      (["--eval", "e.json"], "--eval is for --format card")]:
        p = cli("export", gan_run, *args, check=False)
        assert p.returncode == 2 and why in p.stderr and len(p.stderr.strip().splitlines()) == 1
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime"
                        else real(name, *a))
    p = cli("export", gan_run, check=False)
    assert p.returncode == 2
    assert p.stderr.strip() == ("ganforge export: error: ONNX export needs onnxruntime: "
                                "pip install 'ganforge[export]'")


@pytest.fixture
def domains(tmp_path):
    """Two domains of 27 images with the same names, where tiny() looks for them."""
    rng = np.random.default_rng(2)
    for dom in ("A", "B"):
        (tmp_path / "domains" / dom).mkdir(parents=True)
        for i in range(27):
            Image.fromarray(_blob(rng, 20, 3)).save(tmp_path / "domains" / dom / f"{i:03d}.png")
    return tmp_path / "imgs"


def test_translation_export_refusals(domains, tmp_path):
    run = train_run(tiny("pix2pix", domains, max_steps=1), tmp_path / "p", quiet=True)
    with pytest.raises(GanforgeError, match="translates a2b only"):
        ganforge.export(run, direction="b2a")
    run = train_run(tiny("cyclegan", domains, max_steps=1), tmp_path / "c", quiet=True)
    with pytest.raises(GanforgeError, match="translates a2b and b2a; give --direction"):
        ganforge.export(run, out=tmp_path / "x.onnx")
    (only,) = ganforge.export(run, out=tmp_path / "b2a.onnx", direction="b2a", check=False)
    assert only.metadata["direction"] == "b2a" and only.inputs["image"] == ["batch", 3, 16, 16]
    diff, _ = onnx_vs_torch(only.path, ganforge.load(run, device="cpu"), "b2a")
    assert diff < 1e-4
