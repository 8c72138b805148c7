"""ganforge serve: the API through FastAPI's test client (sampling, conditional, walks,
translation, the runs view, batching, every refusal), and the page in the system's headless
Chromium (skipped where Chromium or Playwright is missing)."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import socket
import struct
import threading
import time
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.config import resolve
from ganforge.provenance import of_image
from ganforge.training import train_run

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
from fastapi.testclient import TestClient  # noqa: E402

from ganforge.serve import create_app, is_loopback  # noqa: E402
from ganforge.serve.engine import MAX_UPLOAD_BYTES  # noqa: E402


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three tiny runs trained once for the module (about 10 s): digits (StyleGAN2), class-
    conditional digits (DCGAN), and a CycleGAN on the digit pair (gray <-> coloured digits)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("GANFORGE_DATA", str(tmp_path_factory.mktemp("data")))
    root = tmp_path_factory.mktemp("runs")
    # StyleGAN2 (truncation) digits; a conditional DCGAN trained just long enough (12 steps at a
    # high rate) that its classes draw visibly different images.
    train_run(resolve("stylegan2", data="mnist-mini", size=16, batch_size=8, max_steps=2, grid_n=16,
                      width=8, z_dim=8, map_layers=1, device="cpu", log_every=1), root / "digits", quiet=True)
    train_run(resolve("gan", data="mnist-mini", size=16, model="dcgan", conditional=True, max_steps=12,
                      lr=0.005, width=8, z_dim=8, batch_size=16, grid_n=10, device="cpu", log_every=1),
              root / "cond", quiet=True)
    train_run(resolve("cyclegan", data="mnist2color", size=16, batch_size=8, max_steps=2, width=4,
                      d_width=4, device="cpu", grid_n=4, log_every=1), root / "cycle", quiet=True)
    mp.undo()
    return root


@pytest.fixture(scope="module")
def client(runs):
    with TestClient(create_app([runs], device="cpu")) as c:
        yield c


def _png(resp) -> Image.Image:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(resp.content))
    img.load()
    return img


def _arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.int16)


def _uint8(t: torch.Tensor) -> np.ndarray:
    a = (t.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    return (a[..., 0] if a.shape[-1] == 1 else a).astype(np.int16)


def _upload(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


# ---- sampling -------------------------------------------------------------------------------
def test_generate_is_the_samplers_image_for_that_seed_and_says_what_made_it(client, runs):
    a, b = client.get("/api/generate?run=digits&seed=5"), client.get("/api/generate?run=digits&seed=5")
    assert a.content == b.content and a.headers["x-seed"] == "5"
    img = _png(a)
    s = ganforge.load(runs / "digits", device="cpu")
    five, six = s.generate(1, seed=5)[0], s.generate(1, seed=6)[0]
    assert (five - six).abs().max() > 0.1
    assert np.abs(_arr(img) - _uint8(five)).max() <= 1  # batched vs alone: at most rounding
    assert img.text["run"] == "digits" and img.text["seed"] == "5" and "ganforge" in img.text["Software"]
    rec = of_image(img)["record"]  # the provenance every ganforge image carries, model hash included
    assert rec["synthetic"] is True and rec["model_sha256"] == s.provenance["model_sha256"]
    assert of_image(img)["digital_source_type"].endswith("trainedAlgorithmicMedia")
    other = client.get("/api/generate?run=digits&seed=6")
    assert other.content != a.content and np.abs(_arr(_png(other)) - _uint8(six)).max() <= 1
    fresh = client.get("/api/generate?run=digits")  # no seed: a random one, sent back
    assert fresh.status_code == 200 and int(fresh.headers["x-seed"]) >= 0
    grid = _png(client.get("/api/generate?run=digits&seed=0&n=16"))
    assert grid.size[0] > 4 * 16
    half = _png(client.get("/api/generate?run=digits&seed=5&psi=0.5"))  # truncation
    assert np.abs(_arr(half) - _uint8(s.generate(1, seed=5, psi=0.5)[0])).max() <= 1
    assert np.abs(_arr(half) - _arr(img)).max() > 10 and half.text["psi"] == "0.5"
    assert client.get("/api/run?run=digits").json()["controls"]["truncatable"] is True


def test_conditional_class_and_a_walk_between_two_seeds(client, runs):
    s = ganforge.load(runs / "cond", device="cpu")
    for c in (3, 7):
        img = _png(client.get(f"/api/generate?run=cond&seed=2&class={c}"))
        assert np.abs(_arr(img) - _uint8(s.generate(1, seed=2, label=c)[0])).max() <= 1
        assert img.text["class"] == str(c)
    three, seven = (_arr(_png(client.get(f"/api/generate?run=cond&seed=2&class={c}"))) for c in (3, 7))
    assert np.abs(three - seven).max() > 3
    ends = [_arr(_png(client.get(f"/api/generate?run=cond&seed=2&class=1&seed_b=9&t={t}"))) for t in (0, 1)]
    assert np.abs(ends[0] - _uint8(s.generate(1, seed=2, label=1)[0])).max() <= 1
    assert np.abs(ends[1] - _uint8(s.generate(1, seed=9, label=1)[0])).max() <= 1
    mid = _arr(_png(client.get("/api/generate?run=cond&seed=2&class=1&seed_b=9&t=0.5")))
    assert np.abs(mid - ends[0]).max() > 0 and np.abs(mid - ends[1]).max() > 0
    info = client.get("/api/run?run=cond").json()["controls"]
    assert info["classes"] == [str(i) for i in range(10)] and info["truncatable"] is False


# ---- translation ----------------------------------------------------------------------------
def test_an_upload_is_translated_at_its_own_size_both_ways(client, runs):
    t = ganforge.load(runs / "cycle", device="cpu")
    rng = np.random.default_rng(0)
    src = Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8))
    for direction in ("a2b", "b2a"):
        r = client.post("/api/translate", data={"run": "cycle", "direction": direction},
                        files={"file": ("photo.jpg", _upload(src), "image/jpeg")})  # the name lies: a PNG
        out = _png(r)
        assert out.size == (40, 30) and out.text["direction"] == direction
        assert of_image(out)["record"]["model_sha256"] == t.provenance["model_sha256"]
        assert np.abs(_arr(out) - _arr(t.translate(src, direction))).max() <= 1
    info = client.get("/api/run?run=cycle").json()
    assert info["controls"]["directions"] == ["a2b", "b2a"] and info["family"] == "cyclegan"


# ---- the runs view --------------------------------------------------------------------------
def test_runs_view_lists_every_run_and_follows_a_training_run(client, runs):
    rows = {r["name"]: r for r in client.get("/api/runs").json()["runs"]}
    assert set(rows) == {"digits", "cond", "cycle"}
    d = rows["digits"]
    assert d["family"] == "stylegan2" and d["kind"] == "sample" and d["step"] == 2
    assert [p[0] for p in d["losses"]["d_loss"]] == [1, 2] and "g_loss" in d["losses"]
    assert rows["cycle"]["family"] == "cyclegan" and "cycle_loss" in rows["cycle"]["losses"]
    grid = _png(client.get("/api/grid?run=digits"))
    with Image.open(runs / "digits" / "samples" / d["grid"]["name"]) as disk:
        assert np.array_equal(_arr(grid), _arr(disk))
    assert grid.text["source"].startswith("training preview")

    # A run started after the server: listed, and followed as it logs and is scored.
    late = runs / "later"
    shutil.copytree(runs / "digits", late)
    rows = {r["name"]: r for r in client.get("/api/runs").json()["runs"]}
    assert rows["later"]["step"] == 2 and rows["later"]["scores"] == []
    with open(late / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 3, "epoch": 0.01, "d_loss": 1.0, "g_loss": 2.0}) + "\n")
        f.write(json.dumps({"step": 3, "epoch": 0.01, "eval": "pixels-kid50", "value": 0.25}) + "\n")
    (late / "eval.json").write_text(json.dumps({"metrics": {"kid": {
        "value": 0.31, "real_vs_real": 0.002, "real_vs_real_std": 0.001}}, "protocol": {"n": 100}}))
    row = next(r for r in client.get("/api/runs").json()["runs"] if r["name"] == "later")
    assert row["step"] == 3 and row["losses"]["g_loss"][-1] == [3, 2.0]
    assert row["evals"] == [{"step": 3, "metric": "pixels-kid50", "value": 0.25}]
    assert row["scores"] == [{"file": "eval.json", "metric": "kid", "value": 0.31, "floor": 0.002,
                              "floor_std": 0.001}]
    shutil.rmtree(late)


def test_the_page_and_the_openapi_listing(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for ident in ('id="run"', 'id="refresh"', 'id="seed"', 'id="class"', 'id="psi"', 'id="upload"',
                  'id="runs-list"'):
        assert ident in page.text
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/runs", "/api/run", "/api/generate", "/api/translate", "/api/grid", "/healthz"} <= set(paths)
    assert client.get("/healthz").json()["status"] == "ok"
    docs = client.get("/docs")  # FastAPI's OpenAPI page
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


# ---- concurrency ----------------------------------------------------------------------------
def test_concurrent_clients_share_one_model_and_are_batched(runs):
    import httpx

    app = create_app([runs], device="cpu")

    async def go() -> tuple[list[bytes], list[bytes]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            alone = [(await c.get(f"/api/generate?run=cond&seed={s}&class={s % 10}")).content
                     for s in range(12)]
            together = await asyncio.gather(*[c.get(f"/api/generate?run=cond&seed={s}&class={s % 10}")
                                              for s in range(12)])
            return alone, [r.content for r in together]

    loaded = app.state.runs
    alone, together = asyncio.run(go())
    batcher = loaded._loaded["cond"].batcher
    assert batcher.jobs == 24 and batcher.passes < 24  # 12 passes alone, fewer for the 12 together
    for a, b in zip(alone, together):
        assert np.abs(_arr(Image.open(io.BytesIO(a))) - _arr(Image.open(io.BytesIO(b)))).max() <= 1


# ---- refusals -------------------------------------------------------------------------------
def _png_claiming(w: int, h: int) -> bytes:
    """A tiny PNG whose header claims w x h pixels: a decompression bomb's shape."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def _gray(w: int, h: int) -> bytes:
    return _upload(Image.new("L", (w, h), 0))


BAD = [
    # (what, method, url, form, file bytes, status, words in the message)
    ("huge upload", "post", "/api/translate", {"run": "cycle"}, b"\0" * (MAX_UPLOAD_BYTES + 2**20), 413,
     "too large"),
    ("not an image", "post", "/api/translate", {"run": "cycle"}, b"hello, I am a text file\n" * 50, 400,
     "not an image"),
    ("empty file", "post", "/api/translate", {"run": "cycle"}, b"", 400, "empty"),
    ("truncated image", "post", "/api/translate", {"run": "cycle"}, _gray(64, 64)[:60], 400, "image"),
    ("decompression bomb", "post", "/api/translate", {"run": "cycle"}, _png_claiming(20000, 20000), 413,
     "decompression bomb"),
    ("too many pixels", "post", "/api/translate", {"run": "cycle"}, _png_claiming(5000, 5000), 413,
     "5000x5000"),
    ("no file", "post", "/api/translate", {"run": "cycle"}, None, 422, "file"),
    ("wrong direction", "post", "/api/translate", {"run": "cycle", "direction": "sideways"}, _gray(8, 8),
     422, "direction"),
    ("translate with a sampler", "post", "/api/translate", {"run": "digits"}, _gray(8, 8), 400,
     "generates images"),
    ("missing run", "get", "/api/generate?seed=1", None, None, 422, "run: Field required"),
    ("seed not a number", "get", "/api/generate?run=digits&seed=abc", None, None, 422, "seed"),
    ("negative seed", "get", "/api/generate?run=digits&seed=-1", None, None, 422, "seed"),
    ("too many images", "get", "/api/generate?run=digits&n=1000", None, None, 422, "n"),
    ("walk past the end", "get", "/api/generate?run=digits&seed_b=2&t=1.5", None, None, 422, "t"),
    ("unknown run", "get", "/api/generate?run=nope", None, None, 404, "known: cond, cycle, digits"),
    ("class out of range", "get", "/api/generate?run=cond&class=10", None, None, 400, "class"),
    ("class on an unconditional run", "get", "/api/generate?run=digits&class=1", None, None, 400,
     "not class-conditional"),
    ("psi without truncation", "get", "/api/generate?run=cond&psi=0.5", None, None, 400, "psi"),
    ("psi out of range", "get", "/api/generate?run=digits&psi=7", None, None, 422, "psi"),
    ("generate with a translator", "get", "/api/generate?run=cycle", None, None, 400, "translate"),
    ("unknown page", "get", "/api/nothing", None, None, 404, "no such page"),
]


@pytest.mark.parametrize("what,method,url,form,data,status,words", BAD, ids=[b[0] for b in BAD])
def test_bad_requests_are_a_clear_4xx_and_the_server_keeps_serving(client, what, method, url, form, data,
                                                                     status, words):
    if method == "post":
        files = None if data is None else {"file": ("upload.png", data, "image/png")}
        r = client.post(url, data=form, files=files)
    else:
        r = client.get(url)
    assert r.status_code == status, r.text
    msg = r.json()["error"]
    assert words in msg and "\n" not in msg and "Traceback" not in msg
    assert client.get("/healthz").json()["status"] == "ok"
    assert _png(client.get("/api/generate?run=digits&seed=1")).size == (16, 16)


def test_a_body_over_the_limit_is_refused_before_it_is_read(runs):
    with TestClient(create_app([runs], device="cpu", max_upload_bytes=1000)) as c:
        r = c.post("/api/translate", data={"run": "cycle"}, files={"file": ("a.png", b"\0" * 5000)})
        assert r.status_code == 413 and "limit" in r.json()["error"]
        ok = c.post("/api/translate", data={"run": "cycle"}, files={"file": ("a.png", _gray(8, 8))})
        assert _png(ok).size == (8, 8)


def test_serving_nothing_is_one_clear_line(tmp_path):
    with pytest.raises(ganforge.GanforgeError, match="missing: no such run folder"):
        create_app([tmp_path / "missing"])
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ganforge.GanforgeError, match="file.txt: a file, not a run folder"):
        create_app([tmp_path / "file.txt"])


def test_the_runs_view_follows_a_run_while_it_trains(tmp_path, monkeypatch):
    """Served before the run starts: it appears, its step grows, it can be sampled while it
    trains, and its newer weights are picked up -- read at steps 3 and 8 from inside the loop."""
    from _helpers import hook_step

    from ganforge.serve import engine

    monkeypatch.setattr(engine, "RECHECK_S", 0.0)  # look at the model files on every request
    root = tmp_path / "runs"
    root.mkdir()
    seen = {}
    app = create_app([root], device="cpu")
    with TestClient(app) as c:
        assert c.get("/api/runs").json() == {"runs": []}

        def look(recipe, i):
            if i in (3, 8):
                seen[i] = c.get("/api/runs").json()["runs"]
                seen[f"gen{i}"] = c.get("/api/generate?run=live&seed=1")
                seen[f"model{i}"] = app.state.runs._loaded.get("live")

        hook_step(monkeypatch, "gan", before=look)
        train_run(resolve("gan", data="mnist-mini", size=16, model="dcgan", max_steps=10, batch_size=8,
                          grid_n=4, log_every=1, device="cpu", z_dim=8, width=4), root / "live", quiet=True)
        assert [r["name"] for r in seen[3]] == ["live"] and seen[3][0]["family"] == "gan"
        assert seen[3][0]["step"] == 3 and seen[8][0]["step"] == 8  # steps 1-3, then 1-8 logged
        assert [p[0] for p in seen[8][0]["losses"]["d_loss"]] == list(range(1, 9))
        assert seen[3][0]["kind"] == "sample" and _png(seen["gen3"]).size == (16, 16)
        done = next(r for r in c.get("/api/runs").json()["runs"] if r["name"] == "live")
        assert done["step"] == 10 and done["grid"] is not None
        final = _png(c.get("/api/generate?run=live&seed=1"))
        now = app.state.runs._loaded["live"]
        assert now is not seen["model3"]  # the weights published at the end were loaded
        want = ganforge.load(root / "live", device="cpu").generate(1, seed=1)[0]
        assert np.abs(_arr(final) - _uint8(want)).max() <= 1


# ---- the command ----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_binds_locally_unless_told_and_says_so_loudly(runs, monkeypatch):
    import uvicorn

    from ganforge.serve import serve

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    said: list[str] = []
    port = _free_port()
    serve([runs], port=port, device="cpu", say=said.append)
    assert calls[-1]["host"] == "127.0.0.1" and not any("WARNING" in s for s in said)
    assert f"http://127.0.0.1:{port}/" in said[-1]
    said.clear()
    serve([runs], host="0.0.0.0", port=port, device="cpu", say=said.append)
    assert calls[-1] == {"host": "0.0.0.0", "port": port, "log_level": "warning"}
    assert any(f"WARNING: listening on 0.0.0.0:{port}, beyond this machine" in s for s in said)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.org")


def test_cli_refusals_are_one_line(cli, runs, tmp_path):
    p = cli("serve", tmp_path / "missing", check=False)
    assert p.returncode == 2 and p.stderr.strip().endswith("missing: no such run folder (or folder of runs)")
    with socket.socket() as s:  # a port in use: said before any model is loaded
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = cli("serve", runs, "--port", port, check=False)
    assert p.returncode == 2 and f"--port {port}: cannot listen there" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    p = cli("serve", runs, "--port", 70000, check=False)
    assert p.returncode == 2 and "ports go up to 65535" in p.stderr


def test_cli_without_the_extra_says_what_to_install(cli, runs, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "fastapi", None)  # import fastapi -> ImportError
    p = cli("serve", runs, check=False)
    assert p.returncode == 2
    assert p.stderr.strip() == "ganforge serve: error: ganforge serve needs FastAPI and uvicorn: " \
                               "pip install 'ganforge[serve]'"


# ---- the page in a real browser -------------------------------------------------------------
@pytest.fixture(scope="module")
def chromium() -> str:
    """The system's Chromium (skips the test, before any run is trained, where there is none or
    no Playwright to drive it)."""
    pytest.importorskip("playwright.sync_api")
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no Chromium installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def server(runs):
    """The app on a free loopback port, served by uvicorn in a thread."""
    import uvicorn

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app([runs], device="cpu"), host="127.0.0.1", port=port,
                                        log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    th.join(10)


@pytest.mark.browser
def test_the_page_in_headless_chromium(chromium, server, runs, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1100, "height": 760})
        page.goto(server + "/")
        page.wait_for_selector("body[data-ready='1']", timeout=20000)
        img = page.locator("#image")

        def shown() -> bytes:
            page.wait_for_function("document.getElementById('image').naturalWidth > 0")
            return img.screenshot()

        assert page.locator("#run option").count() == 3  # three runs: a run picker
        page.select_option("#run", "digits")
        page.wait_for_function("document.getElementById('class-row').classList.contains('hidden')")
        page.wait_for_function("document.getElementById('image').dataset.query?.includes('run=digits')")
        assert page.locator("#psi-row").is_visible()  # StyleGAN2: a truncation slider
        first, seed = shown(), img.get_attribute("data-seed")
        page.click("#refresh")  # a new seed, a new image
        page.wait_for_function(f"document.getElementById('image').dataset.seed !== '{seed}'")
        assert shown() != first

        page.fill("#seed", "5")
        page.dispatch_event("#seed", "change")
        page.wait_for_function("document.getElementById('image').dataset.seed === '5'")
        five = shown()
        page.fill("#seed", "6")
        page.dispatch_event("#seed", "change")
        page.wait_for_function("document.getElementById('image').dataset.seed === '6'")
        assert shown() != five
        page.fill("#psi", "0.3")
        page.dispatch_event("#psi", "change")
        page.wait_for_function("document.getElementById('image').dataset.query.includes('psi=0.3')")
        assert shown() != five
        page.screenshot(path=str(tmp_path / "serve_digits.png"), full_page=True)

        page.select_option("#run", "cond")  # a conditional run: the class picker
        page.wait_for_selector("#class-row:not(.hidden)")
        page.wait_for_function("document.getElementById('image').dataset.query?.includes('run=cond')")
        page.fill("#seed", "3")
        page.dispatch_event("#seed", "change")
        page.select_option("#class", "2")
        page.wait_for_function("document.getElementById('image').dataset.query.includes('class=2')"
                               " && document.getElementById('image').dataset.seed === '3'")
        two = shown()
        page.select_option("#class", "8")
        page.wait_for_function("document.getElementById('image').dataset.query.includes('class=8')")
        eight = shown()
        assert eight != two
        assert page.locator("#psi-row").is_hidden()  # no truncation on a DCGAN
        page.check("#walk")  # a walk from seed 3 to seed 1, half way
        page.wait_for_function("document.getElementById('image').dataset.query.includes('seed_b=1')")
        assert shown() != eight
        page.screenshot(path=str(tmp_path / "serve_sample.png"), full_page=True)

        src = tmp_path / "digit.png"
        Image.fromarray(np.pad(np.full((12, 4), 255, np.uint8), ((10, 10), (14, 14)))).save(src)
        page.select_option("#run", "cycle")  # a translation run: upload, see it beside its translation
        page.wait_for_selector("#translate-panel:not(.hidden)")
        assert page.locator("#direction option").count() == 2
        page.set_input_files("#upload", str(src))
        page.wait_for_function("document.getElementById('output-img').dataset.done === '1'")
        size = page.evaluate("[document.getElementById('output-img').naturalWidth,"
                             " document.getElementById('output-img').naturalHeight]")
        assert size == [32, 32]
        assert page.inner_text("#error") == ""
        page.screenshot(path=str(tmp_path / "serve_translate.png"), full_page=True)

        page.click("#tab-runs")  # the runs view: a card per run with its grid and its loss curves
        page.wait_for_function("document.querySelectorAll('#runs-list .card').length === 3")
        page.wait_for_function("[...document.querySelectorAll('#runs-list img')]"
                               ".every(i => i.naturalWidth > 0)")
        assert page.locator("#runs-list svg polyline").count() >= 6
        page.screenshot(path=str(tmp_path / "serve_runs.png"), full_page=True)
        browser.close()
    for name in ("serve_digits.png", "serve_sample.png", "serve_translate.png", "serve_runs.png"):
        assert (tmp_path / name).stat().st_size > 5000


def test_run_folders_are_found_under_a_folder_and_their_insides_are_not_runs(tmp_path):
    from ganforge.rundir import RunDir

    for d in ("a", "group/b", "group/b/best", "group/b/snapshots/step_000010", "group/.hidden",
              "x/y/z/too-deep"):
        (tmp_path / d).mkdir(parents=True)
        (tmp_path / d / ("model.json" if "best" in d or "step_" in d else "config.json")).write_text("{}")
    (tmp_path / "notes").mkdir()
    assert [r.path.relative_to(tmp_path).as_posix() for r in RunDir.find(tmp_path)] == ["a", "group/b"]
    assert [r.path for r in RunDir.find(tmp_path / "a")] == [tmp_path / "a"]
    (tmp_path / "a" / "eval.json").write_text(json.dumps({"metrics": {"fid": {"value": 3.0}}}))
    (tmp_path / "a" / "eval-old.json").write_text("not json")
    assert RunDir(tmp_path / "a").eval_results() == [("eval.json", {"metrics": {"fid": {"value": 3.0}}})]
