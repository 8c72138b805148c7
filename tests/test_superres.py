"""Super-resolution: the networks' shapes, each degradation's statistics, pairs bit-exact from
(seed, step), tiled upscaling against whole-image upscaling, PSNR/SSIM against reference values,
``ganforge upscale`` end to end with a bad file, ``ganforge eval`` beside bicubic.
(The family contract -- first step, resume, load -- is tests/test_families.py's.)"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.config import resolve
from ganforge.data.degrade import (
    BicubicPairs,
    RealESRGANPairs,
    blur,
    gaussian_kernel,
    gaussian_noise,
    jpeg,
    make_pairs,
    poisson_noise,
    sinc_kernel,
)
from ganforge.data.kinds import DataSpec
from ganforge.errors import GanforgeError
from ganforge.families.superres import SuperResConfig
from ganforge.infer import Upscaler
from ganforge.losses import LOSSES, d_ragan_loss, g_ragan_loss
from ganforge.metrics.fidelity import psnr, ssim, to_y
from ganforge.models.superres import RRDBNet, SRResNet, UNetDiscriminatorSN, bicubic_up
from ganforge.training import train_run


# ---- networks -------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [2, 4])
def test_generators_upscale_any_size_by_their_scale(scale):
    x = torch.rand(2, 3, 7, 10) * 2 - 1
    for net in (SRResNet(width=8, blocks=2, scale=scale),
                SRResNet(width=8, blocks=1, scale=scale, skip=False),
                RRDBNet(width=8, growth=4, blocks=1, scale=scale)):
        assert net(x).shape == (2, 3, 7 * scale, 10 * scale)
    assert SRResNet(1, 1, width=4, blocks=1, scale=scale)(x[:, :1]).shape == (2, 1, 7 * scale, 10 * scale)


def test_srresnet_with_the_bicubic_skip_starts_as_bicubic():
    x = torch.rand(1, 3, 9, 9) * 2 - 1
    assert torch.equal(SRResNet(width=8, blocks=1, scale=4)(x), bicubic_up(x, 4))


def test_unet_discriminator_scores_every_pixel_and_refuses_odd_sides():
    d = UNetDiscriminatorSN(3, width=4)
    assert d(torch.randn(2, 3, 32, 24)).shape == (2, 1, 32, 24)
    with pytest.raises(GanforgeError, match="multiples of 8"):
        d(torch.randn(1, 3, 20, 20))


def test_relativistic_average_loss_by_hand():
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])  # means 1 and 0
    sp = lambda v: math.log1p(math.exp(v))  # noqa: E731  softplus
    d = 0.5 * ((sp(-2) + sp(0)) / 2 + (sp(-2) + sp(0)) / 2)  # real - 0 = (2, 0); fake - 1 = (-2, 0)
    g = 0.5 * ((sp(2) + sp(0)) / 2 + (sp(2) + sp(0)) / 2)
    assert float(d_ragan_loss(real, fake)) == pytest.approx(d)
    assert float(g_ragan_loss(fake, real)) == pytest.approx(g)
    assert LOSSES.get("ragan").relativistic


# ---- degradations: their statistics ------------------------------------------------------------
def test_bicubic_pairs_shapes_levels_and_means():
    g = torch.Generator().manual_seed(0)
    hr = torch.rand(3, 3, 32, 32) * 2 - 1
    for scale in (2, 4):
        lo, hi = BicubicPairs(scale)(hr, g)
        assert lo.shape == (3, 3, 32 // scale, 32 // scale) and hi is hr
        levels = (lo + 1) * 127.5
        assert torch.allclose(levels, levels.round(), atol=1e-4)  # 8-bit levels, as a saved file
        assert torch.allclose(lo.mean((2, 3)), hr.mean((2, 3)), atol=0.02)  # antialiased: means kept
    flat = torch.full((1, 3, 16, 16), 0.2)
    want = torch.full((1, 3, 4, 4), round(1.2 * 127.5) / 127.5 - 1)
    assert torch.allclose(BicubicPairs(4)(flat, g)[0], want)
    with pytest.raises(GanforgeError, match="divisible by 4"):
        BicubicPairs(4)(torch.zeros(1, 3, 18, 18), g)


def _moments(k: torch.Tensor) -> torch.Tensor:
    d = torch.arange(k.shape[0], dtype=torch.float64) - k.shape[0] // 2
    yy, xx = torch.meshgrid(d, d, indexing="ij")
    k = k.double()
    xy = (k * xx * yy).sum()
    return torch.tensor([[(k * xx * xx).sum(), xy], [xy, (k * yy * yy).sum()]])


def test_anisotropic_gaussian_kernel_has_the_asked_covariance():
    theta = math.pi / 6
    k = gaussian_kernel(21, 2.0, 1.0, theta)
    c, s = math.cos(theta), math.sin(theta)
    rot = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    want = rot @ torch.diag(torch.tensor([4.0, 1.0], dtype=torch.float64)) @ rot.T
    assert float(k.sum()) == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(_moments(k), want, atol=1e-3)
    iso = gaussian_kernel(21, 1.5, 1.5, 0.0)
    assert torch.allclose(_moments(iso), torch.eye(2, dtype=torch.float64) * 2.25, atol=1e-3)
    # generalised and plateau kernels: still normalised, peaked at the centre, wider tails for a plateau
    gen, plat = gaussian_kernel(21, 1.5, 1.5, 0.0, beta=2.0), gaussian_kernel(21, 1.5, 1.5, 0.0, 1.5, True)
    for k in (gen, plat):
        assert float(k.sum()) == pytest.approx(1.0, abs=1e-6) and k.argmax() == 10 * 21 + 10
    assert plat[10, 0] > iso[10, 0]


def test_sinc_kernel_is_a_low_pass_filter_at_its_cutoff():
    cutoff = math.pi / 2
    k = sinc_kernel(21, cutoff)
    assert float(k.sum()) == pytest.approx(1.0, abs=1e-6)
    h = torch.fft.fft2(F.pad(k, (0, 43, 0, 43))).abs()
    f = torch.fft.fftfreq(64) * 2 * math.pi
    fy, fx = torch.meshgrid(f, f, indexing="ij")
    r = (fx**2 + fy**2).sqrt()
    assert h[r < 0.7 * cutoff].mean() > 0.9 and h[r > 1.3 * cutoff].mean() < 0.02


def test_blur_keeps_flat_images_and_applies_each_images_own_kernel():
    x = torch.rand(2, 3, 16, 16)
    pulse = torch.zeros(2, 21, 21)
    pulse[:, 10, 10] = 1
    assert torch.allclose(blur(x, pulse), x)
    kernels = torch.stack([F.pad(gaussian_kernel(5, 1.0, 1.0, 0.0), (8, 8, 8, 8)), pulse[0]])
    out = blur(x, kernels)
    assert torch.allclose(out[1], x[1]) and not torch.allclose(out[0], x[0])
    assert torch.allclose(blur(torch.full((1, 3, 4, 4), 0.3), kernels[:1]), torch.full((1, 3, 4, 4), 0.3))


def test_gaussian_noise_has_its_sigma_and_gray_noise_is_shared_by_channels():
    g = torch.Generator().manual_seed(0)
    x = torch.full((4, 3, 64, 64), 0.5)
    n = gaussian_noise(x, torch.full((4,), 10 / 255), torch.tensor([False, True, False, True]), g) - x
    assert torch.allclose(n.std(dim=(1, 2, 3)) * 255, torch.full((4,), 10.0), rtol=0.05)
    assert torch.equal(n[1, 0], n[1, 2]) and not torch.equal(n[0, 0], n[0, 2])


def test_poisson_noise_variance_grows_with_brightness():
    g = torch.Generator().manual_seed(0)
    for level in (0.2, 0.8):
        x = torch.full((2, 3, 64, 64), level)
        n = poisson_noise(x, torch.tensor([1.0, 2.0]), torch.tensor([False, False]), g) - x
        # var = scale^2 * x / 255 (shot noise on 8-bit counts)
        assert torch.allclose(n.var(dim=(1, 2, 3)) * 255 / level, torch.tensor([1.0, 4.0]), rtol=0.07)
    gray = poisson_noise(torch.full((1, 3, 8, 8), 0.5), torch.tensor([1.0]), torch.tensor([True]), g)
    assert torch.equal(gray[0, 0], gray[0, 1])


def test_jpeg_is_pillows_codec_and_loses_more_at_lower_quality():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (2, 24, 24, 3), dtype=np.uint8)
    x = torch.from_numpy(a).permute(0, 3, 1, 2).float() / 255
    out = jpeg(x, [90, 30])
    buf = io.BytesIO()
    Image.fromarray(a[0]).save(buf, "JPEG", quality=90)
    ref = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    assert np.array_equal((out[0] * 255).round().byte().permute(1, 2, 0).numpy(), ref)
    err = (out - x).abs().flatten(1).mean(1)
    assert err[1] > err[0] > 0
    same = jpeg(torch.cat([x[:1], x[:1]]), [30, 90])
    assert (same[0] - x[0]).abs().mean() > (same[1] - x[0]).abs().mean()


def test_realesrgan_pairs_are_a_pure_function_of_the_generator_and_differ_per_image():
    hr = (torch.rand(1, 3, 32, 32) * 2 - 1).expand(4, -1, -1, -1).contiguous()  # the same image 4 times
    deg = RealESRGANPairs(4)
    lo1, hi = deg(hr, torch.Generator().manual_seed(7))
    lo2, _ = deg(hr, torch.Generator().manual_seed(7))
    lo3, _ = deg(hr, torch.Generator().manual_seed(8))
    assert lo1.shape == (4, 3, 8, 8) and hi is hr
    assert torch.equal(lo1, lo2) and not torch.equal(lo1, lo3)
    assert len({tuple(t.flatten().tolist()) for t in lo1}) == 4  # each image its own degradation
    levels = (lo1 + 1) * 127.5
    assert lo1.min() >= -1 and lo1.max() <= 1 and torch.allclose(levels, levels.round(), atol=1e-4)
    # degraded: much further from the image than the clean bicubic copy is
    clean = BicubicPairs(4)(hr, torch.Generator())[0]
    assert (lo1 - clean).abs().mean() > 0.02


def test_a_degradation_draws_its_kernels_from_the_configured_mix():
    deg, g = RealESRGANPairs(4), torch.Generator().manual_seed(0)
    from ganforge.data.degrade import _Draw

    d = _Draw(g)
    sizes = [deg.kernel(d, 0).shape[-1] for _ in range(300)]
    assert set(sizes) <= set(range(7, 22, 2)) and len(set(sizes)) == 8  # every odd size 7..21


def test_pairs_are_bit_exact_from_seed_and_step(image_folder):
    from ganforge.data.kinds import open_data

    cfg = SuperResConfig(degradation="realesrgan", scale=2)

    def batch(step: int, seed: int = 3):
        spec = DataSpec(str(image_folder), 16, seed=seed, quiet=True)
        data = open_data("derived", spec, torch.device("cpu"), make_pairs(cfg.degradation, cfg.scale))
        return data.batch(torch.arange(4), 0, step)

    a, b, c, d = batch(5), batch(5), batch(6), batch(5, seed=4)
    assert a.images.shape == (4, 3, 8, 8) and a.targets.shape == (4, 3, 16, 16)
    assert torch.equal(a.images, b.images) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.images, c.images) and not torch.equal(a.images, d.images)


# ---- tiled upscaling ----------------------------------------------------------------------------
def _random_upscaler(seed: int = 0) -> Upscaler:
    torch.manual_seed(seed)
    net = SRResNet(width=8, blocks=1, scale=2)
    torch.nn.init.normal_(net.tail.weight, 0, 0.05)  # not the zero start: a real network's output
    return Upscaler({"generator": net}, 2, 3, "cpu")


def test_tiled_upscaling_equals_whole_image_upscaling_away_from_the_seams():
    up = _random_upscaler()
    x = torch.rand(1, 3, 45, 37)
    whole = up.upscale(x, tile=None)
    assert whole.shape == (1, 3, 90, 74)
    # overlap beyond the network's reach (SRResNet, 1 block: 4 + 2 + 1 + 1 + 1 input px): equal
    assert torch.allclose(up.upscale(x, tile=16, overlap=12), whole, atol=1e-5)
    # no overlap: equal away from the seams, the seams themselves within a bound
    tiled = up.upscale(x, tile=16, overlap=0)
    seam = torch.zeros(90, 74, dtype=torch.bool)
    reach = 2 * 10  # output pixels either side of a tile border
    for t in (32, 64):
        seam[max(t - reach, 0) : t + reach, :] = True
        seam[:, max(t - reach, 0) : t + reach] = True
    diff = (tiled - whole).abs()[0].amax(0)
    assert float(diff[~seam].max()) < 1e-5
    # the seams: the error shrinks as the overlap covers more of the reach, and is gone at 10
    errs = [float((up.upscale(x, tile=16, overlap=o) - whole).abs().max()) for o in (0, 4, 8, 10)]
    assert errs[0] > errs[1] > errs[2] > 0 and errs[3] < 1e-5
    assert errs[1] < 0.1  # 4 px of context: within 0.1 of the whole-image result (of 1)


def test_upscale_takes_pil_images_of_any_mode_and_size():
    up = _random_upscaler()
    rgba = Image.new("RGBA", (13, 9), (200, 10, 10, 128))
    out = up.upscale(rgba)
    assert out.size == (26, 18) and out.mode == "RGB"
    outs = up.upscale([Image.new("L", (5, 7), 90), Image.new("RGB", (8, 8))])
    assert [o.size for o in outs] == [(10, 14), (16, 16)]


# ---- PSNR and SSIM against reference values ---------------------------------------------------
def _pair() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g, dtype=torch.float64)
    return x, (x + 0.1 * torch.randn(2, 3, 32, 32, generator=g, dtype=torch.float64)).clamp(0, 1)


def test_psnr_and_ssim_match_torchmetrics_values():
    """Reference values from torchmetrics 1.9.0 (peak_signal_noise_ratio and
    structural_similarity_index_measure, data_range 1) on these inputs. torchmetrics' SSIM
    averages over the whole image with reflected borders; ours over the window positions that
    fit (the literature's 'valid'), so it is compared on the reflect-padded images."""
    x, y = _pair()
    assert psnr(x, y).tolist() == pytest.approx([20.30254526196234, 20.456668033127368], abs=1e-5)
    pad = lambda t: F.pad(t, (5, 5, 5, 5), mode="reflect")  # noqa: E731
    assert ssim(pad(x), pad(y)).tolist() == pytest.approx([0.9434722973247874, 0.9444045769249861],
                                                          abs=1e-9)
    assert ssim(pad(to_y(x)), pad(to_y(y))).tolist() == pytest.approx(
        [0.9452564038538358, 0.9467277716024307], abs=1e-9)
    assert psnr(x, y, crop=2, luma=True).tolist() == pytest.approx([25.21934478819126, 25.413933098515994],
                                                                    abs=1e-5)


def test_psnr_ssim_by_hand():
    x = torch.zeros(1, 3, 16, 16)
    assert float(psnr(x, x + 0.1)[0]) == pytest.approx(20.0, abs=1e-4)  # MSE 0.01 -> 20 dB
    y = torch.rand(1, 3, 16, 16)
    assert float(ssim(y, y)[0]) == pytest.approx(1.0, abs=1e-9)
    # the crop: a difference only on the border does not count
    z = y.clone()
    z[..., :2, :] = 0
    assert math.isinf(float(psnr(y, z, crop=2)[0])) and float(psnr(y, z)[0]) < 30
    white, black = torch.ones(1, 3, 1, 1), torch.zeros(1, 3, 1, 1)
    assert float(to_y(white)) * 255 == pytest.approx(235.0, abs=1e-3)
    assert float(to_y(black)) * 255 == pytest.approx(16.0, abs=1e-3)


# ---- a tiny trained run: upscale end to end, eval beside bicubic ---------------------------------
@pytest.fixture(scope="module")
def sr_run(tmp_path_factory):
    from conftest import _blob

    mp = pytest.MonkeyPatch()
    mp.setenv("GANFORGE_DATA", str(tmp_path_factory.mktemp("data")))
    mp.setenv("OMP_NUM_THREADS", "2")
    root = tmp_path_factory.mktemp("sr")
    rng = np.random.default_rng(0)
    (root / "imgs").mkdir()
    for i in range(40):
        Image.fromarray(_blob(rng, 40, 3)).save(root / "imgs" / f"{i:03d}.png")
    cfg = resolve("superres", data=str(root / "imgs"), size=32, batch_size=6, epochs=2, grid_n=4,
                  device="cpu", width=8, blocks=1, d_width=4, warmup_steps=8, ema=0.5, lr=1e-3)
    run = train_run(cfg, root / "run", quiet=True)
    yield run
    mp.undo()


def test_the_preview_grid_is_lowres_bicubic_ganforge_original(sr_run):
    with Image.open(sr_run / "samples" / "epoch_0002.png") as im:
        grid = np.asarray(im)
    assert grid.shape[1] == 4 * 32 + 5 * 2  # four 32 px columns and their separators
    model = json.loads((sr_run / "model.json").read_text())
    assert model["kind"] == "upscale"
    assert model["uses"] == {"generator": "generator", "psnr": "psnr_generator"}


def test_upscale_a_folder_end_to_end_with_a_bad_file(sr_run, tmp_path, capsys):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    Image.new("RGB", (30, 17), (40, 120, 200)).save(src / "wide.jpg")
    Image.new("L", (9, 9), 80).save(src / "sub" / "gray.png")
    (src / "broken.png").write_bytes(b"not an image")
    assert main(["upscale", str(sr_run), str(src), "--out", str(tmp_path / "out"), "--tile", "8",
                 "--device", "cpu"]) == 0
    cap = capsys.readouterr()
    assert "upscaled 2 images x4" in cap.out and "skipped 1 unreadable file" in cap.out
    assert "broken.png" in cap.err
    with Image.open(tmp_path / "out" / "wide.jpg") as im:
        assert im.size == (120, 68)
    with Image.open(tmp_path / "out" / "sub" / "gray.png") as im:
        assert im.size == (36, 36)
    from ganforge.provenance import read_provenance

    for name in ("wide.jpg", "sub/gray.png"):  # marked as made (JPEG: XMP), naming its source
        rec = read_provenance(tmp_path / "out" / name)["record"]
        assert rec["synthetic"] is True and rec["kind"] == "upscale" and rec["source"].endswith(
            name.split("/")[-1]) and len(rec["model_sha256"]) == 64
    assert not (tmp_path / "out" / "broken.png").exists()
    # the only file given is bad: one line, exit 2
    assert main(["upscale", str(sr_run), str(src / "broken.png"), "--out", str(tmp_path / "o2")]) == 2
    assert "not a readable image" in capsys.readouterr().err
    # --strict refuses before anything is written
    assert main(["upscale", str(sr_run), str(src), "--out", str(tmp_path / "o3"), "--strict"]) == 2
    assert not (tmp_path / "o3").exists() or not any((tmp_path / "o3").rglob("*.*"))


def test_python_load_upscale_matches_the_cli_images(sr_run, tmp_path):
    img = Image.new("RGB", (11, 6), (250, 30, 60))
    up = ganforge.load(sr_run, device="cpu")
    assert isinstance(up, Upscaler) and up.scale == 4
    out = up.upscale(img)
    img.save(tmp_path / "a.png")
    assert main(["upscale", str(sr_run), str(tmp_path / "a.png"), "--out", str(tmp_path / "o")]) == 0
    with Image.open(tmp_path / "o" / "a.png") as im:
        assert np.array_equal(np.asarray(im), np.asarray(out))
    assert ganforge.Run(sr_run).upscale(img).size == (44, 24)


def test_eval_reports_psnr_ssim_beside_bicubic_on_the_same_images(sr_run):
    from ganforge.metrics.evaluate import evaluate, format_table

    r = evaluate(sr_run, n=8, device="cpu", floor_splits=2)
    m = r["metrics"]
    src_low = None
    from ganforge.data.kinds import open_data

    cfg = ganforge.Run(sr_run).config
    data = open_data("derived", DataSpec(cfg.run.data, 32, seed=cfg.run.seed, quiet=True),
                     torch.device("cpu"), make_pairs(cfg.model.degradation, cfg.model.scale))
    low, high = data.preview_inputs
    src_low = low.float() / 255
    want = psnr((bicubic_up(src_low, 4).clamp(0, 1) * 255).round() / 255, high.float() / 255, crop=4).mean()
    assert m["psnr"]["bicubic"] == pytest.approx(float(want), abs=1e-6)
    for key in ("psnr", "ssim", "psnr_y", "ssim_y", "psnr_warmup", "fid", "kid", "fid_bicubic", "kid_warmup"):
        assert key in m and math.isfinite(m[key]["value"])
    table = format_table(r)
    assert "PSNR RGB (dB), GAN model" in table and "(bicubic)" in table and "FID, bicubic" in table
    with pytest.raises(GanforgeError, match="drop --real"):
        evaluate(sr_run, real=cfg.run.data, device="cpu")


# ---- the family's settings ----------------------------------------------------------------------
def test_presets_resolve_and_build(tmp_path):
    from ganforge.families.superres import generator_spec

    for name, cls in (("faces-sr4x", SRResNet), ("photo-sr4x", RRDBNet)):
        cfg = resolve(name, data=str(tmp_path))
        assert cfg.family == "superres" and cfg.model.scale == 4
        assert cfg.run.size == (256 if cls is RRDBNet else 128)
        net = generator_spec(cfg.model, 3).build()
        assert isinstance(net, cls) and net(torch.zeros(1, 3, 8, 8)).shape == (1, 3, 32, 32)
    assert resolve("photo-sr4x", data=str(tmp_path)).model.degradation == "realesrgan"
    assert resolve("faces-sr4x").run.data == "celeba"  # the registered set (a download); or --data
    with pytest.raises(GanforgeError, match="no default data"):
        resolve("photo-sr4x")
    with pytest.raises(GanforgeError, match="--warmup-steps"):
        resolve("superres", data=str(tmp_path), warmup_steps=-1)
    with pytest.raises(GanforgeError, match="no such network file"):
        resolve("superres", data=str(tmp_path), perceptual=str(tmp_path / "missing.safetensors"))


def test_the_perceptual_loss_uses_a_ganforge_network_file(image_folder, tmp_path):
    from ganforge.models import NetSpec
    from ganforge.serialization import save_network

    spec = NetSpec("PatchDiscriminator", dict(in_channels=3, width=4, layers=2))
    save_network(tmp_path / "feat.safetensors", spec.build(), spec)
    cfg = resolve("superres", data=str(image_folder), size=16, batch_size=8, max_steps=2, device="cpu",
                  width=4, blocks=1, d_width=4, warmup_steps=1, perceptual=str(tmp_path / "feat.safetensors"),
                  log_every=1)
    run = train_run(cfg, tmp_path / "r", quiet=True)
    recs = ganforge.Run(run).metrics
    assert "perceptual_loss" not in recs[0] and math.isfinite(recs[1]["perceptual_loss"])


def test_detail_features_tell_blurred_images_from_sharp_ones():
    """Pixel features at 32 px cannot (bicubic's pixel FID sat inside the real/real floor on
    CelebA); the detail statistics put the blurred copies far beyond the floor."""
    from ganforge.metrics.features import get_extractor
    from ganforge.metrics.stats import fid_from_features

    g = torch.Generator().manual_seed(0)
    real = (0.5 + 0.2 * torch.randn(300, 3, 32, 32, generator=g)).clamp(0, 1)
    blurred = bicubic_up(F.interpolate(real[:150], scale_factor=0.25, mode="bicubic", antialias=True), 4)
    ext = get_extractor("detail")
    a, b, f = ext(real[:150])[0], ext(real[150:])[0], ext(blurred.clamp(0, 1))[0]
    assert a.shape == (150, 3 * 3 * 16)
    floor, blur = fid_from_features(b, a), fid_from_features(f, a)
    assert blur > 50 * max(floor, 1e-3)


def test_generate_on_a_superres_run_points_at_upscale(sr_run, capsys):
    assert main(["generate", str(sr_run), "--n", "4", "--out", "x.png"]) == 2
    assert f"ganforge upscale {sr_run} INPUT --out DIR" in capsys.readouterr().err
    assert main(["translate", str(sr_run), "x.png", "--out", "o"]) == 2
    assert "a super-resolution model; use ganforge upscale" in capsys.readouterr().err
    with pytest.raises(GanforgeError, match="super-resolution run; use .upscaler"):
        ganforge.Run(sr_run).generate(4)
