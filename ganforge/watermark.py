"""An invisible watermark, opt-in (``generate --watermark``, ``pip install 'ganforge[watermark]'``).

invisible-watermark's ``rivaGan`` method (a small encoder/decoder network shipped as ONNX in the
package: nothing is downloaded) hides a 32-bit message. benchmarks/watermark.py measured it on
50 generated images at 256 px: found in 100% after JPEG q90/q75, 98% after q50, 100% after a
75%/50% downscale and after a 90% crop, at 40.7 dB PSNR, with no false positive on unmarked
images. The library's faster ``dwtDctSvd`` lost it after JPEG q50 (found in 20%) and after any
crop (0%), so it is not used. The library refuses images under 256x256: only such images can
be marked (grids, large models' images), not a 64-px model's single images. Detection reads
one 256x256 centre crop (the decoder finds the mark in any part of the image), ~1 s on a CPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from .errors import GanforgeError

METHOD = "rivaGan"
MESSAGE = b"gnfg"  # 32 bits: what every ganforge watermark says
MIN_SIDE = 256  # the library refuses images of fewer than 256x256 pixels
FOUND_BITS = 28  # of 32 right: "found" (a random image passes with p ~ 4e-6)


def require() -> Any:
    """The invisible-watermark module, or one line saying how to install it."""
    try:
        import imwatermark
    except ImportError:
        raise GanforgeError("--watermark needs invisible-watermark, not installed: pip install "
                            "'ganforge[watermark]'") from None
    return imwatermark


NAME = f"invisible-watermark {METHOD} {MESSAGE.decode()}"  # what a record says was hidden


def available() -> bool:
    import importlib.util

    return importlib.util.find_spec("imwatermark") is not None


def check_size(width: int, height: int, what: str = "the image") -> None:
    """Raise GanforgeError unless a ``width`` x ``height`` image can carry the watermark."""
    if width * height < MIN_SIDE * MIN_SIDE:
        raise GanforgeError(f"--watermark: {what} is {width}x{height} px; the watermark needs at least "
                            f"{MIN_SIDE}x{MIN_SIDE} (a grid of these images can carry it; drop "
                            "--watermark for single small images)")


def embed(img: Image.Image) -> Image.Image:
    """``img`` with the invisible watermark (RGB; a gray image comes back RGB-encoded gray)."""
    lib = require()
    check_size(*img.size)
    import cv2

    lib.WatermarkEncoder.loadModel()  # the ONNX networks, once per process
    enc = lib.WatermarkEncoder()
    enc.set_watermark("bytes", MESSAGE)
    rgb = np.asarray(img.convert("RGB"))
    out = enc.encode(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), METHOD)
    return Image.fromarray(cv2.cvtColor(out, cv2.COLOR_BGR2RGB))


def detect(img: Image.Image) -> dict[str, Any]:
    """``{"found": bool, "bits_right": int of 32, "scaled": bool}``, read from the centre
    256x256 of the image. An image under 256 px on a side (perhaps a downscaled marked one) is
    scaled up to 256 first (``scaled``): the library reads nothing smaller."""
    lib = require()
    import cv2

    rgb = img.convert("RGB")
    scaled = min(rgb.size) < MIN_SIDE
    if scaled:
        f = MIN_SIDE / min(rgb.size)
        rgb = rgb.resize((max(MIN_SIDE, round(rgb.width * f)), max(MIN_SIDE, round(rgb.height * f))),
                         Image.Resampling.LANCZOS)
    x, y = (rgb.width - MIN_SIDE) // 2, (rgb.height - MIN_SIDE) // 2
    rgb = rgb.crop((x, y, x + MIN_SIDE, y + MIN_SIDE))
    lib.WatermarkDecoder.loadModel()
    dec = lib.WatermarkDecoder("bits", 32)
    bits = np.array(dec.decode(cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR), METHOD), dtype=np.uint8)
    right = int((bits == np.unpackbits(np.frombuffer(MESSAGE, dtype=np.uint8))).sum())
    return {"found": right >= FOUND_BITS, "bits_right": right, "scaled": scaled}
