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


def _stereo(samples: np.ndarray) -> np.ndarray:
    """Mono and stereo as they are; more channels down-mixed to stereo (front left/right plus half of the rest)."""
    if samples.shape[0] <= 2:
        return samples
    left, right, rest = samples[0], samples[1], samples[2:].mean(0)
    return np.stack([left + 0.5 * rest, right + 0.5 * rest]) / 1.5


def _length(stream, container) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return container.duration / 1_000_000 if container.duration is not None else None


def read_sound(path: str | Path, start: float = 0.0, duration: float | None = None, input_name: str = "audio") -> Sound:
    """The first sound stream of a file from `start` for `duration` seconds (to the sample), as float32 planar; a
    damaged packet is skipped, as FFmpeg does. Refuses a missing or unreadable file, and a file without sound."""
    import av

    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError(input_name, f"no file at {file.resolve()}", "check the path")
    try:
        container = av.open(str(file))
    except av.FFmpegError as exc:
        raise InputError(input_name, f"{file.name} is not a readable sound file ({type(exc).__name__})", _FIX) from exc
    with container:
        if not container.streams.audio:
            kind = "a video without sound" if container.streams.video else "not a sound file"
            raise InputError(input_name, f"{file.name} is {kind}", _FIX)
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate or stream.rate or 0)
        if rate <= 0:
            raise InputError(input_name, f"{file.name}'s sound has no sample rate", _FIX)
        first = float(stream.start_time * stream.time_base) if stream.start_time is not None and stream.time_base else 0.0
        resampler = av.AudioResampler(format="fltp", rate=rate)  # planar float at the stream's own rate and layout
        if start > 0:
            container.seek(int(max(0.0, start - 1.0) / stream.time_base), stream=stream, backward=True)
        length = _length(stream, container)
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
