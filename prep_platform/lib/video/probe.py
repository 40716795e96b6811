"""Video probing: open a clip, count its frames by demuxing every packet, decode the first frame.

Probing reads the whole file (cheap: packets are not decoded) so a truncated clip is caught here with a
reason, not later as a crash in the frame stage.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import av

from prep_platform.lib.files.clip_source import NotARegularFile, clip_size, not_a_file_reason, open_clip, split_member
from prep_platform.lib.statuses import OK

# Statuses a clip can end in; `ok` is the only one that flows downstream.
MISSING = "missing"
EMPTY = "empty"
UNREADABLE = "unreadable"
NO_VIDEO_STREAM = "no_video_stream"
TRUNCATED = "truncated"
TOO_SHORT = "too_short"
NOT_A_FILE = "not_a_file"  # a device, a FIFO, a folder: never opened (a FIFO would block, /dev/zero never end)


@dataclass
class ProbeResult:
    status: str
    error: str = ""
    fps: float | None = None
    frame_count: int | None = None
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _stream_fps(stream: av.video.stream.VideoStream) -> float | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else None


def open_video(path: Path) -> tuple[av.container.InputContainer | None, str, str]:
    """(container, "", "") for a file with a video stream, else (None, status, reason). Shared by every stage
    that opens clips, so a bad file gets the same status and reason everywhere."""
    if split_member(path) is not None:  # a clip inside a webdataset tar, read in place
        try:
            source = open_clip(path)
        except NotARegularFile as exc:
            return None, NOT_A_FILE, str(exc)
        except OSError as exc:
            return None, MISSING if "no member" in str(exc) else TRUNCATED, str(exc)
        if clip_size(path) == 0:
            return None, EMPTY, f"{path}: tar member is empty (0 bytes)"
    elif not path.exists():
        return None, MISSING, f"{path}: file does not exist"
    elif not_a_file_reason(path):  # before its size: a device or a FIFO says 0 bytes
        return None, NOT_A_FILE, not_a_file_reason(path)
    elif path.stat().st_size == 0:
        return None, EMPTY, f"{path}: file is empty (0 bytes)"
    else:
        source = str(path)
    try:
        container = av.open(source, metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        return None, UNREADABLE, f"{path}: cannot open as a video container: {exc}"
    if not container.streams.video:
        container.close()
        return None, NO_VIDEO_STREAM, f"{path}: the container has no video stream"
    return container, "", ""


def probe_video(path: Path | str, *, min_duration_s: float = 0.0) -> ProbeResult:
    """Probe one clip. Never raises for a bad file: the status and reason say what is wrong."""
    path = Path(path)
    container, status, reason = open_video(path)
    if container is None:
        return ProbeResult(status, reason)
    with container:
        stream = container.streams.video[0]
        result = ProbeResult(
            OK,
            fps=_stream_fps(stream),
            width=stream.codec_context.width,
            height=stream.codec_context.height,
        )
        declared_frames = stream.frames or 0
        counted = 0
        first_pts = last_end = None
        first_frame_decoded = False
        demux_error = ""
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # the flush packet at the end of the stream
                counted += 1
                if packet.pts is not None:
                    first_pts = packet.pts if first_pts is None else min(first_pts, packet.pts)
                    end = packet.pts + (packet.duration or 0)
                    last_end = end if last_end is None else max(last_end, end)
                if not first_frame_decoded:
                    first_frame_decoded = bool(packet.decode())
        except (av.error.FFmpegError, OSError) as exc:
            demux_error = str(exc)
        if not first_frame_decoded and not demux_error:
            # A decoder holding frames back (B-frames) releases them on flush.
            try:
                first_frame_decoded = bool(stream.codec_context.decode(None))
            except av.error.FFmpegError as exc:
                demux_error = str(exc)

    result.frame_count = counted
    if first_pts is not None and last_end is not None and stream.time_base:
        result.duration_s = round(float((last_end - first_pts) * stream.time_base), 4)
    elif result.fps:
        result.duration_s = round(counted / result.fps, 4)

    if counted == 0 or not first_frame_decoded:
        reason = demux_error or "no decodable video frame"
        return _fail(result, UNREADABLE, f"{path}: {reason}")
    if demux_error:
        return _fail(result, TRUNCATED, f"{path}: reading stopped after {counted} frames: {demux_error}")
    if declared_frames and counted < declared_frames:
        return _fail(
            result, TRUNCATED, f"{path}: the container declares {declared_frames} frames but only {counted} are present"
        )
    # A window's last frame sits min_duration_s after its first: the clip must run past it (the frame stage's rule).
    if result.duration_s is not None and result.duration_s - 1e-6 <= min_duration_s:
        return _fail(
            result,
            TOO_SHORT,
            f"{path}: duration {result.duration_s:.3f} s; a training window needs more than {min_duration_s:.3f} s",
        )
    return result


def _fail(result: ProbeResult, status: str, error: str) -> ProbeResult:
    result.status = status
    result.error = error
    return result
