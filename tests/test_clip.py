"""Reading a user's clip (ghibli_core/video/clip.py) on clips the tests write with PyAV: every container and codec,
the video not first, odd and variable frame rates, the window options, sizes, animated images; every bad input
refused in one line before anything else; memory that does not grow with the clip's length."""
from __future__ import annotations

import tracemalloc
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from ghibli_core.errors import InputError
from ghibli_core.video import ClipSettings, probe, read_clip

import clips

NTSC = Fraction(30000, 1001)


def _which(image: np.ndarray, sources: list[np.ndarray]) -> int:
    """The index of the source frame an output frame shows (the closest by mean absolute difference)."""
    return int(np.argmin([np.abs(image.astype(int) - s).mean() for s in sources]))


@pytest.mark.parametrize("ext", [".mp4", ".mov", ".mkv", ".webm", ".avi"])
def test_every_container_reads_frame_for_frame_with_the_sound_stream_first(tmp_path, ext):
    frames = clips.moving_frames(24)
    info = probe(clips.write_clip(tmp_path / f"walk{ext}", frames, NTSC, sound=True, sound_first=True))
    assert info.stream_index == 1 and info.audio is not None and info.audio.channels == 2  # the video is not stream 0
    assert info.frames == info.source_frames == 24 and info.size == (96, 64) and info.source_size == (96, 64)
    assert abs(info.fps - 30000 / 1001) < 1e-6 and abs(info.source_fps - 29.97) < 0.01
    out = list(read_clip(info))
    assert [f.index for f in out] == list(range(24)) and all(f.image.shape == (64, 96, 3) for f in out)
    assert [_which(f.image, frames) for f in out] == list(range(24))  # each output frame is its own source frame
    assert info.summary()["source"] == f"walk{ext}" and "/" not in info.summary()["source"]


def test_an_odd_frame_rate_is_kept(tmp_path):
    info = probe(clips.write_clip(tmp_path / "odd.mp4", clips.moving_frames(15), Fraction(14999, 1000)))
    assert abs(info.fps - 14.999) < 1e-3 and info.frames == 15


def test_a_variable_frame_rate_follows_the_timestamps(tmp_path):
    frames = clips.moving_frames(12)
    times = [0.0, 0.05, 0.1, 0.3, 0.35, 0.4, 0.7, 0.72, 0.74, 0.76, 1.0, 1.2]  # bursts and gaps
    path = clips.write_clip(tmp_path / "vfr.mkv", frames, 25, times=times)
    info = probe(path)
    assert info.frames == 12 and np.allclose(info.times, times, atol=2e-3)  # every source frame, at its own time
    resampled = probe(path, ClipSettings(fps=10))
    out = list(read_clip(resampled))
    assert len(out) == resampled.frames == 12  # 1.2 s + one frame at 10 fps
    for f in out:  # each output time shows the latest source frame at or before it
        expected = max(i for i, t in enumerate(times) if t <= f.time + 1e-6)
        assert _which(f.image, frames) == expected, (f.time, expected)


def test_the_window_options(tmp_path):
    path = clips.write_clip(tmp_path / "w.mp4", clips.moving_frames(30), 10)
    frames = clips.moving_frames(30)
    late = probe(path, ClipSettings(start=1.0))
    assert late.frames == 20 and abs(late.times[0] - 1.0) < 1e-6
    assert _which(next(read_clip(late)).image, frames) == 10
    short = probe(path, ClipSettings(start=0.5, duration=1.0))
    assert short.frames == 10 and [_which(f.image, frames) for f in read_clip(short)] == list(range(5, 15))
    nth = probe(path, ClipSettings(every_nth=3))
    assert nth.frames == 10 and abs(nth.fps - 10 / 3) < 1e-6
    assert [_which(f.image, frames) for f in read_clip(nth)] == list(range(0, 30, 3))
    capped = probe(path, ClipSettings(max_frames=4))
    assert capped.frames == 4 and len(list(read_clip(capped))) == 4
    slower = probe(path, ClipSettings(fps=5))
    assert slower.frames == 15 and [_which(f.image, frames) for f in read_clip(slower)] == list(range(0, 30, 2))
    faster = probe(path, ClipSettings(fps=20))
    assert faster.frames == 60 and [_which(f.image, frames) for f in read_clip(faster)][:6] == [0, 0, 1, 1, 2, 2]


def test_sizes_keep_the_aspect_round_to_8_cap_the_long_side_and_crop_when_both_are_given(tmp_path):
    big = [np.ascontiguousarray(np.resize(f, (720, 1280, 3))) for f in clips.moving_frames(3, 128, 72)]
    info = probe(clips.write_clip(tmp_path / "hd.mp4", big, 10))
    assert info.source_size == (1280, 720) and info.size == (768, 432)  # the default cap, stated in the run line
    assert probe(tmp_path / "hd.mp4", ClipSettings(width=512)).size == (512, 288)
    assert probe(tmp_path / "hd.mp4", ClipSettings(height=256)).size == (456, 256)
    square = probe(tmp_path / "hd.mp4", ClipSettings(width=256, height=256))
    first = next(read_clip(square)).image
    assert square.size == (256, 256) and first.shape == (256, 256, 3)
    odd = probe(clips.write_clip(tmp_path / "odd.mp4", clips.moving_frames(2, 100, 60), 10))
    assert odd.size == (96, 64)  # nearest multiples of 8 (60 -> 56 would lose more than 64 gains back)
    assert all(v % 8 == 0 for v in odd.size)


@pytest.mark.parametrize("fmt", ["gif", "webp"])
def test_animated_images_are_clips_too(tmp_path, fmt):
    frames = clips.moving_frames(8)
    path = tmp_path / f"anim.{fmt}"
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=80, loop=0, **({"lossless": True} if fmt == "webp" else {}))
    info = probe(path)
    assert info.frames == 8 and abs(info.fps - 12.5) < 1e-6 and info.audio is None
    assert [_which(f.image, frames) for f in read_clip(info)] == list(range(8))


def test_bad_clips_and_options_are_refused_in_one_line(tmp_path):
    def refused(match, *args, **kw):
        with pytest.raises(InputError, match=match) as err:
            probe(*args, **kw)
        assert "\n" not in str(err.value)

    refused(r"^clip: no file at .*nothing\.mp4; check the path", tmp_path / "nothing.mp4")
    (tmp_path / "notes.mp4").write_text("not a video at all")
    refused(r"^clip: notes\.mp4 is not a readable video", tmp_path / "notes.mp4")
    refused(r"^clip: tone\.wav holds only sound \(no video stream\); give a video; a sound file goes to --audio",
            clips.write_sound(tmp_path / "tone.wav"))
    path = clips.write_clip(tmp_path / "c.mp4", clips.moving_frames(10), 10)
    refused(r"^start: 5 s is past the end of c\.mp4 \(1\.00 s long\)", path, ClipSettings(start=5))
    long = clips.write_clip(tmp_path / "long.webm", clips.moving_frames(30), 10, sound=True)
    data = long.read_bytes()
    (tmp_path / "cut.webm").write_bytes(data[: len(data) * 6 // 10])
    refused(r"^clip: cut\.webm is cut short or broken at .* inside the window asked for", tmp_path / "cut.webm")
    assert probe(tmp_path / "cut.webm", ClipSettings(duration=1.0)).frames == 10  # the part before the cut reads
    for kwargs, match in ((dict(every_nth=0), "^every-nth: 0 is out of range"), (dict(width=100), "^width: 100 is not a multiple of 8"),
                          (dict(start=-1), "^start: -1 is out of range"), (dict(duration=0), "^duration: 0 is out of range"),
                          (dict(fps=0), "^fps: 0 is out of range"), (dict(max_frames=0), "^max-frames: 0 is out of range")):
        with pytest.raises(InputError, match=match):
            ClipSettings(**kwargs)


def test_an_empty_video_stream_is_refused(tmp_path):
    import av

    path = tmp_path / "empty.mkv"  # a video stream declared, only sound written
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        audio = out.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 8000), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in audio.encode(frame):
            out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)
    with pytest.raises(InputError, match=r"^clip: empty\.mkv has no video frames"):
        probe(path)


def test_reading_is_streamed_memory_does_not_grow_with_the_clip(tmp_path):
    def peak(count: int) -> int:
        path = clips.write_clip(tmp_path / f"m{count}.mp4", clips.moving_frames(count, 256, 256, step=1), 25)
        info = probe(path)
        tracemalloc.start()
        seen = 0
        for frame in read_clip(info):
            seen += 1
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert seen == count
        return top

    short, long = peak(40), peak(160)
    frame_bytes = 256 * 256 * 3
    assert long < short + 4 * frame_bytes, (short, long)  # 4x the clip, the same few frames held
    assert long < 40 * frame_bytes  # far from holding the clip (160 frames)


def test_an_undecodable_packet_is_skipped_with_a_warning_as_ffmpeg_does(tmp_path, monkeypatch):
    """A packet the decoder refuses (AVERROR_INVALIDDATA) costs that packet, not the clip: its frame is held over by
    the previous one and the run is told."""
    import av

    frames = clips.moving_frames(12)
    info = probe(clips.write_clip(tmp_path / "d.avi", frames, 10))
    real = av.Packet.decode
    calls = {"n": 0}

    def flaky(packet):
        calls["n"] += 1
        if calls["n"] == 5:
            raise av.InvalidDataError(1094995529, "Invalid data found when processing input")
        return real(packet)

    monkeypatch.setattr(av.Packet, "decode", flaky)
    out = list(read_clip(info))
    assert len(out) == 12 and [_which(f.image, frames) for f in out] == [0, 1, 2, 3, 3, 5, 6, 7, 8, 9, 10, 11]
    assert info.warnings == ["1 undecodable video packet(s) skipped, as FFmpeg does"]
