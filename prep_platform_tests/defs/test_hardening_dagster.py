"""What a real Dagster instance showed in the hardening review: a clip changed on disk is re-encoded even when
only clip_latents is materialised; an unconfigured VATEX source and a missing Panda-70M CSV are explicit states
(warned about, never a failed run and never a silent pass); the contact sheet is an image in the metadata."""

from __future__ import annotations


import dagster as dg
import pytest

from prep_platform.definitions import build_definitions
from prep_platform_tests.support.dagster_results import PrepRuns, check_verdicts, materialization_metadata, sample_pipeline
from prep_platform.defs.resources import PrepPlatformSettings, VaeResource
from prep_platform.lib.files.latent_file import read_latent_header
from prep_platform.lib.source_files import file_fingerprint
from prep_platform.lib.frames.stage import read_frames_manifest


_checks = check_verdicts
_metadata = materialization_metadata


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    yield from sample_pipeline(tmp_path_factory.mktemp("data"))


def test_a_clip_changed_on_disk_is_re_encoded_when_only_the_latents_are_materialised(pipeline):
    defs, settings, instance = pipeline
    assert defs.resolve_job_def("latents_job").execute_in_process(instance=instance, partition_key="transport.0000").success
    frames = read_frames_manifest(settings.layout().frames_manifest("transport", 0))
    victim = next(c for c in frames["clips"] if c["status"] == "ok" and c["video_id"].startswith("video"))
    cache = settings.layout().latent("transport", victim["video_id"])
    old_fingerprint = read_latent_header(cache).source_fingerprint

    # Another clip's bytes under this clip's name (as a re-download of a fixed upstream file would do).
    donor = next(c for c in frames["clips"] if c["status"] == "ok" and c["video_id"] != victim["video_id"]
                 and c["video_id"].startswith("video"))  # a file (a Panda clip may be a member of a tar)
    with open(donor["video_path"], "rb") as source, open(victim["video_path"], "wb") as target:
        target.write(source.read())

    result = defs.resolve_job_def("latents_job").execute_in_process(
        instance=instance, partition_key="transport.0000", asset_selection=[dg.AssetKey("clip_latents")]
    )
    assert result.success
    metadata = _metadata(result, "clip_latents")
    assert metadata["encoded"] == 1 and metadata["skipped"] == metadata["dagster/row_count"] - 1
    header = read_latent_header(cache)
    assert header.source_fingerprint == file_fingerprint(victim["video_path"]) != old_fingerprint


def test_an_unconfigured_vatex_source_is_a_warned_state_not_a_failure(tmp_path):
    settings = PrepPlatformSettings(data_root=str(tmp_path), msr_vtt_source="hub", vatex_source=None, vatex_repo_id=None)
    defs = build_definitions(settings, VaeResource(preset="tiny"))
    with dg.instance_for_test() as instance:
        result = PrepRuns([
            defs.resolve_job_def("sources_job").execute_in_process(
                instance=instance, raise_on_error=False, asset_selection=[dg.AssetKey("vatex_raw")]),
            defs.resolve_job_def("metadata_job").execute_in_process(
                instance=instance, raise_on_error=False, asset_selection=[dg.AssetKey("vatex_eval_prompts")]),
        ])
    assert result.success
    raw = _metadata(result, "vatex_raw")
    assert raw["state"] == "not_configured" and "PREP_PLATFORM_VATEX_REPO" in raw["what_to_set"]
    assert "--repo-id" not in raw["what_to_set"]  # no CLI flags inside a Dagster run
    assert _metadata(result, "vatex_eval_prompts")["state"] == "not_configured"
    checks = _checks(result)
    assert checks["vatex_raw_annotation_schema_check"] == (False, "WARN")
    assert checks["vatex_raw_available_clips_check"] == (False, "WARN")


def test_no_panda_csv_is_reported_by_the_balance_check_never_passed(tmp_path):
    # A non-sample source: nothing places the embedded Panda CSV.
    settings = PrepPlatformSettings(data_root=str(tmp_path), msr_vtt_source=str(tmp_path / "unused"))
    defs = build_definitions(settings, VaeResource(preset="tiny"))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("sources_job").execute_in_process(
            instance=instance, raise_on_error=False,
            asset_selection=[dg.AssetKey("panda70m_instructions"), dg.AssetKey("panda70m_subset")],
        )
    assert result.success
    assert _metadata(result, "panda70m_subset")["state"] == "no_csv_present"
    check = next(e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
                 and e.event_specific_data.check_name == "panda70m_subset_balance_check")
    assert not check.passed and check.severity.value == "WARN"
    assert check.metadata["state"].value == "no_csv_present"


def test_the_contact_sheet_is_an_image_in_the_metadata(pipeline):
    defs, settings, instance = pipeline
    result = defs.resolve_job_def("latents_job").execute_in_process(instance=instance, partition_key="crowd.0000")
    sheet = _metadata(result, "clip_frames")["contact_sheet"]
    assert sheet.startswith("![contact sheet of crowd.0000](data:image/png;base64,")
    import base64

    png = base64.b64decode(sheet.split("base64,", 1)[1].rstrip(")"))
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) < 400_000
