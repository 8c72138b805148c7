"""Provenance: every synthetic image ganforge writes says so (PNG text + XMP, JPEG/WebP XMP +
EXIF, GIF comment, the IPTC trainedAlgorithmicMedia source type), ``ganforge inspect`` reads it
back, and images that are not synthetic (a user's photo, a projection's target) are not marked."""

from __future__ import annotations

import hashlib
import io
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.infer import Sampler
from ganforge.models import NetSpec
from ganforge.provenance import (
    DIGITAL_SOURCE_TYPE,
    IPTC_EXT_NS,
    encode_png,
    read_provenance,
    record,
    save_image,
)
from ganforge.serialization import save_model
from ganforge.visual import CAPTION_PX, add_caption, preview_region


def sha(*files):
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()


@pytest.fixture
def sampler_model(tmp_path):
    """A tiny DCGAN generator folder, as training publishes one (no training needed)."""
    torch.manual_seed(0)
    spec = NetSpec("DCGANGenerator", {"z_dim": 8, "size": 16, "channels": 3, "width": 4})
    folder = tmp_path / "faces"
    save_model(folder, family="gan", kind="sample", nets={"generator": (spec.build(), spec)},
               uses={"generator": "generator"}, info={"z_dim": 8}, version="test")
    return folder


@pytest.fixture
def translator_model(tmp_path):
    torch.manual_seed(0)
    spec = NetSpec("ResNetTranslator", {"in_channels": 3, "out_channels": 3, "width": 2, "blocks": 1})
    folder = tmp_path / "h2z"
    save_model(folder, family="cyclegan", kind="translate",
               nets={"generator_ab": (spec.build(), spec), "generator_ba": (spec.build(), spec)},
               uses={"a2b": "generator_ab", "b2a": "generator_ba"},
               info={"size": 16, "channels": 3, "domains": ["A", "B"]}, version="test")
    return folder


def photo(path, xmp: bytes | None = None):
    """A 'real photo': written by Pillow alone, optionally with another tool's XMP."""
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **({"xmp": xmp} if xmp else {}))
    return path


def test_generate_marks_grid_folder_and_walks(cli, sampler_model, tmp_path):
    cli("generate", sampler_model, "--n", "3", "--seed", "5", "--out", tmp_path / "g.png",
        "--out-dir", tmp_path / "each", "--interpolate", tmp_path / "walk.gif", "--device", "cpu")
    cli("generate", sampler_model, "--n", "2", "--out", tmp_path / "g.jpg",
        "--interpolate", tmp_path / "walk.webp", "--device", "cpu")
    cli("generate", sampler_model, "--seeds", "7,9", "--out-dir", tmp_path / "seeds", "--out",
        tmp_path / "g.webp", "--device", "cpu")
    weights = sha(sampler_model / "generator.safetensors")  # as `sha256sum` says
    expect = {"g.png": ("png-text", "grid", 5), "g.jpg": ("xmp", "grid", 0), "g.webp": ("xmp", "grid", 0),
              "walk.gif": ("gif-comment", "walk", 5), "walk.webp": ("xmp", "walk", 0),
              "each/0005_00002.png": ("png-text", "image", 5), "seeds/seed0009.png": ("png-text", "image", 9)}
    for name, (where, kind, seed) in expect.items():
        got = read_provenance(tmp_path / name)
        rec = got["record"]
        assert got["found_in"] == where, name
        assert rec["synthetic"] is True and rec["kind"] == kind and rec["seed"] == seed, name
        assert rec["model_sha256"] == weights and rec["run"].endswith("/faces"), name
        assert rec["software"] == f"ganforge {ganforge.__version__}"
        assert got["digital_source_type"] == DIGITAL_SOURCE_TYPE, name
    assert read_provenance(tmp_path / "each" / "0005_00002.png")["record"]["index"] == 2
    # A PNG carries the XMP packet too, for tools that read only XMP.
    with Image.open(tmp_path / "g.png") as im:
        assert "trainedAlgorithmicMedia" in im.text["XML:com.adobe.xmp"]


def test_inspect_file_folder_json_and_exit_codes(cli, sampler_model, tmp_path):
    out = tmp_path / "out"
    cli("generate", sampler_model, "--n", "2", "--out-dir", out, "--device", "cpu")
    p = cli("inspect", out / "0000_00001.png")
    assert p.returncode == 0 and "ganforge provenance (PNG text chunk + XMP)" in p.stdout
    assert "trainedAlgorithmicMedia (IPTC)" in p.stdout
    assert sha(sampler_model / "generator.safetensors") in p.stdout
    photo(out / "sub" / "holiday.jpg")
    p = cli("inspect", out, check=False)
    assert p.returncode == 1  # one image in the folder carries none
    assert f"{out / 'sub' / 'holiday.jpg'}: no ganforge provenance" in p.stdout
    assert p.stdout.count("ganforge provenance (") == 2
    rows = json.loads(cli("inspect", out, "--json", check=False).stdout)
    assert [r["record"] is not None for r in rows] == [True, True, False]
    assert cli("inspect", tmp_path / "nothing-here", check=False).returncode == 2
    (tmp_path / "empty").mkdir()
    p = cli("inspect", tmp_path / "empty", check=False)
    assert p.returncode == 2 and "no png/jpg/jpeg/webp/gif images" in p.stderr


def test_translate_marks_each_output_with_direction_and_source(cli, translator_model, tmp_path):
    src = tmp_path / "in"
    for name in ("x/one.png", "two.jpg"):
        photo(src / name)
    cli("translate", translator_model, src, "--out", tmp_path / "out", "--direction", "b2a")
    files = sorted(translator_model.glob("*.safetensors"))
    for name in ("x/one.png", "two.jpg"):
        got = read_provenance(tmp_path / "out" / name)
        rec = got["record"]
        assert rec["synthetic"] is True and rec["kind"] == "translation" and rec["direction"] == "b2a"
        assert rec["source"] == name and rec["model_sha256"] == sha(*files)
        assert got["found_in"] == ("png-text" if name.endswith(".png") else "xmp")
    assert read_provenance(src / "two.jpg")["record"] is None  # the input is left as it was


def test_jpeg_webp_xmp_round_trip_and_exif(tmp_path):
    info = record(run="r", seed=3, psi=0.7, **{"class": "cat"})
    img = Image.new("RGB", (8, 8), (10, 200, 30))
    for ext in ("jpg", "jpeg", "webp"):
        save_image(img, tmp_path / f"a.{ext}", info)
        got = read_provenance(tmp_path / f"a.{ext}")
        assert got["record"] == info and got["found_in"] == "xmp"
        with Image.open(tmp_path / f"a.{ext}") as im:
            xmp = im.info["xmp"]
            desc = im.getexif()[0x010E]
        # The packet is well-formed XML another tool can read: the IPTC term is a plain attribute.
        root = ET.fromstring(xmp[xmp.find(b"<x:xmpmeta"): xmp.rfind(b"</x:xmpmeta>") + 12])
        [d] = [e for e in root.iter() if f"{{{IPTC_EXT_NS}}}DigitalSourceType" in e.attrib]
        assert d.attrib[f"{{{IPTC_EXT_NS}}}DigitalSourceType"] == DIGITAL_SOURCE_TYPE
        assert desc.startswith("Synthetic image (AI-generated)") and "seed 3" in desc
    png = encode_png(img, info)  # what the server sends
    with Image.open(io.BytesIO(png)) as im:
        assert json.loads(im.text["ganforge"]) == info
        assert (im.text["seed"], im.text["class"], im.text["synthetic"]) == ("3", "cat", "true")
    save_image(img, tmp_path / "plain.png", None)
    assert read_provenance(tmp_path / "plain.png")["record"] is None


def test_a_real_photo_says_none_even_with_another_tools_xmp(cli, tmp_path):
    camera = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/'
              b'02/22-rdf-syntax-ns#"><rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/'
              b'Iptc4xmpExt/2008-02-29/"><Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/'
              b'digitalsourcetype/digitalCapture</Iptc4xmpExt:DigitalSourceType></rdf:Description>'
              b'</rdf:RDF></x:xmpmeta>')
    got = read_provenance(photo(tmp_path / "cam.jpg", camera))
    assert got["record"] is None and got["digital_source_type"].endswith("/digitalCapture")
    p = cli("inspect", tmp_path / "cam.jpg", check=False)
    assert p.returncode == 1 and "cam.jpg: no ganforge provenance" in p.stdout
    assert "digitalCapture" in p.stdout  # what the other tool said is shown, not hidden
    (tmp_path / "bad.png").write_bytes(b"not an image")
    p = cli("inspect", tmp_path / "bad.png", check=False)
    assert p.returncode == 2 and "bad.png: not an image ganforge can read" in p.stderr


def test_projection_marks_the_result_not_the_users_target(cli, tmp_path):
    torch.manual_seed(0)
    spec = NetSpec("StyleGAN2Generator", {"z_dim": 8, "size": 16, "channels": 3, "width": 8,
                                          "map_layers": 1})
    save_model(tmp_path / "sg", family="stylegan2", kind="sample", nets={"generator": (spec.build(), spec)},
               uses={"generator": "generator"}, info={"z_dim": 8}, version="test")
    cli("project", tmp_path / "sg", photo(tmp_path / "me.png"), "--steps", "2", "--out", tmp_path / "p",
        "--device", "cpu")
    assert read_provenance(tmp_path / "p" / "target.png")["record"] is None
    rec = read_provenance(tmp_path / "p" / "projected.png")["record"]
    assert rec["kind"] == "projection" and rec["source"] == "me.png" and rec["synthetic"] is True
    cli("mix", tmp_path / "sg", "--rows", "1,2", "--cols", "3", "--out", tmp_path / "mix.jpg",
        "--device", "cpu")
    assert read_provenance(tmp_path / "mix.jpg")["record"]["kind"] == "style mix"


def test_training_previews_carry_step_caption_and_record(image_folder, tmp_path):
    run = ganforge.train("dcgan", data=image_folder, max_steps=3, out=tmp_path / "r", size=16,
                         batch_size=8, z_dim=8, width=4, grid_n=4, log_every=1, device="cpu", quiet=True)
    with Image.open(run.path / "samples" / "epoch_0001.png") as im:
        got = read_provenance(run.path / "samples" / "epoch_0001.png")["record"]
        assert got["kind"] == "training preview" and (got["step"], got["epoch"]) == (3, 1)
        assert got["caption_px"] == CAPTION_PX and got["run"] == "r"
        strip = np.asarray(im.convert("L"))[-CAPTION_PX:]
        assert (strip > 150).sum() > 20  # light text on the dark strip
        grid = ganforge.load(run.path, device="cpu").preview(4, 0)
        assert np.array_equal(np.asarray(preview_region(im)), np.asarray(grid))
    assert read_provenance(run.path / "progress.gif")["record"]["kind"] == "training progress"
    assert read_provenance(run.path / "losses.png")["record"] is None  # a chart, not an image made


def test_caption_strip_is_taken_off_only_where_recorded(tmp_path):
    grid = Image.new("L", (38, 38), 128)
    capped = add_caption(grid, "step 1200 · epoch 3")
    assert capped.size == (38, 38 + CAPTION_PX)
    save_image(capped, tmp_path / "c.png", record(caption_px=CAPTION_PX))
    save_image(grid, tmp_path / "plain.png", record())
    with Image.open(tmp_path / "c.png") as a, Image.open(tmp_path / "plain.png") as b:
        assert np.array_equal(np.asarray(preview_region(a)), np.asarray(grid))
        assert preview_region(b).size == grid.size  # no strip recorded: nothing cut


class Smooth(torch.nn.Module):
    """A 256-px 'generator' of smooth colour fields over a fine texture: closer to a photo than
    a tiny untrained net's flat gray or noise, which cannot carry the watermark."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(8, 3 * 4 * 4)
        self.register_buffer("fine", torch.rand(1, 3, 64, 64) * 2 - 1)

    def forward(self, z):
        def up(t):
            return torch.nn.functional.interpolate(t, size=256, mode="bicubic", align_corners=False)

        coarse = torch.tanh(3 * self.lin(z)).view(-1, 3, 4, 4) * 0.8
        return (up(coarse) + 0.1 * up(self.fine)).clamp(-1, 1)


def test_opt_in_watermark_outlives_a_jpeg_that_drops_the_metadata(cli, tmp_path):
    pytest.importorskip("imwatermark")
    torch.manual_seed(1)
    s = Sampler(Smooth(), 8, "cpu")
    s.provenance, s.watermark = {"run": "smooth"}, True
    s.save_images(tmp_path / "m", 3, seed=0)
    rec = read_provenance(tmp_path / "m" / "0000_00002.png")["record"]
    assert rec["watermark"] == "invisible-watermark rivaGan gnfg"
    with Image.open(tmp_path / "m" / "0000_00002.png") as im:
        im.convert("RGB").save(tmp_path / "shared.jpg", quality=90)  # Pillow keeps no metadata
    p = cli("inspect", tmp_path / "shared.jpg", check=False)
    assert p.returncode == 0 and "watermark is in its pixels" in p.stdout
    s.watermark = False
    s.save_images(tmp_path / "plain", 3, seed=0)
    with Image.open(tmp_path / "plain" / "0000_00002.png") as im:
        im.convert("RGB").save(tmp_path / "plain.jpg", quality=90)
    p = cli("inspect", tmp_path / "plain.jpg", check=False)
    assert p.returncode == 1 and "no ganforge provenance" in p.stdout


def test_watermark_is_refused_for_small_images_and_never_claimed_when_it_did_not_take(
        cli, sampler_model, tmp_path):
    pytest.importorskip("imwatermark")
    p = cli("generate", sampler_model, "--n", "2", "--out-dir", tmp_path / "each", "--watermark",
            "--device", "cpu", check=False)
    assert p.returncode == 2 and "each image is 16x16 px; the watermark needs at least 256x256" in p.stderr
    assert not (tmp_path / "each").exists() or not any((tmp_path / "each").iterdir())
    # A 272-px grid of 225 flat 16-px tiles is big enough but cannot carry it: written unmarked.
    p = cli("generate", sampler_model, "--n", "225", "--out", tmp_path / "g.png", "--watermark",
            "--device", "cpu")
    assert "too little texture" in p.stderr and "g.png" in p.stderr
    assert "watermark" not in read_provenance(tmp_path / "g.png")["record"]
