"""Photo checks and thumbnails, on images made here with Pillow."""

from __future__ import annotations

import io
import struct
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, ImageFile, JpegImagePlugin
from PIL.TiffImagePlugin import IFDRational

from photo_store.images import (
    CorruptImage,
    ImageTooLarge,
    UnsupportedImage,
    inspect_image,
    make_thumbnail,
)

MAX_PIXELS = 50_000_000
MAX_BYTES = 20 * 1024 * 1024
SHANGHAI = "Asia/Shanghai"
RED, BLUE = (255, 0, 0), (0, 0, 255)


def inspect(path: Path, station_tz: str = SHANGHAI, max_pixels: int = MAX_PIXELS, max_bytes: int = MAX_BYTES):
    return inspect_image(path, max_pixels, max_bytes, station_tz)


def exif_with(
    taken: str | None = None,
    offset: str | None = None,
    gps: tuple[str, tuple[float, ...], str, tuple[float, ...]] | None = None,
    orientation: int | None = None,
) -> Image.Exif:
    exif = Image.Exif()
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    photo = exif.get_ifd(ExifTags.IFD.Exif)
    if taken is not None:
        photo[ExifTags.Base.DateTimeOriginal] = taken
    if offset is not None:
        photo[ExifTags.Base.OffsetTimeOriginal] = offset
    if gps is not None:
        lat_ref, lat, lon_ref, lon = gps
        gps_ifd = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps_ifd[ExifTags.GPS.GPSLatitudeRef] = lat_ref
        gps_ifd[ExifTags.GPS.GPSLatitude] = tuple(IFDRational(v) for v in lat)
        gps_ifd[ExifTags.GPS.GPSLongitudeRef] = lon_ref
        gps_ifd[ExifTags.GPS.GPSLongitude] = tuple(IFDRational(v) for v in lon)
    return exif


def save(path: Path, image: Image.Image, fmt: str, **options) -> Path:
    image.save(path, fmt, **options)
    return path


def jpeg(tmp_path: Path, size=(640, 480), exif: Image.Exif | None = None, name="photo.jpg") -> Path:
    options = {"exif": exif} if exif is not None else {}
    return save(tmp_path / name, Image.new("RGB", size, (90, 140, 60)), "JPEG", **options)


def halves(size: tuple[int, int]) -> Image.Image:
    """Left half red, right half blue: shows which way an image was turned."""
    image = Image.new("RGB", size, BLUE)
    image.paste(RED, (0, 0, size[0] // 2, size[1]))
    return image


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(path: Path, side: int = 30_000) -> Path:
    """A 1-bit greyscale PNG whose header claims side×side pixels, with the first rows of zeros.

    A whole one would still be ~110 KB (deflate tops out near 1000:1); the
    header is what a limit must catch, and a decoder would fail on the short
    data, so refusing it as too large shows the header was judged first.
    """
    row = b"\x00" + bytes((side + 7) // 8)
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    data = zlib.compress(row * 2_000, 9)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")
    )
    return path


def has_exif_segment(data: bytes) -> bool:
    return b"Exif\x00\x00" in data


# --- what is accepted and what is read from it ---


def test_jpeg_gives_size_time_place_and_orientation(tmp_path: Path) -> None:
    gps = ("N", (31, 14, 30), "E", (121, 28, 12))
    path = jpeg(tmp_path, (640, 480), exif_with("2026:03:01 10:20:30", gps=gps, orientation=1))

    info = inspect(path)

    assert (info.content_type, info.width, info.height, info.orientation) == ("image/jpeg", 640, 480, 1)
    assert info.taken_at == datetime(2026, 3, 1, 2, 20, 30, tzinfo=timezone.utc)
    assert info.lat == pytest.approx(31 + 14 / 60 + 30 / 3600)
    assert info.lon == pytest.approx(121 + 28 / 60 + 12 / 3600)


def test_southern_and_western_coordinates_are_negative(tmp_path: Path) -> None:
    path = jpeg(tmp_path, exif=exif_with(gps=("S", (33, 52, 0), "W", (70, 40, 0))))

    info = inspect(path)

    assert info.lat == pytest.approx(-(33 + 52 / 60))
    assert info.lon == pytest.approx(-(70 + 40 / 60))


def test_exif_time_without_offset_is_read_in_the_given_station_time_zone(tmp_path: Path) -> None:
    path = jpeg(tmp_path, exif=exif_with("2026:07:01 12:00:00"))

    assert inspect(path, station_tz="Asia/Shanghai").taken_at.utcoffset() == timedelta(hours=8)
    assert inspect(path, station_tz="Europe/Berlin").taken_at.utcoffset() == timedelta(hours=2)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(quarter_hours=st.integers(min_value=-12 * 4, max_value=14 * 4))
def test_exif_offset_time_wins_over_the_station_time_zone(tmp_path: Path, quarter_hours: int) -> None:
    offset = timedelta(minutes=15 * quarter_hours)
    sign = "-" if offset < timedelta(0) else "+"
    hours, minutes = divmod(abs(quarter_hours) * 15, 60)
    path = jpeg(tmp_path, (16, 16), exif_with("2026:03:01 10:20:30", offset=f"{sign}{hours:02d}:{minutes:02d}"))

    taken_at = inspect(path).taken_at

    assert taken_at == datetime(2026, 3, 1, 10, 20, 30, tzinfo=timezone(offset))
    assert taken_at.utcoffset() == offset


def test_unset_or_garbled_exif_time_is_no_time(tmp_path: Path) -> None:
    unset = jpeg(tmp_path, exif=exif_with("0000:00:00 00:00:00"), name="unset.jpg")
    garbled = jpeg(tmp_path, exif=exif_with("yesterday"), name="garbled.jpg")

    assert inspect(unset).taken_at is None
    assert inspect(garbled).taken_at is None


def test_png_without_metadata_is_accepted_with_empty_metadata(tmp_path: Path) -> None:
    path = save(tmp_path / "photo.png", Image.new("RGB", (300, 200), "white"), "PNG")

    info = inspect(path)

    assert (info.content_type, info.width, info.height) == ("image/png", 300, 200)
    assert (info.taken_at, info.lat, info.lon, info.orientation) == (None, None, None, None)


def test_content_type_comes_from_the_bytes_not_the_file_name(tmp_path: Path) -> None:
    path = jpeg(tmp_path, name="photo.png")

    assert inspect(path).content_type == "image/jpeg"


def test_orientation_is_reported_and_size_is_as_stored(tmp_path: Path) -> None:
    path = jpeg(tmp_path, (400, 200), exif_with(orientation=6))

    info = inspect(path)

    assert (info.width, info.height, info.orientation) == (400, 200, 6)


# --- what is refused ---


@pytest.mark.parametrize(
    ("fmt", "named"),
    [("TIFF", "TIFF"), ("GIF", "GIF"), ("WEBP", "WebP"), ("BMP", "BMP")],
)
def test_other_image_formats_are_unsupported_and_named(tmp_path: Path, fmt: str, named: str) -> None:
    path = save(tmp_path / "photo.jpg", Image.new("RGB", (50, 50), "white"), fmt)

    with pytest.raises(UnsupportedImage, match=named):
        inspect(path)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"8BPS\x00\x01" + bytes(20), id="psd"),
        pytest.param(b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', id="svg"),
        pytest.param(b"<!DOCTYPE html><html><body>hi</body></html>", id="html"),
        pytest.param(b"\xef\xbb\xbf  <svg></svg>", id="svg-with-bom"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff\xd8", id="two-byte-jpeg-start"),
    ],
)
def test_non_images_are_unsupported(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(content)

    with pytest.raises(UnsupportedImage, match="JPEG or PNG"):
        inspect(path)


@pytest.mark.filterwarnings("error")
def test_png_bomb_is_too_large_from_its_header_without_a_warning(tmp_path: Path) -> None:
    path = png_bomb(tmp_path / "bomb.png")
    assert path.stat().st_size < 8_000

    with pytest.raises(ImageTooLarge, match="30000×30000"):
        inspect(path)
    with pytest.raises(ImageTooLarge):
        make_thumbnail(path, tmp_path / "thumb.jpg")


def test_pixel_limit_is_inclusive(tmp_path: Path) -> None:
    path = jpeg(tmp_path, (100, 100))

    assert inspect(path, max_pixels=10_000).width == 100
    with pytest.raises(ImageTooLarge, match="megapixels"):
        inspect(path, max_pixels=9_999)


def test_byte_limit_is_inclusive(tmp_path: Path) -> None:
    path = jpeg(tmp_path)
    size = path.stat().st_size

    assert inspect(path, max_bytes=size).content_type == "image/jpeg"
    with pytest.raises(ImageTooLarge, match="MiB"):
        inspect(path, max_bytes=size - 1)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_image_is_corrupt(tmp_path: Path, fmt: str) -> None:
    whole = io.BytesIO()
    Image.effect_noise((400, 300), 64).convert("RGB").save(whole, fmt)
    path = tmp_path / "photo"
    path.write_bytes(whole.getvalue()[: len(whole.getvalue()) * 2 // 3])

    with pytest.raises(CorruptImage, match="truncated"):
        inspect(path)


def test_png_cut_off_after_its_pixels_is_corrupt(tmp_path: Path) -> None:
    whole = io.BytesIO()
    Image.new("RGB", (50, 50), "white").save(whole, "PNG")
    path = tmp_path / "photo.png"
    path.write_bytes(whole.getvalue()[: -len(png_chunk(b"IEND", b""))])

    with pytest.raises(CorruptImage):
        inspect(path)


def test_jpeg_with_broken_header_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + bytes(64))

    with pytest.raises(CorruptImage):
        inspect(path)


def test_truncated_photos_are_refused_even_if_lenient_loading_was_switched_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)

    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        inspect(jpeg(tmp_path))


# --- thumbnails ---


def test_thumbnail_of_a_large_jpeg_has_long_side_1024_and_keeps_the_shape(tmp_path: Path) -> None:
    out = tmp_path / "thumb.jpg"

    size = make_thumbnail(jpeg(tmp_path, (3000, 2000)), out)

    with Image.open(out) as thumb:
        assert thumb.format == "JPEG"
        assert thumb.size == size == (1024, 683)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    width=st.integers(min_value=1, max_value=2600),
    height=st.integers(min_value=1, max_value=2600),
    fmt=st.sampled_from(["JPEG", "PNG"]),
)
def test_thumbnail_long_side_is_at_most_1024_and_never_enlarged(
    tmp_path: Path, width: int, height: int, fmt: str
) -> None:
    path = save(tmp_path / "photo", Image.new("RGB", (width, height), "grey"), fmt)
    out = io.BytesIO()

    make_thumbnail(path, out)

    with Image.open(io.BytesIO(out.getvalue())) as thumb:
        long_side = max(thumb.size)
        assert long_side == min(1024, max(width, height))
        # The shape survives up to rounding to whole pixels.
        scale = long_side / max(width, height)
        assert abs(thumb.width - width * scale) <= 1 and abs(thumb.height - height * scale) <= 1


def test_thumbnail_is_turned_upright_by_exif_orientation(tmp_path: Path) -> None:
    # Orientation 6: the camera was turned a quarter clockwise, so the stored left side is the top.
    path = save(tmp_path / "photo.jpg", halves((400, 200)), "JPEG", exif=exif_with(orientation=6))
    out = tmp_path / "thumb.jpg"

    make_thumbnail(path, out)

    with Image.open(out) as thumb:
        assert thumb.size == (200, 400)
        top, bottom = thumb.getpixel((100, 50)), thumb.getpixel((100, 350))
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60


def test_thumbnail_carries_no_exif(tmp_path: Path) -> None:
    gps = ("N", (31, 14, 30), "E", (121, 28, 12))
    source = jpeg(tmp_path, (800, 600), exif_with("2026:03:01 10:20:30", gps=gps, orientation=3))
    assert has_exif_segment(source.read_bytes())
    out = tmp_path / "thumb.jpg"

    make_thumbnail(source, out)

    assert not has_exif_segment(out.read_bytes())
    with Image.open(out) as thumb:
        assert len(thumb.getexif()) == 0


def test_large_jpeg_is_decoded_at_reduced_scale_for_the_thumbnail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = jpeg(tmp_path, (4096, 3072))
    sizes_at_decode: list[tuple[int, int]] = []
    original_load = JpegImagePlugin.JpegImageFile.load

    def recording_load(self):
        sizes_at_decode.append(self.size)
        return original_load(self)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", recording_load)

    make_thumbnail(path, tmp_path / "thumb.jpg")

    assert sizes_at_decode and max(max(size) for size in sizes_at_decode) <= 2048


def test_thumbnail_of_transparent_png_has_white_background(tmp_path: Path) -> None:
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (50, 0, 100, 100))
    out = tmp_path / "thumb.jpg"

    make_thumbnail(save(tmp_path / "photo.png", image, "PNG"), out)

    with Image.open(out) as thumb:
        assert thumb.mode == "RGB"
        assert min(thumb.getpixel((10, 50))) > 240
        assert thumb.getpixel((90, 50))[0] > 200


def test_thumbnail_of_16_bit_greyscale_png_keeps_its_tones(tmp_path: Path) -> None:
    path = save(tmp_path / "photo.png", Image.new("I;16", (64, 64), 32768), "PNG")
    out = tmp_path / "thumb.jpg"

    make_thumbnail(path, out)

    with Image.open(out) as thumb:
        assert 110 <= thumb.convert("L").getpixel((32, 32)) <= 145


def test_thumbnail_of_truncated_jpeg_is_refused(tmp_path: Path) -> None:
    whole = io.BytesIO()
    Image.effect_noise((1200, 900), 64).convert("RGB").save(whole, "JPEG")
    data = whole.getvalue()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(CorruptImage):
        make_thumbnail(path, tmp_path / "thumb.jpg")
