from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data import DATASETS, load_data, load_image_files, to_array
from ganforge.errors import GanforgeError


def test_registry_lists_known_names_on_unknown():
    with pytest.raises(GanforgeError, match="mnist-mini"):
        DATASETS.get("nope")
    with pytest.raises(GanforgeError, match="not a known data set"):
        load_data("imagenet", size=28)


def test_mnist_mini_is_real_digits_offline():
    ds = load_data("mnist-mini", size=28)
    assert ds.images.shape == (5000, 1, 28, 28)
    assert ds.images.dtype == torch.uint8
    assert np.bincount(ds.labels.numpy()).tolist() == [500] * 10
    # Real digits: mostly black background, bright strokes, varied images.
    x = ds.images.float()
    assert 0.1 < (x > 128).float().mean() < 0.25
    assert x.std(0).mean() > 40


def test_mnist_mini_resized():
    ds = load_data("mnist-mini", size=32, limit=10)
    assert ds.images.shape == (10, 1, 32, 32)


def test_folder_recursive_rgb(image_folder):
    ds = load_data(image_folder, size=16)
    assert ds.images.shape == (24, 3, 16, 16)


def test_grayscale_folder_detected(gray_folder):
    assert load_data(gray_folder, size=16).channels == 1
    assert load_data(gray_folder, size=16, channels=3).channels == 3


def _save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return path


def test_every_mode_and_format(tmp_path):
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8))
    _save(rgb, tmp_path / "rgb.jpg")
    _save(rgb, tmp_path / "rgb.webp")
    _save(rgb, tmp_path / "rgb.bmp")
    _save(rgb.convert("L"), tmp_path / "gray.png")
    rgba = rgb.convert("RGBA")
    rgba.putalpha(0)  # fully transparent: composited over white
    _save(rgba, tmp_path / "rgba.png")
    _save(rgb.convert("P"), tmp_path / "palette.png")
    g16 = Image.fromarray((np.full((10, 10), 65535)).astype(np.uint16))
    _save(g16, tmp_path / "gray16.png")
    arr, names = load_image_files(tmp_path, size=8, channels=3)
    assert arr.shape == (7, 3, 8, 8) and len(names) == 7
    by = dict(zip(names, arr))
    assert by["rgba.png"].min() == 255  # transparent -> white
    assert by["gray16.png"].min() == 255  # 16-bit full scale -> 8-bit full scale


def test_crop_and_pad_non_square():
    img = Image.new("L", (40, 20), 255)
    cropped = to_array(img, 10, 1, fit="crop")
    padded = to_array(img, 10, 1, fit="pad")
    assert cropped.min() == 255  # the centre square is all white
    assert padded[0, 0, 5] < 50 and padded[0, 5, 5] > 200  # black bars top and bottom


def test_bad_files_skipped_with_warning_each(image_folder):
    (image_folder / "zero.png").write_bytes(b"")
    (image_folder / "text.jpg").write_text("not an image at all")
    good = (image_folder / "a" / "001.png").read_bytes()
    (image_folder / "truncated.png").write_bytes(good[: len(good) // 2])
    (image_folder / "notes.txt").write_text("ignored: not an image extension")
    warnings = []
    arr, names = load_image_files(image_folder, 16, warn=warnings.append)
    assert arr.shape[0] == 24
    skipped = [w for w in warnings if w.startswith("warning: skipping")]
    assert len(skipped) == 3
    assert any("zero.png" in w and "empty" in w for w in skipped)
    assert any("text.jpg" in w for w in skipped)
    assert any("truncated.png" in w for w in skipped)
    assert "skipped 3 of 27" in warnings[-1]


def test_strict_refuses_bad_file(image_folder):
    (image_folder / "zero.png").write_bytes(b"")
    with pytest.raises(GanforgeError, match="zero.png.*--strict"):
        load_data(image_folder, size=16, strict=True)


def test_folder_without_images_is_clear_error(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(GanforgeError, match="no image files found"):
        load_data(tmp_path, size=16)


def test_folder_of_only_bad_images(tmp_path):
    (tmp_path / "a.png").write_bytes(b"junk")
    with pytest.raises(GanforgeError, match="none of its 1 image files could be read"):
        load_image_files(tmp_path, 16, warn=lambda m: None)


def test_missing_path_is_clear_error(tmp_path):
    with pytest.raises(GanforgeError, match="no such folder"):
        load_data(tmp_path / "missing", size=16)


def test_zip_archive_read_in_place(image_folder, tmp_path):
    zpath = tmp_path / "imgs.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for p in sorted(image_folder.rglob("*.png")):
            z.write(p, p.relative_to(image_folder))
        z.writestr("__MACOSX/._junk.png", b"xx")
        z.writestr("broken.png", b"\x89PNG\r\n")
    warnings = []
    arr, names = load_image_files(zpath, 16, warn=warnings.append)
    assert arr.shape == (24, 3, 16, 16)
    assert any("broken.png" in w for w in warnings)


def test_zip_and_folder_give_same_pixels(image_folder, tmp_path):
    zpath = tmp_path / "imgs.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for p in sorted(image_folder.rglob("*.png")):
            buf = io.BytesIO(p.read_bytes())
            z.writestr(str(p.relative_to(image_folder)), buf.getvalue())
    a, _ = load_image_files(image_folder, 16)
    b, _ = load_image_files(zpath, 16)
    assert np.array_equal(a, b)
