"""Clips the tests make: a scene moving by a known amount each frame, written with PyAV in a real container and codec,
optionally with a tone as sound (before or after the video stream), at odd or variable frame rates."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from ghibli_core.blend.scenes import texture


def moving_frames(count: int, width: int = 96, height: int = 64, step: int = 2, seed: int = 1) -> list[np.ndarray]:
    """A painted-looking texture sliding `step` px right per frame (frame k shows the texture shifted by k * step)."""
    tex = texture(max(width, height) + count * step + 8, seed)
    return [np.ascontiguousarray(tex[4:4 + height, 4 + k * step:4 + k * step + width]) for k in range(count)]


def tone(seconds: float, rate: int, channels: int = 2, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    wave = (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    return np.stack([wave] * channels)


CODECS = {".mp4": ("libx264", "yuv420p", "aac", 44100), ".mov": ("libx264", "yuv420p", "aac", 48000),
          ".mkv": ("libx264", "yuv420p", "aac", 44100), ".webm": ("libvpx-vp9", "yuv420p", "libopus", 48000),
          ".avi": ("mjpeg", "yuvj420p", "pcm_s16le", 44100)}


def write_clip(path: Path, frames: list[np.ndarray], fps: float | Fraction, *, sound: bool = False, sound_first: bool = False,
               times: list[float] | None = None, click: float | None = None, turn: tuple[int, bool, bool] | None = None,
               matrix: list[int] | None = None, pixel_aspect: Fraction | None = None) -> Path:
    """`frames` as a video at `fps` (or at explicit `times`, seconds: a variable frame rate), with a 440 Hz tone as
    sound when asked (its stream added before the video's with `sound_first`), or silence with one click at `click` s.
    `turn` = (degrees counter-clockwise, hflip, vflip) goes in the container's display matrix, as a phone records a
    portrait clip (or any `matrix`, nine integers as FFmpeg keeps them); `pixel_aspect` is the stream's sample aspect
    ratio (anamorphic pixels)."""
    import av

    codec, pix_fmt, audio_codec, rate = CODECS[path.suffix.lower()]
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        audio = None
        if sound and sound_first:
            audio = out.add_stream(audio_codec, rate=rate, layout="stereo")
        video = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        video.width, video.height, video.pix_fmt = w, h, pix_fmt
        if turn is not None:
            video.set_display_rotation(turn[0], hflip=turn[1], vflip=turn[2])
        if matrix is not None:
            video.set_display_matrix(matrix)
        if pixel_aspect is not None:
            video.codec_context.sample_aspect_ratio = pixel_aspect
        if times is not None:
            video.codec_context.time_base = Fraction(1, 1000)
        if sound and not sound_first:
            audio = out.add_stream(audio_codec, rate=rate, layout="stereo")
        for k, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if times is not None:
                frame.pts, frame.time_base = int(round(times[k] * 1000)), Fraction(1, 1000)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if audio is not None:
            seconds = (times[-1] + 1 / float(fps)) if times is not None else len(frames) / float(fps)
            samples = tone(seconds, rate)
            if click is not None:
                samples = np.zeros_like(samples)
                samples[:, int(round(click * rate))] = 0.9
            encode_samples(out, audio, samples, rate, "s16" if audio_codec == "pcm_s16le" else "fltp", 1024)
    return path


def encode_samples(out, stream, samples: np.ndarray, rate: int, fmt: str, chunk: int) -> None:
    """float stereo samples (2, n) encoded into `stream` of the open container `out`, `chunk` samples a frame."""
    import av

    for i in range(0, samples.shape[1], chunk):
        part = samples[:, i:i + chunk]
        data = (part.T.reshape(1, -1) * 32767).astype(np.int16) if fmt == "s16" else np.ascontiguousarray(part)
        frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="stereo")
        frame.sample_rate, frame.pts = rate, i
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)


def write_wav(path: Path, samples: np.ndarray, rate: int, layout: str = "stereo") -> Path:
    """float samples (channels, n) as a 16-bit WAV file."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray((samples.T.reshape(1, -1) * 32767).astype(np.int16), format="s16", layout=layout)
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_sound(path: Path, seconds: float = 1.0, rate: int = 44100) -> Path:
    """A WAV file holding only a tone."""
    return write_wav(path, tone(seconds, rate), rate)


def write_audio_file(path: Path, seconds: float = 1.0, rate: int = 44100, hz: float = 440.0) -> Path:
    """A tone in the format the file name says: .flac, .mp3, .ogg/.opus (Opus), .m4a (AAC), .wav."""
    import av

    codec, fmt, container = {".flac": ("flac", "s16", "flac"), ".mp3": ("libmp3lame", "fltp", "mp3"),
                             ".ogg": ("libopus", "fltp", "ogg"), ".opus": ("libopus", "fltp", "ogg"),
                             ".m4a": ("aac", "fltp", "ipod"), ".wav": ("pcm_s16le", "s16", "wav")}[path.suffix.lower()]
    if codec == "libopus":
        rate = 48000
    samples = tone(seconds, rate, hz=hz)
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout="stereo")
        encode_samples(out, stream, samples, rate, fmt, 1152 if codec == "libmp3lame" else 960 if codec == "libopus" else 1024)
    return path


def srgb_to_light(values: np.ndarray) -> np.ndarray:
    """sRGB uint8 -> linear light 0..1."""
    v = values.astype(np.float64) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def hdr_signal(light709: np.ndarray, transfer: str) -> np.ndarray:
    """Linear BT.709 light (SDR white = HDR reference white, 203 cd/m²) as a BT.2020 PQ or HLG signal 0..1: the inverse
    of what ghibli_core.video.hdr does below its knee, written out from the standards (ST 2084, BT.2100, BT.2087)."""
    from ghibli_core.video.hdr import BT2020_TO_BT709, HLG_PEAK, REFERENCE_WHITE

    light = light709 @ np.linalg.inv(BT2020_TO_BT709.astype(np.float64)).T
    nits = np.maximum(light, 0.0) * REFERENCE_WHITE
    if transfer == "PQ":
        m1, m2, c1, c2, c3 = 2610 / 16384, 2523 / 4096 * 128, 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
        y = (nits / 10000.0) ** m1
        return ((c1 + c2 * y) / (1 + c3 * y)) ** m2
    luma_d = np.maximum(nits @ np.array([0.2627, 0.6780, 0.0593]), 1e-12)[..., None]  # the OOTF inverted
    luma_s = (luma_d / HLG_PEAK) ** (1 / 1.2)
    scene = nits / (HLG_PEAK * luma_s ** 0.2)
    a, b = 0.17883277, 0.28466892
    c = 0.5 - a * np.log(4 * a)
    return np.where(scene <= 1 / 12, np.sqrt(3 * scene), a * np.log(np.maximum(12 * scene - b, 1e-12)) + c)


def write_hdr_clip(path: Path, frames: list[np.ndarray], fps: float, transfer: str) -> Path:
    """sRGB `frames` stored as an HDR clip (10-bit HEVC, BT.2020, PQ or HLG, tagged as phones tag theirs)."""
    import av
    from av.video.reformatter import ColorPrimaries, Colorspace, ColorTrc

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx265", rate=fps)
        video.width, video.height, video.pix_fmt = w, h, "yuv444p10le"
        cc = video.codec_context
        cc.color_trc = ColorTrc.SMPTE2084 if transfer == "PQ" else ColorTrc.ARIB_STD_B67
        cc.color_primaries, cc.colorspace = ColorPrimaries.BT2020, Colorspace.BT2020
        video.options = {"x265-params": "log-level=error:lossless=1:frame-threads=1:pools=none"}  # threaded x265 now and then gave a packet the MP4 muxer refuses
        for image in frames:
            signal = np.clip(hdr_signal(srgb_to_light(image), transfer) * 65535 + 0.5, 0, 65535).astype(np.uint16)
            frame = av.VideoFrame.from_ndarray(signal, format="rgb48le").reformat(format="yuv444p10le",
                                                                                   dst_colorspace=Colorspace.BT2020)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
    return path


def write_interlaced_clip(path: Path, count: int, width: int = 128, height: int = 96, fps: float = 25) -> tuple[Path, list[np.ndarray]]:
    """Stripes sliding 8 px per field, stored interlaced (top field first) as a DV camcorder or broadcast stores them:
    each stored frame holds its two fields from two moments, half a frame apart. Returns the file and the frames as
    stored (combed)."""
    import av

    def at(t: float) -> np.ndarray:
        stripes = ((np.sin((np.arange(width) - 8 * t) / 6.0) > 0) * 200 + 30).astype(np.uint8)
        return np.repeat(np.repeat(stripes[None, :], height, 0)[..., None], 3, 2)

    stored = []
    for k in range(count):
        frame = at(2 * k)
        frame[1::2] = at(2 * k + 1)[1::2]  # the bottom field, a field later
        stored.append(frame)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"x264-params": "interlaced=1:tff=1", "qp": "0"}
        for image in stored:
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
    return path, stored
