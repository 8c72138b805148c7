"""Provenance written into every synthetic image ganforge makes, and read back by ``inspect``.

One record (a flat dict: ``synthetic``, ``software``, ``model_sha256``, ``run``, ``seed``,
``class``, ``psi``, ``direction``, ``source``, ...) goes into the file in the places readers
look, chosen by the file's format:

- PNG: a ``ganforge`` text chunk (the record as JSON, what is read back), each scalar field in
  a chunk of its own (``seed``, ``run``, ...), ``Software`` and ``Description`` chunks, and an
  XMP packet in the standard ``XML:com.adobe.xmp`` iTXt chunk;
- JPEG and WebP (still or animated): the XMP packet, plus EXIF ImageDescription and Software;
- GIF: a comment extension holding the record.

The XMP packet carries the IPTC digital source type ``trainedAlgorithmicMedia``, the term
photo agencies, Google and Meta read to label AI-generated images. All of it is metadata: most
re-encoders and social sites strip it (README, "Provenance"). A record of ``None`` writes a plain
file: for images that are not synthetic (a projection's target, the user's own photo).
"""

from __future__ import annotations

import hashlib
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from PIL import Image, PngImagePlugin, UnidentifiedImageError

from ._version import __version__
from .errors import GanforgeError

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
GANFORGE_NS = "https://ganforge.dev/ns/provenance/1.0/"  # the XMP namespace of the record
IPTC_EXT_NS = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
PNG_KEY = "ganforge"  # the PNG text chunk holding the record as JSON
GIF_PREFIX = "ganforge provenance: "  # a GIF comment starts with this, then the record as JSON
XMP_PNG_KEY = "XML:com.adobe.xmp"  # where XMP lives in a PNG (XMP spec part 3)

IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
_EXIF_DESCRIPTION, _EXIF_SOFTWARE = 0x010E, 0x0131


def record(**fields: Any) -> dict[str, Any]:
    """A provenance record: ``synthetic: true``, the ganforge version, the IPTC source type and
    ``fields`` (``None`` values dropped, so callers can pass what they may not have)."""
    out: dict[str, Any] = {"synthetic": True, "software": f"ganforge {__version__}",
                           "digital_source_type": DIGITAL_SOURCE_TYPE}
    out.update({k: v for k, v in fields.items() if v is not None})
    return out


def weights_sha256(files: Iterable[str | Path]) -> str:
    """The model's hash: sha256 over its weights files' bytes, in the order given (for a
    one-network model it equals ``sha256sum generator.safetensors``)."""
    h = hashlib.sha256()
    for f in files:
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def image_format(path: Path) -> str:
    """Pillow's format for a still image's file name (checked before any work by callers).

    Raises:
        GanforgeError: a name whose extension is not a still-image format ganforge writes.
    """
    fmt = IMAGE_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise GanforgeError(f"{path}: cannot write a {Path(path).suffix or 'suffix-less'} image; "
                            f"name it {', '.join(IMAGE_FORMATS)}")
    return fmt


def describe(info: dict[str, Any]) -> str:
    """One human line for EXIF ImageDescription / PNG Description."""
    what = ", ".join(f"{k} {info[k]}" for k in ("run", "seed", "class", "psi", "direction", "source",
                                                "step") if k in info)
    return f"Synthetic image (AI-generated) made by {info.get('software', 'ganforge')}" + (
        f": {what}" if what else "")


def xmp_packet(info: dict[str, Any]) -> bytes:
    """An XMP packet with the IPTC digital source type, the creator tool, a description, and
    the record as JSON in the ganforge namespace (what ``read_provenance`` reads back)."""
    body = json.dumps(info, sort_keys=True, separators=(",", ":"))
    source_type = quoteattr(str(info.get("digital_source_type", DIGITAL_SOURCE_TYPE)))
    text = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        f'    xmlns:Iptc4xmpExt="{IPTC_EXT_NS}"\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        '    xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        f'    xmlns:ganforge="{GANFORGE_NS}"\n'
        f'    Iptc4xmpExt:DigitalSourceType={source_type}\n'
        f'    xmp:CreatorTool={quoteattr(str(info.get("software", "ganforge")))}\n'
        f'    ganforge:record={quoteattr(body)}>\n'
        f'   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{_escape(describe(info))}'
        '</rdf:li></rdf:Alt></dc:description>\n'
        '  </rdf:Description>\n'
        ' </rdf:RDF>\n'
        '</x:xmpmeta>\n'
        '<?xpacket end="r"?>')
    return text.encode("utf-8")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _exif(info: dict[str, Any]) -> Image.Exif:
    exif = Image.Exif()
    exif[_EXIF_DESCRIPTION] = describe(info)
    exif[_EXIF_SOFTWARE] = str(info.get("software", "ganforge"))
    return exif


def png_info(info: dict[str, Any]) -> PngImagePlugin.PngInfo:
    meta = PngImagePlugin.PngInfo()
    meta.add_text(PNG_KEY, json.dumps(info, sort_keys=True))
    meta.add_text("Software", str(info.get("software", "ganforge")))
    for k, v in info.items():  # each field on its own too, for tools that list PNG text keys
        if k != "software" and isinstance(v, (str, int, float, bool)):
            meta.add_text(k, str(v).lower() if isinstance(v, bool) else str(v))
    meta.add_itxt("Description", describe(info))
    meta.add_itxt(XMP_PNG_KEY, xmp_packet(info).decode("utf-8"))
    return meta


def save_kwargs(fmt: str, info: dict[str, Any] | None) -> dict[str, Any]:
    """Pillow ``save`` arguments that embed ``info`` in a file of format ``fmt`` (PNG, JPEG,
    WEBP, GIF); none for ``info=None``."""
    if info is None:
        return {}
    if fmt == "PNG":
        return {"pnginfo": png_info(info)}
    if fmt in ("JPEG", "WEBP"):
        return {"xmp": xmp_packet(info), "exif": _exif(info)}
    if fmt == "GIF":
        return {"comment": (GIF_PREFIX + json.dumps(info, sort_keys=True)).encode("utf-8")}
    raise ValueError(f"no provenance writer for {fmt}")


def save_image(img: Image.Image, path: str | Path, info: dict[str, Any] | None) -> None:
    """Write ``img`` in the format its name says (PNG, JPEG or WebP), atomically, carrying
    ``info`` (a :func:`record`) as that format allows; ``None``: a plain file.

    Raises:
        GanforgeError: another extension, or a file that cannot be written (named).
    """
    from .serialization import atomic_write  # here: reading provenance needs no torch

    path = Path(path)
    fmt = image_format(path)
    extra = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    extra.update(save_kwargs(fmt, info))
    atomic_write(path, lambda p: img.save(p, format=fmt, **extra))


def encode_png(img: Image.Image, info: dict[str, Any] | None) -> bytes:
    """``img`` as PNG bytes carrying ``info``: for the web server, which sends, not writes."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", **save_kwargs("PNG", info))
    return buf.getvalue()


# ---- reading back ---------------------------------------------------------------------------
READABLE = (".png", ".jpg", ".jpeg", ".webp", ".gif")  # what ``inspect`` looks at in a folder


def image_files(path: str | Path) -> list[Path]:
    """``path`` itself, or the images (``READABLE``) under a folder, recursively, in order.

    Raises:
        GanforgeError: no such path, or a folder with no image in it.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise GanforgeError(f"{path}: no such file or folder")
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in READABLE and p.is_file()
                   and not p.name.startswith("."))
    if not files:
        raise GanforgeError(f"{path}: no {'/'.join(x[1:] for x in READABLE)} images in this folder")
    return files


def read_provenance(path: str | Path) -> dict[str, Any]:
    """What an image file says about where it came from.

    Returns:
        ``{"file", "format", "record": the ganforge record or None, "digital_source_type": the
        IPTC source type found in any XMP (ours or another tool's) or None, "found_in": where
        the record was read (``png-text``, ``xmp``, ``gif-comment``)}``.
    Raises:
        GanforgeError: the file is missing or not an image Pillow can read.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            out = {"file": str(path), "format": im.format, **of_image(im)}
    except FileNotFoundError:
        raise GanforgeError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise GanforgeError(f"{path}: not an image ganforge can read ({str(e).splitlines()[0][:120]})"
                            ) from None
    return out


def of_image(im: Image.Image) -> dict[str, Any]:
    """``read_provenance``'s answer (less file and format) for an opened image."""
    meta = dict(im.info)
    if im.format == "PNG":
        meta.update(getattr(im, "text", {}) or {})  # text chunks after the image data too
    out: dict[str, Any] = {"record": None, "digital_source_type": None, "found_in": None}
    xmp = meta.get("xmp") or meta.get(XMP_PNG_KEY)
    if xmp:
        rec, source_type = _parse_xmp(xmp.encode("utf-8") if isinstance(xmp, str) else xmp)
        out["digital_source_type"] = source_type
        if rec is not None:
            out["record"], out["found_in"] = rec, "xmp"
    if isinstance(meta.get(PNG_KEY), str):
        rec = _json_record(meta[PNG_KEY])
        if rec is not None:
            out["record"], out["found_in"] = rec, "png-text"
    comment = meta.get("comment")
    if out["record"] is None and isinstance(comment, bytes) and comment.startswith(GIF_PREFIX.encode()):
        rec = _json_record(comment[len(GIF_PREFIX):].decode("utf-8", "replace"))
        if rec is not None:
            out["record"], out["found_in"] = rec, "gif-comment"
    if out["digital_source_type"] is None and out["record"] is not None:
        out["digital_source_type"] = out["record"].get("digital_source_type")
    return out


def _json_record(text: str) -> dict[str, Any] | None:
    try:
        rec = json.loads(text)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None


def _parse_xmp(data: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(the ganforge record, the IPTC DigitalSourceType) from an XMP packet; Nones if absent
    or unreadable. The source type may be an attribute or an element (both are valid RDF)."""
    start = data.find(b"<x:xmpmeta")
    end = data.rfind(b"</x:xmpmeta>")
    if start < 0 or end < 0 or end - start > 1 << 20:
        return None, None
    try:
        root = ET.fromstring(data[start : end + len(b"</x:xmpmeta>")])
    except ET.ParseError:
        return None, None
    rec, source_type = None, None
    key_rec, key_type = f"{{{GANFORGE_NS}}}record", f"{{{IPTC_EXT_NS}}}DigitalSourceType"
    for el in root.iter():
        if key_rec in el.attrib and rec is None:
            rec = _json_record(el.attrib[key_rec])
        if key_type in el.attrib and source_type is None:
            source_type = el.attrib[key_type]
        if el.tag == key_type and source_type is None:
            source_type = (el.text or "").strip() or el.attrib.get(
                "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}resource")
    return rec, source_type
