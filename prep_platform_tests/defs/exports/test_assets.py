"""Prompt embeddings and training exports as Dagster assets: the GPU step per scenario, one export per format
partition, their checks, and a re-materialisation that rewrites nothing."""

from __future__ import annotations

import pytest

from prep_platform.lib.exports.export import read_export
from prep_platform_tests.support.dagster_results import check_verdicts, materialization_metadata, sample_pipeline


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    yield from sample_pipeline(tmp_path_factory.mktemp("exports"))


def test_prompt_embeddings_and_exports_materialise_and_pass_their_checks(pipeline_run):
    defs, settings, instance = pipeline_run
    latents = defs.resolve_job_def("latents_job").execute_in_process(instance=instance, partition_key="urban.0000")
    assert latents.success
    prompts = materialization_metadata(latents, "prompt_embeddings")
    assert prompts["encoded"] == prompts["distinct_prompts"] > 0 and prompts["failed"] == 0
    assert check_verdicts(latents)["prompt_embeddings_files_check"] == (True, "ERROR")

    exports = defs.resolve_job_def("exports_job")
    for export_format in ("cogvideox-factory", "cogvideo-finetune", "finetrainers", "diffusers-videos"):
        result = exports.execute_in_process(instance=instance, partition_key=export_format)
        assert result.success, export_format
        metadata = materialization_metadata(result, "training_exports")
        assert metadata["state"] == "written" and metadata["stems"] > 0
        assert check_verdicts(result)["training_exports_files_check"] == (True, "ERROR"), export_format
        export = read_export(settings.layout().export_root(export_format))
        # Only urban was prepared: the other scenarios are named, not silently left out.
        assert "press_room" in export["scenarios_without_training_index"]
        assert set(export["counts"]["per_scenario"]) == {"urban"}

    again = exports.execute_in_process(instance=instance, partition_key="cogvideox-factory")
    assert materialization_metadata(again, "training_exports")["state"] == "unchanged"
    latents_again = defs.resolve_job_def("latents_job").execute_in_process(instance=instance, partition_key="urban.0000")
    assert materialization_metadata(latents_again, "prompt_embeddings")["encoded"] == 0
