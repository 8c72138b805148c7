from __future__ import annotations

import pytest
import torch

from ganforge.augment import cutout, diff_augment, translation
from ganforge.config import resolve
from ganforge.errors import GanforgeError


def test_translation_shifts_whole_images_within_ratio():
    torch.manual_seed(0)
    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 8, 8] = 1.0  # one bright pixel per image
    y = translation(x, ratio=0.125)  # at most 2 pixels each way
    assert y.shape == x.shape
    for img in y[:, 0]:
        (r, c), = img.nonzero().tolist()
        assert abs(r - 8) <= 2 and abs(c - 8) <= 2
    assert len({tuple(img.nonzero()[0].tolist()) for img in y[:, 0]}) > 5  # shifts differ


def test_cutout_zeroes_a_square_of_half_the_side():
    torch.manual_seed(0)
    y = cutout(torch.ones(32, 3, 16, 16), ratio=0.5)
    zeros = (y[:, 0] == 0).sum(dim=(1, 2))
    assert (zeros > 0).all() and (zeros <= 64).all()  # an 8x8 square, clipped at the border
    assert torch.equal(y[:, 0] == 0, y[:, 2] == 0)  # the same square in every channel


def test_gradient_flows_to_the_generator_side():
    x = torch.randn(8, 3, 16, 16, requires_grad=True)
    diff_augment(x, "color,translation,cutout").square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_unknown_policy_is_a_clear_error():
    with pytest.raises(GanforgeError, match="--diffaug: unknown policy flip"):
        resolve("mnist-fast", diffaug="translation,flip")
