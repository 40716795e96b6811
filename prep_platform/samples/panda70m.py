"""The embedded Panda-70M sample: a CSV in the official format (with two malformed rows) and four downloaded
clips in the official downloader's two shard layouts (two in a `files` folder `00000/`, two in a `webdataset` tar
`00001.tar`), so the demo exercises the subset and the ingest of both."""

from __future__ import annotations

import csv
import io
import json
import tarfile
from fractions import Fraction
from pathlib import Path

from prep_platform.lib.files.atomic import write_bytes_atomic, write_text_atomic
from prep_platform.lib.sources.panda70m import CSV_COLUMNS
from prep_platform.samples.msr_vtt import SCENARIO_PHRASES, SampleClip, encode_clip

SAMPLE_CSV = "panda70m_sample.csv"
SAMPLE_VERSION = "2"


def webdataset_tar(members: list[tuple[str, bytes]]) -> bytes:
    """A tar as video2dataset's webdataset writer lays it out: `<key>.mp4`, `<key>.txt`, `<key>.json`, in order."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _rows() -> list[list[str]]:
    rows = []
    labels = ["desirable", "desirable", "desirable", "2_tiny_camera_movement"]
    for index in range(16):
        scenario = ("urban", "nature", "transport", "crowd")[index % 4]
        phrases = SCENARIO_PHRASES[scenario]
        stamps = [[f"0:00:{10 * k:02d}.000", f"0:00:{10 * k + 8:02d}.500"] for k in range(3)]
        rows.append([
            f"sample{index:04d}_yt", f"https://www.youtube.com/watch?v=sample{index:04d}_yt", repr(stamps),
            repr([phrases[(index + k) % len(phrases)] for k in range(3)]),
            repr([round(0.3 + 0.05 * ((index + k) % 5), 3) for k in range(3)]),
            repr([labels[(index + k) % 4] for k in range(3)]), "[]",
        ])
    rows.append(["broken0001_yt", "https://www.youtube.com/watch?v=broken0001_yt", "[['0:00:01.000', '0:00:09.000'",
                 "['a truncated list']", "[0.5]", "['desirable']", "[]"])
    rows.append(["broken0002_yt", "https://www.youtube.com/watch?v=broken0002_yt", "[['0:00:01.000', '0:00:09.000']]",
                 "['one caption', 'two captions']", "[0.5]", "['desirable']", "[]"])
    return rows


def generate_panda_sample(folder: Path | str) -> Path:
    folder = Path(folder)
    stamp = folder / ".sample-version"
    if stamp.exists() and stamp.read_text().strip() == SAMPLE_VERSION:
        return folder
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_rows())
    write_text_atomic(folder / SAMPLE_CSV, buffer.getvalue())
    tar_members: list[tuple[str, bytes]] = []
    for index, scenario in enumerate(("urban", "nature", "transport", "crowd")):
        key = f"00000{index:04d}"
        caption = SCENARIO_PHRASES[scenario][index % 5]
        files = {
            ".mp4": encode_clip(SampleClip(key, scenario, "train", 8.5, Fraction(30)), 200 + index),
            ".txt": (caption + "\n").encode(),
            ".json": json.dumps({
                "key": key, "status": "success", "url": f"https://www.youtube.com/watch?v=sample{index:04d}_yt",
                "caption": caption, "matching_score": 0.45, "desirable_filtering": "desirable",
                "clips": [["0:00:00.000", "0:00:08.500"]],
            }).encode(),
        }
        if index < 2:
            for suffix, data in files.items():
                write_bytes_atomic(folder / "shards" / "00000" / f"{key}{suffix}", data)
        else:
            tar_members += [(f"{key}{suffix}", data) for suffix, data in files.items()]
    write_bytes_atomic(folder / "shards" / "00001.tar", webdataset_tar(tar_members))
    write_text_atomic(stamp, SAMPLE_VERSION + "\n")
    return folder
