"""The embedded VATEX sample: a validation annotation in the real format (videoID, 10 enCap, 10 chCap) and a
partial video mirror (some clips missing, one corrupt), generated deterministically."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

from prep_platform.lib.files.atomic import write_bytes_atomic, write_text_atomic
from prep_platform.samples.msr_vtt import SampleClip, encode_clip

SAMPLE_VERSION = "2"
ANNOTATION_FILE = "vatex_validation_v1.0.json"

# (youtube id, scenario, in the mirror?, corrupt?) — ids keep VATEX's quirks: underscores and dashes inside.
_CLIPS = [
    ("nJ6K_PT1uwe8", "press_room", True, False),
    ("a-Zq3_x_9kLm", "urban", True, False),
    ("Qw9_rT2yU3iO", "nature", True, False),
    ("pL0-kJ8hG7fD", "transport", True, False),
    ("Zx5_cV4bN3mA", "crowd", True, False),
    ("sD2fG_6hJ8kL", "urban", False, False),
    ("mN7bV-6cX5zQ", "nature", True, False),
    ("wE3rT4yU_5iO", "transport", True, True),
    ("hG6fD5sA4_qW", "none_cooking", True, False),
    ("kL9jH8g_F7dS", "crowd", True, False),
]
_ZH = {
    "press_room": ["一名男子在新闻发布会上讲话", "记者们在会议室里提问", "一位发言人站在讲台后面发言"],
    "urban": ["人们走在繁忙的城市街道上", "城市里有很多高楼大厦", "一个人走过城市的人行道"],
    "nature": ["瀑布流入森林中的河流", "远处是山和湖", "海浪拍打着沙滩"],
    "transport": ["一辆红色汽车在高速公路上行驶", "火车驶入车站", "一架飞机从跑道上起飞"],
    "crowd": ["一大群人在音乐会上欢呼", "人群聚集在广场上", "球迷们在体育场里挥舞旗帜"],
    "none_cooking": ["一个女人在厨房里做意大利面", "有人在切洋葱", "厨师在搅拌一锅汤"],
}


def _english(scenario: str, index: int) -> list[str]:
    from prep_platform.samples.msr_vtt import NEUTRAL_CAPTIONS, SCENARIO_PHRASES

    own = SCENARIO_PHRASES[scenario]
    return [own[(index + k) % len(own)] if k % 3 != 1 else NEUTRAL_CAPTIONS[(index + k) % len(NEUTRAL_CAPTIONS)] for k in range(10)]


def generate_vatex_sample(dest: Path | str) -> Path:
    dest = Path(dest)
    stamp = dest / ".sample-version"
    if stamp.exists() and stamp.read_text().strip() == SAMPLE_VERSION:
        return dest
    entries = []
    for index, (youtube_id, scenario, mirrored, corrupt) in enumerate(_CLIPS):
        start = 10 * index + 7
        video_id = f"{youtube_id}_{start:06d}_{start + 10:06d}"
        zh = _ZH[scenario]
        entries.append({"videoID": video_id, "enCap": _english(scenario, index),
                        "chCap": [zh[(index + k) % len(zh)] for k in range(10)]})
        if mirrored:
            clip = SampleClip(video_id, scenario, "validation", 10.0, Fraction(25))
            data = b"\x00\x00\x00\x18ftypisom" + b"\x00" * 200 if corrupt else encode_clip(clip, index + 100)
            write_bytes_atomic(dest / "videos" / f"{video_id}.mp4", data)
    write_text_atomic(dest / ANNOTATION_FILE, json.dumps(entries, ensure_ascii=False))
    write_text_atomic(stamp, SAMPLE_VERSION + "\n")
    return dest
