"""ganforge's plain-torch FID Inception-v3 against the reference pipeline (torch-fidelity)."""

from __future__ import annotations

import importlib.util
import sys
import types

import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.metrics.features import inception_extractor
from ganforge.metrics.inception import FIDInceptionV3, resize_like_tf1


def _calibrated_net(seed: int = 0) -> FIDInceptionV3:
    """Random weights with batch-norm statistics taken from a batch, so every layer passes a
    signal on (with arbitrary statistics the features hardly depend on the image)."""
    torch.manual_seed(seed)
    net = FIDInceptionV3().train()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
            m.reset_running_stats()
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    with torch.no_grad():
        net(torch.randint(0, 256, (4, 3, 80, 80)).float())
    return net.eval()


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """One calibrated network and its weights file (91 MB) for the whole module."""
    net = _calibrated_net()
    path = tmp_path_factory.mktemp("inception") / "weights.pth"
    torch.save(net.state_dict(), path)
    return net, path


def _torch_fidelity_extractor():
    """torch-fidelity's Inception without its package __init__, which imports torchvision (for
    its other extractors); `make test` installs torch-fidelity with --no-deps for this check."""
    spec = importlib.util.find_spec("torch_fidelity")
    if spec is None:
        pytest.skip("torch-fidelity is not installed (make dev installs it without its deps)")
    saved = sys.modules.get("torch_fidelity")
    pkg = types.ModuleType("torch_fidelity")
    pkg.__path__ = list(spec.submodule_search_locations)
    sys.modules["torch_fidelity"] = pkg
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    finally:
        if saved is not None:
            sys.modules["torch_fidelity"] = saved
    return FeatureExtractorInceptionV3


def test_features_and_logits_match_torch_fidelity(weights):
    """Same weights file, same uint8 images: the same 2048-d features and unbiased logits as
    torch-fidelity's inception-v3-compat, at 299 px and at sizes it must resize (TF1 bilinear)."""
    ref_cls = _torch_fidelity_extractor()
    net, path = weights
    ref = ref_cls("inception-v3-compat", ["2048", "logits_unbiased"],
                  feature_extractor_weights_path=str(path)).eval()
    g = torch.Generator().manual_seed(1)
    for side in (299, 64):
        x = torch.randint(0, 256, (2, 3, side, side), generator=g, dtype=torch.uint8)
        with torch.no_grad():
            ours, theirs = net(x.float()), ref(x)
        spread = ours[0].std(0).mean()
        assert spread > 0.05  # the features depend on the image, so the check means something
        for a, b in zip(ours, theirs):
            assert (a - b).abs().max() <= 1e-4 * b.abs().max() + 1e-5, side


def test_tf1_resize_has_no_half_pixel_offset():
    """Output pixel i samples input position i * in/out (TF1 resize_bilinear), not the
    half-pixel-centred position F.interpolate uses."""
    x = torch.tensor([[[[0.0, 10.0]]]]).expand(1, 1, 2, 2)
    y = resize_like_tf1(x, 4)
    assert torch.allclose(y[0, 0, 0], torch.tensor([0.0, 5.0, 10.0, 10.0]))
    assert torch.equal(resize_like_tf1(x, 2), x)


def test_extractor_from_a_local_weights_file(weights, tmp_path):
    """--feature-weights FILE: 2048-d features and IS probabilities for images of any size in
    [0, 1]; no torchvision, nothing downloaded. A file that is not the weights is named."""
    ext = inception_extractor(weights[1])
    feats, probs = ext(torch.rand(2, 1, 24, 24))
    assert feats.shape == (2, 2048) and probs.shape == (2, 1008)
    assert abs(probs.sum(1) - 1).max() < 1e-9
    bad = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, bad)
    with pytest.raises(GanforgeError, match="other.pth: cannot load as FID Inception-v3"):
        inception_extractor(bad)
