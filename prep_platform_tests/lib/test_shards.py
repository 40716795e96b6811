"""Shards of work: bounded by the shard size, stable when clips are added, a clip moves only with its scenario."""

from __future__ import annotations

from collections import Counter

import pytest

from prep_platform.lib.shards import assign_shards, parse_shard_key, shard_key


def _previous(assigned: dict[str, int], scenario: str) -> dict[str, tuple[str, int]]:
    return {vid: (scenario, shard) for vid, shard in assigned.items()}


def test_shards_are_bounded_and_adding_clips_moves_none_of_the_others():
    first = assign_shards({"urban": [f"v{i}" for i in range(25)]}, {}, shard_size=10)
    assert Counter(first.values()) == {0: 10, 1: 10, 2: 5}
    more = [f"v{i}" for i in range(25)] + [f"new{i}" for i in range(12)]
    second = assign_shards({"urban": more}, _previous(first, "urban"), shard_size=10)
    assert all(second[vid] == shard for vid, shard in first.items())  # nobody moved
    assert max(Counter(second.values()).values()) <= 10 and Counter(second.values())[2] == 10
    assert sorted(set(second.values())) == [0, 1, 2, 3]


def test_removed_clips_leave_room_that_new_clips_fill_and_relabelled_clips_rejoin_by_the_same_rule():
    first = assign_shards({"urban": [f"v{i}" for i in range(20)]}, {}, shard_size=10)
    gone = [vid for vid, shard in first.items() if shard == 0][:3]
    kept = [vid for vid in first if vid not in gone]
    previous = _previous(first, "urban")
    # Three clips relabelled to nature, three new urban clips: the new ones fill shard 0's three free places.
    second = assign_shards({"urban": kept + ["n1", "n2", "n3"], "nature": gone}, previous, shard_size=10)
    assert {second[v] for v in ("n1", "n2", "n3")} == {0} and all(second[v] == first[v] for v in kept)
    assert {second[v] for v in gone} == {0}  # a clip entering a scenario is new there


def test_the_assignment_is_the_same_whatever_order_the_clips_come_in():
    ids = [f"clip{i}" for i in range(30)]
    assert assign_shards({"urban": ids}, {}, 7) == assign_shards({"urban": list(reversed(ids))}, {}, 7)


def test_shard_keys_round_trip_and_bad_keys_are_named():
    assert shard_key("press_room", 3) == "press_room.0003" and parse_shard_key("press_room.0003") == ("press_room", 3)
    for bad in ("urban", "urban.x", ".0001"):
        with pytest.raises(ValueError, match=repr(bad).strip("'")):
            parse_shard_key(bad)
