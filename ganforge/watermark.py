"""An invisible watermark, opt-in (``generate --watermark``, ``pip install 'ganforge[watermark]'``).

invisible-watermark's ``dwtDctSvd`` method hides a 32-bit message in the wavelet/DCT domain.
benchmarks/watermark.py measured it on 50 generated 256-px images: found in all of them after
JPEG q90/q75 and after a 75%/50% downscale that the detector scales back, at 41 dB PSNR, with
no false positive on unmarked images; lost after JPEG q50 (20%) and any crop (0%). The library
refuses images under 256x256, so only such images can be marked: grids and large models'
images, not a 64-px model's single images. README "Provenance" has the table.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from .errors import GanforgeError

METHOD = "dwtDctSvd"
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

    enc = lib.WatermarkEncoder()
    enc.set_watermark("bytes", MESSAGE)
    rgb = np.asarray(img.convert("RGB"))
    out = enc.encode(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), METHOD)
    return Image.fromarray(cv2.cvtColor(out, cv2.COLOR_BGR2RGB))


def detect(img: Image.Image) -> dict[str, Any]:
    """``{"found": bool, "bits_right": int of 32, "scaled": bool}``. An image under 256x256
    (perhaps a downscaled marked one) is scaled up to 256 px on its short side first, as the
    library cannot read smaller; that recovers a downscale only of a 256-px original."""
    lib = require()
    import cv2

    rgb = img.convert("RGB")
    scaled = rgb.width * rgb.height < MIN_SIDE * MIN_SIDE
    if scaled:
        f = MIN_SIDE / min(rgb.size)
        rgb = rgb.resize((round(rgb.width * f), round(rgb.height * f)), Image.Resampling.LANCZOS)
    dec = lib.WatermarkDecoder("bits", 32)
    bits = np.array(dec.decode(cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR), METHOD), dtype=np.uint8)
    right = int((bits == np.unpackbits(np.frombuffer(MESSAGE, dtype=np.uint8))).sum())
    return {"found": right >= FOUND_BITS, "bits_right": right, "scaled": scaled}
