"""Shards of work: each scenario's clips in groups of at most `shard_size`, the unit a frame, latent, prompt or
index step works on (and a Dagster partition: `<scenario>.<nnnn>`).

A clip keeps its shard for as long as it keeps its scenario: the assignment is recorded in the metadata, and a
rebuild gives every clip that is still in the same scenario the shard it had. New clips (and clips relabelled
into the scenario) fill the lowest shards with room, in the order of a hash of their id, then new shards open.
So adding clips never moves another clip, no shard grows past `shard_size`, and a shard that is done stays done.
(A hash modulo a fixed shard count would also be stable, but its shards grow with the dataset; this way the size
is the setting and the count follows the data.)
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping

SEPARATOR = "."
DIGITS = 4


def shard_key(scenario: str, shard: int) -> str:
    """The partition key of a scenario's shard: `urban.0003`."""
    return f"{scenario}{SEPARATOR}{shard:0{DIGITS}d}"


def parse_shard_key(key: str) -> tuple[str, int]:
    """`urban.0003` -> ("urban", 3). ValueError naming the key otherwise."""
    scenario, separator, number = key.rpartition(SEPARATOR)
    if not separator or not scenario or not number.isdigit():
        raise ValueError(f"{key!r} is not a shard key (<scenario>{SEPARATOR}<number>, e.g. urban.0000)")
    return scenario, int(number)


def shard_folder_name(shard: int) -> str:
    return f"shard-{shard:0{DIGITS}d}"


def _fill_order(video_id: str) -> str:
    # A hash, not the clip order: consecutive ids come from the same source videos, so a shard is a fair sample.
    return hashlib.sha256(video_id.encode()).hexdigest()


def assign_shards(members: Mapping[str, Iterable[str]], previous: Mapping[str, tuple[str, int]], shard_size: int) -> dict[str, int]:
    """video_id -> shard for the clips of each scenario (`members`: scenario -> its clip ids). `previous`: the
    last assignment (video_id -> (scenario, shard)); a clip still in the same scenario keeps its shard."""
    if shard_size < 1:
        raise ValueError(f"shard size must be at least 1, got {shard_size}")
    assigned: dict[str, int] = {}
    for scenario, ids in members.items():
        ids = list(ids)
        kept = {vid: previous[vid][1] for vid in ids if vid in previous and previous[vid][0] == scenario}
        fill = Counter(kept.values())
        assigned.update(kept)
        shard = 0
        for vid in sorted((vid for vid in ids if vid not in kept), key=_fill_order):
            while fill[shard] >= shard_size:
                shard += 1
            assigned[vid] = shard
            fill[shard] += 1
    return assigned
