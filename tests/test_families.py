"""The family contract: every registered family, with a tiny config, must pass these.

A new family is done when it passes here: its first step is finite; 1 epoch + resume + 1 epoch
equals 2 epochs bit for bit (CPU); ``ganforge.load(run)`` with no flags redraws the epoch
preview; a non-finite loss stops the run and leaves the last good state resumable.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from _helpers import assert_same_state
from PIL import Image

import ganforge
from ganforge.config import resolve
from ganforge.data import list_prepared, load_domains
from ganforge.errors import GanforgeError
from ganforge.families import FAMILIES
from ganforge.serialization import read_training_state
from ganforge.training import train_run
from ganforge.visual import CAPTION_PX, preview_region

# The smallest config of each family; label noise and EMA make sure RNG and EMA state resume.
# The translation families' pools and jitter draw from the RNG: their resume checks those too.
# Their learning rate decays over the run's second half, a function of the run's length, which
# the 1 + 1 epoch resume below changes: decay_from=1 here; test_translation.py resumes a
# decaying run interrupted mid-way with its length unchanged.
TINY = {
    "gan": dict(model="dcgan", z_dim=8, width=4, ema=0.9, label_noise=0.05),
    "vae": dict(z_dim=8, width=4, ema=0.9),
    "cyclegan": dict(width=4, d_width=4, blocks=1, pool_size=4, decay_from=1.0),
    "pix2pix": dict(width=4, d_width=4, decay_from=1.0),
    # Every phase in a 3-step epoch: R1 and the path-length penalty at steps 0 and 2.
    # ADA's p moves every step, so its resume is checked too.
    "stylegan2": dict(width=8, z_dim=8, map_layers=1, r1_every=2, pl_every=2, ema_kimg=0.01,
                      ada_interval=1, ada_kimg=0.1, ada_target=0.01),
    # Pairs made on the fly with Real-ESRGAN's random degradations; the L1 warm-up ends at step
    # 2, so both phases and the PSNR-model copy resume. It trains on one folder of 27 images
    # (domain A below): 25 after every 10th is held out -> 3 steps of 8 an epoch, as the others.
    "superres": dict(width=4, blocks=1, d_width=4, warmup_steps=2, ema=0.9, degradation="realesrgan"),
    # A second configuration of a family is FAMILY:VARIANT. Class-conditional StyleGAN2 on the
    # two sub-folders of the test images (its preview: a block per class).
    "stylegan2:cond": dict(width=8, z_dim=8, map_layers=1, r1_every=2, pl_every=2, ema_kimg=0.01,
                           ada_interval=1, ada_kimg=0.1, ada_target=0.01, conditional=True),
}
CONTRACT = sorted(TINY)  # what the contract tests run: every family (and variant) above


def family_of(case: str) -> str:
    return case.split(":")[0]
TWO_DOMAINS = {"cyclegan", "pix2pix"}


@pytest.fixture
def image_folder(image_folder, tmp_path):
    """The image families' 24 images; for the translation families, two domains of 27 images
    with the same file names (24 train after every 10th is held out: 3 steps an epoch too)."""
    from conftest import _blob

    rng = np.random.default_rng(2)
    for dom in ("A", "B"):
        (tmp_path / "domains" / dom).mkdir(parents=True)
        for i in range(27):
            Image.fromarray(_blob(rng, 20, 3)).save(tmp_path / "domains" / dom / f"{i:03d}.png")
    return image_folder


def tiny(case: str, data, **kw):
    family = family_of(case)
    where = dict(data=str(data))
    if family == "superres":
        where = dict(data=str(data.parent / "domains" / "A"))
    if family in TWO_DOMAINS:
        root = data.parent / "domains"
        where = dict(data=str(root / "A"), data_b=str(root / "B"))
    base = dict(size=16, batch_size=8, epochs=1, grid_n=4, log_every=1, device="cpu",
                **where, **TINY[case])
    return resolve(family, **{**base, **kw})


def test_every_family_has_a_tiny_config():
    assert set(FAMILIES.names()) == {family_of(c) for c in TINY}


@pytest.mark.parametrize("family", CONTRACT)
def test_first_step_is_finite(family, image_folder, tmp_path):
    run = train_run(tiny(family, image_folder, max_steps=1), tmp_path / "r", quiet=True)
    rec = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    losses = {k: v for k, v in rec.items() if k.endswith("_loss")}
    assert rec["step"] == 1 and losses and all(math.isfinite(v) for v in losses.values())


@pytest.mark.parametrize("family", CONTRACT)
def test_resume_is_bit_exact(family, image_folder, tmp_path):
    a = train_run(tiny(family, image_folder, epochs=2), tmp_path / "a", quiet=True)
    train_run(tiny(family, image_folder, epochs=1), tmp_path / "b", quiet=True)
    b = ganforge.train(out=tmp_path / "b", resume=True, epochs=2, quiet=True).path
    assert list_prepared(), "the runs trained from prepared (memory-mapped) sets"
    assert_same_state(a, b, 6)
    losses = [{k: v for k, v in r.items() if k.endswith("_loss")}
              for r in ganforge.Run(a).metrics]
    assert losses == [{k: v for k, v in r.items() if k.endswith("_loss")}
                      for r in ganforge.Run(b).metrics]


@pytest.mark.parametrize("family", CONTRACT)
def test_load_with_no_flags_redraws_the_preview(family, image_folder, tmp_path):
    cfg = tiny(family, image_folder, seed=3)
    run = train_run(cfg, tmp_path / "r", quiet=True)
    inputs = None
    if family in TWO_DOMAINS:  # a translator's preview translates the held-out images
        paired = FAMILIES.get(family_of(family)).data == "paired"
        pair = load_domains(cfg.run.data, cfg.run.data_b, paired, 16)
        inputs = (pair.held, pair.held_targets)
    if family == "superres":  # an upscaler's preview upscales the held-out low-resolution copies
        from ganforge.data.kinds import DataSpec, open_data

        fam = FAMILIES.get(family)
        spec = DataSpec(cfg.run.data, 16, seed=cfg.run.seed, quiet=True)
        data = open_data(fam.data_kind(cfg.model), spec, torch.device("cpu"), fam.pairing(cfg.model))
        inputs = data.preview_inputs
    grid = ganforge.load(run, device="cpu").preview(cfg.run.grid_n, cfg.run.seed, inputs)
    with Image.open(run / "samples" / "epoch_0001.png") as im:
        # The file is the grid with a caption strip below it (step and epoch): the grid part is
        # compared pixel for pixel, and the strip must be exactly CAPTION_PX high.
        assert im.size == (grid.width, grid.height + CAPTION_PX)
        assert np.array_equal(np.asarray(grid), np.asarray(preview_region(im)))
    assert json.loads((run / "model.json").read_text())["family"] == family_of(family)


def _poisoned(family: str, at: int, only: str | None = None):
    """The family, but from step ``at`` on its networks (or just ``only``) hold NaN."""
    fam = FAMILIES.get(family)

    def build(*args):
        recipe = fam.build(*args)
        step = recipe.step

        def poisoned_step(batch, i):
            if i >= at:
                for name, obj in recipe.state.items():
                    if isinstance(obj, torch.nn.Module) and (only is None or name == only):
                        with torch.no_grad():
                            for p in obj.parameters():
                                p.fill_(float("nan"))
            return step(batch, i)

        recipe.step = poisoned_step
        return recipe

    return dataclasses.replace(fam, build=build)


@pytest.mark.parametrize("guard", [False, True])
@pytest.mark.parametrize("family", sorted(c for c in TINY if ":" not in c))  # the guard is family-blind
def test_non_finite_loss_stops_and_keeps_last_good_state(family, guard, image_folder, tmp_path,
                                                         monkeypatch):
    """Without the guard the run stops at once; with it, after 3 rollbacks that fail again."""
    run = tmp_path / "r"
    monkeypatch.setitem(FAMILIES._items, family, _poisoned(family, at=4))
    after = ", again after 3 recoveries" if guard else ""
    with pytest.raises(GanforgeError, match=rf"diverged: .*nan.* by step 5{after}; the last good state "
                                            r"\(step 3\)"):
        train_run(tiny(family, image_folder, epochs=2, guard=guard), run, quiet=True)
    state = read_training_state(run / "state.safetensors")
    assert state["step"] == 3
    for sd in state["recipe"].values():
        assert all(torch.isfinite(v).all() for v in sd.values()
                   if isinstance(v, torch.Tensor) and v.is_floating_point())
    monkeypatch.undo()
    done = ganforge.train(out=run, resume=True, quiet=True, epochs=2)
    assert read_training_state(done.path / "state.safetensors")["step"] == 6
    model = ganforge.load(done.path, device="cpu")
    inputs = (torch.zeros(2, 3, 16, 16, dtype=torch.uint8),) * 2  # a translator's inputs
    assert torch.isfinite(model.preview_batch(2, 0, inputs)).all()


def test_checkpoint_refuses_non_finite_weights(image_folder, tmp_path, monkeypatch):
    """Losses stay finite but the EMA copy is NaN: the checkpoint must not overwrite step 3."""
    run = tmp_path / "r"
    monkeypatch.setitem(FAMILIES._items, "gan", _poisoned("gan", at=4, only="generator_ema"))
    with pytest.raises(GanforgeError, match=r"non-finite values in generator_ema at step 6"):
        train_run(tiny("gan", image_folder, epochs=2), run, quiet=True)
    assert read_training_state(run / "state.safetensors")["step"] == 3


@pytest.mark.parametrize("preset", ["mnist-vae", "celeba64-vae"])
def test_vae_presets_end_to_end_from_the_cli(cli, preset, image_folder, tmp_path):
    """Train (tiny), then everything a user does with a run: grids, GIF, plot, generate, eval."""
    run = tmp_path / "run"
    data = ["--data", image_folder, "--size", "16", "--batch-size", "8"] if preset == "celeba64-vae" \
        else ["--batch-size", "32", "--max-steps", "20"]
    cli("train", preset, "--out", run, "--epochs", "2", *data)
    assert {"samples", "progress.gif", "losses.png", "model.json", "generator.safetensors",
            "encoder.safetensors"} <= {p.name for p in run.iterdir()}
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["family"] == "vae" and cfg["run"]["preset"] == preset
    rec = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"total_loss", "recon_loss", "kl_loss"} <= set(rec)
    cli("generate", run, "--n", "4", "--out", tmp_path / "g.png", "--interpolate", tmp_path / "w.gif")
    assert (tmp_path / "g.png").exists() and (tmp_path / "w.gif").exists()
    metrics = "fid,kid" if preset == "mnist-vae" else "kid,c2st"
    p = cli("eval", run, "--n", "10", "--metrics", metrics)
    assert "real vs real" in p.stdout


def onnx_vs_torch(path, model, direction="a2b"):
    """max |onnxruntime - PyTorch| of an exported file at batch 1 and 3, computed here from the
    inference object itself (not from the export's own check), and the file's inputs."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    diffs = []
    for n in (1, 3):
        if isinstance(model, ganforge.Upscaler):  # at its low-resolution training size
            side = sess.get_inputs()[0].shape[2]
            x = torch.rand(n, model.channels, side, side, generator=torch.Generator().manual_seed(n))
            feed, want = {"image": x.numpy()}, model.upscale(x, tile=None)
        elif isinstance(model, ganforge.Translator):
            g = torch.Generator().manual_seed(n)
            x = torch.rand(n, model.channels, model.size, model.size, generator=g)
            feed, want = {"image": x.numpy()}, model.translate(x, direction)
        else:
            z = torch.randn(n, model.z_dim, generator=torch.Generator().manual_seed(n))
            feed, kw = {"z": z.numpy()}, {}
            if "psi" in names:
                feed["psi"], kw["psi"] = np.array([0.5], np.float32), 0.5
            if "label" in names:
                y = torch.arange(n) % len(model.classes)
                feed["label"], kw["labels"] = y.numpy(), y
            want = model.from_latents(z, **kw)
        got = sess.run(None, feed)[0]
        assert got.shape == tuple(want.shape)
        diffs.append(float(np.abs(got - want.numpy()).max()))
    return max(diffs), names


@pytest.mark.parametrize("family", sorted(TINY))
def test_onnx_export_matches_torch(family, image_folder, tmp_path):
    """`ganforge.export(run)`: each file (CycleGAN: one per direction) gives, at batch 1 and 3,
    what the loaded model gives, within 1e-4, and says what it is in its metadata; the finished
    run has its model card."""
    import onnx

    run = train_run(tiny(family, image_folder, max_steps=1), tmp_path / "r", quiet=True)
    card = (run / "MODEL_CARD.md").read_text()  # every finished run says what it is
    assert f"Family: `{family_of(family)}`" in card and "Trained: 1 step, 8 images seen" in card
    done = ganforge.export(run)
    model = ganforge.load(run, device="cpu")
    want = {"cyclegan": ["model-a2b.onnx", "model-b2a.onnx"], "pix2pix": ["model-a2b.onnx"]}
    assert [e.path.name for e in done] == want.get(family, ["model.onnx"])
    for e in done:
        direction = e.path.stem.split("-")[-1]
        diff, names = onnx_vs_torch(e.path, model, direction)
        assert diff < 1e-4 and max(e.max_abs_diff.values()) < 1e-4
        assert names == {"stylegan2": ["z", "psi"], "stylegan2:cond": ["z", "label", "psi"],
                         "cyclegan": ["image"], "superres": ["image"],
                         "pix2pix": ["image"]}.get(family, ["z"])
        m = onnx.load(str(e.path))
        meta = {p.key: p.value for p in m.metadata_props}
        assert meta["family"] == family_of(family) and meta["synthetic"] == "true" and meta["run"] == "r"
        assert meta["value_range"] == "[0, 1]"
        assert meta["output_size" if family == "superres" else "image_size"] == "16x16"
        # StyleGAN2's per-layer noise is a fixed buffer in eval mode: constants, never drawn
        assert not [n.op_type for n in m.graph.node if n.op_type.startswith("Random")]
