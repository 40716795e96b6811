"""The one currency rule (lib.currency): a derived file is current exactly when the derivation it records (input
identities, settings fingerprint, format version) is the one a stage would make now; each part's change makes it
stale with its reason. The one source-identity rule (size and mtime, else sha256), the latent stage's stat shortcut
as a way of reading the record (not a rule of its own), and each file kind's record read back through the rule,
older records included."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from prep_platform.lib.currency import NO_RECORD, Derivation, is_current, stale_reason, unchanged_since
from prep_platform.lib.source_files import file_fingerprint, source_identity

MADE = Derivation({"source": "abc", "prompt": "p1"}, "settings-1", 2)


def test_nothing_changed_is_current_and_each_part_changed_is_stale_with_its_reason():
    same = Derivation({"prompt": "p1", "source": "abc"}, "settings-1", 2)  # input order does not matter
    assert is_current(MADE, same) and stale_reason(MADE, same) == "" and MADE.fingerprint() == same.fingerprint()
    cases = {
        "format version 2 -> 3": Derivation(MADE.inputs, "settings-1", 3),
        "settings changed": Derivation(MADE.inputs, "settings-2", 2),
        "source changed": Derivation({"source": "abd", "prompt": "p1"}, "settings-1", 2),
        "prompt, source changed": Derivation({"source": "abd", "prompt": "p2"}, "settings-1", 2),
        "prompt changed": Derivation({"source": "abc"}, "settings-1", 2),  # an input gone
        "window changed": Derivation({**MADE.inputs, "window": "w"}, "settings-1", 2),  # an input added
    }
    for reason, expected in cases.items():
        assert stale_reason(MADE, expected) == reason and not is_current(MADE, expected)
        assert expected.fingerprint() != MADE.fingerprint()
    # the format is told first, then the settings, then the inputs
    assert stale_reason(MADE, Derivation({"source": "x"}, "settings-2", 3)) == "format version 2 -> 3"
    assert stale_reason(MADE, Derivation({"source": "x", "prompt": "p1"}, "settings-2", 2)) == "settings changed"
    assert stale_reason(Derivation(MADE.inputs, "settings-1", None), MADE) == "format version none -> 2"


def test_no_record_or_an_unknown_identity_is_never_current():
    assert stale_reason(None, MADE) == NO_RECORD and not is_current(None, MADE)
    unknown = Derivation({"source": None, "prompt": "p1"}, "settings-1", 2)
    assert stale_reason(unknown, unknown) == "source changed"  # an input nobody knows matches nothing
    assert not is_current(Derivation({"source": "abc", "prompt": "p1"}, "settings-1", 2), unknown)


def test_a_derivation_round_trips_as_json_and_anything_else_is_no_record():
    assert Derivation.from_json(json.loads(json.dumps(MADE.to_json()))) == MADE
    for junk in (None, [], "abc", {"settings": "s"}, {"inputs": ["a"]}):
        assert Derivation.from_json(junk) is None


def test_the_stat_shortcut_holds_only_while_every_recorded_fact_does():
    row = {"cache_bytes": 10, "cache_mtime_ns": 5, "config_fingerprint": "c"}
    assert unchanged_since(row, {"cache_bytes": 10, "cache_mtime_ns": 5})
    assert not unchanged_since(row, {"cache_bytes": 10, "cache_mtime_ns": 6})
    assert not unchanged_since({"cache_bytes": 10}, {"cache_bytes": 10, "cache_mtime_ns": 5})  # not recorded
    assert not unchanged_since(None, {"cache_bytes": 10}) and not unchanged_since(row, {})


def test_the_source_identity_reuses_the_recorded_hash_only_while_size_and_mtime_hold(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"first bytes")
    fresh = source_identity(clip)
    assert fresh["source_fingerprint"] == file_fingerprint(clip) and fresh["source_bytes"] == 11
    # while the stat holds the record is trusted, unread (a recorded value nobody could hash shows it)
    assert source_identity(clip, {**fresh, "source_fingerprint": "recorded"})["source_fingerprint"] == "recorded"
    os.utime(clip, ns=(1, 1))  # touched, same bytes: hashed again, same identity, the new mtime
    touched = source_identity(clip, {**fresh, "source_fingerprint": "recorded"})
    assert touched["source_fingerprint"] == fresh["source_fingerprint"] and touched["source_mtime_ns"] == 1
    clip.write_bytes(b"other bytes")  # same size, new bytes
    assert source_identity(clip, touched)["source_fingerprint"] != fresh["source_fingerprint"]
    with pytest.raises(OSError):
        source_identity(tmp_path / "gone.mp4", fresh)


# --- each file kind's record, read back through the one rule ----------------------------------------------------


def test_a_latent_cache_record_older_format_and_every_part(tmp_path):
    from prep_platform.lib.files.latent_file import LATENT_FORMAT_VERSION, LatentHeader, latent_derivation

    header = LatentHeader.from_json({"source_fingerprint": "src", "config_fingerprint": "cfg"})
    assert is_current(header.derivation(), latent_derivation("src", "cfg"))
    assert stale_reason(header.derivation(), latent_derivation("new", "cfg")) == "source changed"
    assert stale_reason(header.derivation(), latent_derivation("src", "other")) == "settings changed"
    old = LatentHeader.from_json({"source_fingerprint": "src", "config_fingerprint": "cfg", "format_version": 1})
    assert stale_reason(old.derivation(), latent_derivation("src", "cfg")) == f"format version 1 -> {LATENT_FORMAT_VERSION}"
    assert not old.is_current("src", "cfg") and header.is_current("src", "cfg")


def test_the_latent_stat_shortcut_is_where_the_record_is_read_not_another_rule(tmp_path, monkeypatch):
    from prep_platform.lib.files.latent_file import LatentHeader, write_latent_file
    from prep_platform.lib.stages import latents
    from prep_platform.lib.stages.latents import LatentItem, plan_latent_stage

    item = LatentItem("clip", str(tmp_path / "clip.mp4"), tmp_path / "urban" / "clip.npz", "src", "urban")
    expected = item.derivation("frames", "vae", "none")
    item.latent_path.parent.mkdir()
    write_latent_file(item.latent_path, {"latent_mean": np.zeros(4, np.float16)},
                      LatentHeader.from_json({"source_fingerprint": "src", "config_fingerprint": expected.settings}))
    plan = dict(frame_fingerprint="frames", vae_fingerprint="vae", augment=False, latent_folders=[item.latent_path.parent])
    to_encode, done = plan_latent_stage([item], **plan)
    assert to_encode == [] and [row["status"] for row in done] == ["skipped"]
    assert done[0]["format_version"] == expected.format_version and done[0]["config_fingerprint"] == expected.settings

    reads = []
    real = latents.recorded_derivation
    monkeypatch.setattr(latents, "recorded_derivation", lambda path: reads.append(path) or real(path))
    # the last manifest's row records the file's stat: nothing is opened, and the row is judged by the same rule
    assert plan_latent_stage([item], previous=done, **plan)[1][0]["status"] == "skipped" and reads == []
    changed = LatentItem("clip", item.video_path, item.latent_path, "src-changed", "urban")
    assert plan_latent_stage([changed], previous=done, **plan)[0] == [(changed, ["none"])] and reads == []
    # a row of a version that did not record the format, or whose file's stat moved: the header is read
    legacy = [{k: v for k, v in done[0].items() if k != "format_version"}]
    assert plan_latent_stage([item], previous=legacy, **plan)[1][0]["status"] == "skipped" and len(reads) == 1
    os.utime(item.latent_path, ns=(1, 1))
    assert plan_latent_stage([item], previous=done, **plan)[1][0]["status"] == "skipped" and len(reads) == 2


def test_a_prompt_embedding_header_written_before_it_recorded_its_format_stays_current():
    from prep_platform.lib.files.prompt_embedding_file import PromptEmbeddingHeader, prompt_derivation

    legacy = PromptEmbeddingHeader.from_json({"prompt_sha256": "sha", "encoder_fingerprint": "enc"})
    assert legacy.format_version == 1 and is_current(legacy.derivation(), prompt_derivation("sha", "enc"))
    assert stale_reason(legacy.derivation(), prompt_derivation("sha2", "enc")) == "prompt changed"
    assert stale_reason(legacy.derivation(), prompt_derivation("sha", "enc2")) == "settings changed"
    assert stale_reason(legacy.derivation(), prompt_derivation("sha", "enc", 2)) == "format version 1 -> 2"


def test_a_frame_row_written_before_rows_recorded_their_format_is_of_version_1():
    from prep_platform.lib.frames.stage import FRAME_ROWS_VERSION, _row_derivation, frame_derivation

    row = {"video_path": "/clips/a.mp4", "source_fingerprint": "sha", "frames_key": "key"}
    assert FRAME_ROWS_VERSION == 1 and is_current(_row_derivation(row), frame_derivation("/clips/a.mp4", "sha", "key"))
    assert stale_reason(_row_derivation(row), frame_derivation("/clips/b.mp4", "sha", "key")) == "source_path changed"
    assert stale_reason(_row_derivation(row), frame_derivation("/clips/a.mp4", "sha2", "key")) == "source changed"
    assert stale_reason(_row_derivation(row), frame_derivation("/clips/a.mp4", "sha", "key2")) == "settings changed"


def test_an_export_of_the_previous_format_is_stale_by_its_version():
    from prep_platform.lib.exports.collect import export_derivation
    from prep_platform.lib.exports.export import EXPORT_FORMAT_VERSION, recorded_derivation

    now = export_derivation("finetrainers", EXPORT_FORMAT_VERSION, [], {"dtype": "bf16"})
    assert stale_reason(recorded_derivation({"format": "finetrainers", "format_version": 2}), now) == \
        f"format version 2 -> {EXPORT_FORMAT_VERSION}"
    written = {"format_version": EXPORT_FORMAT_VERSION, "derived_from": now.to_json()}
    assert is_current(recorded_derivation(written), now) and recorded_derivation(None) is None
    assert stale_reason(recorded_derivation(written), export_derivation("finetrainers", EXPORT_FORMAT_VERSION, [],
                                                                        {"dtype": "fp16"})) == "settings changed"


def test_caption_cache_parts_load_only_while_their_model_and_format_are_current(tmp_path):
    from prep_platform.lib.labelling import embedding as caption_cache
    from prep_platform.lib.labelling.embedding import EmbeddingCache

    cache = EmbeddingCache(tmp_path, "model-a")
    cache.vectors(["a caption"], lambda texts: np.ones((len(texts), 3), np.float32))
    part = cache.flush()
    assert EmbeddingCache(tmp_path, "model-a").loaded_from_disk == 1
    with np.load(part) as data:  # a part written before parts recorded their model and format: still read
        keys, vectors = data["keys"], data["vectors"]
    with part.open("wb") as handle:
        np.savez(handle, keys=keys, vectors=vectors)
    assert EmbeddingCache(tmp_path, "model-a").loaded_from_disk == 1
    with part.open("wb") as handle:  # a part of another format version: left unread
        np.savez(handle, keys=keys, vectors=vectors, model_tag=np.array("model-a"),
                 format_version=np.array(caption_cache.CAPTION_CACHE_VERSION + 1))
    again = EmbeddingCache(tmp_path, "model-a")
    assert again.loaded_from_disk == 0 and again.parts_not_current == 1


def test_a_panda_ingest_report_is_judged_by_the_rule():
    from prep_platform.lib.sources.panda70m import INGEST_VERSION, _recorded_ingest, ingest_derivation

    settings = {"min_duration_s": 6.0, "version": INGEST_VERSION}
    report = {"signature": "tar:10:5", "settings": settings}
    assert is_current(_recorded_ingest(report), ingest_derivation("tar:10:5", settings))
    assert stale_reason(_recorded_ingest(report), ingest_derivation("tar:11:6", settings)) == "shard changed"
    assert stale_reason(_recorded_ingest(report), ingest_derivation("tar:10:5", {**settings, "min_duration_s": 3.0})) \
        == "settings changed"
    assert stale_reason(_recorded_ingest(report), ingest_derivation("tar:10:5", {**settings, "version": INGEST_VERSION + 1})) \
        == f"format version {INGEST_VERSION} -> {INGEST_VERSION + 1}"
    assert _recorded_ingest(None) is None and _recorded_ingest({"signature": "x"}) is None
