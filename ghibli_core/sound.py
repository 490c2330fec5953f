"""Sound for the files the engine writes: read from any file PyAV decodes, cut to a window to the sample, fitted to a
video's exact length, and written beside the frames (MP4: AAC; WebM: Opus at 48 kHz).

    sound = read_sound("walk.mp4", start=2.0, duration=5.0)     # float32 (channels, samples), stereo at most
    sound = sound.fitted(frames / fps)                          # exactly the video's length (cut, or silence added)
    save_animation(frames, "out.mp4", fps=fps, sound=sound)

Samples are float32, contiguous, planar; mono stays mono, more than two channels are down-mixed to stereo.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .streams import main_stream

#: What each container's sound is encoded as, and the rate its encoder needs (None: the sound's own).
SOUND_CODECS = {".mp4": ("aac", None), ".webm": ("libopus", 48000)}
#: The formats that can carry sound.
SOUND_FORMATS = tuple(SOUND_CODECS)
_FIX = "give a sound file (WAV, FLAC, MP3, OGG/Opus, M4A/AAC) or a video with sound"


@dataclass(frozen=True)
class Sound:
    samples: np.ndarray  # float32 (channels, samples)
    rate: int
    name: str = "sound"
    #: what reading met (damaged packets skipped), for the run to say
    warnings: tuple[str, ...] = ()

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def seconds(self) -> float:
        return self.samples.shape[1] / self.rate

    def fitted(self, seconds: float) -> "Sound":
        """Exactly `seconds` long, to the sample: cut at the end, or silence added (a clip's own sound, in sync)."""
        n = int(round(seconds * self.rate))
        have = self.samples.shape[1]
        samples = self.samples[:, :n] if have >= n else np.pad(self.samples, ((0, 0), (0, n - have)))
        return Sound(np.ascontiguousarray(samples, dtype=np.float32), self.rate, self.name, self.warnings)

    def window(self, start: float, seconds: float) -> "Sound":
        """From `start` for `seconds`, to the sample (silence past the end)."""
        begin = int(round(start * self.rate))
        part = Sound(np.ascontiguousarray(self.samples[:, begin:]), self.rate, self.name, self.warnings)
        return part.fitted(seconds)

    def summary(self) -> dict:
        return {"name": self.name, "rate": self.rate, "channels": self.channels, "seconds": round(self.seconds, 6)}


FIT_MODES = ("loop", "trim", "stretch")
#: the loop point's crossfade (equal power), and how far `stretch` may change the speed
CROSSFADE = 0.25
MAX_STRETCH = 0.10


def _equal_power(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(fade-in, fade-out) gains of an equal-power crossfade over n samples: sin^2 + cos^2 = 1 at every sample."""
    theta = (np.arange(n, dtype=np.float64) + 0.5) / max(n, 1) * (np.pi / 2)
    return np.sin(theta).astype(np.float32), np.cos(theta).astype(np.float32)


def crossfade_join(head: np.ndarray, tail: np.ndarray, n: int) -> np.ndarray:
    """`head` then `tail` (samples on the last axis), the last `n` samples of one crossfaded into the first `n` of the
    other with equal power (no crossfade when n is 0)."""
    if n <= 0:
        return np.concatenate([head, tail], axis=-1)
    fade_in, fade_out = _equal_power(n)
    return np.concatenate([head[..., :-n], head[..., -n:] * fade_out + tail[..., :n] * fade_in, tail[..., n:]], axis=-1)


def loop_to(sound: "Sound", seconds: float, crossfade: float = CROSSFADE) -> "Sound":
    """`sound` made exactly `seconds` long so that it loops without a click: repeated as often as needed, each join
    an equal-power crossfade, and the last `crossfade` seconds past the loop point folded into the head, so the sample
    after the last is the first (what a looping player plays) and the seam is continuous."""
    n = int(round(seconds * sound.rate))
    f = max(1, min(int(round(crossfade * sound.rate)), n // 2, sound.samples.shape[1] // 2))
    fade_in, fade_out = _equal_power(f)
    body = sound.samples
    while body.shape[1] < n + f:  # join another copy with a crossfade until there is enough to fold
        body = crossfade_join(body, sound.samples, f)
    out = body[:, :n].copy()
    out[:, :f] = body[:, :f] * fade_in + body[:, n:n + f] * fade_out  # the tail past the loop point fades into the head
    return Sound(np.ascontiguousarray(out, dtype=np.float32), sound.rate, sound.name, sound.warnings)


def stretch_to(sound: "Sound", seconds: float) -> "Sound":
    """`sound` played a little faster or slower (within 10 %) to last exactly `seconds`, keeping its beat with the
    frames (the pitch moves with the speed, as on a turntable); its loop point closed as `loop_to` closes it."""
    n = int(round(seconds * sound.rate))
    have = sound.samples.shape[1]
    change = have / max(n, 1) - 1.0
    if abs(change) > MAX_STRETCH:
        raise InputError("audio-fit", f"stretch would change the sound's speed by {change:+.0%} (from {have / sound.rate:.2f} s "
                         f"to {seconds:.2f} s)", "use loop or trim, or a sound within 10 % of the animation's length")
    positions = np.linspace(0, have - 1, n)
    out = np.stack([np.interp(positions, np.arange(have), channel) for channel in sound.samples]).astype(np.float32)
    # and the loop point closed like `loop`'s (the end crossfaded into the start), so the file loops without a click
    return loop_to(Sound(np.ascontiguousarray(out), sound.rate, sound.name, sound.warnings), seconds)


def fit_sound(sound: "Sound", seconds: float, mode: str = "loop", gain_db: float = 0.0) -> "Sound":
    """`sound` exactly `seconds` long: looped seamlessly, trimmed (or padded with silence), or stretched; `gain_db`
    louder or softer (clipped to [-1, 1])."""
    from .errors import check_choice

    check_choice("audio-fit", mode, FIT_MODES, "fit mode")
    fitted = {"loop": loop_to, "trim": lambda s, t: s.fitted(t), "stretch": stretch_to}[mode](sound, seconds)
    if gain_db:
        samples = np.clip(fitted.samples * np.float32(10 ** (gain_db / 20)), -1.0, 1.0)
        fitted = Sound(np.ascontiguousarray(samples, dtype=np.float32), fitted.rate, fitted.name, fitted.warnings)
    return fitted


@dataclass(frozen=True)
class SoundSettings:
    """A soundtrack from a file: where its window starts, how it is fitted to the animation (`loop`: repeated or cut
    with an equal-power crossfade at the loop point; `trim`; `stretch` within 10 %), its gain, and for formats that
    cannot carry sound, whether to write it beside the file (NAME.m4a)."""

    path: str
    fit: str = "loop"
    start: float = 0.0
    gain_db: float = 0.0
    sidecar: bool = False

    def __post_init__(self) -> None:
        from .errors import check_choice, check_range

        check_choice("audio-fit", self.fit, FIT_MODES, "fit mode")
        check_range("audio-start", self.start, 0.0, 1e6)
        check_range("audio-gain", self.gain_db, -60.0, 24.0)

    def check(self) -> float:
        """The file has sound and the start lies inside it (a header read, no decoding); its length from the start."""
        import av

        file = Path(self.path).expanduser()
        if not file.is_file():
            raise InputError("audio", f"no file at {file.resolve()}", "check the path")
        try:
            container = av.open(str(file))
        except av.FFmpegError as exc:
            raise InputError("audio", f"{file.name} is not a readable sound file ({type(exc).__name__})", _FIX) from exc
        with container:
            length = _length(_sound_stream(container, file, "audio"), container)
        if length is not None and self.start >= length:
            raise InputError("audio-start", f"{self.start:g} s is past the end of {file.name}'s sound ({length:.2f} s)",
                             f"give a start before {length:.2f}")
        return (length - self.start) if length is not None else math.inf

    def load(self, seconds: float) -> "Sound":
        """The soundtrack for an animation `seconds` long: read from the start (only what the fit needs) and fitted."""
        needed = {"loop": seconds + CROSSFADE + 1.0, "trim": seconds, "stretch": seconds * (1 + MAX_STRETCH) + 1.0}[self.fit]
        sound = read_sound(self.path, start=self.start, duration=needed if self.fit != "stretch" else None)
        return fit_sound(sound, seconds, self.fit, self.gain_db)

    def summary(self, sound: "Sound") -> dict:
        """For metadata: the file's name (never its path), the fit, and what was written."""
        return {"name": Path(self.path).name, "fit": self.fit, "start": self.start, "gain_db": self.gain_db, **sound.summary()}


def write_sidecar(sound: "Sound", animation: str | Path) -> Path:
    """The sound beside an animation that cannot carry it, as NAME.m4a (AAC), written whole or not at all."""
    import av

    from .files import atomic_path

    target = Path(animation).with_suffix(".m4a")
    with atomic_path(target) as tmp:
        with av.open(str(tmp), "w", format="ipod") as container:
            encoder = SoundEncoder(container, sound, "aac", None)
            encoder.close()
    return target


def _stereo(samples: np.ndarray) -> np.ndarray:
    """Mono and stereo as they are; more channels down-mixed to stereo (front left/right plus half of the rest)."""
    if samples.shape[0] <= 2:
        return samples
    left, right, rest = samples[0], samples[1], samples[2:].mean(0)
    return np.stack([left + 0.5 * rest, right + 0.5 * rest]) / 1.5


def _sound_stream(container, file: Path, input_name: str):
    """The file's main sound stream (`streams.main_stream`); a file without one refused in one line."""
    stream = main_stream(container, "audio")
    if stream is None:
        kind = "a video without sound" if container.streams.video else "not a sound file"
        raise InputError(input_name, f"{file.name} is {kind}", _FIX)
    return stream


def _length(stream, container) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return container.duration / 1_000_000 if container.duration is not None else None


def read_sound(path: str | Path, start: float = 0.0, duration: float | None = None, input_name: str = "audio",
               origin: float | None = None) -> Sound:
    """The main sound stream of a file from `start` for `duration` seconds (to the sample), as float32 planar; a
    damaged packet is skipped, as FFmpeg does. Refuses a missing or unreadable file, and a file without sound.

    Times count from `origin` on the file's timeline (seconds) when given: a clip's picture starts there, so its sound
    stays in sync where the two streams start apart (a recorder's, a stream-copied cut's); else from the sound's own
    first sample."""
    import av

    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError(input_name, f"no file at {file.resolve()}", "check the path")
    try:
        container = av.open(str(file))
    except av.FFmpegError as exc:
        raise InputError(input_name, f"{file.name} is not a readable sound file ({type(exc).__name__})", _FIX) from exc
    with container:
        stream = _sound_stream(container, file, input_name)
        rate = int(stream.codec_context.sample_rate or stream.rate or 0)
        if rate <= 0:
            raise InputError(input_name, f"{file.name}'s sound has no sample rate", _FIX)
        own = float(stream.start_time * stream.time_base) if stream.start_time is not None and stream.time_base else 0.0
        first = own if origin is None else origin
        resampler = av.AudioResampler(format="fltp", rate=rate)  # planar float at the stream's own rate and layout
        if first + start - 1.0 > own:  # a second early: the packet before the start holds its first samples
            container.seek(int((first + start - 1.0) / stream.time_base), stream=stream, backward=True)
        length = _length(stream, container)
        if length is not None:
            length += own - first  # where the sound ends, counted from `first`
        if length is not None and start >= length:
            raise InputError("audio-start" if input_name == "audio" else input_name,
                             f"{start:g} s is past the end of {file.name}'s sound ({length:.2f} s)", f"give a start before {length:.2f}")
        slack = int(0.005 * rate)
        begin = int(round(start * rate))
        end = math.inf if duration is None else begin + int(round(duration * rate))
        chunks, position, skipped = [], None, 0
        for packet in container.demux(stream):
            try:
                decoded = packet.decode()
            except av.InvalidDataError:
                skipped += 1
                continue
            for frame in decoded:
                at = position if position is not None else 0
                if frame.pts is not None and frame.time_base is not None:
                    stamped = int(round((float(frame.pts * frame.time_base) - first) * rate))
                    # samples follow each other; a timestamp only moves them when it jumps (a packet lost, a seek):
                    # coarse timestamps (WebM's milliseconds) would otherwise shift every frame by a few samples
                    if position is None or abs(stamped - position) > slack:
                        at = stamped
                for out in resampler.resample(frame):
                    data = out.to_ndarray().reshape(-1, out.samples) if out.format.is_planar else out.to_ndarray().reshape(out.samples, -1).T
                    chunks.append((at, data.astype(np.float32)))
                    at += out.samples
                position = at
            if position is not None and position >= end:
                break
    if not chunks:
        raise InputError(input_name, f"{file.name} holds no sound samples", _FIX)
    total_end = max(at + c.shape[1] for at, c in chunks)
    if begin >= total_end:
        raise InputError("audio-start" if input_name == "audio" else input_name,
                         f"{start:g} s is past the end of {file.name}'s sound ({total_end / rate:.2f} s)",
                         f"give a start before {total_end / rate:.2f}")
    stop = int(min(end, total_end))
    channels = chunks[0][1].shape[0]
    out = np.zeros((channels, stop - begin), np.float32)
    for at, data in chunks:  # placed by timestamp: a gap (a skipped packet) stays silent, the rest stays in sync
        lo, hi = max(at, begin), min(at + data.shape[1], stop)
        if hi > lo:
            out[:, lo - begin:hi - begin] = data[:channels, lo - at:hi - at]
    notes = (f"{file.name}: {skipped} damaged sound packet(s) skipped, as FFmpeg does",) if skipped else ()
    return Sound(np.ascontiguousarray(_stereo(out)), rate, file.name, notes)


class SoundEncoder:
    """`sound` as a stream of an open PyAV output container (`codec`, resampled to `rate` when the codec needs one),
    fed alongside the video so the file is interleaved: `until(seconds)` encodes what plays before that time, `close()`
    the rest. Its first sample plays with the first video frame."""

    CHUNK = 2048

    def __init__(self, container, sound: Sound, codec: str, rate: int | None) -> None:
        import av

        self.container, self.sound = container, sound
        layout = "mono" if sound.channels == 1 else "stereo"
        self.layout = layout
        self.stream = container.add_stream(codec, rate=rate or sound.rate, layout=layout)
        self.resampler = av.AudioResampler(format=self.stream.codec_context.format.name, layout=layout, rate=rate or sound.rate)
        self.done = 0

    def _mux(self, frames) -> None:
        for part in frames:
            for packet in self.stream.encode(part):
                self.container.mux(packet)

    def until(self, seconds: float) -> None:
        import av

        total = self.sound.samples.shape[1]
        stop = total if seconds == math.inf else min(total, int(round(seconds * self.sound.rate)))
        while self.done < stop:
            n = min(self.CHUNK, stop - self.done)
            data = np.ascontiguousarray(self.sound.samples[:, self.done:self.done + n])
            frame = av.AudioFrame.from_ndarray(data, format="fltp", layout=self.layout)
            frame.sample_rate, frame.pts = self.sound.rate, self.done
            self._mux(self.resampler.resample(frame))
            self.done += n

    def close(self) -> None:
        self.until(math.inf)
        self._mux(self.resampler.resample(None))
        for packet in self.stream.encode():
            self.container.mux(packet)
