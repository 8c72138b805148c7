"""Real CelebA faces from ../shared/data (development data, never committed): skipped if absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganforge.data import load_data

CELEBA = Path(__file__).resolve().parents[2] / "shared" / "data" / "celeba-faces-4800.zip"


@pytest.mark.skipif(not CELEBA.exists(), reason="../shared/data/celeba-faces-4800.zip not present")
def test_celeba_zip_center_crop_resize():
    ds = load_data(CELEBA, size=64, limit=32)
    assert ds.images.shape == (32, 3, 64, 64)
    # Aligned faces: the centre of the crop is skin, brighter than the darkest corners on average.
    x = ds.images.float()
    centre = x[:, :, 24:40, 24:40].mean()
    assert 60 < centre < 230
