"""Does an invisible watermark survive what happens to images after ganforge writes them?

Part 1, invisible-watermark (the library Stable Diffusion's reference scripts use): ``--n``
images from a trained sampler (``--run``), upscaled to ``--size`` px with Lanczos when smaller
(the library refuses images under 256x256, to embed and to decode), each marked with a 32-bit
message by each method (dwtDct, dwtDctSvd, rivaGan), then attacked: none, JPEG q90/q75/q50,
resize to 75%/50% (decoded after resizing back to the original size: the decoder refuses
anything under 256x256, so a detector must upscale first), a centre crop keeping 90% of each
side (resized back likewise). Reported per method and attack: the rate of exact 32-bit
recovery, the rate of "detected" (>= 28 of 32 bits right: a random image passes with p ~ 4e-6),
the mean bit accuracy, and the PSNR of the marked image against the unmarked one. The same
decoders on the unmarked images give the false-positive rate.

Part 2, C2PA (c2pa-python): can a manifest be signed offline with a locally generated
certificate chain (a self-made CA and an ES256 signing certificate from ``cryptography``), read
back, and does it survive the same re-encoding (Pillow's, which drops unknown segments)?

    python benchmarks/watermark.py [--run /work/runs/an64] [--n 50] [--size 256]

Part 3 (``--only-shipped``): what ``generate --watermark`` ships, ``ganforge.watermark``
(rivaGan), on ``--grids`` grids of 64 generated images, detected as ``inspect`` does (no
knowledge of the original size): results/watermark_shipped.json.

Output: JSON on stdout and in benchmarks/results/watermark.json.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from threads import _cpu  # noqa: E402  (the CPU model and its vector extensions)

MESSAGE = b"gnfg"  # 32 bits
DETECT_BITS = 28


def jpeg(img: Image.Image, q: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=q)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def resized(img: Image.Image, f: float) -> Image.Image:
    w, h = img.size
    return img.resize((round(w * f), round(h * f)), Image.Resampling.LANCZOS)


def crop(img: Image.Image, keep: float) -> Image.Image:
    w, h = img.size
    cw, ch = round(w * keep), round(h * keep)
    x, y = (w - cw) // 2, (h - ch) // 2
    return img.crop((x, y, x + cw, y + ch))


def back(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    return img if img.size == size else img.resize(size, Image.Resampling.LANCZOS)


ATTACKS = {
    "none": lambda im: im,
    "jpeg_q90": lambda im: jpeg(im, 90),
    "jpeg_q75": lambda im: jpeg(im, 75),
    "jpeg_q50": lambda im: jpeg(im, 50),
    "resize_75%": lambda im: back(resized(im, 0.75), im.size),
    "resize_50%": lambda im: back(resized(im, 0.5), im.size),
    "crop_90%": lambda im: back(crop(im, 0.9), im.size),
}


def bits_of(msg: bytes) -> np.ndarray:
    return np.unpackbits(np.frombuffer(msg, dtype=np.uint8))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


def generated(run: str, n: int, size: int) -> tuple[list[Image.Image], int]:
    import torch

    import ganforge

    torch.set_num_threads(1)
    s = ganforge.load(run, device="cpu")
    imgs = s.generate(n, seed=0, pil=True)
    native = imgs[0].size[0]
    return [im.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
            if im.size[0] < size else im.convert("RGB") for im in imgs], native


def part_watermark(images: list[Image.Image]) -> dict:
    import cv2
    from imwatermark import WatermarkDecoder, WatermarkEncoder

    truth = bits_of(MESSAGE)
    out: dict = {}
    for method in ("dwtDct", "dwtDctSvd", "rivaGan"):
        if method == "rivaGan":
            WatermarkEncoder.loadModel()
        enc = WatermarkEncoder()
        enc.set_watermark("bytes", MESSAGE)
        dec = WatermarkDecoder("bits", 32)

        def decode(im: Image.Image) -> np.ndarray:
            bgr = cv2.cvtColor(np.asarray(im.convert("RGB")), cv2.COLOR_RGB2BGR)
            return np.array(dec.decode(bgr, method), dtype=np.uint8)  # noqa: B023

        t0 = time.perf_counter()
        marked = []
        for im in images:
            bgr = cv2.cvtColor(np.asarray(im), cv2.COLOR_RGB2BGR)
            marked.append(Image.fromarray(cv2.cvtColor(enc.encode(bgr, method), cv2.COLOR_BGR2RGB)))
        t_enc = (time.perf_counter() - t0) / len(images)
        rows = {}
        t0 = time.perf_counter()
        for name, attack in ATTACKS.items():
            acc = np.array([(decode(attack(m)) == truth).mean() for m in marked])
            rows[name] = {"exact": float((acc == 1).mean()),
                          "detected": float((acc * 32 >= DETECT_BITS).mean()),
                          "bit_accuracy": round(float(acc.mean()), 4)}
        t_dec = (time.perf_counter() - t0) / (len(images) * len(ATTACKS))
        clean = np.array([(decode(im) == truth).mean() for im in images])
        try:  # the library's own limit, measured rather than assumed
            dec.decode(cv2.cvtColor(np.asarray(resized(marked[0], 0.5)), cv2.COLOR_RGB2BGR), method)
            small = "decoded"
        except RuntimeError as e:
            small = f"refused: {e}"
        out[method] = {
            "attacks": rows,
            "false_positive_detected": float((clean * 32 >= DETECT_BITS).mean()),
            "psnr_db": round(float(np.mean([psnr(np.asarray(a), np.asarray(b))
                                            for a, b in zip(images, marked)])), 2),
            "encode_ms": round(t_enc * 1000, 1), "decode_ms": round(t_dec * 1000, 1),
            "decode_at_half_size_without_upscaling": small,
        }
        print(method, json.dumps(out[method]), flush=True)
    try:
        enc = WatermarkEncoder()
        enc.set_watermark("bytes", MESSAGE)
        enc.encode(np.zeros((64, 64, 3), np.uint8), "dwtDct")
        out["encode_64px"] = "accepted"
    except RuntimeError as e:
        out["encode_64px"] = f"refused: {e}"
    return out


def part_c2pa(image: Image.Image) -> dict:
    """Sign a PNG and a JPEG with a manifest, offline, with a CA and leaf made here."""
    try:
        import c2pa
    except ImportError as e:
        return {"available": False, "why": str(e)}
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    day, month = now - datetime.timedelta(days=1), now + datetime.timedelta(days=30)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ganforge test CA"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ganforge")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(day).not_valid_after(month)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       key_cert_sign=True, crl_sign=True, encipher_only=False,
                                       decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ganforge signer"),
                                     x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ganforge")]))
            .issuer_name(ca_name).public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(day).not_valid_after(month)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         key_cert_sign=False, crl_sign=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    chain = (leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM))
    key_pem = leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    manifest = {
        "claim_generator_info": [{"name": "ganforge", "version": "benchmark"}],
        "title": "generated.png",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [{
            "action": "c2pa.created",
            "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
        }]}}],
    }
    out: dict = {"available": True, "c2pa_python": getattr(c2pa, "__version__", None) or c2pa.version()}
    for fmt, mime in (("PNG", "image/png"), ("JPEG", "image/jpeg")):
        src = io.BytesIO()
        image.save(src, format=fmt)
        row: dict = {}
        try:
            t0 = time.perf_counter()
            info = c2pa.C2paSignerInfo(alg=b"es256", sign_cert=chain, private_key=key_pem, ta_url=None)
            signer = c2pa.Signer.from_info(info)
            with c2pa.Builder(manifest) as builder:
                dst = io.BytesIO()
                src.seek(0)
                builder.sign(signer, mime, src, dst)
            row["sign_ms"] = round((time.perf_counter() - t0) * 1000, 1)
            signed = dst.getvalue()
            row["bytes_added"] = len(signed) - len(src.getvalue())
            with c2pa.Reader(mime, io.BytesIO(signed)) as reader:
                store = json.loads(reader.json())
            active = store["manifests"][store["active_manifest"]]
            row["read_back"] = any(a.get("label", "").startswith("c2pa.actions")
                                   for a in active["assertions"])
            row["validation_state"] = store.get("validation_state")
            row["validation_codes"] = sorted({s.get("code") for s in store.get("validation_status", [])})
            with tempfile.TemporaryDirectory() as tmp:  # survives a re-encode?
                p = os.path.join(tmp, "x." + fmt.lower())
                Image.open(io.BytesIO(signed)).save(p, format=fmt)
                try:
                    with c2pa.Reader(p) as r2:
                        r2.json()
                    row["after_pillow_reencode"] = "manifest still present"
                except Exception as e:  # noqa: BLE001 -- the library's own error types
                    row["after_pillow_reencode"] = f"gone ({type(e).__name__})"
        except Exception as e:  # noqa: BLE001 -- record what the library says, whatever it is
            row["error"] = f"{type(e).__name__}: {str(e)[:300]}"
        out[fmt] = row
        print("c2pa", fmt, json.dumps(row), flush=True)
    return out


def part_shipped(run: str, n: int) -> dict:
    """What ``generate --watermark`` ships (``ganforge.watermark``, rivaGan), on ``n`` grids of
    64 generated images (530 px at 64-px tiles), detected as ``inspect`` does (the centre
    256x256, no knowledge of the original size): how often the mark takes, and what survives."""
    import torch

    import ganforge
    from ganforge import watermark

    torch.set_num_threads(1)
    s = ganforge.load(run, device="cpu")
    attacks = {
        "none": lambda im: im,
        "jpeg_q75": lambda im: jpeg(im, 75),
        "jpeg_q50": lambda im: jpeg(im, 50),
        "resize_75%_blind": lambda im: resized(im, 0.75),
        "resize_50%_blind": lambda im: resized(im, 0.5),
        "crop_50%": lambda im: crop(im, 0.5),
    }
    took, rows = 0, {k: [] for k in attacks}
    t_enc = t_dec = 0.0
    for i in range(n):
        grid = s.grid(64, seed=100 + i).convert("RGB")
        t0 = time.perf_counter()
        marked = watermark.embed(grid)
        t_enc += time.perf_counter() - t0
        t0 = time.perf_counter()
        took += watermark.detect(marked)["found"]
        t_dec += time.perf_counter() - t0
        for k, attack in attacks.items():
            rows[k].append(watermark.detect(attack(marked))["bits_right"])
    out = {"grids": n, "grid_px": list(grid.size), "method": watermark.METHOD, "mark_took": took / n,
           "embed_s": round(t_enc / n, 2), "detect_s": round(t_dec / n, 2),
           "attacks": {k: {"detected": float(np.mean([b >= DETECT_BITS for b in v])),
                           "bits_right_mean": round(float(np.mean(v)), 1)} for k, v in rows.items()}}
    print("shipped", json.dumps(out), flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default="/work/runs/an64", help="a trained sampling run")
    p.add_argument("--n", type=int, default=50)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--grids", type=int, default=5, help="grids for the shipped-watermark part")
    p.add_argument("--only-shipped", action="store_true", help="run only that part (results in "
                   "watermark_shipped.json)")
    a = p.parse_args()
    if a.only_shipped:
        res = {"date": datetime.date.today().isoformat(), "cpu": _cpu(), "cores": os.cpu_count(),
               "loadavg_at_start": [round(x, 2) for x in os.getloadavg()], "run": a.run,
               "shipped": part_shipped(a.run, a.grids)}
        res["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        path = Path(__file__).parent / "results" / "watermark_shipped.json"
        path.write_text(json.dumps(res, indent=1) + "\n")
        return
    images, native = generated(a.run, a.n, a.size)
    load = os.getloadavg()
    result = {
        "date": datetime.date.today().isoformat(), "cpu": _cpu(), "cores": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in load],
        "run": a.run, "images": a.n, "native_px": native, "tested_px": images[0].size[0],
        "upscaled": native < a.size, "message_bits": 32, "detected_if_bits_right_at_least": DETECT_BITS,
        "invisible_watermark": part_watermark(images),
        "c2pa": part_c2pa(images[0]),
    }
    result["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(result, indent=1)
    print(text)
    out = Path(__file__).parent / "results" / "watermark.json"
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
