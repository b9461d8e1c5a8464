"""Pillow checks for uploaded photos, and their thumbnails.

Only whole JPEG and PNG files within the size limits are accepted. The format
is sniffed from the first bytes (the client's Content-Type is not trusted) and
the file is opened with that one format's Pillow plugin, which reads only the
header. The pixel limit is then checked against the header's size before a
single pixel is decoded. Going through the plugin also skips Pillow's global
decompression-bomb check, which merely warns in a band of sizes: here every
image over the limit is an error, whatever PIL.Image.MAX_IMAGE_PIXELS says.
"""

from __future__ import annotations

import math
import mmap
import os
import re
import struct
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from PIL import ExifTags, Image, ImageFile, ImageOps, JpegImagePlugin, PngImagePlugin

THUMBNAIL_LONG_SIDE = 1024
DEFAULT_MAX_PIXELS = 50_000_000

_FORMATS = {
    "JPEG": ("image/jpeg", JpegImagePlugin.JpegImageFile),
    "PNG": ("image/png", PngImagePlugin.PngImageFile),
}
_MAGIC = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG"}
# Named only to make the refusal message useful.
_OTHER_MAGIC = {
    b"II*\x00": "a TIFF image",
    b"MM\x00*": "a TIFF image",
    b"8BPS": "a Photoshop document",
    b"GIF8": "a GIF image",
    b"BM": "a BMP image",
    b"%PDF": "a PDF document",
}
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, Image.DecompressionBombError)
_EXIF_DATE = "%Y:%m:%d %H:%M:%S"
_EXIF_OFFSET = re.compile(r"([+-])(\d\d):(\d\d)")


class ImageRejected(Exception):
    """A photo the server will not keep; the message tells the user what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedImage(ImageRejected):
    pass


class CorruptImage(ImageRejected):
    pass


class ImageTooLarge(ImageRejected):
    pass


@dataclass(frozen=True)
class ImageInfo:
    content_type: str
    width: int  # as stored, before the EXIF orientation is applied
    height: int
    taken_at: datetime | None  # always aware
    lat: float | None
    lon: float | None
    orientation: int | None  # EXIF orientation 1-8


def inspect_image(path: Path, max_pixels: int, max_bytes: int, station_tz: str) -> ImageInfo:
    """Check a whole photo and read what the evidence checks need from it.

    An EXIF time without an offset is read as station time (`station_tz`, an IANA name).
    """
    size = os.path.getsize(path)
    if size > max_bytes:
        raise ImageTooLarge(
            f"The photo is {_mib(size)} MiB; the limit is {_mib(max_bytes)} MiB. "
            "Take it again at a lower resolution or quality."
        )
    with _open_allowed(path, max_pixels) as im:
        _decode(im)
        if im.format == "PNG" and not _has_png_end(path):
            raise _corrupt()
        exif = _read_exif(im)
        return ImageInfo(
            content_type=_FORMATS[im.format][0],
            width=im.width,
            height=im.height,
            taken_at=_taken_at(exif, ZoneInfo(station_tz)),
            lat=_coordinate(exif, ExifTags.GPS.GPSLatitude, ExifTags.GPS.GPSLatitudeRef, "N", "S", 90),
            lon=_coordinate(exif, ExifTags.GPS.GPSLongitude, ExifTags.GPS.GPSLongitudeRef, "E", "W", 180),
            orientation=_orientation(exif),
        )


def make_thumbnail(
    path: Path, out: Path | IO[bytes], max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[int, int]:
    """Write a JPEG, upright, without EXIF, long side at most 1,024 px; return its size."""
    with _open_allowed(path, max_pixels) as im:
        if im.format == "JPEG":
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the photo is much larger.
            im.draft("RGB", (THUMBNAIL_LONG_SIDE, THUMBNAIL_LONG_SIDE))
        _decode(im)
        icc_profile = im.info.get("icc_profile")
        im.thumbnail((THUMBNAIL_LONG_SIDE, THUMBNAIL_LONG_SIDE))
        upright = _to_rgb(ImageOps.exif_transpose(im))
        # No exif= argument: the thumbnail carries no camera metadata, only the colour profile.
        upright.save(out, "JPEG", quality=85, icc_profile=icc_profile)
        return upright.size


def _open_allowed(path: Path, max_pixels: int) -> ImageFile.ImageFile:
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Something in the process switched on lenient decoding; truncated evidence must not pass.
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is set; refusing to check photos")
    with open(path, "rb") as f:
        head = f.read(16)
    fmt = _sniff(head)
    try:
        im = _FORMATS[fmt][1](path)
    except _DECODE_ERRORS as exc:
        raise _corrupt() from exc
    width, height = im.size
    if width * height > max_pixels:
        im.close()
        raise ImageTooLarge(
            f"The photo is {width}×{height} pixels ({width * height / 1e6:.1f} megapixels); "
            f"the limit is {max_pixels / 1e6:g} megapixels. Set the camera to a lower resolution and take it again."
        )
    return im


def _sniff(head: bytes) -> str:
    for magic, fmt in _MAGIC.items():
        if head.startswith(magic):
            return fmt
    raise UnsupportedImage(
        f"The file is {_describe(head)}, not a JPEG or PNG photo. "
        "Send the photo as the camera saved it, in JPEG (or PNG)."
    )


def _describe(head: bytes) -> str:
    for magic, name in _OTHER_MAGIC.items():
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    if head[4:8] == b"ftyp":
        return "a HEIC/HEIF or video file"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return "text (SVG, HTML or XML)"
    return "of an unknown kind"


def _decode(im: ImageFile.ImageFile) -> None:
    try:
        im.load()
    except _DECODE_ERRORS as exc:
        raise _corrupt() from exc


def _has_png_end(path: Path) -> bool:
    # Pillow accepts a PNG cut off right after its pixel data; a whole file ends with IEND.
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return data.rfind(_PNG_END) != -1


def _corrupt() -> CorruptImage:
    return CorruptImage(
        "The photo could not be read to the end: it is truncated or damaged. "
        "Send the original file from the tablet again."
    )


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}"


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in ("RGB", "L"):
        return im
    if im.mode.startswith("I"):
        # 16-bit greyscale: keep the high byte rather than clipping everything to white.
        return im.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if im.has_transparency_data:
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


@dataclass(frozen=True)
class _Exif:
    main: dict[int, Any]
    photo: dict[int, Any]
    gps: dict[int, Any]


def _read_exif(im: Image.Image) -> _Exif:
    # Broken metadata costs the photo its metadata, not its acceptance.
    try:
        exif = im.getexif()
        return _Exif(dict(exif), dict(exif.get_ifd(ExifTags.IFD.Exif)), dict(exif.get_ifd(ExifTags.IFD.GPSInfo)))
    except (*_DECODE_ERRORS, KeyError, TypeError, IndexError):
        return _Exif({}, {}, {})


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return value.strip("\x00 ") if isinstance(value, str) else None


def _taken_at(exif: _Exif, station_tz: ZoneInfo) -> datetime | None:
    text = _text(exif.photo.get(ExifTags.Base.DateTimeOriginal))
    if not text:
        return None
    try:
        local = datetime.strptime(text, _EXIF_DATE)
    except ValueError:
        return None  # includes the "0000:00:00 00:00:00" some cameras write when unset
    return local.replace(tzinfo=_offset(exif.photo.get(ExifTags.Base.OffsetTimeOriginal)) or station_tz)


def _offset(value: Any) -> timezone | None:
    match = _EXIF_OFFSET.fullmatch(_text(value) or "")
    if not match:
        return None
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    if delta >= timedelta(hours=24):
        return None
    return timezone(-delta if sign == "-" else delta)


def _coordinate(exif: _Exif, tag: int, ref_tag: int, positive: str, negative: str, bound: float) -> float | None:
    value, ref = exif.gps.get(tag), _text(exif.gps.get(ref_tag))
    if ref not in (positive, negative) or not isinstance(value, tuple) or not 1 <= len(value) <= 3:
        return None
    try:
        degrees = sum(float(part) / 60**i for i, part in enumerate(value))
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not math.isfinite(degrees) or not 0 <= degrees <= bound:
        return None
    return -degrees if ref == negative else degrees


def _orientation(exif: _Exif) -> int | None:
    value = exif.main.get(ExifTags.Base.Orientation)
    return value if isinstance(value, int) and 1 <= value <= 8 else None
