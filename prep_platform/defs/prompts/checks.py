"""Checks on a scenario's prompt embeddings."""

import dagster as dg

from prep_platform.defs.markdown import bullets
from prep_platform.defs.shard_assets import shard_asset_check
from prep_platform.defs.prompts.assets import prompt_embeddings
from prep_platform.defs.resources import PrepPlatformSettings
from prep_platform.lib import pipeline
from prep_platform.lib.files.prompt_embedding_file import load_prompt_embedding, prompt_sha256
from prep_platform.lib.stages.prompt_embeddings import prompts_of, read_prompt_manifest


@shard_asset_check(
    asset=prompt_embeddings,
    blocking=True,
    description="Every prompt variant of every clip of the shard has a readable embedding of its own prompt "
    "([max_length, hidden], the header's prompt sha256), made by one encoder.",
)
def prompt_embeddings_files_check(settings: PrepPlatformSettings, scenario: str, shard: int) -> dg.AssetCheckResult:
    layout = settings.layout()
    manifest = read_prompt_manifest(layout.prompt_embeds_manifest(scenario, shard))
    if manifest is None:
        return dg.AssetCheckResult(passed=False, metadata={"problem": "prompt manifest missing"})
    expected = prompts_of(pipeline.scenario_records(settings.core(), layout, scenario, shard))
    rows = {(row["video_id"], row["variant"]): row for row in manifest["prompts"]}
    problems, checked = [], set()
    for want in expected:
        row = rows.get((want["video_id"], want["variant"]))
        if row is None or row["prompt_sha256"] != prompt_sha256(want["prompt"]):
            problems.append(f"{want['video_id']} prompt {want['variant']}: no embedding of the current prompt")
            continue
        if row["path"] in checked:
            continue
        checked.add(row["path"])
        try:
            header, embedding = load_prompt_embedding(row["path"])
        except Exception as exc:  # noqa: BLE001 - any unreadable file is the problem to report
            problems.append(f"{row['path']}: unreadable: {exc}")
            continue
        problem = header.embedding_problem(embedding, row["prompt_sha256"])
        if problem:
            problems.append(f"{row['path']}: {problem}")
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={"prompts": len(expected), "files_checked": len(checked), "problems": bullets(problems, 20)},
    )
