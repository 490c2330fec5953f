"""Reading a user's clip: probe it first (a fast demux pass, before any model loads), then decode it as a stream.

    info = probe("walk.mp4", ClipSettings(start=2, duration=5, fps=12))     # refuses bad input in one line
    for frame in read_clip(info):                                           # decoded as needed, never whole
        frame.index, frame.time, frame.image                                # HxWx3 uint8 at info.size

Any container and codec PyAV decodes (MP4/H.264, WebM/VP9, MOV, AVI/MJPEG, MKV, animated GIF/WebP), or a folder of
numbered frames shown at `fps` (a folder has no rate of its own); the video may be
any stream of the file (not only the first); timestamps come from the stream's pts, so a variable frame rate is
followed. Without `fps` every source frame of the window is kept (every `every_nth`-th), at the source's average rate;
with it, the clip is resampled in time (each output time takes the latest source frame shown by then). The picture
keeps the source's aspect, sides rounded to multiples of 8, the long side capped at `max_side` unless a size is given
(both sides: scaled to cover, then centre-cropped). The picture is the one players show (display.py): a phone's
portrait clip upright, an anamorphic clip's pixels square, an HDR clip (PQ, HLG) in SDR colours (hdr.py). A damaged
packet is skipped with a warning, as FFmpeg does.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import cv2
import numpy as np

from ..errors import InputError, check_range
from ..streams import main_stream
from .display import Display
from .hdr import sdr_rgb, transfer_of

#: The long side a clip is scaled to when no size is given (SD1.5 paints well up to about this).
MAX_SIDE = 768
MIN_SIDE = 64
MAX_FRAMES = 100_000
_FIX = "give a video file (MP4, WebM, MOV, AVI, MKV, or an animated GIF/WebP)"


@dataclass(frozen=True)
class ClipSettings:
    """Which part of a clip, at which rate and size. Checked on construction."""

    start: float = 0.0
    duration: float | None = None
    every_nth: int = 1
    max_frames: int | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    max_side: int = MAX_SIDE

    def __post_init__(self) -> None:
        check_range("start", self.start, 0.0, 1e7)
        if self.duration is not None:
            check_range("duration", self.duration, 0.0, 1e7, lo_open=True)
        check_range("every-nth", self.every_nth, 1, 10_000, integer=True)
        if self.max_frames is not None:
            check_range("max-frames", self.max_frames, 1, MAX_FRAMES, integer=True)
        if self.fps is not None:
            check_range("fps", self.fps, 0.1, 100.0)
        for name in ("width", "height", "max_side"):
            value = getattr(self, name)
            if value is None:
                continue
            check_range(name.replace("_", "-"), value, MIN_SIDE, 4096, integer=True)
            if value % 8:
                raise InputError(name.replace("_", "-"), f"{value} is not a multiple of 8",
                                 f"use e.g. {value - value % 8 or 8} or {value - value % 8 + 8}")


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    sample_rate: int
    channels: int


@dataclass
class ClipInfo:
    """What `probe` found, and what `read_clip` will give: `times` are the output frames' source times (seconds from
    the file's start), `size` their (width, height), `fps` their rate."""

    path: Path
    stream_index: int
    codec: str
    source_size: tuple[int, int]
    source_fps: float
    source_frames: int  # frames of the window in the source
    duration: float  # of the video stream, seconds
    window: tuple[float, float]  # start, end (seconds)
    times: list[float]
    fps: float
    size: tuple[int, int]
    audio: AudioInfo | None = None
    warnings: list[str] = field(default_factory=list)
    #: how the stored pictures are shown (turned upright, stretched to square pixels): `size` is of the shown picture
    display: Display = Display()
    #: "PQ" or "HLG" for an HDR clip, read as players show it on an SDR screen (hdr.py)
    hdr: str | None = None
    #: where the video stream starts on the file's timeline (seconds): time 0 of `times`, and of the clip's sound
    origin: float = 0.0
    #: the frames themselves, for a clip held in memory (`InMemoryClip`: a host's IMAGE batch)
    memory: Sequence[np.ndarray] | None = field(default=None, repr=False)

    @property
    def frames(self) -> int:
        return len(self.times)

    def summary(self) -> dict:
        """For metadata and the run line (no local paths)."""
        return {"source": self.path.name, "codec": self.codec, "source_size": list(self.source_size),
                "source_fps": round(self.source_fps, 4), "window": [round(t, 4) for t in self.window],
                "frames": self.frames, "fps": round(self.fps, 4), "size": list(self.size),
                **({"display": self.display.summary()} if self.display.summary() else {}),
                **({"hdr": self.hdr} if self.hdr else {}),
                "audio": None if self.audio is None else {"codec": self.audio.codec, "sample_rate": self.audio.sample_rate,
                                                          "channels": self.audio.channels}}


@dataclass(frozen=True)
class InMemoryClip:
    """A clip already decoded: a host's frames (HxWx3 uint8, one size) at `fps`, with its sound if any (a
    `sound.Sound`). Read like a file: the same window, rate and size options apply."""

    frames: Sequence[np.ndarray]
    fps: float
    name: str = "frames"
    sound: Any = None


@dataclass(frozen=True)
class ClipFrame:
    index: int
    time: float
    image: np.ndarray


def _open(path: Path):
    import av

    try:
        return av.open(str(path))
    except av.FFmpegError as exc:
        raise InputError("clip", f"{path.name} is not a readable video ({_why(exc)})", _FIX) from exc


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:120]


def output_size(width: int, height: int, settings: ClipSettings) -> tuple[int, int]:
    """The frames' (width, height): the given size, or the source's aspect with sides rounded to multiples of 8."""
    if settings.width and settings.height:
        return settings.width, settings.height
    aspect = width / height
    if settings.width:
        w = settings.width
        h = max(MIN_SIDE, int(round(w / aspect / 8)) * 8)
    elif settings.height:
        h = settings.height
        w = max(MIN_SIDE, int(round(h * aspect / 8)) * 8)
    else:
        scale = min(1.0, settings.max_side / max(width, height))
        w = max(MIN_SIDE, int(round(width * scale / 8)) * 8)
        h = max(MIN_SIDE, int(round(height * scale / 8)) * 8)
    return w, h


def fit_frame(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` scaled to cover `size` (keeping its aspect) and centre-cropped to it exactly."""
    h, w = image.shape[:2]
    tw, th = size
    if (w, h) == (tw, th):
        return image
    scale = max(tw / w, th / h)
    nw, nh = max(tw, int(math.ceil(w * scale))), max(th, int(math.ceil(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(image, (nw, nh), interpolation=interp)
    x, y = (nw - tw) // 2, (nh - th) // 2
    return np.ascontiguousarray(resized[y:y + th, x:x + tw])


def probe(path: str | os.PathLike, settings: ClipSettings | None = None) -> ClipInfo:
    """Check the clip and the window asked for with a demux pass (decoding only the first picture, for how it is shown):
    refuses a missing file, a file that is no video (or only sound), a window past the end or holding no frame, and a
    file cut short inside the window, each in one line naming the clip and the fix."""
    import av

    settings = settings or ClipSettings()
    if isinstance(path, InMemoryClip):
        return _probe_memory(path, settings)
    file = Path(path).expanduser()
    if file.is_dir():
        return _probe_folder(file, settings)
    if not file.is_file():
        raise InputError("clip", f"no file at {file.resolve()}", "check the path")
    if file.suffix.lower() in IMAGE_EXTS:
        return _probe_image(file, settings)
    with _open(file) as container:
        stream = main_stream(container, "video")
        if stream is None:
            if container.streams.audio:
                raise InputError("clip", f"{file.name} holds only sound (no video stream)",
                                 "give a video; a sound file goes to --audio")
            raise InputError("clip", f"{file.name} holds no video stream", _FIX)
        base = stream.time_base or Fraction(1, 1000)
        first = stream.start_time if stream.start_time is not None else 0
        duration = _duration(stream, container)
        start = settings.start
        if duration is not None and start >= duration:
            raise InputError("start", f"{start:g} s is past the end of {file.name} ({duration:.2f} s long)",
                             f"give a start before {duration:.2f}")
        end = start + settings.duration if settings.duration is not None else math.inf
        times, warnings, corrupt, last_seen = [], [], 0, None
        ends: dict[int, float] = {}  # each stream's last packet time: a file cut short stops every stream early
        demuxed = [stream] + list(container.streams.audio)
        try:
            if start > 0:
                container.seek(int((start / base) + first), stream=stream, backward=True, any_frame=False)
            for packet in container.demux(*demuxed):
                if packet.pts is None and packet.dts is None:
                    continue  # a flush packet at the end
                pb, ps = packet.stream.time_base or base, packet.stream.start_time or 0
                t = float(((packet.pts if packet.pts is not None else packet.dts) - ps) * pb)
                ends[packet.stream.index] = max(ends.get(packet.stream.index, -math.inf), t + float((packet.duration or 0) * pb))
                if packet.stream.index != stream.index:
                    if t >= end + 2.0:
                        break
                    continue
                if packet.is_corrupt:
                    corrupt += 1
                    continue
                last_seen = t if last_seen is None else max(last_seen, t)
                if start - 1e-6 <= t < end:
                    times.append(t)
                # packets come in decode order (B-frames): go a little past the end before stopping
                if t >= end + 2.0:
                    break
        except av.FFmpegError as exc:
            where = f" after {last_seen:.2f} s" if last_seen is not None else ""
            raise InputError("clip", f"{file.name} is broken{where} inside the window asked for ({_why(exc)})",
                             "re-encode it, or choose --start/--duration before the damage") from exc
        audio = None
        sound = main_stream(container, "audio")
        if sound is not None:
            a = sound.codec_context
            audio = AudioInfo(a.name, int(a.sample_rate or 0), int(a.channels or 0))
        codec, index = stream.codec_context.name, stream.index
        width, height = stream.codec_context.width, stream.codec_context.height
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if corrupt:
        warnings.append(f"{corrupt} damaged video packet(s) skipped, as FFmpeg does")
    times.sort()
    if not times:
        if last_seen is None:
            raise InputError("clip", f"{file.name} has no video frames", _FIX)
        raise InputError("start", f"the window {start:g}..{end:g} s of {file.name} holds no frame",
                         f"give a start before {last_seen:.2f} s or a longer --duration")
    interval = 1 / float(rate) if rate else 0.1
    stop = min(end, duration) if duration is not None else None
    if stop is not None and ends and max(ends.values()) < stop - max(0.5, 3 * interval):
        raise InputError("clip", f"{file.name} is cut short or broken at {max(ends.values()):.2f} s, inside the window asked for "
                         f"(its header says {duration:.2f} s)", "re-encode it, or choose --start/--duration before the cut")
    source_fps = float(rate) if rate else _fps_from(times)
    out_times, fps = _schedule(times, source_fps, settings, start, end)
    if width <= 0 or height <= 0:
        raise InputError("clip", f"{file.name}'s video stream has no picture size", _FIX)
    display, hdr = _shown(file, index)
    if display.unapplied_angle:
        warnings.append(f"{file.name} asks to be shown turned by {display.unapplied_angle:g} degrees, not a quarter turn: "
                        "its pictures are kept as stored")
    window = (start, min(end, (times[-1] + 1 / source_fps)))
    return ClipInfo(file, index, codec, (width, height), source_fps, len(times), duration or window[1], window,
                    out_times, fps, output_size(*display.size(width, height), settings), audio, warnings, display=display,
                    hdr=hdr, origin=float(first * base))


def _shown(file: Path, index: int) -> tuple[Display, str | None]:
    """How the stream's pictures are shown (its sample aspect ratio, the display matrix its decoder puts on a frame)
    and whether they are HDR ("PQ", "HLG"), from the first frame (the stream's last, flushing packet gives a frame a
    short clip's decoder still holds)."""
    import av

    with _open(file) as container:
        stream = next(s for s in container.streams if s.index == index)
        for packet in container.demux(stream):
            try:
                for frame in packet.decode():
                    return Display.of(stream, frame), transfer_of(frame)
            except av.FFmpegError:
                continue  # a damaged packet: the next one may decode
        return Display.of(stream), None


def _duration(stream, container) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def _fps_from(times: list[float]) -> float:
    if len(times) < 2:
        return 8.0
    return (len(times) - 1) / max(times[-1] - times[0], 1e-6)


def _schedule(times: list[float], source_fps: float, s: ClipSettings, start: float, end: float) -> tuple[list[float], float]:
    """The output frames' source times and their rate."""
    if s.fps is None:
        out = times[::s.every_nth]
        fps = source_fps / s.every_nth
    else:
        fps = float(s.fps)
        last = min(end, times[-1] + 1 / source_fps)
        count = max(1, int(math.floor((last - start) * fps + 1e-6)))
        out = [start + k / fps for k in range(count)]
        if s.every_nth > 1:
            out, fps = out[::s.every_nth], fps / s.every_nth
    if s.max_frames is not None:
        out = out[:s.max_frames]
    return out, fps


def read_clip(info: ClipInfo) -> Iterator[ClipFrame]:
    """The output frames, decoded as they are asked for (memory does not grow with the clip's length): each output time
    takes the latest source frame whose time is at or before it (the first frame stands in before the stream's first)."""
    if info.memory is not None:
        yield from _select(info, ((k / info.source_fps, (lambda f=f: np.asarray(f))) for k, f in enumerate(info.memory)))
        return
    if info.path.is_dir():
        from ..readers import frame_files, read_picture

        files = frame_files(info.path, "clip", MAX_FRAMES)
        yield from _select(info, ((k / info.source_fps, (lambda f=f: read_picture(f, "clip"))) for k, f in enumerate(files)))
        return
    if info.stream_index < 0:
        yield from _select(info, _image_frames(info))
        return
    with _open(info.path) as container:
        stream = next(s for s in container.streams if s.index == info.stream_index)
        stream.thread_type = "AUTO"
        base = stream.time_base or Fraction(1, 1000)
        first = stream.start_time if stream.start_time is not None else 0
        if info.window[0] > 0:
            container.seek(int(info.window[0] / base + first), stream=stream, backward=True, any_frame=False)
        decoded = ((float((f.pts - first) * base) if f.pts is not None else -math.inf, f)
                   for f in info.display.progressive(_frames(container, stream, info), base))
        show = info.display.apply if info.display != Display() else np.asarray
        yield from _select(info, ((t, lambda frame=frame: show(sdr_rgb(frame))) for t, frame in decoded))


def _select(info: ClipInfo, source: Iterator[tuple[float, Callable[[], np.ndarray]]]) -> Iterator[ClipFrame]:
    """Output frames at `info.times` from (time, picture) pairs in time order; a picture is made only when used."""
    targets, k = info.times, 0
    held: Callable[[], np.ndarray] | None = None
    cached: np.ndarray | None = None

    def picture() -> np.ndarray:
        nonlocal cached
        if cached is None:
            cached = fit_frame(held(), info.size)
        return cached

    for t, make in source:
        if held is None and k < len(targets) and targets[k] < t - 1e-6:
            held, cached = make, None  # nothing was shown yet at those times: the first frame stands in
        while k < len(targets) and targets[k] < t - 1e-6:
            yield ClipFrame(k, targets[k], picture())
            k += 1
        if k >= len(targets):
            return
        held, cached = make, None
    while k < len(targets) and held is not None:  # the last frame stands until the end of the window
        yield ClipFrame(k, targets[k], picture())
        k += 1


#: Animated images, read through Pillow (FFmpeg does not decode animated WebP or APNG).
IMAGE_EXTS = (".gif", ".webp", ".png", ".apng")


def _image_durations(file: Path) -> tuple[list[float], tuple[int, int], str]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as im:
            durations = []
            for i in range(getattr(im, "n_frames", 1)):
                im.seek(i)
                im.load()  # WebP sets a frame's duration only once it is loaded
                durations.append(float(im.info.get("duration") or 100) / 1000)
            return durations, im.size, (im.format or file.suffix[1:]).lower()
    except (UnidentifiedImageError, OSError, EOFError) as exc:
        raise InputError("clip", f"{file.name} is not a readable animation ({type(exc).__name__})", _FIX) from exc


def _probe_image(file: Path, settings: ClipSettings) -> ClipInfo:
    durations, (width, height), fmt = _image_durations(file)
    starts = np.concatenate([[0.0], np.cumsum(durations)[:-1]]).tolist()
    total = float(sum(durations))
    if settings.start >= total:
        raise InputError("start", f"{settings.start:g} s is past the end of {file.name} ({total:.2f} s long)",
                         f"give a start before {total:.2f}")
    end = settings.start + settings.duration if settings.duration is not None else math.inf
    times = [t for t in starts if settings.start - 1e-6 <= t < end]
    if not times:
        raise InputError("start", f"the window {settings.start:g}..{end:g} s of {file.name} holds no frame",
                         "give an earlier start or a longer --duration")
    source_fps = len(durations) / total if total > 0 else 10.0
    out, fps = _schedule(times, source_fps, settings, settings.start, end)
    return ClipInfo(file, -1, fmt, (width, height), source_fps, len(times), total,
                    (settings.start, min(end, total)), out, fps, output_size(width, height, settings))


def _probe_memory(clip: InMemoryClip, settings: ClipSettings) -> ClipInfo:
    if not clip.frames:
        raise InputError("images", "there are no frames", "connect a video's frames")
    check_range("fps", clip.fps, 0.1, 1000.0)
    shapes = {np.asarray(f).shape for f in clip.frames}
    if len(shapes) != 1 or len(next(iter(shapes))) != 3:
        raise InputError("images", f"frames differ in size {sorted(shapes)[:3]}", "give frames of one size")
    height, width = next(iter(shapes))[:2]
    sound = clip.sound
    audio = AudioInfo("pcm", int(sound.rate), int(sound.channels)) if sound is not None else None
    return _evenly_timed(Path(clip.name), -2, (width, height), len(clip.frames), float(clip.fps), settings, audio, clip.frames)


def _probe_folder(folder: Path, settings: ClipSettings) -> ClipInfo:
    """A folder of numbered frames (natural order: frame_2 before frame_10), as Deforum and WarpFusion keep a clip's
    frames, taken at `settings.fps`: a folder has no rate of its own. Read one at a time, as a video is."""
    from ..readers import frame_files, read_picture

    if settings.fps is None:
        raise InputError("fps", f"{folder.name} is a folder of frames, which has no rate of its own",
                         "give --fps, the rate they were taken at")
    files = frame_files(folder, "clip", MAX_FRAMES)
    height, width = read_picture(files[0], "clip").shape[:2]
    return _evenly_timed(folder, -3, (width, height), len(files), float(settings.fps), settings)


def _evenly_timed(path: Path, index: int, size: tuple[int, int], count: int, rate: float, settings: ClipSettings,
                  audio: AudioInfo | None = None, memory: Sequence[np.ndarray] | None = None) -> ClipInfo:
    """What `probe` finds in `count` frames without timestamps (a host's, a folder's) shown at `rate`."""
    total = count / rate
    if settings.start >= total:
        raise InputError("start", f"{settings.start:g} s is past the end of the {total:.2f} s of frames", f"give a start before {total:.2f}")
    end = settings.start + settings.duration if settings.duration is not None else math.inf
    times = [k / rate for k in range(count) if settings.start - 1e-6 <= k / rate < end]
    out, fps = _schedule(times, rate, settings, settings.start, end)
    return ClipInfo(path, index, "frames", size, rate, len(times), total, (settings.start, min(end, total)), out, fps,
                    output_size(*size, settings), audio, memory=memory)


def _image_frames(info: ClipInfo) -> Iterator[tuple[float, Callable[[], np.ndarray]]]:
    from PIL import Image

    with Image.open(info.path) as im:
        t = 0.0
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            frame = np.asarray(im.convert("RGB"))  # Pillow composites GIF/WebP frames onto the previous ones (and loads)
            yield t, (lambda frame=frame: frame)
            t += float(im.info.get("duration") or 100) / 1000


def _frames(container, stream, info: ClipInfo):
    """Decoded frames of the stream; a damaged packet is skipped (counted in `info.warnings`), as FFmpeg does."""
    import av

    skipped = 0
    for packet in container.demux(stream):
        try:
            for frame in packet.decode():
                yield frame
        except av.InvalidDataError:
            skipped += 1
    if skipped:
        info.warnings.append(f"{skipped} undecodable video packet(s) skipped, as FFmpeg does")
