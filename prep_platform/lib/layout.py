"""Where everything lives: the one place that maps a data root and a frame configuration to paths. Nothing else
joins a data path by hand. Ids and scenario names are checked here, and every per-clip path is refused unless it
resolves inside its root, so nothing a dataset or a hand-edited metadata file says can place a file elsewhere.

    <root>/raw/msr-vtt/        MSRVTT_data.json, manifest.csv, download_report.json, train-video/<id>.mp4
    <root>/raw/vatex/          the split's annotation, vatex_manifest.json, download_report.json, videos/<id>.mp4
    <root>/raw/panda70m/       README.md, the user's CSVs, panda70m_subset.csv (+ report), shards/ (NNNNN/ or NNNNN.tar
                               as the downloader writes them), ingested/<shard>.csv (+ .captions.json, .report.json)
    <root>/metadata/           scenario_metadata.parquet (the store: a row group per shard of work), its view
                               scenario_metadata.json (the records in the seed's schema, with the image and latent
                               paths the stages made) and scenario_metadata.report.json
    <root>/prepared/frames/<profile>/<scenario>/shard-<nnnn>/   frames_manifest.json (a view; + .parquet: its rows),
                                                      contact_sheet.png
    <root>/prepared/images/<scenario>/<frame tag>/    <sample>.png: conditioning images, one folder per frame config
                                                      (the tag starts with the profile: cogvideox_720x480_49f_8fps_...)
    <root>/prepared/latents/<profile>/<scenario>/     <sample>.npz, <sample>.hflip.npz
    <root>/prepared/latents/<profile>/<scenario>/shard-<nnnn>/  latents_manifest.json (+ .parquet: its rows),
                                                      training_index.parquet
    <root>/prepared/prompt_embeds/<encoder tag>/<prompt sha256>.safetensors   one file per distinct prompt (shared
                                                      by the profiles whose text encoders are the same)
    <root>/prepared/prompt_embeds/manifests/<profile>/<scenario>/shard-<nnnn>.json (+ .parquet)   variants -> files
    <root>/exports/<format>/   a trainer's layout (export.json maps every stem to its clip)
    <root>/cache/torch/        torch.compile's caches (inductor/, triton/): the next process skips the compile
    <root>/cache/labels/<label model tag>/part-<n>-<pid>.npz   caption embeddings of the scenario labeller
    <root>/cache/models/all-MiniLM-L6-v2-<weights sha256[:12]>/   the label model, unpacked
    <root>/cache/metadata-build/<host>-<pid>-<random>/   a metadata build's spilled records while it runs (removed
                               after): scenario-<n>.parquet (+ -bucket-<b>.parquet), excluded.jsonl
    <root>/eval/vatex/         vatex_eval_prompts.json, images/

`<profile>` is the model profile of the frame configuration (lib.profiles: cogvideox, cogvideox1.5, ...): two
profiles' caches live side by side and neither is taken for the other's.

Work is done per shard of a scenario (lib.shards: at most `shard_size` clips, a Dagster partition): each shard has
its own manifests; the per-sample files of all shards share the scenario's folders, so a clip never changes folder
with its shard.

A sample is one training window of a clip: `<id>` for its first window, `<id>__w<k>` for the k-th more
(`sample_id`); every per-sample file, index row and export stem uses that name.

A command-line user may point a source folder, the metadata file or a prepared folder elsewhere (`relocated`);
everything else follows from the root. A file fetched from the Hub keeps its resume bookkeeping in `.hub/`
beside it (HubBookkeeping); a manifest view `<name>.json` has its rows in `<name>.parquet` beside it.

What this module does not name: the files inside an export folder (the trainer's format: lib.exports' format
modules), the members of a downloaded Panda-70M shard (the downloader's format), the files of a mirror laid out like
a Hub repo, and what lies beside a target only while it is replaced (temp files, partial and old folders and their
owner files, lock files: lib.files.atomic, `beside`). test_layout's scan refuses any other path joined by hand in lib.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from prep_platform.lib.safe_paths import UnsafeIdError, check_id, path_inside, unsafe_id_reason
from prep_platform.lib.shards import shard_folder_name
from prep_platform.lib.frame_config import FrameConfig

SAMPLE_RELEASE_DIR = ".sample-release"  # where a source's embedded sample is generated, inside its raw folder
WINDOW_SUFFIX = "__w"


def sample_id(video_id: str, window_index: int) -> str:
    """The name of a clip's window everywhere (conditioning image, latent file, training-index row, export stem):
    the clip's own id for its first window, so one window per clip names files as before; `<id>__w<k>` after."""
    return video_id if window_index == 0 else f"{video_id}{WINDOW_SUFFIX}{window_index}"


def sample_id_of(row: dict) -> str:
    """The sample a manifest or index row is about (rows written before windows had a sample id: the clip)."""
    return row.get("sample_id") or row["video_id"]


def looks_like_window_sample(video_id: str) -> bool:
    """A clip id that a window of another clip could be named (`x__w2`): refused when clips give several windows."""
    head, sep, tail = video_id.rpartition(WINDOW_SUFFIX)
    return bool(sep and head and tail.isdigit())


@dataclass(frozen=True)
class MsrVttFolder:
    """A raw MSR-VTT folder, as download_msr_vtt writes it."""

    root: Path

    @property
    def annotation(self) -> Path:
        return self.root / "MSRVTT_data.json"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.csv"

    @property
    def report(self) -> Path:
        return self.root / "download_report.json"

    @property
    def clips_dir(self) -> Path:
        return self.root / "train-video"

    @property
    def sample_release(self) -> Path:
        return self.root / SAMPLE_RELEASE_DIR

    def clip(self, video_id: str) -> Path:
        return path_inside(self.clips_dir, f"{check_id(video_id, 'video_id')}.mp4")

    def download(self, name_in_repo: str) -> Path:
        """Where a file fetched from the Hub lands (its base name, inside this folder)."""
        return path_inside(self.root, Path(name_in_repo).name)


@dataclass(frozen=True)
class VatexFolder:
    """A raw VATEX folder, as download_vatex writes it."""

    root: Path

    def annotation(self, name_in_repo: str) -> Path:
        return path_inside(self.root, Path(name_in_repo).name)

    @property
    def manifest(self) -> Path:
        return self.root / "vatex_manifest.json"

    @property
    def report(self) -> Path:
        return self.root / "download_report.json"

    @property
    def videos_dir(self) -> Path:
        return self.root / "videos"

    @property
    def sample_release(self) -> Path:
        return self.root / SAMPLE_RELEASE_DIR

    def video(self, video_id: str) -> Path:
        return path_inside(self.videos_dir, f"{check_id(video_id, 'VATEX videoID')}.mp4")


@dataclass(frozen=True)
class PandaFolder:
    """The Panda-70M folder: the instructions, the CSVs a user puts there, the subset, the downloaded shards."""

    root: Path

    @property
    def readme(self) -> Path:
        return self.root / "README.md"

    @property
    def subset_csv(self) -> Path:
        return self.root / "panda70m_subset.csv"

    @property
    def subset_report(self) -> Path:
        return self.root / "panda70m_subset_report.json"

    @property
    def shards_dir(self) -> Path:
        return self.root / "shards"

    @property
    def ingested_dir(self) -> Path:
        return self.root / "ingested"

    def user_csvs(self) -> list[Path]:
        """The CSVs a user put in the folder, in name order (the subset this tool writes is not one of them)."""
        if not self.root.is_dir():
            return []
        return sorted(path for path in self.root.glob("*.csv") if path.name != self.subset_csv.name)

    def ingested_manifest(self, shard: str) -> Path:
        """The probed clips of one download shard (`00000` or `00001.tar`), in the clip-manifest format."""
        return path_inside(self.ingested_dir, f"{check_id(shard, 'download shard')}.csv")

    def ingested_captions(self, shard: str) -> Path:
        return path_inside(self.ingested_dir, f"{check_id(shard, 'download shard')}.captions.json")

    def ingest_report(self, shard: str) -> Path:
        """Written last by a shard's ingest: its signature, counts and failures (the shard is done when it exists)."""
        return path_inside(self.ingested_dir, f"{check_id(shard, 'download shard')}.report.json")


@dataclass(frozen=True)
class EvalFolder:
    root: Path

    @property
    def prompts(self) -> Path:
        return self.root / "vatex_eval_prompts.json"

    @property
    def images_dir(self) -> Path:
        return self.root / "images"


def metadata_report_path(metadata_file: Path | str) -> Path:
    """`scenario_metadata.report.json` beside `scenario_metadata.json`: the report travels with its file."""
    metadata_file = Path(metadata_file)
    return metadata_file.with_name(metadata_file.stem + ".report.json")


def metadata_view_path(metadata_file: Path | str) -> Path:
    """`scenario_metadata.json` beside the store `scenario_metadata.parquet` (a JSON document is its own view)."""
    metadata_file = Path(metadata_file)
    return metadata_file.with_suffix(".json") if metadata_file.suffix == ".parquet" else metadata_file


def metadata_excluded_path(metadata_file: Path | str) -> Path:
    """`scenario_metadata.excluded.jsonl`: every clip the metadata kept out, with the reason, one per line."""
    metadata_file = Path(metadata_file)
    return metadata_file.with_name(metadata_file.stem + ".excluded.jsonl")


def variant_path(latent_path: Path | str, augmentation: str) -> Path:
    """`video7.npz` for the clip itself, `video7.hflip.npz` for its flipped variant."""
    latent_path = Path(latent_path)
    return latent_path if augmentation == "none" else latent_path.with_name(f"{latent_path.stem}.{augmentation}.npz")


def metadata_store_path(view_file: Path | str) -> Path:
    """`scenario_metadata.parquet` beside the view `scenario_metadata.json` (a build asked for the JSON writes the
    store there: the inverse of metadata_view_path)."""
    return Path(view_file).with_suffix(".parquet")


def view_store_path(view_file: Path | str, recorded_name: str) -> Path:
    """The store a view records, beside the view: only the recorded name's base name counts (a view never points
    elsewhere)."""
    return Path(view_file).with_name(Path(recorded_name).name)


def manifest_rows_path(view_file: Path | str) -> Path:
    """`frames_manifest.parquet` beside the manifest view `frames_manifest.json` (files.row_table)."""
    return Path(view_file).with_suffix(".parquet")


# --- a scenario's latent folder --------------------------------------------------------------------------------


def latent_in(folder: Path | str, video_id: str, augmentation: str = "none") -> Path:
    """A sample's latent cache in a scenario's latent folder (DataLayout.latent; also the folders
    DataLayout.latent_scenario_folders lists, where a relabelled clip's cache is looked for)."""
    return variant_path(path_inside(folder, f"{check_id(video_id, 'video_id')}.npz"), augmentation)


def latent_files(folder: Path | str) -> list[Path]:
    """Every latent cache in a scenario's latent folder (every sample's, every variant), in name order."""
    folder = Path(folder)
    return sorted(folder.glob("*.npz")) if folder.is_dir() else []


def clip_of_latent_file(path: Path | str) -> str:
    """The clip a latent cache is of: `video7` for video7.npz, video7__w2.npz and video7__w2.hflip.npz."""
    return Path(path).name.split(".", 1)[0].rsplit(WINDOW_SUFFIX, 1)[0]


# --- the cache folder --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CacheFolder:
    """`<root>/cache`: derived, rebuildable data (removing it costs time, never data)."""

    root: Path

    @property
    def torch(self) -> Path:
        """torch.compile's caches (compile_cache_folders)."""
        return self.root / "torch"

    @property
    def labels(self) -> Path:
        """Caption embeddings of the scenario labeller, a folder per label model (label_embeddings_folder)."""
        return self.root / "labels"

    @property
    def models(self) -> Path:
        """The packaged label model, unpacked (unpacked_label_model)."""
        return self.root / "models"

    @property
    def metadata_build(self) -> Path:
        """Metadata builds' spilled records while they run, a folder per build (spill_folder_prefix, SpillFolder)."""
        return self.root / "metadata-build"


def compile_cache_folders(compile_cache: Path | str) -> tuple[Path, Path]:
    """(inductor's FX-graph cache, Triton's kernels) in torch.compile's cache folder (CacheFolder.torch)."""
    compile_cache = Path(compile_cache)
    return compile_cache / "inductor", compile_cache / "triton"


def label_embeddings_folder(labels_folder: Path | str, model_tag: str) -> Path:
    """One label model's caption embeddings (labelling.embedding) in CacheFolder.labels: another model's are never
    taken for these."""
    return path_inside(labels_folder, check_id(model_tag, "label model tag"))


def label_embedding_parts(folder: Path | str) -> list[Path]:
    """The parts of a label model's embedding cache (`part-<n>-<pid>.npz`), in name order."""
    folder = Path(folder)
    return sorted(folder.glob("part-*.npz")) if folder.is_dir() else []


def label_embedding_part(folder: Path | str, number: int, pid: int) -> Path:
    """The `number`-th part of a label model's embedding cache, written by process `pid` (two runs never write one
    name)."""
    return Path(folder) / f"part-{number:05d}-{pid}.npz"


def unpacked_label_model(models_dir: Path | str, weights_sha256: str) -> Path:
    """The packaged label model unpacked in `models_dir` (CacheFolder.models), named by its weights' pin: a model of
    another pin unpacks beside it, never over it."""
    return path_inside(models_dir, f"all-MiniLM-L6-v2-{check_id(weights_sha256, 'label model weights sha256')[:12]}")


def spill_folder_prefix(host: str, pid: int) -> str:
    """How a metadata build's spill folder in CacheFolder.metadata_build begins (`<host>-<pid>-`, then a random
    tail): the next build of the host tells a dead build's folder by it."""
    return f"{host}-{pid}-"


def spill_folders_of_host(parent: Path | str, host: str) -> list[tuple[Path, str]]:
    """The spill folders in `parent` that builds of `host` made, each with the pid its name records."""
    parent = Path(parent)
    if not parent.is_dir():
        return []
    return [(folder, folder.name[len(host) + 1:].split("-", 1)[0]) for folder in sorted(parent.glob(f"{host}-*-*"))]


@dataclass(frozen=True)
class SpillFolder:
    """One metadata build's spill (files.metadata_store, its spill): its records until it writes the store."""

    root: Path

    def records(self, number: int) -> Path:
        """The spilled records of the `number`-th scenario the build met."""
        return self.root / f"scenario-{number:04d}.parquet"

    def bucket(self, records: Path | str, bucket: int) -> Path:
        """A bucket of whole shards dealt from a scenario's records, when they are more than a bucket."""
        return self.root / f"{Path(records).stem}-bucket-{bucket:04d}.parquet"

    @property
    def excluded(self) -> Path:
        """The clips the build keeps out, while it runs (copied beside the store: metadata_excluded_path)."""
        return self.root / "excluded.jsonl"


HUB_BOOKKEEPING_DIR = ".hub"


@dataclass(frozen=True)
class HubBookkeeping:
    """A Hub download's resume bookkeeping (files.hub), in `.hub/` beside the file it fetches (`dest`)."""

    dest: Path

    @property
    def folder(self) -> Path:
        return Path(self.dest).parent / HUB_BOOKKEEPING_DIR

    @property
    def record(self) -> Path:
        """What the finished download was (etag, size, commit): a current copy is not fetched again."""
        return self.folder / f"{Path(self.dest).name}.json"

    @property
    def part(self) -> Path:
        """The bytes fetched so far."""
        return self.folder / f"{Path(self.dest).name}.part"

    @property
    def part_record(self) -> Path:
        """Which version the part is of (a part of another etag is not resumed)."""
        return self.folder / f"{Path(self.dest).name}.part.json"


@dataclass(frozen=True)
class DataLayout:
    """Every path of a data root. `frame_config` names the conditioning images' folder (a run with another
    configuration writes beside, never over, them)."""

    root: Path = Path("data")
    frame_config: FrameConfig = FrameConfig()
    # Places a command-line user moved (None: under the root).
    msr_vtt_at: Path | None = None
    panda_at: Path | None = None
    vatex_at: Path | None = None
    metadata_file_at: Path | None = None
    frames_root_at: Path | None = None
    images_root_at: Path | None = None
    latents_root_at: Path | None = None
    prompt_embeds_root_at: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def relocated(self, **places: Path | str | None) -> DataLayout:
        """The same layout with the named places (msr_vtt, panda, vatex, metadata_file, frames_root, images_root,
        latents_root) moved; None keeps a place where it is."""
        return dataclasses.replace(self, **{f"{name}_at": Path(path) for name, path in places.items() if path is not None})

    def with_latents_root(self, latents_root: Path | str | None, *, frames_root: Path | str | None = None,
                          images_root: Path | str | None = None) -> DataLayout:
        """The latent caches moved to `latents_root`; frame manifests and images go beside it (`../frames`,
        `../images`) unless given. None keeps the layout as it is."""
        if latents_root is None:
            return self.relocated(frames_root=frames_root, images_root=images_root)
        latents_root = Path(latents_root)
        return self.relocated(latents_root=latents_root, frames_root=frames_root or latents_root.parent / "frames",
                              images_root=images_root or latents_root.parent / "images")

    def with_frame_config(self, frame_config: FrameConfig) -> DataLayout:
        return dataclasses.replace(self, frame_config=frame_config)

    @classmethod
    def around_metadata_file(cls, metadata_file: Path | str) -> DataLayout:
        """The standard layout of the data root that holds `metadata_file` in its metadata folder
        (`<root>/metadata/<name>`), with the metadata file where it is."""
        metadata_file = Path(metadata_file)
        return cls(root=metadata_file.parent.parent).relocated(metadata_file=metadata_file)

    # --- raw sources -------------------------------------------------------------------------------------
    @property
    def msr_vtt(self) -> MsrVttFolder:
        return MsrVttFolder(self.msr_vtt_at or self.root / "raw" / "msr-vtt")

    @property
    def vatex(self) -> VatexFolder:
        return VatexFolder(self.vatex_at or self.root / "raw" / "vatex")

    @property
    def panda(self) -> PandaFolder:
        return PandaFolder(self.panda_at or self.root / "raw" / "panda70m")

    # --- scenario metadata -------------------------------------------------------------------------------
    @property
    def metadata_file(self) -> Path:
        """The metadata store (Parquet); a command-line user may name a JSON {train, validation} document instead."""
        return self.metadata_file_at or self.root / "metadata" / "scenario_metadata.parquet"

    @property
    def metadata_view(self) -> Path:
        """What a person (and the seed's `jq '.train[0]'`) reads: the records in the seed's schema with their image
        and latent paths (stages.metadata, its view); a tool given it reads the store."""
        return metadata_view_path(self.metadata_file)

    @property
    def metadata_report(self) -> Path:
        return metadata_report_path(self.metadata_file)

    # --- prepared, per scenario --------------------------------------------------------------------------
    @property
    def prepared_root(self) -> Path:
        return self.root / "prepared"

    @property
    def frames_root(self) -> Path:
        return self.frames_root_at or self.prepared_root / "frames"

    @property
    def images_root(self) -> Path:
        return self.images_root_at or self.prepared_root / "images"

    @property
    def latents_root(self) -> Path:
        return self.latents_root_at or self.prepared_root / "latents"

    @property
    def profile(self) -> str:
        """The model profile the frame configuration is for: its caches have folders of their own."""
        return self.frame_config.profile

    def frames_folder(self, scenario: str) -> Path:
        return path_inside(self.frames_root, check_id(self.profile, "profile"), check_id(scenario, "scenario"))

    def frames_shard_folder(self, scenario: str, shard: int) -> Path:
        return self.frames_folder(scenario) / shard_folder_name(shard)

    def frames_manifest(self, scenario: str, shard: int) -> Path:
        return self.frames_shard_folder(scenario, shard) / "frames_manifest.json"

    def contact_sheet(self, scenario: str, shard: int) -> Path:
        return self.frames_shard_folder(scenario, shard) / "contact_sheet.png"

    def image_folder(self, scenario: str) -> Path:
        return path_inside(self.images_root, check_id(scenario, "scenario"), self.frame_config.tag)

    def image(self, scenario: str, video_id: str, frame_tag: str | None = None) -> Path:
        """The conditioning PNG of a sample, for this layout's frame configuration or the one `frame_tag` names
        (an export takes the tag from the latent's header, whatever size the settings say)."""
        if frame_tag is None:
            return path_inside(self.image_folder(scenario), f"{check_id(video_id, 'video_id')}.png")
        folder = path_inside(self.images_root, check_id(scenario, "scenario"), check_id(frame_tag, "frame tag"))
        return path_inside(folder, f"{check_id(video_id, 'video_id')}.png")

    def latents_folder(self, scenario: str) -> Path:
        return path_inside(self.latents_root, check_id(self.profile, "profile"), check_id(scenario, "scenario"))

    def latent_scenario_folders(self) -> list[Path]:
        """This profile's latent folders that exist, one per scenario (where a relabelled clip's cache is looked
        for before it is encoded again, by latent_in): a folder no scenario could be named, or that leads out of
        the latents root, is not one of ours and is left out."""
        profile_root = path_inside(self.latents_root, check_id(self.profile, "profile"))
        if not profile_root.is_dir():
            return []
        found = []
        for folder in sorted(profile_root.iterdir()):
            if folder.is_dir() and unsafe_id_reason(folder.name) is None:
                try:
                    found.append(self.latents_folder(folder.name))
                except UnsafeIdError:
                    continue  # a link out of the root
        return found

    def latent(self, scenario: str, video_id: str, augmentation: str = "none") -> Path:
        return latent_in(self.latents_folder(scenario), video_id, augmentation)

    def latents_shard_folder(self, scenario: str, shard: int) -> Path:
        return self.latents_folder(scenario) / shard_folder_name(shard)

    def latents_manifest(self, scenario: str, shard: int) -> Path:
        return self.latents_shard_folder(scenario, shard) / "latents_manifest.json"

    def training_index(self, scenario: str, shard: int) -> Path:
        return self.latents_shard_folder(scenario, shard) / "training_index.parquet"

    @property
    def prompt_embeds_root(self) -> Path:
        return self.prompt_embeds_root_at or self.prepared_root / "prompt_embeds"

    def prompt_embedding_folder(self, encoder_tag: str) -> Path:
        """One folder per text encoder identity: another encoder's embeddings are never taken for these."""
        return path_inside(self.prompt_embeds_root, check_id(encoder_tag, "text encoder tag"))

    def prompt_embedding(self, encoder_tag: str, prompt_sha256: str) -> Path:
        return self.prompt_embedding_folder(encoder_tag) / f"{check_id(prompt_sha256, 'prompt sha256')}.safetensors"

    def prompt_embeds_manifest(self, scenario: str, shard: int) -> Path:
        return path_inside(self.prompt_embeds_root, "manifests", check_id(self.profile, "profile"),
                           check_id(scenario, "scenario"), f"{shard_folder_name(shard)}.json")

    @property
    def cache_root(self) -> Path:
        """Derived, rebuildable data: compile caches, caption embeddings (`labels/`), the unpacked label model."""
        return self.root / "cache"

    @property
    def cache(self) -> CacheFolder:
        return CacheFolder(self.cache_root)

    @property
    def metadata_spill_root(self) -> Path:
        """Where a metadata build spills its labelled records until it writes the store (files.metadata_store, its spill)."""
        return self.cache.metadata_build

    @property
    def compile_cache(self) -> Path:
        """torch.compile's caches (inductor FX graphs, Triton kernels): kept so the next run skips the compile."""
        return self.cache.torch

    def export_root(self, export_format: str) -> Path:
        return path_inside(self.root / "exports", check_id(export_format, "export format"))

    # --- evaluation --------------------------------------------------------------------------------------
    @property
    def eval(self) -> EvalFolder:
        return EvalFolder(self.root / "eval" / "vatex")

    # --- disk use ----------------------------------------------------------------------------------------
    def layers(self) -> dict[str, tuple[Path, ...]]:
        """The folders of each data layer, for measured sizes and budgets."""
        return {
            "raw": (self.root / "raw",),
            "metadata": (self.metadata_file.parent,),
            "frames": (self.frames_root, self.images_root),
            "latents": (self.latents_root, self.prompt_embeds_root, self.compile_cache),
            "eval": (self.root / "eval",),
            "exports": (self.root / "exports",),
        }
