"""StyleGAN2's pieces against what the paper says they compute (the family contract -- first
step, bit-exact resume, load with no flags -- is in tests/test_families.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import ganforge
from ganforge.augment import ada_augment, ada_update
from ganforge.config import resolve
from ganforge.errors import GanforgeError
from ganforge.families.stylegan2 import lazy_adam
from ganforge.losses import LOSSES, path_lengths, r1_penalty
from ganforge.models.stylegan2 import (
    EqualLinear,
    MappingNetwork,
    StyleGAN2Discriminator,
    StyleGAN2Generator,
    _lowpass,
    channels_at,
    downsample2d,
    modulated_conv2d,
    upsample2d,
)
from ganforge.serialization import read_training_state
from ganforge.training import train_run


def test_modulated_conv_equals_an_explicit_per_sample_convolution():
    g = torch.Generator().manual_seed(0)
    x, w, s = torch.randn(3, 5, 8, 8, generator=g), torch.randn(4, 5, 3, 3, generator=g), \
        torch.randn(3, 5, generator=g)
    out = modulated_conv2d(x, w, s)
    for i in range(3):
        wi = w * s[i][None, :, None, None]
        wi = wi / wi.square().sum(dim=(1, 2, 3), keepdim=True).add(1e-8).sqrt()
        torch.testing.assert_close(out[i : i + 1], F.conv2d(x[i : i + 1], wi, padding=1))
    plain = modulated_conv2d(x, w, s, demodulate=False)
    torch.testing.assert_close(plain[1:2], F.conv2d(x[1:2], w * s[1][None, :, None, None], padding=1))


def test_unfused_modulated_conv_gives_the_fused_numbers():
    """The export path (scale inputs, shared conv, scale outputs) against the grouped conv: a
    layer, then a whole generator's images, within 1e-5; and the switch really changes the path."""
    g = torch.Generator().manual_seed(4)
    x, w, s = torch.randn(3, 5, 8, 8, generator=g), torch.randn(4, 5, 3, 3, generator=g), \
        torch.rand(3, 5, generator=g) + 0.5
    for demod in (True, False):
        torch.testing.assert_close(modulated_conv2d(x, w, s, demod, fused=False),
                                   modulated_conv2d(x, w, s, demod), atol=1e-5, rtol=0)
    torch.manual_seed(0)
    net = StyleGAN2Generator(8, 16, 3, width=16, map_layers=2).eval()
    z = torch.randn(3, 8)
    with torch.no_grad():
        fused = net(z)
        unfused = net.use_fused_modconv(False)(z)
    assert all(not m.fused for m in net.modules() if hasattr(m, "fused"))
    assert (unfused - fused).abs().max().item() < 1e-5 and not torch.equal(unfused, fused)


def test_demodulation_gives_unit_output_variance():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 64, 32, 32, generator=g)
    w = torch.randn(32, 64, 3, 3, generator=g) * 5  # any scale
    s = torch.rand(4, 64, generator=g) * 3 + 0.1  # any positive styles
    out = modulated_conv2d(x, w, s)[:, :, 1:-1, 1:-1]  # inside the zero padding
    assert abs(out.var().item() - 1.0) < 0.05
    assert modulated_conv2d(x, w, s, demodulate=False).var().item() > 10


def test_equalized_lr_and_the_mapping_networks_learning_rate():
    torch.manual_seed(0)
    fast, slow = EqualLinear(256, 256), EqualLinear(256, 256, lr_mul=0.01)
    # The same effective weights at init, whatever lr_mul: N(0, 1/fan_in).
    for layer in (fast, slow):
        eff = layer.weight * layer.scale
        assert abs(eff.std().item() * math.sqrt(256) - 1) < 0.02
    # One Adam step of the same size on each: the effective weights move lr_mul as far.
    moved = []
    for layer in (fast, slow):
        before = (layer.weight * layer.scale).detach().clone()
        opt = torch.optim.Adam(layer.parameters(), lr=1e-3)
        layer(torch.randn(8, 256)).square().mean().backward()
        opt.step()
        moved.append(((layer.weight * layer.scale).detach() - before).abs().mean().item())
    assert abs(moved[1] / moved[0] - 0.01) < 1e-3
    assert MappingNetwork(16, 16, 2).net[0].lr_mul == 0.01


def test_path_length_against_a_hand_computed_value():
    torch.manual_seed(3)
    a = torch.randn(3, 4, 4, 6)  # images = sum over the per-layer ws of a fixed linear map
    ws = torch.randn(2, 5, 6, requires_grad=True)
    images = torch.einsum("nld,chwd->nchw", ws, a)
    torch.manual_seed(7)
    lengths = path_lengths(images, ws)
    torch.manual_seed(7)
    y = torch.randn(2, 3, 4, 4) / 4.0  # / sqrt(H * W)
    grad = torch.einsum("nchw,chwd->nd", y, a)  # the same for every layer
    expected = grad.square().sum(1).sqrt()  # mean over identical layers
    torch.testing.assert_close(lengths, expected)
    # A map that bends: the lengths stay differentiable (create_graph), as the penalty needs.
    path_lengths(torch.einsum("nld,chwd->nchw", ws.tanh(), a), ws).sum().backward()
    assert torch.isfinite(ws.grad).all() and ws.grad.abs().sum() > 0


def test_r1_against_a_hand_computed_value():
    x = torch.randn(3, 2, 4, 4, requires_grad=True)
    k = torch.randn(2, 4, 4)
    out = (x * k).sum(dim=(1, 2, 3)) + (x**2).sum(dim=(1, 2, 3))
    expected = (k + 2 * x.detach()).flatten(1).square().sum(1).mean()
    torch.testing.assert_close(r1_penalty(out, x), expected)


def test_lazy_regularization_scales_adam():
    opt = lazy_adam([torch.nn.Parameter(torch.zeros(1))], 0.0025, (0.0, 0.99), 16)
    c = 16 / 17
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0025 * c)
    assert opt.param_groups[0]["betas"] == pytest.approx((0.0, 0.99**c))


def test_networks_shapes_and_channels():
    assert [channels_at(r, 512) for r in (4, 32, 64, 256, 1024)] == [512, 512, 256, 64, 16]
    G = StyleGAN2Generator(z_dim=16, size=32, channels=3, width=16, map_layers=2)
    D = StyleGAN2Discriminator(size=32, channels=3, width=16)
    assert G.num_ws == 8
    img = G(torch.randn(5, 16))
    assert img.shape == (5, 3, 32, 32) and D(img).shape == (5,)
    x = torch.randn(2, 3, 8, 8)
    assert upsample2d(x, _lowpass()).shape == (2, 3, 16, 16)
    torch.testing.assert_close(upsample2d(torch.ones(1, 1, 4, 4), _lowpass())[..., 2:-2, 2:-2],
                               torch.ones(1, 1, 4, 4))  # the mean is kept away from the borders
    assert downsample2d(x, _lowpass()).shape == (2, 3, 4, 4)
    with pytest.raises(ValueError, match="2\\^k px"):
        StyleGAN2Generator(16, 28, 3)


def test_style_mixing_takes_the_second_latents_layers():
    G = StyleGAN2Generator(z_dim=8, size=16, channels=3, width=8, map_layers=1).eval()
    z, z2 = torch.randn(2, 8), torch.randn(2, 8)
    _, ws = G(z, mix_z=z2, cutoff=2, return_ws=True)
    torch.testing.assert_close(ws[:, :2], G.ws(z)[:, :2])
    torch.testing.assert_close(ws[:, 2:], G.ws(z2)[:, 2:])


def test_psi_zero_gives_the_average_w_image_and_noise_is_fixed_in_eval():
    G = StyleGAN2Generator(z_dim=8, size=16, channels=3, width=8, map_layers=1).eval()
    G.mapping.w_avg.copy_(torch.randn(8))
    a, b = G(torch.randn(3, 8), psi=0.0), G(torch.randn(3, 8), psi=0.0)
    avg = G.synthesis(G.mapping.w_avg[None, None].expand(1, G.num_ws, -1))
    torch.testing.assert_close(a, avg.expand(3, -1, -1, -1))
    torch.testing.assert_close(a, b)
    z = torch.randn(2, 8)
    torch.testing.assert_close(G(z), G(z))  # eval: the fixed noise images


def test_the_average_w_is_tracked_in_training():
    m = MappingNetwork(8, 8, 1, w_avg_beta=0.5)
    z = torch.randn(64, 8)
    m(z, track=True)
    torch.testing.assert_close(m.w_avg, 0.5 * m(z).detach().mean(0))


def test_train_generate_with_truncation(image_folder, tmp_path):
    cfg = resolve("stylegan2", data=str(image_folder), size=16, batch_size=8, max_steps=2, grid_n=4,
                  width=8, z_dim=8, map_layers=1, device="cpu")
    run = ganforge.Run(train_run(cfg, tmp_path / "r", quiet=True))
    s = ganforge.load(run.path, device="cpu")
    full, trunc = s.generate(8, seed=0), s.generate(8, seed=0, psi=0.5)
    assert full.shape == (8, 3, 16, 16) and 0 <= full.min() and full.max() <= 1
    assert trunc.std(0).mean() < full.std(0).mean()  # pulled together towards the average
    dc = resolve("dcgan", data=str(image_folder), size=16, batch_size=8, max_steps=1, width=4, z_dim=8,
                 grid_n=4, device="cpu")
    plain = ganforge.load(train_run(dc, tmp_path / "d", quiet=True), device="cpu")
    with pytest.raises(GanforgeError, match="no average latent"):
        plain.generate(2, psi=0.7)


def test_a_size_stylegan2_cannot_make_is_one_line(image_folder, tmp_path):
    cfg = resolve("stylegan2", data=str(image_folder), size=20, batch_size=8, max_steps=1, width=8,
                  z_dim=8, device="cpu")
    with pytest.raises(GanforgeError, match="--size 20: StyleGAN2 makes 2\\^k px images"):
        train_run(cfg, tmp_path / "r", quiet=True)


def test_ada_update_rule():
    # 8 images x 4 steps at kimg 0.1: p moves by 32 / 100 per update, towards the target.
    assert ada_update(0.0, 0.9, 0.6, 32, 0.1) == pytest.approx(0.32)
    assert ada_update(0.5, 0.2, 0.6, 32, 0.1) == pytest.approx(0.18)
    assert ada_update(0.1, 0.2, 0.6, 32, 0.1) == 0.0  # clamped to [0, 1]
    assert ada_update(0.9, 1.0, 0.6, 32, 0.1) == 1.0
    assert ada_update(0.4, 0.6, 0.6, 32, 0.1) == 0.4  # on target: unchanged


def test_ada_augment_is_the_identity_at_p0_and_lets_gradients_through():
    torch.manual_seed(0)
    x = torch.rand(16, 3, 16, 16, requires_grad=True)
    assert ada_augment(x, 0.0) is x
    y = ada_augment(x, 1.0)
    assert y.shape == x.shape and not torch.allclose(y, x)
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # Each of 9 transforms at p = 0.02: ~83% of the images come through untouched, the rest not.
    x = torch.rand(64, 3, 16, 16)
    touched = (ada_augment(x, 0.02) - x).abs().flatten(1).amax(1).gt(1e-4).float().mean()
    assert 0 < touched < 0.5


def test_ada_p_rises_when_d_overfits_and_resumes_with_the_run(image_folder, tmp_path):
    kw = dict(data=str(image_folder), size=16, batch_size=8, grid_n=4, width=8, z_dim=8, map_layers=1,
              device="cpu", ada_interval=1, ada_kimg=0.1, ada_target=0.0001, log_every=1)
    a = train_run(resolve("stylegan2", epochs=2, **kw), tmp_path / "a", quiet=True)
    ps = [r["ada_p"] for r in ganforge.Run(a).metrics if "ada_p" in r]
    assert ps[0] == 0.0 and max(ps) > 0  # D calls reals real more than the tiny target: p rises
    train_run(resolve("stylegan2", epochs=1, **kw), tmp_path / "b", quiet=True)
    ganforge.train(out=tmp_path / "b", resume=True, epochs=2, quiet=True)
    sa = read_training_state(a / "state.safetensors")["recipe"]["stats"]
    sb = read_training_state(tmp_path / "b" / "state.safetensors")["recipe"]["stats"]
    assert float(sa["ada_p"]) > 0 and torch.equal(sa["ada_p"], sb["ada_p"])
    fixed = resolve("stylegan2", max_steps=2, **{**kw, "ada_p": 0.3})
    run = train_run(fixed, tmp_path / "c", quiet=True)
    assert all(r["ada_p"] == pytest.approx(0.3) for r in ganforge.Run(run).metrics if "ada_p" in r)


def test_relativistic_pairing_losses_by_hand():
    real, fake = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 3.0])
    sp = lambda t: math.log1p(math.exp(t))  # noqa: E731
    assert LOSSES.get("rpgan").relativistic
    assert LOSSES.get("rpgan").d(real, fake).item() == pytest.approx((sp(-1) + sp(1)) / 2)
    assert LOSSES.get("rpgan").g(fake, real).item() == pytest.approx((sp(1) + sp(-1)) / 2)


@pytest.mark.parametrize("family,extra", [
    ("dcgan", dict(model="dcgan", width=4, r1=1.0, r2=1.0, r1_every=1)),
    ("stylegan2", dict(width=8, map_layers=1, r1_gamma=1.0, r2_gamma=1.0, r1_every=1)),
])
def test_r3gan_objective_trains_in_both_gan_families(family, extra, image_folder, tmp_path):
    cfg = resolve(family, data=str(image_folder), size=16, batch_size=8, max_steps=2, z_dim=8, grid_n=4,
                  log_every=1, device="cpu", loss="rpgan", **extra)
    run = train_run(cfg, tmp_path / "r", quiet=True)
    recs = [r for r in ganforge.Run(run).metrics if "d_loss" in r]
    assert all(math.isfinite(r[k]) for r in recs for k in ("d_loss", "g_loss", "r1", "r2"))


@pytest.fixture(scope="module")
def tiny_g():
    torch.manual_seed(0)
    G = StyleGAN2Generator(z_dim=8, size=16, channels=3, width=8, map_layers=1).eval()
    G.mapping.w_avg.copy_(G.mapping(torch.randn(500, 8)).mean(0))
    return G


def _tile(grid, r: int, c: int, size: int = 16, pad: int = 2) -> np.ndarray:
    y, x = pad + r * (size + pad), pad + c * (size + pad)
    return np.asarray(grid)[y : y + size, x : x + size]


def test_the_mixing_grid_layout(tiny_g):
    from ganforge.infer import Sampler
    from ganforge.infer.style import mix_grid
    from ganforge.visual import to_pil

    s = Sampler(tiny_g, 8)
    grid = mix_grid(tiny_g, rows=[1, 2], cols=[3, 4, 5])
    assert grid.size == (4 * 18 + 2, 3 * 18 + 2)
    assert (_tile(grid, 0, 0) == 128).all()  # the corner
    img = lambda seed: np.asarray(to_pil(s.generate(1, seed=seed))[0])  # noqa: E731
    for c, seed in enumerate([3, 4, 5]):
        assert np.array_equal(_tile(grid, 0, c + 1), img(seed))  # top row: the column seeds
    for r, seed in enumerate([1, 2]):
        assert np.array_equal(_tile(grid, r + 1, 0), img(seed))  # left column: the row seeds
    every = mix_grid(tiny_g, rows=[1], cols=[3], styles=range(tiny_g.num_ws))
    none = mix_grid(tiny_g, rows=[1], cols=[3], styles=[])
    assert np.array_equal(_tile(every, 1, 1), img(3)) and np.array_equal(_tile(none, 1, 1), img(1))
    mixed = _tile(grid, 1, 1).astype(float)
    assert not np.array_equal(mixed, img(1)) and not np.array_equal(mixed, img(3))
    with pytest.raises(GanforgeError, match="has layers 0-"):
        mix_grid(tiny_g, rows=[1], cols=[2], styles=[99])


def test_projection_lowers_its_loss_on_an_image_the_net_can_make(tiny_g):
    from ganforge.infer.style import project

    with torch.no_grad():
        target = ((tiny_g(torch.randn(1, 8, generator=torch.Generator().manual_seed(5))) + 1) / 2).clamp(0, 1)
    w, image, losses = project(tiny_g, target, steps=60, seed=0)
    assert w.shape == (1, 8) and image.shape == target.shape
    assert losses[-1] < 0.5 * losses[0]
    start = ((tiny_g.synthesis(tiny_g.mapping.w_avg[None, None].expand(1, tiny_g.num_ws, -1)) + 1) / 2)
    assert (image - target).abs().mean() < (start.clamp(0, 1) - target).abs().mean()
    assert all(p.requires_grad for p in tiny_g.parameters())  # left as it was
    with pytest.raises(GanforgeError, match="this generator makes"):
        project(tiny_g, torch.rand(1, 3, 32, 32), steps=1)


def test_a_walk_in_w_and_the_refusal_for_other_generators(tiny_g):
    from ganforge.infer.style import w_walk
    from ganforge.models.dcgan import DCGANGenerator

    frames = w_walk(tiny_g, [1, 2, 3], steps=4)
    assert frames.shape == (9, 3, 16, 16)
    steps = (frames[1:] - frames[:-1]).abs().mean(dim=(1, 2, 3))
    assert steps.max() < (frames[0] - frames[4]).abs().mean()  # small steps between big ends
    with pytest.raises(GanforgeError, match="style-based generator"):
        w_walk(DCGANGenerator(8, 16, 3, 4), [1, 2])


@pytest.fixture
def sg_run(image_folder, tmp_path):
    cfg = resolve("stylegan2", data=str(image_folder), size=16, batch_size=8, max_steps=2, grid_n=4,
                  width=8, z_dim=8, map_layers=1, device="cpu")
    return train_run(cfg, tmp_path / "sg", quiet=True)


def test_cli_generate_psi_mix_and_project(cli, sg_run, image_folder, tmp_path):
    cli("generate", sg_run, "--n", "4", "--psi", "0.5", "--out", tmp_path / "t.png")
    assert (tmp_path / "t.png").exists()
    cli("mix", sg_run, "--rows", "1,2", "--cols", "3-5", "--out", tmp_path / "mix.png")
    with Image.open(tmp_path / "mix.png") as im:
        assert im.size == (4 * 18 + 2, 3 * 18 + 2)
    bad = cli("mix", sg_run, "--rows", "1", "--cols", "2", "--styles", "0-x", "--out", tmp_path / "m.png",
              check=False)
    assert bad.returncode == 2 and "--styles 0-x: '0-x' is not a layer" in bad.stderr
    photo = next(image_folder.rglob("*.png"))
    p = cli("project", sg_run, photo, "--out", tmp_path / "proj", "--steps", "20")
    assert "projected" in p.stdout
    assert {"target.png", "projected.png", "w.safetensors", "loss.json"} <= {
        f.name for f in (tmp_path / "proj").iterdir()}
    import json

    loss = json.loads((tmp_path / "proj" / "loss.json").read_text())
    assert loss["last"] < loss["first"]


def test_cli_style_tools_refuse_other_runs_in_one_line(cli, image_folder, tmp_path):
    cfg = resolve("dcgan", data=str(image_folder), size=16, batch_size=8, max_steps=1, width=4, z_dim=8,
                  grid_n=4, device="cpu")
    run = train_run(cfg, tmp_path / "d", quiet=True)
    for args in (["generate", run, "--psi", "0.7", "--out", tmp_path / "g.png"],
                 ["mix", run, "--rows", "1", "--cols", "2", "--out", tmp_path / "m.png"],
                 ["project", run, next(image_folder.rglob("*.png")), "--out", tmp_path / "p"]):
        p = cli(*args, check=False)
        assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert "average latent" in p.stderr or "style-based generator" in p.stderr



def test_bf16_autocast_trains_finite_with_both_penalties(image_folder, tmp_path):
    """--precision bf16 (CPU autocast): every phase runs, R1's and the path length's double
    backward included, and the losses stay finite; the saved generator draws finite images."""
    cfg = resolve("stylegan2", data=str(image_folder), size=16, batch_size=8, max_steps=3, grid_n=4,
                  width=8, z_dim=8, map_layers=1, r1_every=2, pl_every=2, log_every=1, device="cpu",
                  precision="bf16")
    run = train_run(cfg, tmp_path / "r", quiet=True)
    recs = [r for r in ganforge.Run(run).metrics if "d_loss" in r]
    assert len(recs) == 3 and {"r1", "pl_penalty"} <= set(recs[0])
    assert all(math.isfinite(v) for r in recs for k, v in r.items() if k.endswith(("loss", "r1", "penalty")))
    assert torch.isfinite(ganforge.load(run, device="cpu").generate(4, psi=0.5)).all()

# ---- walks in W from the command line ------------------------------------------------------
def _captured_walk(monkeypatch, sampler, **kw):
    """The frames ``sampler.interpolate`` would animate, as arrays (the file is not written)."""
    import ganforge.infer.sampler as sampler_mod

    frames = []
    monkeypatch.setattr(sampler_mod, "save_animation", lambda fr, path, **_: frames.extend(fr))
    sampler.interpolate("walk.gif", **kw)
    return [np.asarray(f) for f in frames]


def test_interpolate_walks_straight_lines_in_w_by_default(tiny_g, monkeypatch):
    from ganforge.infer import Sampler, latents
    from ganforge.infer.style import render_ws
    from ganforge.visual import make_grid

    s = Sampler(tiny_g, 8)
    assert s.walk_spaces() == ("w", "z")
    w_frames = _captured_walk(monkeypatch, s, n=2, seed=3, keyframes=2, steps=4)
    assert len(w_frames) == 2 * 4  # two segments (there and back), 4 frames each
    keys = latents(4, 8, 3).view(2, 2, 8)
    with torch.no_grad():
        wa, wb = tiny_g.ws(keys[0]), tiny_g.ws(keys[1])
    mid = np.asarray(make_grid(render_ws(tiny_g, torch.lerp(wa, wb, 0.5))))
    assert np.array_equal(w_frames[2], mid)  # halfway along the straight line in W
    z_frames = _captured_walk(monkeypatch, s, n=2, seed=3, keyframes=2, steps=4, space="z")
    assert np.array_equal(z_frames[0], w_frames[0])  # the same keyframes ...
    assert not np.array_equal(z_frames[2], w_frames[2])  # ... other paths between them
    s.truncate(0.0)  # psi 0: every w is the average w, so the walk stands still
    still = _captured_walk(monkeypatch, s, n=2, seed=3, keyframes=2, steps=2)
    assert all(np.array_equal(f, still[0]) for f in still)


def test_cli_walk_space(cli, sg_run, image_folder, tmp_path):
    for space in ("w", "z"):
        cli("generate", sg_run, "--interpolate", tmp_path / f"{space}.gif", "--n", "2", "--psi", "0.7",
            "--walk-space", space)
        with Image.open(tmp_path / f"{space}.gif") as im:
            assert im.n_frames == 4 * 12
    p = cli("generate", sg_run, "--walk-space", "w", "--out", tmp_path / "g.png", check=False)
    assert p.returncode == 2 and "--walk-space goes with --interpolate" in p.stderr
    dc = resolve("dcgan", data=str(image_folder), size=16, batch_size=8, max_steps=1, width=4, z_dim=8,
                 grid_n=4, device="cpu")
    run = train_run(dc, tmp_path / "d", quiet=True)
    p = cli("generate", run, "--interpolate", tmp_path / "x.gif", "--walk-space", "w", check=False)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
    assert "--walk-space w: this generator has no mapping network" in p.stderr
    assert not (tmp_path / "x.gif").exists()
    cli("generate", run, "--interpolate", tmp_path / "z.gif", "--n", "2")  # z: the default there


# ---- class-conditional StyleGAN2 -----------------------------------------------------------
def test_the_class_changes_g_and_d():
    torch.manual_seed(0)
    G = StyleGAN2Generator(z_dim=8, size=16, channels=3, width=8, map_layers=1, num_classes=3).eval()
    D = StyleGAN2Discriminator(size=16, channels=3, width=8, num_classes=3)
    z = torch.randn(2, 8)
    a, b = G(z, torch.tensor([0, 0])), G(z, torch.tensor([1, 2]))
    assert not torch.allclose(a, b)
    torch.testing.assert_close(G(z, torch.tensor([0, 1]))[0], a[0])  # per image, by its label
    assert not torch.allclose(D(a, torch.tensor([0, 0])), D(a, torch.tensor([1, 2])))
    with pytest.raises(GanforgeError, match="class-conditional: pass class labels"):
        G(z)
    with pytest.raises(GanforgeError, match="class-conditional: pass class labels"):
        D(a)
    # Unconditional networks keep the state dict they had before conditioning existed.
    assert not any("embed" in k for k in StyleGAN2Generator(8, 16, 3, 8, 1).state_dict())
    assert not any("embed" in k for k in StyleGAN2Discriminator(16, 3, 8).state_dict())


def test_conditional_training_and_the_tools(cli, image_folder, tmp_path):
    cfg = resolve("stylegan2", data=str(image_folder), size=16, batch_size=8, max_steps=3, grid_n=4,
                  width=8, z_dim=8, map_layers=1, r1_every=2, pl_every=2, log_every=1, device="cpu",
                  conditional=True)
    run = train_run(cfg, tmp_path / "c", quiet=True)
    recs = [r for r in ganforge.Run(run).metrics if "d_loss" in r]
    assert len(recs) == 3
    assert all(math.isfinite(r[k]) for r in recs for k in ("d_loss", "g_loss", "d_real", "d_fake"))
    assert any("r1" in r for r in recs) and any("pl_penalty" in r for r in recs)
    s = ganforge.load(run, device="cpu")  # no flags: the classes come from model.json
    assert s.classes == ["a", "b"] and s.net.num_classes == 2
    a, b = s.generate(4, seed=1, label="a"), s.generate(4, seed=1, label=1)
    assert not torch.equal(a, b)
    torch.testing.assert_close(s.generate(4, seed=1, label=0, psi=0.5),
                               s.generate(4, seed=1, label="a", psi=0.5))
    cli("generate", run, "--class", "b", "--n", "4", "--psi", "0.7", "--out", tmp_path / "b.png",
        "--interpolate", tmp_path / "b.gif")
    cli("mix", run, "--rows", "1,2", "--cols", "3", "--class", "b", "--out", tmp_path / "mix.png")
    bad = cli("mix", run, "--rows", "1", "--cols", "2", "--class", "zebra", "--out", tmp_path / "m.png",
              check=False)
    assert bad.returncode == 2 and "class 'zebra' is not one this model knows" in bad.stderr
    p = cli("project", run, next(image_folder.rglob("*.png")), "--out", tmp_path / "p", "--steps", "5")
    assert "projected" in p.stdout
    nolabels = tmp_path / "flat"
    nolabels.mkdir()
    for f in list(image_folder.rglob("*.png"))[:8]:
        (nolabels / f.name).write_bytes(f.read_bytes())
    with pytest.raises(GanforgeError, match="needs labelled data"):
        train_run(resolve("stylegan2", data=str(nolabels), size=16, batch_size=8, max_steps=1, width=8,
                          z_dim=8, map_layers=1, device="cpu", conditional=True), tmp_path / "n",
                  quiet=True)


# ---- DDP: two CPU processes (gloo) ---------------------------------------------------------
_SG_DDP = ["--size", "16", "--batch-size", "8", "--seed", "0", "--width", "8", "--z-dim", "8",
           "--map-layers", "1", "--r1-every", "2", "--pl-every", "2", "--ema-kimg", "0.01",
           "--ada-interval", "2", "--ada-kimg", "0.1", "--ada-target", "0.01", "--threads", "1"]


def _torchrun(*args) -> None:
    import os
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                        "--nproc_per_node=2", "-m", "ganforge", *map(str, args)],
                       capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                       timeout=300)  # a collective that one rank skips would hang, not fail
    assert p.returncode == 0, p.stderr[-3000:]


@pytest.mark.slow
def test_ddp_stylegan2_with_ada_and_an_exact_resume(image_folder, tmp_path):
    """torchrun, 2 processes: ADA's sign sums are all-reduced (the count of a half-done interval
    is both ranks' images), and 1 epoch + resume + 1 epoch == 2 epochs bit for bit (rank 0's
    random stream is in the state file; the others' are seeded by (rank, step))."""
    from _helpers import assert_same_state

    a, b = tmp_path / "a", tmp_path / "b"
    _torchrun("train", "stylegan2", "--data", image_folder, "--out", a, "--epochs", "2", *_SG_DDP)
    _torchrun("train", "stylegan2", "--data", image_folder, "--out", b, "--epochs", "1", *_SG_DDP)
    half = read_training_state(b / "state.safetensors")
    assert half["step"] == 3
    # Steps 0-2 with an update after step 1: step 2's signs wait, counted over 4 + 4 images.
    assert float(half["recipe"]["stats"]["ada_count"]) == 8
    _torchrun("train", "--resume", b, "--epochs", "2")
    assert_same_state(a, b, 6)
    assert float(read_training_state(a / "state.safetensors")["recipe"]["stats"]["ada_p"]) > 0
    assert json.loads((a / "config.json").read_text())["world_size"] == 2
