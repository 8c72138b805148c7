"""GPU-only checks; skipped cleanly on machines without CUDA (CI and the dev machines)."""

from __future__ import annotations

import json

import pytest
import torch

from ganforge.config import resolve
from ganforge.training import train_run

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cuda_training_step(precision, image_folder, tmp_path):
    cfg = resolve("dcgan", data=str(image_folder), size=16, batch_size=8, max_steps=3, z_dim=8,
                  width=4, grid_n=4, log_every=1, device="cuda", precision=precision)
    run = train_run(cfg, tmp_path / "r", quiet=True)
    rec = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert rec["step"] == 3 and torch.isfinite(torch.tensor(rec["g_loss"]))
    assert json.loads((run / "config.json").read_text())["run"]["device"] == "cuda"


def test_cuda_sampler_matches_seed(image_folder, tmp_path):
    import ganforge

    run = ganforge.train("dcgan", data=image_folder, size=16, batch_size=8, max_steps=2, z_dim=8,
                         width=4, out=tmp_path / "r", device="cuda", quiet=True)
    a = ganforge.load(run.path, device="cuda").generate(4, seed=1)
    b = ganforge.load(run.path, device="cpu").generate(4, seed=1)
    assert torch.allclose(a, b, atol=1e-3)  # same latents on any device
