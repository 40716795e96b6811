"""The pipeline both shells run. Each function is one step: it takes the settings and the layout, reads its input
from the layout, writes its output there, and returns what it did. A Dagster asset calls exactly one of them; a
command-line tool calls the same ones in order. Adding a stage is one function here, one asset and one CLI line.

    fetch_msr_vtt → [fetch_vatex → build_eval_prompts] → panda_instructions → select_panda_subset →
    ingest_panda_shards → build_metadata → per shard of a scenario: prepare_frames → encode_latents → write_index,
    and encode_prompts → per format: export_training_set (every shard of every scenario)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from prep_platform.lib.demo_sample import DemoSample, sample_writer
from prep_platform.lib.files.atomic import read_json_if_present, write_json_atomic
from prep_platform.lib.files.metadata_store import (
    ReadStats,
    read_records,
    resolve_metadata_input,
    shards_in_store,
    store_for_output,
)
from prep_platform.lib.frames.stage import contact_sheet
from prep_platform.lib.layout import DataLayout
from prep_platform.lib.labelling.labellers import make_labeller
from prep_platform.lib.scenarios import load_scenarios
from prep_platform.lib.settings import PrepSettings
from prep_platform.lib.shards import SEPARATOR as SHARD_SEPARATOR
from prep_platform.lib.shards import parse_shard_key, shard_key
from prep_platform.lib.sources import panda70m, vatex
from prep_platform.lib.sources.msr_vtt import MsrVttRawResult, MsrVttSourceConfig, download_msr_vtt
from prep_platform.lib.profiles import ModelProfile
from prep_platform.lib.progress import ProgressCallback
from prep_platform.lib.frames.stage import (
    FrameStageResult,
    frame_samples,
    read_frames_manifest,
    run_frame_stage,
    write_frames_manifest,
)
from prep_platform.lib.stages.latents import (
    LatentStageResult,
    latent_items,
    read_latents_manifest,
    run_latent_stage,
    write_latents_manifest,
)
from prep_platform.lib.stages.metadata import (
    ProgressFor,
    ScenarioMetadataResult,
    build_scenario_metadata,
    write_scenario_metadata,
)
from prep_platform.lib.stages.metadata import refuse_foreign_view, write_metadata_view
from prep_platform.lib.stages.training_index import (
    TrainingIndex,
    build_training_index,
    read_training_index,
    write_training_index,
)
from prep_platform.lib.statuses import environment_failures

if TYPE_CHECKING:  # torch-backed steps are imported where they run: the other tools start in a fraction of the time
    from prep_platform.lib.exports.collect import CollectedSamples
    from prep_platform.lib.exports.export import ExportRequest, ExportResult
    from prep_platform.lib.stages.prompt_embeddings import PromptStageResult

CONTACT_SHEET_CLIPS = 16


class MissingInputError(ValueError):
    """A step ran before the step it reads from (e.g. latents before frames): say which one to run first."""


class EmptyInputError(ValueError):
    """A step's input held no records while the output it would replace has rows: the output is kept (exit 2)."""


def keep_output_unless_input(input_rows: int, what_input: str, output: Path, output_rows: int, key: str) -> None:
    """Never replace a non-empty manifest, index or export with an empty one because the input held nothing (a
    wrong metadata file, a split with no clips there): say why and keep it."""
    if input_rows == 0 and output_rows > 0:
        raise EmptyInputError(f"{key}: {what_input} holds no records for this shard, so {output} ({output_rows} rows) "
                              f"is kept rather than replaced by an empty one (if the shard is meant to be empty now, "
                              f"remove that file and run again)")


def rows_in(path: Path) -> int:
    """How many rows a manifest (its JSON view says) or a Parquet index holds; 0 when it is absent or unreadable."""
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows if path.exists() else 0
        header = read_json_if_present(path)
        return int(header.get("rows") or 0) if isinstance(header, dict) else 0
    except (OSError, ValueError, TypeError):
        return 0


def metadata_input(path: Path | str | None) -> Path | None:
    """The file a tool reads records from when the user names `--metadata` (a store, its JSON view, which stands
    for the store beside it, or a JSON document of records); None keeps the layout's store. A path that is not
    there, or a file that is none of these, is refused naming it."""
    return None if path is None else resolve_metadata_input(path)


# --- sources --------------------------------------------------------------------------------------------------


def place_sample(source: str, sample: DemoSample | None, part: str, folder: Path, what: str) -> Path | None:
    """The demo sample's `part` (a DemoSample field) written to `folder` when the source is `sample` (its folder),
    else None: the sources read a release folder; the sample is placed here, not by them, and given by the shells
    (prep_platform.samples.DEMO_SAMPLE: the core imports no demo data). Refused in one line when none was given."""
    return sample_writer(sample, part, f"the {what} source is 'sample'")(folder) if source == "sample" else None


def fetch_msr_vtt(settings: PrepSettings, layout: DataLayout, *, sample: DemoSample | None = None,
                  progress: ProgressCallback | None = None) -> MsrVttRawResult:
    """The MSR-VTT clips and their manifest; `sample`: the demo sample placed when the source is `sample`."""
    source = MsrVttSourceConfig(
        source=settings.msr_vtt_source, repo_id=settings.msr_vtt_repo_id, revision=settings.msr_vtt_revision,
        annotation_file=settings.msr_vtt_annotation_file, videos_archive=settings.msr_vtt_videos_archive,
        endpoint=settings.hub_endpoint,
        sample_release=place_sample(settings.msr_vtt_source, sample, "msr_vtt_release", layout.msr_vtt.sample_release,
                                    "MSR-VTT"),
    )
    return download_msr_vtt(layout.msr_vtt.root, config=source, limit=settings.msr_vtt_limit or None,
                            min_duration_s=settings.clip_duration_needed_s(), progress=progress)


VATEX_NOT_CONFIGURED_HINT = (
    "set PREP_PLATFORM_VATEX_REPO to a dataset repo holding the VATEX annotation files (and "
    "PREP_PLATFORM_VATEX_VIDEO_REPO to a mirror holding <videoID>.mp4), or PREP_PLATFORM_VATEX_SOURCE to 'sample' "
    "or a local folder laid out like such a repo"
)


def vatex_configured(settings: PrepSettings) -> bool:
    """VATEX has no canonical Hub repo: from the Hub it needs one named."""
    return settings.resolved_vatex_source() != "hub" or bool(settings.vatex_repo_id)


def fetch_vatex(settings: PrepSettings, layout: DataLayout, *, sample: DemoSample | None = None,
                progress: ProgressCallback | None = None) -> vatex.VatexResult | None:
    """The split's annotation and clips; None (with the state recorded in the folder) when VATEX is not configured.
    `sample`: the demo sample placed when the source is `sample`."""
    if not vatex_configured(settings):
        vatex.write_not_configured(layout.vatex.root, VATEX_NOT_CONFIGURED_HINT)
        return None
    source = vatex.VatexSourceConfig(
        source=settings.resolved_vatex_source(), repo_id=settings.vatex_repo_id, revision=settings.vatex_revision,
        annotation_file=settings.vatex_annotation_file, video_repo_id=settings.vatex_video_repo_id,
        video_revision=settings.vatex_video_revision, video_prefix=settings.vatex_video_prefix, endpoint=settings.hub_endpoint,
        sample_release=place_sample(settings.resolved_vatex_source(), sample, "vatex_release",
                                    layout.vatex.sample_release, "VATEX"),
    )
    return vatex.download_vatex(layout.vatex.root, config=source, split=settings.vatex_split,
                                limit=settings.vatex_limit or None, download_videos=settings.vatex_download_videos,
                                retry_failed=settings.vatex_retry_failed, progress=progress)


def build_eval_prompts(settings: PrepSettings, layout: DataLayout) -> dict | None:
    """English and Chinese evaluation prompts per VATEX clip with its conditioning image; None when VATEX is not
    configured."""
    if vatex.read_vatex_state(layout.vatex.root) == vatex.NOT_CONFIGURED:
        return None
    config = layout.frame_config
    scenarios = load_scenarios(settings.scenarios_file)
    document = vatex.build_vatex_eval_prompts(layout.vatex.root, scenarios=scenarios, width=config.width,
                                              height=config.height, images_dir=layout.eval.images_dir,
                                              labeller=make_labeller(scenarios, cache_root=layout.cache_root))
    write_json_atomic(layout.eval.prompts, document)
    return document


def panda_instructions(settings: PrepSettings, layout: DataLayout, *, sample: DemoSample | None = None) -> Path:
    """The manual-access README; with the sample source (settings.places_panda_sample), the demo `sample`'s small
    CSV and four shard clips where a user puts them."""
    readme = panda70m.write_instructions(layout.panda.root)
    if settings.places_panda_sample():
        sample_writer(sample, "panda_files", "the Panda-70M sample is to be placed")(layout.panda.root)
    return readme


def select_panda_subset(settings: PrepSettings, layout: DataLayout) -> dict:
    labeller = make_labeller(load_scenarios(settings.scenarios_file), cache_root=layout.cache_root)
    return panda70m.build_panda_subset(layout.panda.root, labeller, total=settings.panda_subset_total,
                                       min_matching_score=settings.panda_min_matching_score,
                                       storage_budget_gb=settings.storage_budget_gb)


def ingest_panda_shards(settings: PrepSettings, layout: DataLayout, shards: list[str] | None = None) -> dict:
    """Every download shard (or the named ones) probed into its own manifest; unchanged shards are skipped."""
    return panda70m.ingest_panda_shards(layout.panda.root, min_duration_s=settings.clip_duration_needed_s(), shards=shards)


# --- scenario metadata ----------------------------------------------------------------------------------------


def build_metadata(settings: PrepSettings, layout: DataLayout, *,
                   progress_for: ProgressFor | None = None) -> ScenarioMetadataResult:
    """Label MSR-VTT (and ingested Panda-70M shard) clips, split per scenario, write the metadata and its report;
    `progress_for(what, unit)`: progress of each part (embedding captions, labelling clips)."""
    layout = layout.relocated(metadata_file=store_for_output(layout.metadata_file))  # a .json output: its store beside
    refuse_foreign_view(layout.metadata_view)  # before the labelling: told at once, nothing written
    result = build_scenario_metadata(layout, scenarios=settings.scenarios_file, limit=settings.metadata_limit or None,
                                     validation_ratio=settings.validation_ratio, seed=settings.split_seed,
                                     shard_size=settings.shard_size, previous=layout.metadata_file,
                                     progress_for=progress_for)
    try:
        write_scenario_metadata(result, layout.metadata_file, layout)
    finally:
        result.release()  # the records are in the store now (or the write failed): the spill goes
    return result


def _require_metadata(layout: DataLayout) -> None:
    if not layout.metadata_file.exists():
        raise MissingInputError(f"{layout.metadata_file}: no scenario metadata yet; build it first (scenario_metadata)")


def scenario_records(settings: PrepSettings, layout: DataLayout, scenario: str, shard: int | None = None, *,
                     stats: ReadStats | None = None) -> list[dict]:
    """The metadata records of one scenario (of one of its shards), in the settings' splits: from the store, only
    that shard's rows are read (`stats` says what was)."""
    _require_metadata(layout)
    return read_records(layout.metadata_file, scenario=scenario, shard=shard, splits=settings.split_names(), stats=stats)


def scenarios_to_prepare(settings: PrepSettings, layout: DataLayout) -> list[str]:
    """Every scenario of the scenarios file (the Dagster partitions: each gets its manifests, empty or not), in
    its order, then any other scenario the metadata file names (a hand-made file may)."""
    return list(work_shards(settings, layout))


def work_shards(settings: PrepSettings, layout: DataLayout) -> dict[str, list[int]]:
    """scenario -> its shards of work, for every scenario of the scenarios file (in its order; one empty shard 0 for
    a scenario without clips, so each gets its manifests) and any other the metadata file names (a hand-made file
    may). Shards of every split: a shard is the same whichever splits a run prepares."""
    names = list(load_scenarios(settings.scenarios_file).scenarios)
    _require_metadata(layout)
    shards: dict[str, set[int]] = {name: set() for name in names}
    for scenario, found in shards_in_store(layout.metadata_file).items():  # the store's footer, not its records
        shards.setdefault(scenario, set()).update(found)
    ordered = names + sorted(set(shards) - set(names))
    return {scenario: sorted(shards[scenario]) or [0] for scenario in ordered}


def shard_keys(settings: PrepSettings, layout: DataLayout) -> list[str]:
    """Every shard's partition key (`urban.0000`), scenario by scenario."""
    return [shard_key(scenario, shard) for scenario, shards in work_shards(settings, layout).items() for shard in shards]


class UnknownScenarioError(ValueError):
    """A scenario name the scenarios file (and metadata) does not have: a typo would otherwise run on nothing."""


def chosen_scenarios(settings: PrepSettings, layout: DataLayout, requested: list[str] | None) -> list[str]:
    """The scenarios a tool runs on: every one (None), or the requested ones, each refused (one line naming the
    known ones) unless the scenarios file or the metadata has it."""
    known = scenarios_to_prepare(settings, layout)
    unknown = [name for name in requested or [] if name not in known]
    if unknown:
        raise UnknownScenarioError(f"unknown scenario {unknown[0]!r}: the scenarios are {', '.join(known)}")
    return list(requested) if requested else known


def chosen_shards(settings: PrepSettings, layout: DataLayout, scenarios: list[str] | None,
                  shards: list[str] | None) -> list[tuple[str, int]]:
    """(scenario, shard) pairs a tool runs on: every shard of the chosen scenarios, or only the requested ones (a
    shard number, for each chosen scenario that has it, or a partition key such as `urban.0003`). An unknown
    scenario or a shard no chosen scenario has is refused with one line naming what there is. Only shards the
    metadata has: a scenario without clips there has none (its empty shard 0 is a Dagster partition, so that every
    scenario gets its manifests; a tool has no work there, and listed it as if it had)."""
    _require_metadata(layout)  # "build it first", not the Parquet reader's words for a missing file
    present = shards_in_store(layout.metadata_file)
    known = {scenario: [n for n in numbers if n in present.get(scenario, ())]
             for scenario, numbers in work_shards(settings, layout).items()}
    chosen = chosen_scenarios(settings, layout, scenarios)
    if not shards:
        empty = [scenario for scenario in scenarios or [] if not known[scenario]]
        if empty:
            raise UnknownScenarioError(f"scenario {empty[0]!r} has no clips in {layout.metadata_file}: nothing to run")
        return [(scenario, shard) for scenario in chosen for shard in known[scenario]]
    pairs: list[tuple[str, int]] = []
    for text in shards:
        if SHARD_SEPARATOR in text:
            scenario, shard = parse_shard_key(text)
            scope = chosen_scenarios(settings, layout, [scenario])
            matches = [(scenario, shard)] if shard in known[scenario] else []
        elif text.isdigit():
            scope = chosen
            matches = [(scenario, int(text)) for scenario in chosen if int(text) in known[scenario]]
        else:
            raise UnknownScenarioError(f"--shard {text!r}: give a shard number or a key such as urban.0000")
        if not matches:
            keys = [shard_key(s, n) for s in scope for n in known[s]]
            listing = ", ".join(keys[:12]) + (f" ... ({len(keys)} in all)" if len(keys) > 12 else "")
            raise UnknownScenarioError(f"unknown shard {text!r}: the shards are {listing}")
        pairs += [pair for pair in matches if pair not in pairs]
    return pairs


# --- per shard of a scenario: frames → latents → training index ---------------------------------------------


def prepare_frames(settings: PrepSettings, layout: DataLayout, scenario: str, shard: int = 0, *,
                   progress: ProgressCallback | None = None) -> FrameStageResult:
    """Window and conditioning image per clip of the shard; its frames manifest and a contact sheet of the first
    images. A clip whose rows in the last manifest are still current is not decoded again."""
    manifest = layout.frames_manifest(scenario, shard)
    previous = read_frames_manifest(manifest) or {}
    records = scenario_records(settings, layout, scenario, shard)
    keep_output_unless_input(len(records), f"the metadata {layout.metadata_file} (splits: {settings.splits})", manifest,
                             len(previous.get("clips", ())), shard_key(scenario, shard))
    result = run_frame_stage(records, layout, shot_settings=settings.shot_settings(), workers=settings.workers,
                             previous=previous.get("clips"), progress=progress)
    write_frames_manifest(manifest, result, shard_key(scenario, shard))
    write_metadata_view(layout)  # the records' image paths follow the frames just made
    ok = [(sample.video_id, sample.image_path) for sample in result.samples]
    sheet = layout.contact_sheet(scenario, shard)
    if contact_sheet(ok[:CONTACT_SHEET_CLIPS], sheet) is None:
        sheet.unlink(missing_ok=True)  # never show an earlier run's images
    return result


def encode_latents(settings: PrepSettings, layout: DataLayout, scenario: str, shard: int, encoder, *,
                   progress: ProgressCallback | None = None) -> LatentStageResult:
    """VAE latents for the ok samples of the shard's frame stage; current caches are skipped."""
    frames = read_frames_manifest(layout.frames_manifest(scenario, shard))
    if frames is None:
        raise MissingInputError(f"no frames manifest for {shard_key(scenario, shard)!r} "
                                f"({layout.frames_manifest(scenario, shard)}): run the frame stage for it first")
    scenario_clips = {row["video_id"] for row in read_records(layout.metadata_file, scenario=scenario, columns=["video_id"])}
    manifest = layout.latents_manifest(scenario, shard)
    previous = read_latents_manifest(manifest) or {}
    keep_output_unless_input(len(frames["clips"]), f"the frames manifest {layout.frames_manifest(scenario, shard)}",
                             manifest, len(previous.get("clips", ())), shard_key(scenario, shard))
    result = run_latent_stage(latent_items(frame_samples(frames["clips"]), layout), layout, encoder, augment=settings.augment,
                              workers=settings.workers, prefetch=settings.prefetch, progress=progress,
                              scenario_clips=scenario_clips, previous=previous.get("clips", ()))
    write_latents_manifest(manifest, result, shard_key(scenario, shard),
                           {"augment": settings.augment, **encoder.identity(), "vae_preset": encoder.settings.preset,
                            # which frames the caches were made from: the metadata view trusts them only for those
                            "frame_config_fingerprint": (frames.get("frame_config") or {}).get("fingerprint")})
    write_metadata_view(layout)  # the records' latent paths follow the caches just made
    return result


def write_index(settings: PrepSettings, layout: DataLayout, scenario: str, shard: int = 0) -> TrainingIndex:
    """The trainer's index of the shard: its clips whose latent cache is current."""
    latents = read_latents_manifest(layout.latents_manifest(scenario, shard))
    if latents is None:
        raise MissingInputError(f"no latents manifest for {shard_key(scenario, shard)!r}: encode its latents first")
    records = scenario_records(settings, layout, scenario, shard)
    path = layout.training_index(scenario, shard)
    keep_output_unless_input(len(records), f"the metadata {layout.metadata_file} (splits: {settings.splits})", path,
                             rows_in(path), shard_key(scenario, shard))
    frames = read_frames_manifest(layout.frames_manifest(scenario, shard))
    index = build_training_index(records, frame_samples(frames["clips"]) if frames else None, latents, layout)
    write_training_index(path, index)
    return index


def scenario_index(layout: DataLayout, scenario: str, shards: list[int]) -> list[dict] | None:
    """The training index rows of every shard of a scenario, shard by shard; None when no shard has one yet."""
    paths = [layout.training_index(scenario, shard) for shard in shards]
    if not any(path.exists() for path in paths):
        return None
    return [row for path in paths if path.exists() for row in read_training_index(path)]


@dataclass
class ScenarioRun:
    scenario: str
    shard: int
    frames: FrameStageResult
    latents: LatentStageResult | None = None
    index: TrainingIndex | None = None
    index_skipped: str = ""  # why no index was written
    clip_rows: list[dict] = field(default_factory=list)  # every per-clip row of every step, for failure summaries

    @property
    def key(self) -> str:
        return shard_key(self.scenario, self.shard)


def prepare_scenario(settings: PrepSettings, layout: DataLayout, scenario: str, shard: int = 0, *, encoder=None,
                     progress_for: Callable[[str], ProgressCallback | None] = lambda step: None) -> ScenarioRun:
    """Frames, then (with an encoder) latents and the training index: what the assets clip_frames, clip_latents
    and training_index do for one partition (a shard of a scenario), in order."""
    run = ScenarioRun(scenario, shard, prepare_frames(settings, layout, scenario, shard, progress=progress_for("frames")))
    run.clip_rows += run.frames.clips
    if encoder is not None:
        run.latents = encode_latents(settings, layout, scenario, shard, encoder, progress=progress_for("latents"))
        run.clip_rows += run.latents.clips
        machine_failures = environment_failures(run.latents.clips)
        if machine_failures:
            # The index lists what a trainer may load: not while caches are missing for a reason a rerun fixes (in
            # Dagster, the blocking check on clip_latents holds training_index back the same way).
            run.index_skipped = f"{len(machine_failures)} cache(s) failed for a reason of the machine; rerun to resume"
        else:
            run.index = write_index(settings, layout, scenario, shard)
    return run


# --- prompt embeddings and training exports -------------------------------------------------------------------


def load_text_encoder(encoder_settings, profile: ModelProfile | None = None):
    """The text encoder of the model profile (None: the default) for `encoder_settings` (lib.models.text_encoder.
    TextEncoderSettings; the tiny preset builds its own offline tokenizer). A pretrained encoder that cannot be had
    here is refused before torch and transformers are imported (seconds saved on the way to the one-line error)."""
    from prep_platform.lib.models.hub_models import refuse_if_unobtainable

    refuse_if_unobtainable(encoder_settings.hub_model(profile))
    from prep_platform.lib.models.text_encoder import TextEncoder

    return TextEncoder(encoder_settings, profile)


def encode_prompts(settings: PrepSettings, layout: DataLayout, scenario: str, shard: int, encoder, *,
                   progress: ProgressCallback | None = None) -> PromptStageResult:
    """Every prompt variant of the shard's records encoded once per distinct prompt; the shard's manifest."""
    from prep_platform.lib.stages.prompt_embeddings import run_prompt_stage, write_prompt_manifest

    records = scenario_records(settings, layout, scenario, shard)
    manifest = layout.prompt_embeds_manifest(scenario, shard)
    keep_output_unless_input(len(records), f"the metadata {layout.metadata_file} (splits: {settings.splits})", manifest,
                             rows_in(manifest), shard_key(scenario, shard))
    result = run_prompt_stage(records, layout, encoder, progress=progress)
    write_prompt_manifest(manifest, result, shard_key(scenario, shard))
    return result


def export_samples(settings: PrepSettings, layout: DataLayout, export_format: str,
                   scenarios: list[str] | None = None, *, order_seed: int = 0) -> tuple[CollectedSamples, list[str]]:
    """The samples of an export from the scenarios' training indexes (and prompt manifests), in the export's seeded
    order, with those left out and why; and the scenarios left out because they have no training index yet. A
    scenario name that is not one of the scenarios file's is refused (a typo would export nothing)."""
    from prep_platform.lib.exports.collect import collect_samples, spread_order
    from prep_platform.lib.exports.export import format_module
    from prep_platform.lib.stages.prompt_embeddings import merged_prompt_manifests, read_prompt_manifest

    module = format_module(export_format)
    model = settings.model()
    if module.NAME not in model.export_formats:  # a trainer that does not train this model: nothing it could load
        raise ValueError(f"the {module.NAME} format does not serve the {model.name} profile; its formats: "
                         f"{', '.join(model.export_formats)}")
    index_rows, manifests, unprepared = {}, {}, []
    shards = work_shards(settings, layout)
    for scenario in chosen_scenarios(settings, layout, scenarios):
        rows = scenario_index(layout, scenario, shards[scenario])
        if rows is None:
            unprepared.append(scenario)
            continue
        index_rows[scenario] = rows
        manifests[scenario] = merged_prompt_manifests(
            [read_prompt_manifest(layout.prompt_embeds_manifest(scenario, shard)) for shard in shards[scenario]])
    collected = collect_samples(layout, index_rows, manifests, splits=settings.export_split_names(),
                                need_embeddings=module.NEEDS_EMBEDDINGS, need_images=module.NEEDS_IMAGES)
    collected.samples = spread_order(collected.samples, order_seed)
    return collected, unprepared


def export_inputs(layout: DataLayout) -> dict[str, Path]:
    """What an export must never replace or write into: the data root and every input it is made from."""
    return {"data root": layout.root, "raw MSR-VTT folder": layout.msr_vtt.root, "raw VATEX folder": layout.vatex.root,
            "Panda-70M folder": layout.panda.root, "metadata folder": layout.metadata_file.parent,
            "frames folder": layout.frames_root, "images folder": layout.images_root,
            "latents folder": layout.latents_root, "prompt embeddings folder": layout.prompt_embeds_root}


def export_training_set(settings: PrepSettings, layout: DataLayout, export_format: str, *,
                        scenarios: list[str] | None = None, output: Path | None = None,
                        request: ExportRequest | None = None) -> ExportResult:
    """The export in the format's layout (default folder: <root>/exports/<format>), read back before it replaces
    the previous one; unchanged inputs, no writes."""
    from prep_platform.lib.exports.export import ExportRequest, run_export

    request = request or ExportRequest()
    collected, unprepared = export_samples(settings, layout, export_format, scenarios, order_seed=request.order_seed)
    return run_export(collected.samples, export_format, output or layout.export_root(export_format),
                      protected=export_inputs(layout), request=request, left_out=collected.left_out,
                      notes={"scenarios_without_training_index": unprepared})
