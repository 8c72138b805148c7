from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ganforge.errors import GanforgeError
from ganforge.losses import d_bce_loss, g_nonsaturating_loss, smooth_targets
from ganforge.models import MODELS, PairOptions, build_family
from ganforge.serialization import load_network, load_state, save_network, save_state


@pytest.mark.parametrize("model,size,ch", [
    ("mlp", 28, 1), ("dcgan28", 28, 1), ("dcgan", 28, 1), ("dcgan", 32, 3), ("dcgan", 64, 3),
    ("dcgan", 128, 1),
])
def test_shapes(model, size, ch):
    g_spec, d_spec = build_family(model, size, ch, z_dim=16, width=8)
    G, D = g_spec.build(), d_spec.build()
    x = G(torch.randn(3, 16))
    assert x.shape == (3, ch, size, size)
    assert x.min() >= -1 and x.max() <= 1  # tanh output, matching data scaled to [-1, 1]
    assert D(x).shape == (3,)


def test_tf_tutorial_architecture_exact():
    g_spec, d_spec = build_family("dcgan28", 28, 1, z_dim=100, width=64)
    G, D = g_spec.build(), d_spec.build()
    # Parameter counts of the Keras model in the TensorFlow DCGAN tutorial (model.summary()):
    # generator 2,330,944 params (incl. BN's 4 per feature, of which half are non-trainable);
    # discriminator 212,865.
    g_params = sum(p.numel() for p in G.parameters()) + sum(
        b.numel() for n, b in G.named_buffers() if "running" in n)
    assert g_params == 2_330_944
    assert sum(p.numel() for p in D.parameters()) == 212_865


def test_bad_size_is_clear():
    with pytest.raises(GanforgeError, match="cannot make 30px"):
        build_family("dcgan", 30, 3, 16, 8)
    with pytest.raises(GanforgeError, match="28x28 grayscale"):
        build_family("dcgan28", 64, 3, 16, 8)
    with pytest.raises(GanforgeError, match="known: dcgan"):
        MODELS.get("stylegan9")


def test_save_load_roundtrip_no_pickle(tmp_path):
    g_spec, _ = build_family("dcgan", 32, 3, z_dim=8, width=4)
    G = g_spec.build().eval()
    save_network(tmp_path / "g.safetensors", G, g_spec)
    raw = (tmp_path / "g.safetensors").read_bytes()
    assert b"\x80\x04" not in raw[:16]  # not a pickle stream: safetensors starts with a length
    G2, spec2 = load_network(tmp_path / "g.safetensors")
    assert spec2 == g_spec
    z = torch.randn(2, 8)
    assert torch.equal(G(z), G2.eval()(z))


def test_corrupt_weights_file_is_clear(tmp_path):
    (tmp_path / "g.safetensors").write_bytes(b"garbage")
    with pytest.raises(GanforgeError, match="not a readable safetensors"):
        load_network(tmp_path / "g.safetensors")


def test_state_roundtrip_with_optimizer(tmp_path):
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.5, 0.9))
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    state = {"step": 7, "opt": opt.state_dict(), "rng": torch.get_rng_state(), "none": None}
    save_state(tmp_path / "s.safetensors", state)
    back = load_state(tmp_path / "s.safetensors")
    assert back["step"] == 7 and back["none"] is None
    assert torch.equal(back["rng"], state["rng"])
    assert back["opt"]["param_groups"][0]["betas"] == (0.5, 0.9)
    assert set(back["opt"]["state"]) == {0, 1}  # integer keys survive
    opt2 = torch.optim.Adam(net.parameters())
    opt2.load_state_dict(back["opt"])
    assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


def test_losses_match_hand_computed_values():
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])
    want_d = -(math.log(sig(2)) + math.log(sig(0))) / 2 - (math.log(1 - sig(-1)) + math.log(1 - sig(1))) / 2
    assert d_bce_loss(real, fake).item() == pytest.approx(want_d, rel=1e-6)
    want_g = -(math.log(sig(-1)) + math.log(sig(1))) / 2
    assert g_nonsaturating_loss(fake).item() == pytest.approx(want_g, rel=1e-6)
    # Smoothed real target 0.9 equals BCE against 0.9.
    got = d_bce_loss(real, fake, real_target=0.9)
    want = F.binary_cross_entropy_with_logits(real, torch.full((2,), 0.9)) + \
        F.binary_cross_entropy_with_logits(fake, torch.zeros(2))
    assert got.item() == pytest.approx(want.item(), rel=1e-6)


def test_smooth_targets():
    dev = torch.device("cpu")
    assert smooth_targets(4, True, 0.1, 0.0, dev) == pytest.approx(0.9)
    assert smooth_targets(4, False, 0.1, 0.0, dev) == 0.0
    t = smooth_targets(1000, False, 0.0, 0.05, dev)
    assert t.shape == (1000,) and 0 <= t.min() and t.max() <= 0.05 and t.std() > 0.01


def test_keras_face_gan_parameter_counts():
    """The seed article's Keras model.summary() totals, layer by layer:
    G: Dense 32*32768+32768 = 1,081,344; Conv 256 5x5 from 128: 128*256*25+256 = 819,456;
    3 ConvT 256 4x4: 3 * (256*256*16+256) = 3,146,496; Conv 512 5x5 from 256: 3,277,312;
    Conv 512 5x5 from 512: 6,554,112; Conv 3 7x7: 512*3*49+3 = 75,267 -> 14,953,987.
    D: Conv 256 3x3: 3*256*9+256 = 7,168; 4 Conv 256 4x4 s2: 4 * 1,048,832 = 4,195,328;
    128 -> 126 -> 62 -> 30 -> 14 -> 6 ('valid'), Dense 6*6*256+1 = 9,217 -> 4,211,713."""
    g_spec, d_spec = build_family("facegan", 128, 3, z_dim=32, width=0)
    G, D = g_spec.build(), d_spec.build()
    assert sum(p.numel() for p in G.parameters()) == 14_953_987
    assert sum(p.numel() for p in D.parameters()) == 4_211_713
    x = G(torch.randn(2, 32))
    assert x.shape == (2, 3, 128, 128) and D(x).shape == (2,)


@pytest.mark.parametrize("opts", [
    PairOptions(spectral_norm=True, d_norm="none"),
    PairOptions(spectral_norm=True, d_norm="none", num_classes=3),
    PairOptions(spectral_norm=True, d_norm="none", num_classes=3, d_cond="acgan"),
])
def test_resnet32_shapes_and_spectral_norm_reload(opts, tmp_path):
    g_spec, d_spec = build_family("resnet32", 32, 3, z_dim=8, width=8, opts=opts)
    G, D = g_spec.build(), d_spec.build()
    y = torch.tensor([0, 2]) if opts.num_classes else None
    x = G(torch.randn(2, 8), y) if y is not None else G(torch.randn(2, 8))
    assert x.shape == (2, 3, 32, 32)
    out = D(x, y) if y is not None else D(x)
    assert out.shape == ((2, 4) if opts.d_cond == "acgan" and opts.num_classes else (2,))
    save_network(tmp_path / "d.safetensors", D, d_spec)
    D2, spec2 = load_network(tmp_path / "d.safetensors")
    D.eval()
    D2.eval()
    args = (x.detach(), y) if y is not None else (x.detach(),)
    assert spec2 == d_spec and torch.equal(D(*args), D2(*args))


def test_model_zoo_refusals():
    with pytest.raises(GanforgeError, match="makes 32px images, not 64px; use --size 32"):
        build_family("resnet32", 64, 3, 8, 8)
    with pytest.raises(GanforgeError, match="makes 128px images, not 64px; use --size 128"):
        build_family("facegan", 64, 3, 32, 0)
    with pytest.raises(GanforgeError, match="model facegan has no class-conditional form"):
        build_family("facegan", 128, 3, 32, 0, PairOptions(num_classes=2))
    g_spec, _ = build_family("dcgan", 16, 1, 8, 4, PairOptions(num_classes=2))
    with pytest.raises(GanforgeError, match="class-conditional: pass labels"):
        g_spec.build()(torch.randn(2, 8))
