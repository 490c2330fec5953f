"""Sound beside the frames: read from any file PyAV decodes, cut to the sample, fitted to the video's exact length,
written into MP4 (AAC) and WebM (Opus at 48 kHz) in sync with the first frame; formats that cannot carry sound say so."""
from __future__ import annotations

import av
import numpy as np
import pytest
from PIL import Image

from ghibli_core.errors import InputError
from ghibli_core.export import save_animation
from ghibli_core.sound import Sound, read_sound

import clips


def _peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples[0]))
    return float(np.fft.rfftfreq(samples.shape[1], 1 / rate)[np.argmax(spectrum)])


def _click_at(samples: np.ndarray, rate: int) -> float:
    return float(np.argmax(np.abs(samples[0])) / rate)


@pytest.mark.parametrize("ext", [".mp4", ".webm", ".mkv", ".avi"])
def test_sound_is_read_from_a_video_to_the_sample(tmp_path, ext):
    path = clips.write_clip(tmp_path / f"v{ext}", clips.moving_frames(20, 64, 64), 10, sound=True)
    whole = read_sound(path)
    assert whole.channels == 2 and whole.samples.dtype == np.float32 and whole.samples.flags.c_contiguous
    assert abs(_peak_hz(whole.samples, whole.rate) - 440) < 5
    part = read_sound(path, start=0.5, duration=1.0)
    assert part.samples.shape[1] == part.rate  # one second, to the sample


def test_mono_stays_mono_and_5_1_is_down_mixed_to_stereo(tmp_path):
    rate = 8000
    t = np.arange(rate) / rate
    mono = read_sound(clips.write_wav(tmp_path / "m.wav", (0.5 * np.sin(2 * np.pi * 200 * t))[None].astype(np.float32), rate, "mono"))
    assert mono.channels == 1 and mono.samples.shape == (1, rate)
    six = np.stack([np.sin(2 * np.pi * (100 + 50 * c) * t) * 0.2 for c in range(6)]).astype(np.float32)
    surround = read_sound(clips.write_wav(tmp_path / "s.wav", six, rate, "5.1"))
    assert surround.channels == 2 and surround.samples.shape == (2, rate) and np.abs(surround.samples).max() <= 1.0


def test_a_window_starts_on_the_sample_a_click_tells(tmp_path):
    rate = 44100
    click = np.zeros((2, 3 * rate), np.float32)
    click[:, int(1.25 * rate)] = 0.9  # a click at 1.25 s
    path = clips.write_wav(tmp_path / "click.wav", click, rate, "stereo")
    part = read_sound(path, start=1.0, duration=1.0)
    assert int(np.argmax(np.abs(part.samples[0]))) == int(0.25 * rate)


def test_bad_sound_inputs_are_refused_in_one_line(tmp_path):
    (tmp_path / "notes.mp3").write_text("not sound")
    silent = clips.write_clip(tmp_path / "silent.mp4", clips.moving_frames(4, 64, 64), 10)
    tone = clips.write_sound(tmp_path / "tone.wav", seconds=1.0)
    for args, match in (((tmp_path / "none.wav",), r"^audio: no file at "), ((tmp_path / "notes.mp3",), r"^audio: notes\.mp3 is not a readable sound file"),
                        ((silent,), r"^audio: silent\.mp4 is a video without sound"), ((tone, 5.0), r"^audio-start: 5 s is past the end of tone\.wav's sound")):
        with pytest.raises(InputError, match=match) as err:
            read_sound(*args)
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("ext,rate", [(".mp4", 44100), (".webm", 48000)])
def test_an_animation_carries_its_sound_exactly_as_long_as_its_frames_from_the_first_frame(tmp_path, ext, rate):
    frames = [Image.fromarray(f) for f in clips.moving_frames(16, 64, 64)]
    click = np.zeros((2, 44100 * 3), np.float32)
    click[:, int(0.5 * 44100)] = 0.9
    sound = Sound(click, 44100, "click")  # 3 s of sound for 2 s of frames: cut to the frames
    out = save_animation(frames, tmp_path / f"a{ext}", fps=8, sound=sound)
    with av.open(str(out)) as c:
        video, audio = c.streams.video[0], c.streams.audio[0]
        assert audio.codec_context.name == {"mp4": "aac", "webm": "opus"}[ext[1:]] and audio.rate == rate
        assert audio.start_time == 0 and video.start_time == 0  # both start together
        if ext == ".mp4":  # the container's own figures: the same length to the sample
            assert audio.duration * audio.time_base == video.duration * video.time_base == 2
    back = read_sound(out)
    if ext == ".webm":  # Opus at 48 kHz from 44.1 kHz, its pre-skip applied on decode: exactly 2 s
        assert back.rate == 48000 and back.samples.shape[1] == 2 * 48000
    assert abs(_click_at(back.samples, back.rate) - 0.5) < 0.005  # in sync (the codec's own delay is compensated)


def test_a_format_without_sound_refuses_it_in_one_line(tmp_path):
    frames = [Image.fromarray(f) for f in clips.moving_frames(2, 64, 64)]
    sound = Sound(np.zeros((2, 1000), np.float32), 8000)
    for ext in (".gif", ".webp", ".png"):
        with pytest.raises(InputError, match=rf"^audio: a {ext[1:].upper()} file cannot carry sound; write \.mp4 or \.webm"):
            save_animation(frames, tmp_path / f"x{ext}", fps=8, sound=sound)
        assert not (tmp_path / f"x{ext}").exists()
