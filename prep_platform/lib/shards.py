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
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where it is used: the layout imports this module for shard names
    import numpy as np

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


def hash_order(texts: Iterable[str], salt: str = "") -> np.ndarray:
    """The order of `texts` by sha256(salt + text), as indices: 16 bytes a text (two uint64 keys), not the texts,
    so a scenario of a million clips sorts in a few MB. The first 128 bits of the digests order them as the whole
    hex digests would unless two collide, which for distinct texts does not happen."""
    import numpy as np

    digests = bytearray()
    for text in texts:
        digests += hashlib.sha256(f"{salt}{text}".encode()).digest()[:16]
    keys = np.frombuffer(bytes(digests), dtype=">u8").reshape(-1, 2)
    return np.lexsort((keys[:, 1], keys[:, 0])) if len(keys) else np.zeros(0, dtype=np.int64)


def scenario_shards(fill_order: np.ndarray, kept: np.ndarray, shard_size: int) -> np.ndarray:
    """The shard of each clip of one scenario, as an int32 array. `kept`: each clip's shard from the last
    assignment, -1 for a clip new to the scenario; `fill_order`: the clips' indices in the order of a hash of their
    id (hash_order). New clips fill the lowest shards with room in that order (not the clip order: consecutive ids
    come from the same source videos, so a shard is a fair sample); a shard already past `shard_size` (the setting
    was lowered) takes no more."""
    import numpy as np

    if shard_size < 1:
        raise ValueError(f"shard size must be at least 1, got {shard_size}")
    shards = np.asarray(kept, dtype=np.int32).copy()
    waiting = fill_order[shards[fill_order] < 0]
    if not len(waiting):
        return shards
    fill = np.bincount(shards[shards >= 0]) if (shards >= 0).any() else np.zeros(0, dtype=np.int64)
    shard, start = 0, 0
    while start < len(waiting):
        room = max(0, shard_size - (int(fill[shard]) if shard < len(fill) else 0))
        shards[waiting[start:start + room]] = shard
        start += room
        shard += 1
    return shards


def assign_shards(members: Mapping[str, Iterable[str]], previous: Mapping[str, tuple[str, int]], shard_size: int) -> dict[str, int]:
    """video_id -> shard for the clips of each scenario (`members`: scenario -> its clip ids). `previous`: the
    last assignment (video_id -> (scenario, shard)); a clip still in the same scenario keeps its shard."""
    import numpy as np

    assigned: dict[str, int] = {}
    for scenario, ids in members.items():
        ids = list(ids)
        kept = np.array([previous[vid][1] if vid in previous and previous[vid][0] == scenario else -1 for vid in ids],
                        dtype=np.int64)
        assigned.update(zip(ids, scenario_shards(hash_order(ids), kept, shard_size).tolist()))
    return assigned
