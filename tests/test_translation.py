"""Image-to-image translation: networks, losses, the image pool, paired/unpaired data, the
translator and the translate command (the family contract itself is in test_families.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _helpers import assert_same_state, ctrl_c_after
from PIL import Image

import ganforge
from ganforge.augment import jitter
from ganforge.config import resolve
from ganforge.data import decode_digits, load_domains, render_digits
from ganforge.data.pairs import load_pair
from ganforge.errors import GanforgeError
from ganforge.families.base import linear_decay
from ganforge.families.cyclegan import ImagePool, mse_to
from ganforge.losses import d_bce_loss, d_ls_loss, g_nonsaturating_loss
from ganforge.models.translation import PatchDiscriminator, ResNetTranslator, UNetTranslator
from ganforge.training import train_run


# ---- networks ------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [64, 128, 256])
def test_generator_and_discriminator_shapes(size):
    x = torch.zeros(1, 3, size, size)
    g = ResNetTranslator(width=8, blocks=9 if size >= 256 else 6)
    assert g(x).shape == x.shape
    u = UNetTranslator(width=8, depth=UNetTranslator.depth_for(size))
    assert u(x).shape == x.shape
    d = PatchDiscriminator(6, width=8, layers=PatchDiscriminator.layers_for(size))
    # The 70x70 PatchGAN: 256 px -> 30x30 patches (the paper's), 128 -> 14, 64 -> 6.
    assert d(torch.cat([x, x], 1)).shape == (1, 1, size // 8 - 2, size // 8 - 2)


def test_paper_parameter_counts():
    """CycleGAN's 9-block generator (11.378 M) and the 70x70 PatchGAN (2.765 M) at width 64 have
    the parameter counts the reference PyTorch implementation prints for them."""
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(ResNetTranslator(blocks=9)) == 11_378_179
    assert count(PatchDiscriminator(3)) == 2_764_737


def test_sizes_the_networks_refuse():
    with pytest.raises(GanforgeError, match="power of two"):
        UNetTranslator.depth_for(48)
    with pytest.raises(GanforgeError, match="multiple of 4"):
        ResNetTranslator.check_size(30)


def test_unet_dropout_only_in_training():
    torch.manual_seed(0)
    u = UNetTranslator(width=4, depth=8)
    assert sum(isinstance(m, torch.nn.Dropout) for m in u.modules()) == 3  # the paper's three
    x = torch.randn(1, 3, 256, 256)
    u.eval()
    assert torch.equal(u(x), u(x))
    u.train()
    assert not torch.equal(u(x), u(x))


# ---- losses --------------------------------------------------------------------------------
def test_loss_terms_against_hand_computed_values():
    real, fake = torch.tensor([0.8, 1.2]), torch.tensor([0.1, -0.3])
    # D: 1/2 mean (D(x)-1)^2 + 1/2 mean D(G(x))^2 = 1/2 (0.04+0.04)/2 + 1/2 (0.01+0.09)/2
    assert d_ls_loss(real, fake).item() == pytest.approx(0.02 + 0.025)
    # G (the tutorial's): mean (D(G(x)) - 1)^2 = (0.81 + 1.69)/2
    assert mse_to(fake, 1.0).item() == pytest.approx(1.25)
    # pix2pix D, halved: 1/2 (softplus(-r) + softplus(f)) means
    lr, lf = torch.tensor([2.0]), torch.tensor([-1.0])
    want = 0.5 * (np.log1p(np.exp(-2.0)) + np.log1p(np.exp(-1.0)))
    assert (0.5 * d_bce_loss(lr, lf)).item() == pytest.approx(want, rel=1e-6)
    assert g_nonsaturating_loss(lf).item() == pytest.approx(np.log1p(np.exp(1.0)), rel=1e-6)
    # cycle: L1 between reconstruction and input
    a, rec = torch.zeros(1, 1, 2, 2), torch.tensor([[[[0.5, -0.5], [0.0, 1.0]]]])
    assert F.l1_loss(rec, a).item() == pytest.approx(0.5)


def test_cyclegan_step_adds_the_weighted_terms(monkeypatch):
    """The generator phase minimises adv + 10 * cycle + 0.5 * 10 * identity: checked by
    recomputing the three logged terms from the same networks before the update."""
    from ganforge.env import setup
    from ganforge.families import Batch, DataInfo
    from ganforge.families.cyclegan import CycleGANConfig, CycleGANRecipe

    torch.manual_seed(0)
    env = setup("cpu", "fp32", 1)
    r = CycleGANRecipe(CycleGANConfig(width=4, d_width=4, pool_size=2, jitter=False),
                       DataInfo("x", 16, 3, 8), env, 10)
    a, b = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        fb, fa = r.g_ab(a), r.g_ba(b)
        want_cycle = F.l1_loss(r.g_ba(fb), a) + F.l1_loss(r.g_ab(fa), b)
        want_idt = F.l1_loss(r.g_ab(b), b) + F.l1_loss(r.g_ba(a), a)
        want_adv = ((r.d_b(fb) - 1) ** 2).mean() + ((r.d_a(fa) - 1) ** 2).mean()
    out = r.step(Batch(a, None, b), 0)
    assert out["cycle_loss"].item() == pytest.approx(want_cycle.item(), rel=1e-5)
    assert out["identity_loss"].item() == pytest.approx(want_idt.item(), rel=1e-5)
    assert out["g_loss"].item() == pytest.approx(want_adv.item(), rel=1e-5)
    assert int(r.pool_a.count) == 2 and int(r.pool_b.count) == 2


def test_linear_decay_over_the_second_half():
    assert [linear_decay(s, 100) for s in (0, 49, 50, 75, 100)] == [1.0, 1.0, 1.0, 0.5, 0.0]


# ---- the image pool ------------------------------------------------------------------------
def test_image_pool_fills_then_swaps_half():
    torch.manual_seed(0)
    pool = ImagePool(4, (1, 1, 1))
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # until full: passed through and stored
    assert int(pool.count) == 4
    new = torch.arange(100.0, 300.0).view(200, 1, 1, 1)
    out = pool.query(new)
    swapped = out != new
    assert 70 < swapped.sum().item() < 130  # about half come from history...
    # ...each an image stored earlier (a first one, or a fake of this batch that came before it)
    for i in torch.nonzero(swapped.flatten()).flatten().tolist():
        assert out[i].item() < 4 or 100 <= out[i].item() < 100 + i
    assert (pool.images >= 100).sum().item() == 4  # the swapped-in fakes were stored
    assert torch.equal(ImagePool(0, (1, 1, 1)).query(new), new)


def test_image_pool_resumes_exactly():
    torch.manual_seed(1)
    a = ImagePool(3, (1, 2, 2))
    a.query(torch.rand(5, 1, 2, 2))
    b = ImagePool(3, (1, 2, 2))
    b.load_state_dict(a.state_dict())
    x = torch.rand(6, 1, 2, 2)
    rng = torch.get_rng_state()
    ya = a.query(x)
    torch.set_rng_state(rng)
    assert torch.equal(ya, b.query(x)) and torch.equal(a.images, b.images)


def test_jitter_keeps_pairs_aligned():
    torch.manual_seed(0)
    a = torch.rand(4, 3, 32, 32)
    ja, jb = jitter(a, a.clone())
    assert ja.shape == a.shape and torch.equal(ja, jb) and not torch.equal(ja, a)


# ---- data ----------------------------------------------------------------------------------
def test_digit_pair_renders_and_decodes_exactly():
    pair = load_domains("mnist2color", None, paired=True, size=32)
    assert pair.paired and len(pair.images) == len(pair.targets) == 4000 and len(pair.held) == 1000
    back = decode_digits(render_digits(pair.held[:50, :1]).float() / 255)
    assert (back * 255 - pair.held[:50, :1].float()).abs().max() < 2.0
    un = load_domains("mnist2color", None, paired=False, size=32)
    assert len(un.images) == len(un.targets) == 2000  # A and B hold different digits
    assert not torch.equal(decode_digits(un.targets[:5].float() / 255).mul(255).round().to(torch.uint8),
                           un.images[:5, :1])


def _folder(root, names, size=(24, 20), color=(200, 50, 50)):
    root.mkdir(parents=True, exist_ok=True)
    for n in names:
        (root / n).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, color).save(root / n)
    return root


def test_unpaired_and_paired_folder_loaders(tmp_path):
    a = _folder(tmp_path / "a", [f"{i:02d}.png" for i in range(20)])
    b = _folder(tmp_path / "b", [f"{i:02d}.png" for i in range(12)], color=(0, 0, 250))
    un = load_pair(a, b, False, 16, quiet=True)
    assert (len(un.images), len(un.held), len(un.targets), len(un.held_targets)) == (18, 2, 11, 1)
    assert len(un) == 18  # an epoch: the larger domain
    b2 = _folder(tmp_path / "b2", [f"{i:02d}.png" for i in range(20)], color=(0, 0, 250))
    pr = load_pair(a, b2, True, 16, quiet=True)
    assert pr.paired and len(pr.images) == len(pr.targets) == 18
    bad = _folder(tmp_path / "b3", [f"x{i:02d}.png" for i in range(20)])
    with pytest.raises(GanforgeError, match="not pairs: 20 file.*e.g. 00.png"):
        load_pair(a, bad, True, 16, quiet=True)


def test_cyclegan_layout_and_side_by_side_pairs(tmp_path):
    root = tmp_path / "h2z"
    for split, n in (("trainA", 6), ("trainB", 5), ("testA", 2), ("testB", 3)):
        _folder(root / "h2z" / split, [f"{i}.jpg" for i in range(n)])
    p = load_domains(str(root), None, False, 16, quiet=True)
    assert (len(p.images), len(p.targets), len(p.held), len(p.held_targets)) == (6, 5, 2, 3)
    with pytest.raises(GanforgeError, match="unpaired domains"):
        load_domains(str(root), None, True, 16, quiet=True)
    sbs = tmp_path / "facades"
    for split, n in (("train", 4), ("val", 2)):
        (sbs / split).mkdir(parents=True)
        for i in range(n):
            im = Image.new("RGB", (40, 20), (255, 0, 0))
            im.paste((0, 0, 255), (20, 0, 40, 20))  # left half red (A), right half blue (B)
            im.save(sbs / split / f"{i}.png")
    s = load_domains(str(sbs), None, True, 16, quiet=True)
    assert (len(s.images), len(s.held)) == (4, 2)
    assert s.images[0, 0].float().mean() > 250 and s.targets[0, 2].float().mean() > 250


def test_pair_pick_is_a_function_of_seed_and_epoch():
    pair = load_domains("mnist2color", None, False, 16)
    idx = torch.arange(8)
    assert torch.equal(pair.pick(idx, 3, 0)[1], pair.pick(idx, 3, 0)[1])
    assert not torch.equal(pair.pick(idx, 3, 0)[1], pair.pick(idx, 4, 0)[1])


# ---- training, translate, eval ---------------------------------------------------------------
def _tiny_cyclegan(tmp_path, **kw):
    cfg = resolve("cyclegan", data="mnist2color", size=16, batch_size=8, max_steps=4, width=4,
                  d_width=4, device="cpu", grid_n=8, log_every=2, **kw)
    return train_run(cfg, tmp_path / "run", quiet=True)


def test_translate_end_to_end_keeps_names_and_sizes(cli, tmp_path):
    run = _tiny_cyclegan(tmp_path, eval_every=1, eval_n=50)
    evals = [r for r in ganforge.Run(run).metrics if "eval" in r]
    assert evals and evals[0]["eval"] == "pixels-kid50" and (run / "best" / "model.json").is_file()
    assert isinstance(ganforge.load(run / "best", device="cpu"), ganforge.Translator)
    src = tmp_path / "in"
    _folder(src, ["a.png", "sub/b.jpg"], size=(37, 23))
    Image.new("L", (10, 30), 128).save(src / "gray.png")
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    p = cli("translate", run, src, "--out", tmp_path / "out", "--direction", "b2a")
    assert "translated 3 images (b2a)" in p.stdout and "skipped 1 unreadable file" in p.stdout
    assert "broken.png" in p.stderr
    with Image.open(tmp_path / "out" / "sub" / "b.jpg") as im:
        assert im.size == (37, 23)
    with Image.open(tmp_path / "out" / "gray.png") as im:
        assert im.size == (10, 30)
    strict = cli("translate", run, src, "--out", tmp_path / "out2", "--strict", check=False)
    assert strict.returncode == 2 and "broken.png" in strict.stderr and "--strict" in strict.stderr
    assert not (tmp_path / "out2").exists() or not any((tmp_path / "out2").iterdir())
    # Python: tensors of any size come back at their size; PIL images too.
    t = ganforge.load(run, device="cpu")
    assert t.translate(torch.rand(2, 3, 20, 28)).shape == (2, 3, 20, 28)
    assert t.translate(Image.new("RGB", (9, 13))).size == (9, 13)


def test_translate_refusals(cli, tmp_path):
    cfg = resolve("pix2pix", data="mnist2color", size=16, batch_size=8, max_steps=2, width=4,
                  d_width=4, device="cpu", grid_n=8)
    run = train_run(cfg, tmp_path / "p2p", quiet=True)
    t = ganforge.load(run, device="cpu")
    with pytest.raises(GanforgeError, match="translates a2b only"):
        t.translate(torch.rand(1, 3, 16, 16), direction="b2a")
    p = cli("generate", run, check=False)
    assert p.returncode == 2 and "error" in p.stderr and "Traceback" not in p.stderr
    layout = tmp_path / "h2z"
    for split in ("trainA", "trainB"):
        _folder(layout / split, [f"{i}.png" for i in range(3)])
    with pytest.raises(GanforgeError, match="unpaired domains .*pix2pix needs pairs"):
        train_run(resolve("pix2pix", data=str(layout), size=16, device="cpu"), tmp_path / "x", quiet=True)
    with pytest.raises(GanforgeError, match="--data-b: family 'gan' trains on one image set"):
        resolve("mnist-fast", data_b=str(layout))
    with pytest.raises(GanforgeError, match="not a known translation set"):
        train_run(resolve("cyclegan", data="mnist-mini", device="cpu"), tmp_path / "y", quiet=True)


def test_eval_of_the_digit_pair_reports_agreement_and_floor(tmp_path):
    run = _tiny_cyclegan(tmp_path)
    res = ganforge.evaluate(run, n=40, metrics="kid", floor_splits=2, device="cpu")
    m = res["metrics"]
    assert {"kid", "digit_agreement", "digit_agreement_b2a", "l1_to_truth"} <= set(m)
    assert m["digit_agreement"]["real"] > 0.9  # the right answers keep their digit
    d = m["domain"]  # the A-vs-B classifier itself: real B called B, real A not
    assert d["real"] > 0.95 and d["real_a"] < 0.05 and 0 <= d["value"] <= 1
    assert 0 <= m["digit_agreement"]["value"] <= 1 and m["kid"]["real_vs_real"] < m["kid"]["value"]
    assert res["protocol"]["n"] == 40
    rec = json.loads((run / "config.json").read_text())["data"]
    assert rec["paired"] is False and rec["held_out"] == 1000


def _nearly_right(self, x, direction="a2b", batch_size=16):
    """A translator that draws the right digits with imperfect colours, as a trained one does:
    a2b the known rendering with the stripes of both mirror images mixed (pix2pix's jitter
    mirrors its pairs) and every colour 0.1 too bright; b2a the gray digit on a background
    lifted to 0.15."""
    if direction == "a2b":
        digits = (x * 255).round().to(torch.uint8)
        mixed = (render_digits(digits).float() + render_digits(digits.flip(-1)).float().flip(-1)) / 510
        return (mixed + 0.1).clamp(0, 1)
    gray = decode_digits(x).expand(-1, 3, -1, -1)
    return 0.15 + 0.85 * gray


def test_digit_kept_reads_the_digit_not_the_colours(tmp_path, monkeypatch):
    """Issue 18: readable pix2pix digits scored 'digit kept' 0.102 (chance). The digits
    classifier, trained on black backgrounds, calls nearly every digit on a background lifted
    by 0.1 an 8; decoding a translation whose colours are slightly off gives just that."""
    run = _tiny_cyclegan(tmp_path)
    monkeypatch.setattr(ganforge.Translator, "run", _nearly_right)
    m = ganforge.evaluate(run, n=200, metrics="kid", floor_splits=1, device="cpu")["metrics"]
    assert m["digit_agreement"]["real"] > 0.95  # the classifier's ceiling on the right answers
    assert m["digit_agreement"]["value"] > 0.9, m["digit_agreement"]  # was 0.10
    assert m["digit_agreement_b2a"]["value"] > 0.9, m["digit_agreement_b2a"]
    assert m["l1_to_truth"]["value"] < 0.4 * m["l1_to_truth"]["real"]


def test_translation_eval_says_each_stage_and_refuses_what_it_cannot_give(cli, tmp_path, monkeypatch):
    run = _tiny_cyclegan(tmp_path)
    said = []
    res = ganforge.evaluate(run, n=40, metrics="kid", floor_splits=1, device="cpu", say=said.append)
    for stage in ("features: pixels", "loading mnist2color", "translating 40", "extracting features",
                  "computing kid", "checking digit_kept", "checking domain", "checking l1_to_truth"):
        assert any(line.startswith(stage) for line in said), (stage, said)
    assert res["protocol"]["resize"].startswith("both sets at 16px")
    # IS needs class probabilities: asked for by name it is refused before any translation,
    # as on a sampling run (it used to be dropped without a word).
    monkeypatch.setattr(ganforge.Translator, "run", lambda *a, **k: pytest.fail("translated first"))
    with pytest.raises(GanforgeError, match="--metrics is needs class probabilities"):
        ganforge.evaluate(run, metrics="fid,is", n=10, device="cpu")
    p = cli("eval", run, "--metrics", "is", "--device", "cpu", check=False)
    err = p.stderr.strip().splitlines()  # the stages said so far, then the error in one line
    assert p.returncode == 2 and "needs class probabilities" in err[-1] and "Traceback" not in p.stderr
    with pytest.raises(GanforgeError, match="check 'class_agreement' is for conditional sources"):
        ganforge.evaluate(run, checks=["class_agreement"], n=10, device="cpu")


def test_every_translation_preset_takes_a_finite_first_step(tmp_path):
    """Each preset's recipe as it is (loss weights, pool, jitter, batch), networks narrowed and
    its data replaced by a local folder of the same layout (the public sets need a download)."""
    from ganforge.config import PRESETS

    unpaired = tmp_path / "unpaired"
    for split in ("trainA", "trainB", "testA", "testB"):
        _folder(unpaired / split, [f"{i}.png" for i in range(4)])
    paired = tmp_path / "paired"
    for split in ("train", "val"):
        (paired / split).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (64, 32), (i * 40, 90, 200)).save(paired / split / f"{i}.png")
    names = [n for n in PRESETS.names() if PRESETS.get(n).family in ("cyclegan", "pix2pix")]
    assert {"horse2zebra", "monet2photo", "facades", "edges2shoes", "face2anime",
            "mnist2color-cyclegan", "mnist2color-pix2pix"} <= set(names)
    for name in names:
        data = unpaired if PRESETS.get(name).family == "cyclegan" else paired
        cfg = resolve(name, data=str(data), size=32, width=4, d_width=4, batch_size=2, max_steps=1,
                      grid_n=2, device="cpu")
        run = train_run(cfg, tmp_path / name, quiet=True)
        rec = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
        assert all(np.isfinite(v) for k, v in rec.items() if k.endswith("_loss")), name


def test_a_decaying_run_interrupted_mid_way_resumes_bit_exact(tmp_path, monkeypatch):
    """Ctrl-C at step 2 of 6, then --resume: the same weights, optimizer moments, image pools
    and RNG as the run that was never stopped (the learning rate decays from step 3)."""
    from ganforge.serialization import read_training_state

    kw = dict(data="mnist2color", size=16, batch_size=4, max_steps=6, width=4, d_width=4, blocks=1,
              pool_size=3, device="cpu", grid_n=4, log_every=1)
    a = train_run(resolve("cyclegan", **kw), tmp_path / "a", quiet=True)
    ctrl_c_after(monkeypatch, "cyclegan", at=1)
    with pytest.raises(KeyboardInterrupt):
        train_run(resolve("cyclegan", **kw), tmp_path / "b", quiet=True)
    monkeypatch.undo()
    assert read_training_state(tmp_path / "b" / "state.safetensors")["step"] == 2
    b = ganforge.train(out=tmp_path / "b", resume=True, quiet=True).path
    assert_same_state(a, b, 6, rng=False)
    assert int(read_training_state(a / "state.safetensors")["recipe"]["pool_a"]["count"]) == 3


@pytest.mark.slow
def test_a_short_digit_pair_run_translates_and_keeps_the_digit(tmp_path):
    """160 steps of mnist2color-cyclegan (batch 4; ~40 s): the cycle error falls by half, the
    translations move most of the way to the right answers, and B -> A already keeps the digit.
    The README's recipe (1,500 steps of 8) keeps it in 92% of a2b and 98% of b2a translations."""
    run = ganforge.train("mnist2color-cyclegan", max_steps=160, batch_size=4, out=tmp_path / "r",
                         quiet=True, device="cpu", log_every=20, decay_from=1.0)
    cycle = [r["cycle_loss"] for r in run.metrics if "cycle_loss" in r]
    assert cycle[-1] < 0.5 * cycle[0]
    m = ganforge.evaluate(run.path, n=100, metrics="kid", floor_splits=1, device="cpu")["metrics"]
    assert m["l1_to_truth"]["value"] < 0.4 * m["l1_to_truth"]["real"]  # vs. the input left as is
    assert m["domain"]["value"] >= 0.9  # an A-vs-B classifier calls the translations B
    # Chance is 0.10; before issue 18's fix of the reading it measured b2a 0.86, a2b 0.20.
    assert m["digit_agreement_b2a"]["value"] >= 0.6
    assert m["digit_agreement"]["value"] >= 0.15
