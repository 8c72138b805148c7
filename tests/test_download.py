"""The real download code, against a local HTTP server on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading

import numpy as np
import pytest

from ganforge.data import builtin, download, load_data
from ganforge.data.download import Resource, fetch
from ganforge.errors import GanforgeError


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    ranges: list[str] = []
    cut_after: int | None = None  # serve only this many bytes once, to fake a dropped line

    def do_GET(self):  # noqa: N802 - http.server's naming
        body = self.files.get(self.path.split("?")[0])
        if body is None:
            self.send_error(404)
            return
        start = 0
        rng = self.headers.get("Range")
        if rng:
            type(self).ranges.append(rng)
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        chunk = body[start:]
        self.send_header("Content-Length", str(len(chunk)))
        self.end_headers()
        if type(self).cut_after is not None:
            self.wfile.write(chunk[: type(self).cut_after])
            type(self).cut_after = None
            self.wfile.flush()
            self.connection.close()
            return
        self.wfile.write(chunk)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.files, _Handler.ranges, _Handler.cut_after = {}, [], None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield _Handler, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def test_download_checks_md5_and_caches(server, tmp_path):
    handler, base = server
    body = bytes(range(256)) * 1000
    handler.files["/f.bin"] = body
    res = Resource("f.bin", base + "/f.bin", _md5(body))
    p = fetch(res, tmp_path)
    assert p.read_bytes() == body
    handler.files.clear()  # a second call must not need the server
    assert fetch(res, tmp_path) == p


def test_download_resumes_partial_file(server, tmp_path):
    handler, base = server
    body = np.random.default_rng(0).bytes(300_000)
    handler.files["/big.bin"] = body
    (tmp_path / "big.bin.part").write_bytes(body[:100_000])
    p = fetch(Resource("big.bin", base + "/big.bin", _md5(body)), tmp_path)
    assert p.read_bytes() == body
    assert handler.ranges == ["bytes=100000-"]


def test_dropped_connection_then_resume(server, tmp_path):
    handler, base = server
    body = np.random.default_rng(1).bytes(200_000)
    handler.files["/x.bin"] = body
    handler.cut_after = 50_000
    res = Resource("x.bin", base + "/x.bin", _md5(body))
    with pytest.raises(GanforgeError):
        fetch(res, tmp_path)
    assert (tmp_path / "x.bin.part").stat().st_size == 50_000  # kept for the next try
    assert fetch(res, tmp_path).read_bytes() == body
    assert handler.ranges == ["bytes=50000-"]


def test_checksum_mismatch_is_clear_and_cleans_up(server, tmp_path):
    handler, base = server
    handler.files["/f.bin"] = b"tampered"
    with pytest.raises(GanforgeError, match="checksum mismatch"):
        fetch(Resource("f.bin", base + "/f.bin", _md5(b"original")), tmp_path)
    assert not (tmp_path / "f.bin").exists() and not (tmp_path / "f.bin.part").exists()


def test_offline_error_says_how_to_place_files(tmp_path):
    # Port 9 on 127.0.0.1 has no listener: connection refused, like a machine offline.
    res = Resource("train.gz", "http://127.0.0.1:9/train.gz", "0" * 32)
    with pytest.raises(GanforgeError) as e:
        fetch(res, tmp_path, timeout=5)
    msg = str(e.value)
    assert "could not download" in msg and str(tmp_path / "train.gz") in msg and "GANFORGE_DATA" in msg
    assert "\n" not in msg


def test_http_error_is_clear(server, tmp_path):
    _, base = server
    with pytest.raises(GanforgeError, match="HTTP 404"):
        fetch(Resource("missing.gz", base + "/missing.gz", "0" * 32), tmp_path)


def _idx(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return gzip.compress(header + arr.astype(np.uint8).tobytes())


def test_mnist_data_set_downloads_from_mirror(server, monkeypatch):
    """The `mnist` registry entry end to end: download, verify, parse IDX, cache."""
    handler, base = server
    imgs = np.random.default_rng(0).integers(0, 255, (12, 28, 28))
    labels = np.arange(12) % 10
    files = {"train-images-idx3-ubyte.gz": _idx(imgs), "train-labels-idx1-ubyte.gz": _idx(labels)}
    for name, body in files.items():
        handler.files["/" + name] = body
    monkeypatch.setattr(builtin, "MNIST", [
        Resource(n, f"{base}/{n}", _md5(b)) for n, b in files.items()
    ])
    ds = load_data("mnist", size=28)
    assert ds.images.shape == (12, 1, 28, 28)
    assert np.array_equal(ds.images[:, 0].numpy(), imgs.astype(np.uint8))
    assert ds.labels.tolist() == labels.tolist()
    assert (download.data_dir() / "mnist" / "train-images-idx3-ubyte.gz").exists()


def test_existing_corrupt_file_is_reported(tmp_path):
    (tmp_path / "f.bin").write_bytes(b"corrupt")
    with pytest.raises(GanforgeError, match="delete it"):
        fetch(Resource("f.bin", "http://127.0.0.1:9/f.bin", _md5(b"good")), tmp_path)


def test_a_registered_translation_set_downloads_checks_sha256_and_loads(server, tmp_path, monkeypatch):
    """horse2zebra's code path end to end, on a tiny archive in CycleGAN's layout: the SHA-256
    (TensorFlow Datasets' catalogue value for the real file) is checked; a wrong copy is refused."""
    import io
    import zipfile

    from PIL import Image

    from ganforge.data import pairs

    handler, base = server
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for split, n in (("trainA", 3), ("trainB", 4), ("testA", 2), ("testB", 2)):
            for i in range(n):
                img = io.BytesIO()
                Image.new("RGB", (20, 20), (40 * i, 100, 200)).save(img, "JPEG")
                z.writestr(f"horse2zebra/{split}/{i}.jpg", img.getvalue())
    body = buf.getvalue()
    handler.files["/horse2zebra.zip"] = body
    good = Resource("horse2zebra.zip", base + "/horse2zebra.zip", "",
                    sha256=hashlib.sha256(body).hexdigest())
    monkeypatch.delitem(pairs.PAIRSETS._items, "horse2zebra")  # restored after the test
    pairs._registered(good, "horse2zebra", ("horse", "zebra"), "test copy")
    p = pairs.load_domains("horse2zebra", None, False, 16, quiet=True)
    assert (len(p.images), len(p.targets), len(p.held), p.domains) == (3, 4, 2, ("horse", "zebra"))
    assert (download.data_dir() / "horse2zebra" / "horse2zebra.zip.sha256").is_file()

    bad = Resource("other.zip", base + "/horse2zebra.zip", "", sha256="0" * 64)
    with pytest.raises(GanforgeError, match="checksum mismatch \\(sha256"):
        fetch(bad, tmp_path)
    assert not (tmp_path / "other.zip").exists() and not (tmp_path / "other.zip.part").exists()


def test_offline_translation_set_names_the_file_to_place(tmp_path, monkeypatch):
    from ganforge.data import pairs

    monkeypatch.setattr(pairs, "HORSE2ZEBRA", Resource("h.zip", "http://127.0.0.1:9/h.zip", "",
                                                       sha256="ab" * 32))
    with pytest.raises(GanforgeError, match=r"could not download .*place it as .*h\.zip \(sha256 abab"):
        fetch(pairs.HORSE2ZEBRA, tmp_path)


def test_inception_weights_fetch_checks_the_published_prefix_and_are_found(server, monkeypatch):
    """`ganforge data --fetch inception`: the file is checked against the SHA-256 prefix its name
    publishes, lands in $GANFORGE_DATA/weights, and evaluation then finds it with no flag."""
    from ganforge.metrics import features

    handler, base = server
    body = np.random.default_rng(1).bytes(50_000)
    handler.files["/w.pth"] = body
    monkeypatch.delenv(features.INCEPTION_ENV, raising=False)
    with pytest.raises(GanforgeError, match="ganforge data --fetch inception"):
        features.inception_weights()
    prefix = hashlib.sha256(body).hexdigest()[:8]
    bad = "0" * 8 if prefix != "0" * 8 else "1" * 8
    monkeypatch.setattr(features, "INCEPTION", Resource(features.INCEPTION_FILE, base + "/w.pth",
                                                        md5="", sha256=bad))
    with pytest.raises(GanforgeError, match="checksum mismatch"):
        features.fetch_inception(progress=False)
    monkeypatch.setattr(features, "INCEPTION", Resource(features.INCEPTION_FILE, base + "/w.pth",
                                                        md5="", sha256=prefix))
    got = features.fetch_inception(progress=False)
    assert got.read_bytes() == body and got.parent == download.data_dir() / "weights"
    assert features.inception_weights() == got
