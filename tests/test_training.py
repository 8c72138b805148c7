from __future__ import annotations

import json

import pytest
import torch

import ganforge
from ganforge.config import Config, resolve
from ganforge.errors import GanforgeError
from ganforge.serialization import read_training_state
from ganforge.training import train_run


def tiny(model: str, data, **kw) -> Config:
    base = dict(model=model, data=str(data), size=16, batch_size=8, epochs=1, z_dim=8, width=4,
                grid_n=4, log_every=1)
    if model == "dcgan28":
        base.update(size=28, channels=1, width=64)
    base.update(kw)
    return resolve(None, **base)


def load_state(path):
    """The recipe's state by name, plus the step (format 2 of the state file)."""
    s = read_training_state(path)
    return {"step": s["step"], **s["recipe"]}


@pytest.mark.parametrize("model", ["mlp", "dcgan"])
def test_one_finite_step_per_model(model, image_folder, tmp_path):
    run = train_run(tiny(model, image_folder, max_steps=1), tmp_path / model, quiet=True)
    rec = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert rec[-1]["step"] == 1
    assert all(torch.isfinite(torch.tensor(rec[-1][k])) for k in ("d_loss", "g_loss"))


def test_tf_dcgan_one_step_on_digits(tmp_path):
    cfg = resolve("mnist-dcgan", max_steps=1, batch_size=16, grid_n=4, log_every=1)
    run = train_run(cfg, tmp_path / "tf", quiet=True)
    rec = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert rec["step"] == 1 and rec["d_loss"] > 0


def test_run_folder_contents(image_folder, tmp_path):
    run = train_run(tiny("dcgan", image_folder, epochs=2), tmp_path / "r", quiet=True)
    names = {p.name for p in run.iterdir()}
    assert {"config.json", "generator.safetensors", "discriminator.safetensors",
            "state.safetensors", "samples", "progress.gif", "metrics.jsonl",
            "losses.png"} <= names
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["epoch_0001.png", "epoch_0002.png"]
    cfg = json.loads((run / "config.json").read_text())
    model = json.loads((run / "model.json").read_text())
    assert cfg["run"]["channels"] == 3 and model["nets"]["generator"]["class"] == "DCGANGenerator"
    assert not list(run.glob("*.tmp")) and not list(run.glob(".*"))  # atomic writes leave no temps


def test_exact_resume_equals_uninterrupted(image_folder, tmp_path):
    """2 epochs in one go == 1 epoch + resume + 1 epoch, bit for bit (CPU, fixed seed)."""
    cfg = dict(model="dcgan", label_noise=0.05)  # label noise: RNG state must be restored too
    a = train_run(tiny(**cfg, data=image_folder, epochs=2), tmp_path / "a", quiet=True)
    b = train_run(tiny(**cfg, data=image_folder, epochs=1), tmp_path / "b", quiet=True)
    b = train_run(tiny(**cfg, data=image_folder, epochs=2), tmp_path / "b", resume=True, quiet=True)
    sa, sb = load_state(a / "state.safetensors"), load_state(b / "state.safetensors")
    assert sa["step"] == sb["step"] == 6
    for k, v in sa["generator"].items():
        assert torch.equal(v, sb["generator"][k]), k
    for k, v in sa["discriminator"].items():
        assert torch.equal(v, sb["discriminator"][k]), k
    la = [json.loads(x)["g_loss"] for x in (a / "metrics.jsonl").read_text().splitlines()]
    lb = [json.loads(x)["g_loss"] for x in (b / "metrics.jsonl").read_text().splitlines()]
    assert la == lb


def test_ema_resume_is_exact_and_saved_generator_is_the_average(image_folder, tmp_path):
    cfg = dict(model="dcgan", ema=0.9)
    a = train_run(tiny(**cfg, data=image_folder, epochs=2), tmp_path / "a", quiet=True)
    train_run(tiny(**cfg, data=image_folder, epochs=1), tmp_path / "b", quiet=True)
    b = train_run(tiny(**cfg, data=image_folder, epochs=2), tmp_path / "b", resume=True, quiet=True)
    sa, sb = load_state(a / "state.safetensors"), load_state(b / "state.safetensors")
    for k, v in sa["generator_ema"].items():
        assert torch.equal(v, sb["generator_ema"][k]), k
    assert int(sa["generator_ema"]["n_averaged"]) == 6
    g = ganforge.load(a).net.state_dict()  # generator.safetensors holds the average, not live G
    w = "net.0.weight"
    assert torch.equal(g[w], sa["generator_ema"]["module." + w])
    assert not torch.equal(g[w], sa["generator"][w])


def test_ema_update_matches_hand_computed_average():
    from torch.optim.swa_utils import AveragedModel

    from ganforge.families import ema_update

    net = torch.nn.BatchNorm1d(3)
    avg = AveragedModel(net, multi_avg_fn=ema_update(0.5), use_buffers=True)
    expect = None
    for n in range(4):
        with torch.no_grad():
            net.weight.fill_(float(n + 1))
        net(torch.randn(5, 3))  # moves the running statistics and the batch counter
        avg.update_parameters(net)
        k = min(0.5, (1 + n) / (10 + n))  # n updates so far; the first one copies
        expect = net.weight.detach().clone() if expect is None else k * expect + (1 - k) * net.weight
    assert torch.allclose(avg.module.weight, expect)
    assert int(avg.module.num_batches_tracked) == 4


def test_mid_epoch_resume_is_exact(image_folder, tmp_path):
    a = train_run(tiny("mlp", image_folder, epochs=1), tmp_path / "a", quiet=True)
    train_run(tiny("mlp", image_folder, max_steps=2), tmp_path / "b", quiet=True)
    b = train_run(tiny("mlp", image_folder, epochs=1), tmp_path / "b", resume=True, quiet=True)
    ga, gb = load_state(a / "state.safetensors"), load_state(b / "state.safetensors")
    assert all(torch.equal(v, gb["generator"][k]) for k, v in ga["generator"].items())


def test_refuses_to_overwrite_a_run(image_folder, tmp_path):
    train_run(tiny("mlp", image_folder, max_steps=1), tmp_path / "r", quiet=True)
    with pytest.raises(GanforgeError, match="already holds a run"):
        train_run(tiny("mlp", image_folder, max_steps=1), tmp_path / "r", quiet=True)
    with pytest.raises(GanforgeError, match="no state.safetensors"):
        train_run(tiny("mlp", image_folder), tmp_path / "empty", resume=True, quiet=True)


def test_batch_larger_than_data_is_clear(image_folder, tmp_path):
    with pytest.raises(GanforgeError, match="fewer than --batch-size"):
        train_run(tiny("mlp", image_folder, batch_size=100), tmp_path / "r", quiet=True)


def test_bf16_precision_trains(image_folder, tmp_path):
    run = train_run(tiny("dcgan", image_folder, max_steps=2, precision="bf16"), tmp_path / "r",
                    quiet=True)
    rec = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert torch.isfinite(torch.tensor(rec["g_loss"]))


def test_config_validation():
    with pytest.raises(GanforgeError, match="--epochs must be >= 1"):
        resolve("mnist-dcgan", epochs=0)
    with pytest.raises(GanforgeError, match="known: "):
        resolve("no-such-preset")
    with pytest.raises(GanforgeError, match="--ema must be in"):
        resolve("mnist-fast", ema=1.0)
    with pytest.raises(GanforgeError, match="precision"):
        resolve(None, precision="fp8")


def test_python_api_train_generate_load(image_folder, tmp_path):
    run = ganforge.train("dcgan", data=image_folder, epochs=1, out=tmp_path / "r", size=16,
                         batch_size=8, z_dim=8, width=4, grid_n=4, quiet=True)
    imgs = run.generate(5, seed=3)
    assert imgs.shape == (5, 3, 16, 16) and 0 <= imgs.min() and imgs.max() <= 1
    g = ganforge.load(run.path)
    assert torch.equal(g.generate(5, seed=3), imgs)  # same seed, same images, no arch flags
    assert not torch.equal(g.generate(5, seed=4), imgs)
    pil = g.generate(2, seed=0, pil=True)
    assert pil[0].size == (16, 16) and pil[0].mode == "RGB"
    assert len(run.metrics) >= 1 and run.config.run.size == 16


@pytest.mark.parametrize("update", ["alternating", "simultaneous"])
def test_diffaug_trains_in_both_update_modes(update, image_folder, tmp_path):
    cfg = tiny("dcgan", image_folder, max_steps=2, diffaug="translation,cutout,color", update=update)
    run = train_run(cfg, tmp_path / update, quiet=True)
    rec = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert rec["step"] == 2 and torch.isfinite(torch.tensor(rec["g_loss"]))
