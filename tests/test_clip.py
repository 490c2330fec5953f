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


def _quadrants(height: int, width: int) -> np.ndarray:
    """Four flat colours, one per quadrant: any turn or flip of it is told apart from every other."""
    image = np.zeros((height, width, 3), np.uint8)
    image[: height // 2, : width // 2] = (230, 30, 30)
    image[: height // 2, width // 2:] = (30, 230, 30)
    image[height // 2:, : width // 2] = (30, 30, 230)
    image[height // 2:, width // 2:] = (230, 230, 30)
    return image


def _as_shown(image: np.ndarray, degrees: int, hflip: bool, vflip: bool) -> np.ndarray:
    """What a player shows for a display matrix set with PyAV's set_display_rotation(degrees, hflip, vflip): turned
    counter-clockwise, then mirrored."""
    shown = np.rot90(image, degrees // 90)
    shown = shown[:, ::-1] if hflip else shown
    return shown[::-1] if vflip else shown


@pytest.mark.parametrize("degrees", [0, 90, 180, 270])
@pytest.mark.parametrize("hflip,vflip", [(False, False), (True, False), (False, True), (True, True)])
def test_a_clip_is_read_upright_as_its_display_matrix_shows_it(tmp_path, degrees, hflip, vflip):
    """A phone stores a portrait clip as landscape pictures and a display matrix; players (and FFmpeg's command line)
    show it turned: so do the frames read here, in every one of the eight orientations a matrix can hold."""
    source = _quadrants(64, 128)
    path = clips.write_clip(tmp_path / "phone.mp4", [source] * 3, 12, turn=(degrees, hflip, vflip))
    info = probe(path)
    expected = _as_shown(source, degrees, hflip, vflip)
    assert info.source_size == (128, 64) and info.size == expected.shape[1::-1]
    frames = [f.image for f in read_clip(info)]
    assert len(frames) == 3 and all(f.shape == expected.shape for f in frames)
    inner = (slice(4, -4), slice(4, -4))  # away from the quadrants' edges, where 4:2:0 colour blurs
    for q0, q1 in ((slice(0, expected.shape[0] // 2), slice(0, expected.shape[1] // 2)),
                   (slice(expected.shape[0] // 2, None), slice(expected.shape[1] // 2, None))):
        got, want = frames[0][q0][inner].astype(int), expected[q0][inner].astype(int)
        assert np.abs(got - want).mean() < 12, (degrees, hflip, vflip)
    as_stored = (degrees, hflip, vflip) in ((0, False, False), (180, True, True))  # a half turn and both flips undo
    assert ("display" in info.summary()) != as_stored


@pytest.mark.parametrize("aspect,shown", [(Fraction(2, 1), (256, 64)), (Fraction(8, 9), (112, 64))])
def test_anamorphic_pixels_are_made_square(tmp_path, aspect, shown):
    """A clip whose pixels are not square (DV, HDV, some DVDs) is shown at its display aspect: so is it read."""
    source = _quadrants(64, 128)
    info = probe(clips.write_clip(tmp_path / "dv.mp4", [source] * 2, 12, pixel_aspect=aspect))
    assert info.source_size == (128, 64) and info.size == shown
    image = next(iter(read_clip(info))).image
    assert image.shape == (shown[1], shown[0], 3)
    left, right = image[8:24, 8:shown[0] // 2 - 8].astype(int), image[8:24, shown[0] // 2 + 8:-8].astype(int)
    assert np.abs(left - (230, 30, 30)).mean() < 12 and np.abs(right - (30, 230, 30)).mean() < 12  # stretched, not cropped
    assert info.summary()["display"]["pixel_aspect"] == f"{aspect.numerator}:{aspect.denominator}"


def test_display_matrices_as_ffmpeg_reads_them():
    """The turns for matrices as files store them (16.16 fixed point), and a turn that is not a quarter turn is not
    applied but reported (probe warns)."""
    from ghibli_core.video.display import turns_for

    one = 65536
    assert turns_for([[0, one, 0], [-one, 0, 0], [0, 0, 1 << 30]]) == (("clock",), 0.0)  # an iPhone's portrait clip
    assert turns_for([[-one, 0, 0], [0, -one, 0], [0, 0, 1 << 30]]) == (("hflip", "vflip"), 0.0)  # upside down
    assert turns_for([[one, 0, 0], [0, one, 0], [0, 0, 1 << 30]]) == ((), 0.0)
    c, s = round(one * np.cos(np.radians(30))), round(one * np.sin(np.radians(30)))
    tilted = [c, s, 0, -s, c, 0, 0, 0, 1 << 30]
    assert turns_for(tilted) == ((), 30.0)


def test_a_turn_that_is_not_a_quarter_turn_is_kept_as_stored_with_a_warning(tmp_path):
    one = 65536
    c, s = round(one * np.cos(np.radians(30))), round(one * np.sin(np.radians(30)))
    info = probe(clips.write_clip(tmp_path / "tilted.mp4", [_quadrants(64, 128)] * 2, 12, matrix=[c, s, 0, -s, c, 0, 0, 0, 1 << 30]))
    assert info.size == (128, 64) and "display" not in info.summary()
    assert any("turned by 30 degrees, not a quarter turn" in w for w in info.warnings)


def test_the_moving_picture_is_read_not_a_one_frame_cover(tmp_path):
    """A file may hold a still (cover art, a thumbnail track) before the video: FFmpeg's choice of stream is read."""
    import av

    path = tmp_path / "covered.mkv"
    frames = clips.moving_frames(8)
    with av.open(str(path), "w") as out:
        cover = out.add_stream("mjpeg", rate=1)
        cover.width, cover.height, cover.pix_fmt = 64, 64, "yuvj420p"
        video = out.add_stream("libx264", rate=8)
        video.width, video.height, video.pix_fmt = 96, 64, "yuv420p"
        for stream, pictures in ((cover, [np.full((64, 64, 3), 200, np.uint8)]), (video, frames)):
            for picture in pictures:
                for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
    info = probe(path)
    assert info.stream_index == 1 and info.codec == "h264" and info.frames == 8
    assert [_which(f.image, frames) for f in read_clip(info)] == list(range(8))


@pytest.mark.parametrize("transfer", ["PQ", "HLG"])
def test_an_hdr_clip_is_read_in_the_colours_players_show(tmp_path, transfer):
    """A phone's HDR clip (HLG on an iPhone, PQ elsewhere) reads dim and grey through FFmpeg's plain conversion: it is
    brought to SDR as players show it. A picture stored as HDR comes back as itself below the highlights' knee."""
    import av

    source = clips.moving_frames(3, 96, 64)
    source = (source[0].astype(np.float32) * 0.85).astype(np.uint8)  # below the knee (linear 0.8 of white)
    path = clips.write_hdr_clip(tmp_path / f"{transfer}.mp4", [source] * 2, 8, transfer)
    info = probe(path)
    assert info.hdr == transfer and info.summary()["hdr"] == transfer
    image = next(iter(read_clip(info))).image
    assert np.abs(image.astype(int) - source).mean() < 1.5 and np.abs(image.astype(int) - source).max() <= 8
    with av.open(str(path)) as c:
        plain = next(c.decode(video=0)).to_ndarray(format="rgb24")
    assert np.abs(plain.astype(int) - source).mean() > 10  # what the clip would have been painted from before


def test_hdr_highlights_roll_off_below_white_keeping_their_hue():
    from ghibli_core.video.hdr import encode_srgb, roll_off

    light = np.array([[[2.0, 0.2, 0.1], [1.0, 1.0, 1.0], [0.5, 0.25, 0.1]]], np.float32)  # a 2x-white red, white, mid
    rolled = roll_off(light)
    assert 0.99 < rolled[0, 0, 0] < 1.0 and abs(rolled[0, 0, 1] / rolled[0, 0, 0] - 0.1) < 1e-6  # hue kept
    assert np.all(rolled[0, 1] < 1.0) and np.allclose(rolled[0, 2], light[0, 2])  # below the knee: unchanged
    assert encode_srgb(np.array([0.0, 1.0, 0.5], np.float32)).tolist() == [0, 255, 188]


def test_a_song_with_its_cover_picture_is_sound_not_a_clip(tmp_path):
    import av

    path = tmp_path / "song.m4a"
    with av.open(str(path), "w", format="mp4") as out:
        audio = out.add_stream("aac", rate=44100, layout="stereo")
        cover = out.add_stream("mjpeg", rate=1)
        cover.width, cover.height, cover.pix_fmt = 64, 64, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        for packet in [*cover.encode(av.VideoFrame.from_ndarray(np.full((64, 64, 3), 200, np.uint8), format="rgb24")), *cover.encode()]:
            out.mux(packet)
        clips.encode_samples(out, audio, clips.tone(1.0, 44100), 44100, "fltp", 1024)
    with pytest.raises(InputError, match=r"^clip: song\.m4a holds only sound \(no video stream\)"):
        probe(path)


def _combing(image: np.ndarray) -> float:
    """How much each line differs from the mean of the lines around it: high where two fields disagree."""
    rows = image.astype(float).mean(-1)
    return float(np.abs(rows[1:-1] - (rows[:-2] + rows[2:]) / 2).mean())


def test_an_interlaced_clip_is_read_deinterlaced_as_players_show_it(tmp_path):
    """A camcorder's interlaced clip combs wherever something moves (its two fields are half a frame apart): it is
    read through FFmpeg's bwdif deinterlacer, frame for frame, with the same timestamps."""
    path, stored = clips.write_interlaced_clip(tmp_path / "dv.mp4", 8)
    info = probe(path)
    assert info.display.interlaced and info.summary()["display"]["deinterlaced"] is True
    frames = list(read_clip(info))
    assert [f.index for f in frames] == list(range(8)) and [round(f.time, 4) for f in frames] == [k / 25 for k in range(8)]
    assert all(_combing(f.image) < _combing(s) / 4 for f, s in zip(frames[1:-1], stored[1:-1]))
    progressive = probe(clips.write_clip(tmp_path / "p.mp4", clips.moving_frames(4), 8))
    assert not progressive.display.interlaced and "display" not in progressive.summary()


def test_a_folder_of_frames_is_a_clip_at_the_rate_given(tmp_path):
    """Deforum and WarpFusion keep a clip as numbered frames: a folder reads like a video, in natural order
    (frame_2 before frame_10), at --fps, one picture at a time."""
    frames = clips.moving_frames(12)
    (tmp_path / "frames").mkdir()
    for k, frame in enumerate(frames):
        Image.fromarray(frame).save(tmp_path / "frames" / f"frame_{k + 1}.png")
    (tmp_path / "frames" / ".DS_Store").write_bytes(b"junk")
    info = probe(tmp_path / "frames", ClipSettings(fps=12, start=0.5))
    assert (info.frames, info.fps, info.size, info.codec) == (6, 12.0, (96, 64), "frames")
    assert [_which(f.image, frames) for f in read_clip(info)] == list(range(6, 12))
    assert info.summary()["source"] == "frames"
    with pytest.raises(InputError, match=r"^fps: frames is a folder of frames, which has no rate of its own; give --fps"):
        probe(tmp_path / "frames")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"^clip: folder .*empty holds no images"):
        probe(tmp_path / "empty", ClipSettings(fps=8))
