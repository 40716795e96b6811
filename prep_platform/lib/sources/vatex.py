"""VATEX (evaluation, multilingual): annotation download and parsing, per-clip video fetch from a mirror with
ok / unavailable / failed status and retry of failures, and the evaluation prompt set.

Output folder:
    <annotation file>          e.g. vatex_validation_v1.0.json, as downloaded
    videos/<videoID>.mp4       clips found in the mirror
    vatex_manifest.json        one entry per clip: parsed id, caption counts, video status and reason, attempts
    download_report.json       source, revision, commit, counts, storage
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field, TypeAdapter, ValidationError
from typing_extensions import NotRequired, TypedDict

from prep_platform import __version__
from prep_platform.lib.files.atomic import copy_atomic, write_json_atomic
from prep_platform.lib.files.hub import HubDownloadError, HubFileNotFoundError, download_hub_file, redact_endpoint, resolve_endpoint
from prep_platform.lib.sources.msr_vtt import format_validation_error
from prep_platform.lib.frames.read import probe_video
from prep_platform.lib.layout import VatexFolder
from prep_platform.lib.safe_paths import UNSAFE_ID, UnsafeIdError, path_inside, unsafe_id_reason
from prep_platform.lib.progress import ProgressCallback

ANNOTATION_FILES = {
    "training": "vatex_training_v1.0.json",
    "validation": "vatex_validation_v1.0.json",
    "public_test": "vatex_public_test_english_v1.1.json",
}
# Video statuses: not_requested (no --download-videos), ok, unavailable (not in the mirror), failed (with reason),
# unsafe_id (a videoID that cannot be a file name: never fetched, never written).
OK, UNAVAILABLE, FAILED, NOT_REQUESTED = "ok", "unavailable", "failed", "not_requested"

NOT_CONFIGURED = "not_configured"  # report state: no source set up (VATEX has no canonical Hub repo)



class VatexError(ValueError):
    """Bad VATEX input or configuration; the message names the file or setting and the problem."""


class VatexEntry(TypedDict):
    videoID: str = Field(min_length=1)
    enCap: list[str]
    chCap: NotRequired[list[str]]


_ANNOTATION = TypeAdapter(list[VatexEntry])


def parse_video_id(video_id: str) -> tuple[str, float, float]:
    """`<youtube id>_<start, 6 digits>_<end, 6 digits>` -> (youtube id, start s, end s). YouTube ids may hold `_`."""
    parts = video_id.rsplit("_", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit() or not parts[0]:
        raise ValueError(f"videoID {video_id!r} is not <youtube id>_<start>_<end>")
    start, end = float(parts[1]), float(parts[2])
    if end <= start:
        raise ValueError(f"videoID {video_id!r}: end {end:g} s is not after start {start:g} s")
    return parts[0], start, end


def load_vatex_annotation(path: Path | str) -> list[dict]:
    """Parse and validate a VATEX annotation file; errors name the file and each bad entry."""
    path = Path(path)
    try:
        entries = _ANNOTATION.validate_json(path.read_bytes())
    except OSError as exc:
        raise VatexError(f"{path}: cannot read the VATEX annotation: {exc}") from exc
    except ValidationError as exc:
        raise VatexError(f"{path}: not a valid VATEX annotation:\n  " + "\n  ".join(format_validation_error(exc))) from exc
    problems = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        try:
            parse_video_id(entry["videoID"])
        except ValueError as exc:
            problems.append(f"[{index}].videoID: {exc}")
        if entry["videoID"] in seen:
            problems.append(f"[{index}].videoID: duplicate {entry['videoID']!r}")
        seen.add(entry["videoID"])
    if problems:
        raise VatexError(f"{path}: invalid VATEX annotation:\n  " + "\n  ".join(problems[:10]))
    return entries


@dataclass
class VatexSourceConfig:
    """`hub` (an annotation repo + a video mirror repo holding `<prefix><videoID>.mp4`), `sample`, or a local
    folder laid out like such a repo (annotation file at its root, clips under the prefix)."""

    source: str = "hub"
    repo_id: str | None = None
    revision: str = "main"
    annotation_file: str | None = None  # default: the split's official file name
    video_repo_id: str | None = None  # default: the annotation repo
    video_revision: str = "main"
    video_prefix: str = "videos/"
    endpoint: str | None = None
    token: str | None = field(default=None, repr=False)
    sample_release: Path | None = None  # the embedded release's folder for `sample`: placed by pipeline.fetch_vatex


@dataclass
class VatexResult:
    output_dir: Path
    annotation_path: Path
    clips: list[dict]
    report: dict

    @property
    def video_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(clip["video_status"] for clip in self.clips).items()))


def _resolve_release(config: VatexSourceConfig, output_dir: Path) -> Path | None:
    if config.source == "hub":
        if not config.repo_id:
            raise VatexError(
                "VATEX has no canonical Hub repo: pass --repo-id (a dataset repo holding the annotation files) and "
                "--video-repo-id (a mirror holding <videoID>.mp4), or use --source sample / a local folder"
            )
        return None
    if config.source == "sample":
        if config.sample_release is None:
            raise VatexError("--source sample: the sample release was not placed (pipeline.fetch_vatex places it)")
        return Path(config.sample_release)
    release = Path(config.source)
    if not release.is_dir():
        raise VatexError(f"--source {config.source!r}: not found (a folder laid out like a VATEX repo; or 'hub', "
                         f"'sample')")
    return release


def download_vatex(
    output_dir: Path | str,
    *,
    config: VatexSourceConfig | None = None,
    split: str = "validation",
    limit: int | None = 50,
    download_videos: bool = False,
    retry_failed: bool = False,
    progress: ProgressCallback | None = None,
) -> VatexResult:
    config = config or VatexSourceConfig()
    if split not in ANNOTATION_FILES:
        raise VatexError(f"unknown VATEX split {split!r}; choose one of {', '.join(ANNOTATION_FILES)}")
    output_dir = Path(output_dir)
    folder = VatexFolder(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    annotation_name = config.annotation_file or ANNOTATION_FILES[split]
    release = _resolve_release(config, output_dir)
    annotation_path = folder.annotation(annotation_name)
    provenance: dict = {"source": config.source, "split": split}
    if release is None:
        record = download_hub_file(config.repo_id, annotation_name, annotation_path, revision=config.revision,
                                   endpoint=config.endpoint, token=config.token)
        provenance.update(endpoint=redact_endpoint(resolve_endpoint(config.endpoint)), repo_id=config.repo_id, revision=config.revision,
                          commit=record.commit, annotation=record.as_dict(),
                          video_repo_id=config.video_repo_id or config.repo_id)
    else:
        source_file = release / annotation_name
        if not source_file.is_file():
            raise VatexError(f"{release}: expected the annotation file {annotation_name}")
        load_vatex_annotation(source_file)  # a broken one is refused before it replaces an earlier run's copy
        copy_atomic(source_file, annotation_path)
        provenance["release_dir"] = str(release)
    entries = load_vatex_annotation(annotation_path)
    if limit is not None:
        entries = entries[:limit]

    manifest_path = folder.manifest
    previous = {c["video_id"]: c for c in json.loads(manifest_path.read_text())["clips"]} if manifest_path.exists() else {}
    clips: list[dict] = []
    counts: Counter = Counter()
    for done, entry in enumerate(entries, start=1):
        youtube_id, start_s, end_s = parse_video_id(entry["videoID"])
        clip = {
            "video_id": entry["videoID"], "youtube_id": youtube_id, "start_s": start_s, "end_s": end_s,
            "en_captions": len(entry["enCap"]), "zh_captions": len(entry.get("chCap", [])),
            "video_status": NOT_REQUESTED, "reason": "", "video_path": None, "bytes": None, "attempts": 0,
        }
        before = previous.get(clip["video_id"])
        if before:
            clip.update({k: before[k] for k in ("video_status", "reason", "video_path", "bytes", "attempts")})
        unsafe = unsafe_id_reason(clip["video_id"])
        if unsafe:
            clip.update(video_status=UNSAFE_ID, reason=unsafe, video_path=None, bytes=None)
        elif download_videos and _should_attempt(clip["video_status"], retry_failed):
            clip.update(_fetch_video(clip["video_id"], config, release, folder))
            clip["attempts"] += 1
        clips.append(clip)
        counts[clip["video_status"]] += 1
        if progress:
            progress(done, len(entries), counts)

    write_json_atomic(manifest_path, {"split": split, "annotation": str(annotation_path), "clips": clips})
    video_counts = dict(sorted(counts.items()))
    requested = sum(n for status, n in video_counts.items() if status != NOT_REQUESTED)
    report = {
        "tool": "prep_platform.data_prep.download_vatex",
        "package_version": __version__,
        "state": "downloaded",
        "provenance": provenance,
        "settings": {"split": split, "limit": limit, "download_videos": download_videos, "retry_failed": retry_failed,
                     "video_prefix": config.video_prefix},
        "clips": len(clips),
        "video_counts": video_counts,
        "available_share": round(video_counts.get(OK, 0) / requested, 4) if requested else None,
        "storage_bytes": sum(clip["bytes"] or 0 for clip in clips if clip["video_status"] == OK)
        + annotation_path.stat().st_size,
        "duration_s": round(time.time() - started, 3),
    }
    write_json_atomic(folder.report, report)
    return VatexResult(output_dir, annotation_path, clips, report)


def write_not_configured(output_dir: Path | str, hint: str) -> dict | None:
    """Record that no VATEX source is set up (the report says what to set), unless an earlier run downloaded VATEX
    here: a setting that names no source does not undo what a configured one did (a switch to `hub` without
    PREP_PLATFORM_VATEX_REPO deleted the sample's manifest), so that download is left byte for byte and its report,
    which says where it came from, is returned."""
    folder = VatexFolder(Path(output_dir))
    earlier = read_json_report(folder.report)
    if earlier is not None and earlier.get("state", "downloaded") != NOT_CONFIGURED and folder.manifest.exists():
        return earlier
    write_json_atomic(folder.report, {
        "tool": "prep_platform.data_prep.download_vatex", "package_version": __version__, "state": NOT_CONFIGURED,
        "what_to_set": hint, "clips": 0, "video_counts": {}, "available_share": None,
    })


def read_json_report(path: Path) -> dict | None:
    """A download report, or None when there is none (or it is not a JSON object: nothing to keep)."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def read_vatex_state(output_dir: Path | str) -> str | None:
    """`not_configured`, `downloaded`, or None when nothing was materialised yet."""
    report = VatexFolder(Path(output_dir)).report
    if not report.exists():
        return None
    return json.loads(report.read_text()).get("state", "downloaded")


def _should_attempt(status: str, retry_failed: bool) -> bool:
    """New clips always; failed ones only when asked; ok and unavailable ones never again."""
    return status == NOT_REQUESTED or (status == FAILED and retry_failed)


def _fetch_video(video_id: str, config: VatexSourceConfig, release: Path | None, folder: VatexFolder) -> dict:
    name = f"{config.video_prefix}{video_id}.mp4"
    try:
        dest = folder.video(video_id)
        # a mirror entry is never read from outside the mirror either
        source = path_inside(release, name) if release is not None else None
    except UnsafeIdError as exc:
        return {"video_status": UNSAFE_ID, "reason": str(exc)}
    try:
        if release is None:
            download_hub_file(config.video_repo_id or config.repo_id, name, dest, revision=config.video_revision,
                              endpoint=config.endpoint, token=config.token)
        else:
            if not source.is_file():
                return {"video_status": UNAVAILABLE, "reason": f"{name} is not in the mirror {release}"}
            copy_atomic(source, dest)
    except HubFileNotFoundError:
        return {"video_status": UNAVAILABLE, "reason": f"{name} is not in the mirror"}
    except HubDownloadError as exc:
        return {"video_status": FAILED, "reason": str(exc)}
    except OSError as exc:
        return {"video_status": FAILED, "reason": f"{dest}: {exc}"}
    probe = probe_video(dest)
    if probe.status != "ok":
        return {"video_status": FAILED, "reason": f"downloaded but not usable: {probe.status}: {probe.error}",
                "video_path": str(dest), "bytes": dest.stat().st_size if dest.exists() else None}
    return {"video_status": OK, "reason": "", "video_path": str(dest), "bytes": dest.stat().st_size}


# --- evaluation prompts -----------------------------------------------------------------------------------



def build_vatex_eval_prompts(
    vatex_dir: Path | str,
    *,
    scenarios=None,  # ScenarioConfig, a YAML path, or None for the packaged file
    width: int = 720,
    height: int = 480,
    images_dir: Path | str,
    labeller=None,
) -> dict:
    """Per clip: English and Chinese captions, the scenario from the training labeller (English captions), and
    for clips with video the conditioning image (first frame, cover-cropped to the training size)."""
    from prep_platform.lib.frames.stage import write_png
    from prep_platform.lib.frame_config import FrameConfig
    from prep_platform.lib.frames.read import read_window
    from prep_platform.lib.scenarios import ScenarioConfig, load_scenarios

    vatex_dir, images_dir = Path(vatex_dir), Path(images_dir)
    manifest = json.loads(VatexFolder(vatex_dir).manifest.read_text())
    entries = {e["videoID"]: e for e in load_vatex_annotation(manifest["annotation"])}
    config = scenarios if isinstance(scenarios, ScenarioConfig) else load_scenarios(scenarios)
    if labeller is None:
        from prep_platform.lib.labelling.labellers import make_labeller

        labeller = make_labeller(config)
    first_frame = FrameConfig(width=width, height=height, frames=1)
    labeller.prepare([c for clip in manifest["clips"] for c in entries[clip["video_id"]]["enCap"]])  # kept cached
    prompts = []
    for clip in manifest["clips"]:
        entry = entries[clip["video_id"]]
        english, chinese = entry["enCap"], entry.get("chCap", [])
        label = labeller.label(english)
        prompt = {
            "video_id": clip["video_id"], "youtube_id": clip["youtube_id"], "start_s": clip["start_s"], "end_s": clip["end_s"],
            "scenario": label.scenario, "label_reason": label.reason, "label": label.evidence,
            "prompt_en": english[label.supporting[0]] if label.supporting else (english[0] if english else ""),
            "prompt_zh": chinese[0] if chinese else "",
            "captions": {"en": english, "zh": chinese},
            "video_status": clip["video_status"], "image_path": None, "image_status": "no_video",
        }
        unsafe = unsafe_id_reason(clip["video_id"])
        if unsafe:  # a manifest edited by hand after the download: its id still never becomes a path
            prompt["video_status"], prompt["image_status"] = UNSAFE_ID, f"{UNSAFE_ID}: {unsafe}"
        elif clip["video_status"] == OK:
            window = read_window(clip["video_path"], first_frame, count_all=False)
            if window.status == "ok":
                path = path_inside(images_dir, f"{clip['video_id']}.png")
                write_png(path, window.first_frame)
                prompt["image_path"], prompt["image_status"] = str(path), "ok"
            else:
                prompt["image_status"] = f"{window.status}: {window.reason}"
        prompts.append(prompt)
    summary: dict[str, dict[str, int]] = {}
    for prompt in prompts:
        row = summary.setdefault(prompt["scenario"] or "unlabelled", {"en": 0, "zh": 0, "with_image": 0})
        row["en"] += bool(prompt["prompt_en"])
        row["zh"] += bool(prompt["prompt_zh"])
        row["with_image"] += prompt["image_status"] == "ok"
    return {
        "package_version": __version__,
        "source": str(VatexFolder(vatex_dir).manifest),
        "image_size": f"{width}x{height}",
        "scenarios_fingerprint": config.fingerprint(),
        "summary": dict(sorted(summary.items())),
        "prompts": prompts,
    }
