"""Small, distinct JPEGs as a tablet camera makes them: EXIF time (station time, with its
offset) and GPS position, so the server's evidence checks see a photo taken at the
meter during the work."""

from __future__ import annotations

import io
from datetime import datetime
from fractions import Fraction
from random import Random

from PIL import ExifTags, Image, ImageDraw

SIZE = (480, 360)


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    degrees = int(value)
    minutes_full = (value - degrees) * 60
    minutes = int(minutes_full)
    seconds = round((minutes_full - minutes) * 60, 4)
    return (float(degrees), float(minutes), float(Fraction(seconds).limit_denominator(10000)))


def camera_jpeg(rng: Random, taken_at: datetime, lat: float | None, lon: float | None, caption: str) -> bytes:
    """A 480×360 JPEG of a noisy 'meter face' with ``caption`` on it; ``taken_at`` must be aware."""
    image = Image.new("RGB", SIZE, (rng.randrange(40, 90), rng.randrange(40, 90), rng.randrange(40, 90)))
    draw = ImageDraw.Draw(image)
    for _ in range(120):  # texture, so every photo differs and compresses like a photo
        x, y = rng.randrange(SIZE[0]), rng.randrange(SIZE[1])
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.rectangle((x, y, x + rng.randrange(4, 40), y + rng.randrange(4, 40)), fill=colour)
    draw.rectangle((60, 120, 420, 220), fill=(230, 230, 220))
    draw.text((80, 160), caption[:48], fill=(0, 0, 0))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "fieldsync"
    exif[ExifTags.Base.Model] = "simulated tablet"
    photo = exif.get_ifd(ExifTags.IFD.Exif)
    photo[ExifTags.Base.DateTimeOriginal] = taken_at.strftime("%Y:%m:%d %H:%M:%S")
    offset = taken_at.strftime("%z")
    photo[ExifTags.Base.OffsetTimeOriginal] = f"{offset[:3]}:{offset[3:]}"
    if lat is not None and lon is not None:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps[ExifTags.GPS.GPSLatitudeRef] = "N" if lat >= 0 else "S"
        gps[ExifTags.GPS.GPSLatitude] = _dms(lat)
        gps[ExifTags.GPS.GPSLongitudeRef] = "E" if lon >= 0 else "W"
        gps[ExifTags.GPS.GPSLongitude] = _dms(lon)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85, exif=exif)
    return out.getvalue()
