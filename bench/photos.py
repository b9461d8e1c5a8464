"""How fast the server takes camera photos over HTTP, against hashing and writing the same bytes to disk.

Makes camera-like JPEGs of about --photo-mb MB (noise over a gradient, the
size a 10-12 MP phone camera writes, each with its own EXIF time, position
and unique id, so each is another photo), starts the real server
(``fieldsync serve``, SQLite and photos under a temporary data directory)
on a free loopback port, logs a reader in, and then:

- uploads --photos photos with ``PUT /api/v1/photos/{sha256}`` from
  --concurrency clients at once: photos per second over the whole run
  (each is streamed to disk, hashed, fully decoded and stored by the server);
- the raw baseline, in the same run: the same bytes hashed and written to
  files with fsync, from the same number of threads;
- --at-once further photos sent all at the same moment, while the server's
  peak resident memory (VmHWM, reset before when the kernel allows) is read.

The figure to compare across machines is the ratio HTTP ÷ raw.

    .venv/bin/python bench/photos.py [--photos 40] [--concurrency 4] [--at-once 20] [--photo-mb 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import struct
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import httpx
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

from server.db import migrate
from server.db.engine import Database
from server.services import identity
from server.serve_process import ServeProcess
from server.settings import Settings

PASSWORD = "bench-photos-password"
READER = "bench-reader"
DEVICE = "bench-tablet"
JPEG_QUALITY = 85
NOISE_SIGMA = 30
SAMPLE_SIZE = (400, 300)
REQUEST_TIMEOUT_S = 300
MIB = 1024 * 1024


# --- photos ------------------------------------------------------------------------------------------


def _noisy(size: tuple[int, int]) -> Image.Image:
    """Sensor-like noise over a smooth gradient: compresses about as a real photo does."""
    noise = Image.merge("RGB", [Image.effect_noise(size, NOISE_SIGMA) for _ in range(3)])
    gradient = Image.linear_gradient("L").resize(size).convert("RGB")
    return Image.blend(gradient, noise, 0.5)


def _encode(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def base_jpeg(target_bytes: int) -> bytes:
    """One 4:3 JPEG of about ``target_bytes``, sized from the bytes per pixel of a small sample."""
    per_pixel = len(_encode(_noisy(SAMPLE_SIZE))) / (SAMPLE_SIZE[0] * SAMPLE_SIZE[1])
    width = max(16, round(math.sqrt(target_bytes / per_pixel * 4 / 3)))
    return _encode(_noisy((width, width * 3 // 4)))


def _exif_segment(index: int, taken: datetime) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "fieldsync bench"
    photo = exif.get_ifd(ExifTags.IFD.Exif)
    photo[ExifTags.Base.DateTimeOriginal] = taken.strftime("%Y:%m:%d %H:%M:%S")
    photo[ExifTags.Base.OffsetTimeOriginal] = "+08:00"
    photo[ExifTags.Base.ImageUniqueID] = f"{index:032x}"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef], gps[ExifTags.GPS.GPSLatitude] = "N", (IFDRational(30), IFDRational(6), IFDRational(0))
    gps[ExifTags.GPS.GPSLongitudeRef], gps[ExifTags.GPS.GPSLongitude] = "E", (IFDRational(120), IFDRational(12), IFDRational(0))
    payload = exif.tobytes()
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def camera_photos(count: int, target_bytes: int) -> list[bytes]:
    """``count`` distinct photos: the same pixels, each with its own EXIF segment after the start marker."""
    base = base_jpeg(target_bytes)
    taken = datetime.now(timezone(timedelta(hours=8)))
    return [base[:2] + _exif_segment(i, taken + timedelta(seconds=i)) + base[2:] for i in range(count)]


# --- the server and its clients --------------------------------------------------------------------


def prepare(data_dir: Path) -> Settings:
    settings = Settings(data_dir=data_dir)
    db = Database(settings.database_url)
    migrate.upgrade(db)
    identity.add_user(db, READER, "Bench Reader", ["reader"], PASSWORD, actor="bench")
    db.dispose()
    return settings


def log_in(client: httpx.Client) -> None:
    res = client.post("/api/v1/auth/login", json={"username": READER, "password": PASSWORD, "device_id": DEVICE,
                                                  "app_version": "bench", "schema_version": 1})
    res.raise_for_status()
    client.headers["Authorization"] = f"Bearer {res.json()['token']}"


def put(client: httpx.Client, data: bytes) -> int:
    res = client.put(f"/api/v1/photos/{hashlib.sha256(data).hexdigest()}", content=data,
                     headers={"Content-Type": "image/jpeg"})
    return res.status_code


def timed_in_threads(work: list[bytes], threads: int, each: Callable[[bytes], Any]) -> tuple[float, list[Any]]:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(each, work))
    return time.perf_counter() - started, results


def all_at_once(work: list[bytes], each: Callable[[bytes], Any]) -> tuple[float, list[Any]]:
    """Every item in its own thread, released together."""
    gate = threading.Barrier(len(work) + 1)
    results: list[Any] = [None] * len(work)

    def run(i: int) -> None:
        gate.wait()
        results[i] = each(work[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for t in threads:
        t.start()
    gate.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - started, results


def hash_and_write(folder: Path) -> Callable[[bytes], None]:
    """The raw baseline for one photo: its SHA-256, the bytes in a new file, fsync."""
    def run(data: bytes) -> None:
        hashlib.sha256(data).hexdigest()
        with open(folder / uuid.uuid4().hex, "xb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    return run


def memory_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def reset_peak_memory(pid: int) -> bool:
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+), so the peak read after is this phase's.
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


# --- the run -------------------------------------------------------------------------------------


def measure(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    photos = camera_photos(args.photos + args.at_once, int(args.photo_mb * MIB))
    timed, at_once = photos[:args.photos], photos[args.photos:]
    settings = prepare(data_dir)
    raw_dir = data_dir / "raw"
    raw_dir.mkdir()
    raw_s, _ = timed_in_threads(timed, args.concurrency, hash_and_write(raw_dir))
    server = ServeProcess(settings.database_url, settings.data_dir)
    limits = httpx.Limits(max_connections=args.at_once + args.concurrency)
    with server, httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT_S, limits=limits) as client:
        log_in(client)
        pid = server.pid
        http_s, statuses = timed_in_threads(timed, args.concurrency, lambda data: put(client, data))
        idle = memory_kb(pid)
        peak_reset = reset_peak_memory(pid)
        at_once_s, at_once_statuses = all_at_once(at_once, lambda data: put(client, data))
        after = memory_kb(pid)
    total_mb = sum(map(len, timed)) / MIB
    return {
        "photos": len(timed), "photo_mb": round(total_mb / len(timed), 2), "concurrency": args.concurrency,
        "http_s": round(http_s, 3), "http_photos_per_s": round(len(timed) / http_s, 2),
        "http_mb_per_s": round(total_mb / http_s, 1),
        "raw_s": round(raw_s, 3), "raw_photos_per_s": round(len(timed) / raw_s, 2),
        "raw_mb_per_s": round(total_mb / raw_s, 1),
        "ratio": round(raw_s / http_s, 3),
        "statuses": {str(code): statuses.count(code) for code in sorted(set(statuses))},
        "at_once": len(at_once), "at_once_s": round(at_once_s, 3),
        "at_once_statuses": {str(code): at_once_statuses.count(code) for code in sorted(set(at_once_statuses))},
        "rss_before_at_once_mb": round(idle["VmRSS"] / 1024, 1),
        "peak_rss_mb": round(after["VmHWM"] / 1024, 1),
        "peak_is_of_the_at_once_phase": peak_reset,
    }


def print_table(f: dict[str, Any]) -> None:
    print(f"{f['photos']} photos of {f['photo_mb']} MB, {f['concurrency']} clients at once")
    print(f"  HTTP PUT (stream, hash, decode, store)  {f['http_photos_per_s']:>8} photos/s  {f['http_mb_per_s']:>7} MB/s")
    print(f"  raw (hash, write, fsync)                {f['raw_photos_per_s']:>8} photos/s  {f['raw_mb_per_s']:>7} MB/s")
    print(f"  ratio HTTP / raw                        {f['ratio']:>8}")
    scope = "during" if f["peak_is_of_the_at_once_phase"] else "up to the end of"
    print(f"{f['at_once']} photos sent at the same moment: {f['at_once_s']} s; server peak RSS {scope} them "
          f"{f['peak_rss_mb']} MB (RSS before: {f['rss_before_at_once_mb']} MB)")
    print(f"answers: {f['statuses']}, at once: {f['at_once_statuses']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=40, help="photos in the timed run")
    parser.add_argument("--concurrency", type=int, default=4, help="clients uploading at once in the timed run")
    parser.add_argument("--at-once", type=int, default=20, help="photos sent at the same moment for the memory peak")
    parser.add_argument("--photo-mb", type=float, default=3.0, help="size of each photo")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if min(args.photos, args.concurrency, args.at_once) < 1 or args.photo_mb <= 0:
        parser.error("counts must be at least 1 and --photo-mb positive")
    with tempfile.TemporaryDirectory(prefix="fieldsync-bench-photos-") as tmp:
        figures = measure(args, Path(tmp))
    print_table(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    every_answer = {**figures["statuses"], **figures["at_once_statuses"]}
    return 0 if set(every_answer) == {"201"} else 1


if __name__ == "__main__":
    sys.exit(main())
