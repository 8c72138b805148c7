from __future__ import annotations

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory):
    """No test may touch the user's cache or the internet: downloads and prepared sets go to a
    temp folder. Its own MonkeyPatch, so a test's ``monkeypatch.undo()`` keeps the isolation."""
    mp = pytest.MonkeyPatch()
    mp.setenv("GANFORGE_DATA", str(tmp_path_factory.mktemp("data")))
    # One fixed thread count, as a user's --threads would be (the automatic count is the usable
    # cores whatever the load; tests/test_prepared.py checks it).
    mp.setenv("OMP_NUM_THREADS", "2")
    yield
    mp.undo()


def _blob(rng: np.random.Generator, size: int, channels: int) -> np.ndarray:
    """A smooth random image: a bright disc at a random place on a dark background."""
    yy, xx = np.mgrid[:size, :size]
    cy, cx = rng.uniform(size * 0.3, size * 0.7, 2)
    disc = ((yy - cy) ** 2 + (xx - cx) ** 2 < (size / 4) ** 2).astype(np.float64)
    img = (disc * rng.uniform(150, 255) + rng.normal(0, 5, (size, size))).clip(0, 255)
    if channels == 3:
        img = np.stack([img, img * 0.5, 255 - img], -1)
    return img.astype(np.uint8)


@pytest.fixture
def image_folder(tmp_path):
    """24 small RGB PNGs in two sub-folders (recursion)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    for i in range(24):
        sub = root / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_blob(rng, 20, 3)).save(sub / f"{i:03d}.png")
    return root


@pytest.fixture
def gray_folder(tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "gray"
    root.mkdir()
    for i in range(40):
        Image.fromarray(_blob(rng, 16, 1)).save(root / f"{i:03d}.png")
    return root


@pytest.fixture
def cli(capsys):
    """Run ``ganforge ARGS...`` in this process (no interpreter + torch start-up per call) and
    return a ``subprocess.CompletedProcess``. Tests of signals, torchrun and the
    ``python -m ganforge`` entry point start a real process instead."""
    import subprocess

    from ganforge.cli import main

    def run(*args: object, check: bool = True) -> subprocess.CompletedProcess:
        argv = [str(a) for a in args]
        capsys.readouterr()  # drop what the test printed before
        try:
            code = main(argv)
        except SystemExit as e:  # argparse: --help (0) or a usage error (2)
            code = e.code if isinstance(e.code, int) else 2
        out, err = capsys.readouterr()
        p = subprocess.CompletedProcess(["ganforge", *argv], code, out, err)
        if check and code != 0:
            raise AssertionError(f"exit {code}\n{out}\n{err}")
        return p

    return run
