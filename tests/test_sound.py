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


@pytest.mark.parametrize("ext", [".wav", ".flac", ".mp3", ".ogg", ".m4a"])
def test_every_sound_format_reads(tmp_path, ext):
    sound = read_sound(clips.write_audio_file(tmp_path / f"tone{ext}", seconds=1.0))
    assert sound.channels == 2 and abs(sound.seconds - 1.0) < 0.1 and abs(_peak_hz(sound.samples, sound.rate) - 440) < 5


def _seam(samples: np.ndarray) -> tuple[float, float]:
    """(the jump from the last sample to the first, the largest jump between neighbours inside)."""
    x = samples[0]
    return float(abs(x[0] - x[-1])), float(np.abs(np.diff(x)).max())


@pytest.mark.parametrize("seconds", [0.55, 2.0, 3.7])  # shorter and longer than the sound
def test_a_looped_soundtrack_is_exactly_as_long_and_its_loop_point_does_not_click(seconds):
    from ghibli_core.sound import fit_sound

    rate = 16000
    t = np.arange(int(1.37 * rate)) / rate  # 1.37 s of 523 Hz: cutting it anywhere would click
    sound = Sound(np.stack([0.5 * np.sin(2 * np.pi * 523 * t)] * 2).astype(np.float32), rate)
    for mode in ("loop", "trim"):
        out = fit_sound(sound, seconds, mode)
        assert out.samples.shape == (2, int(round(seconds * rate)))
    looped = fit_sound(sound, seconds, "loop")
    jump, inside = _seam(looped.samples)
    assert jump <= inside * 1.01, (jump, inside)  # continuous across the loop point, as inside
    cut = fit_sound(sound, seconds, "trim").samples[0]
    if seconds < 1.37:
        assert abs(cut[0] - cut[-1]) > jump  # a plain cut at that length would not be continuous


def test_stretch_keeps_the_beat_within_ten_percent_and_refuses_more():
    from ghibli_core.sound import fit_sound

    rate = 8000
    clicks = np.zeros((2, 2 * rate), np.float32)
    clicks[:, ::rate // 2] = 0.9  # a click every 0.5 s: 2 s of sound
    stretched = fit_sound(Sound(clicks, rate), 1.9, "stretch")
    assert stretched.samples.shape[1] == int(1.9 * rate)
    peaks = np.flatnonzero(stretched.samples[0] > 0.4) / rate
    assert abs(np.diff(peaks[(peaks > 0.3) & (peaks < 1.5)]).mean() - 0.475) < 0.01  # the beat follows the new length
    with pytest.raises(InputError, match=r"^audio-fit: stretch would change the sound's speed by \+33%"):
        fit_sound(Sound(clicks, rate), 1.5, "stretch")
    with pytest.raises(InputError, match=r"^audio-fit: unknown fit mode 'warp'"):
        fit_sound(Sound(clicks, rate), 1.5, "warp")


def test_the_main_command_writes_a_soundtrack_or_refuses_before_any_model_loads(tiny_env, tmp_path, capsys):
    from ghibli_core.cli import main
    from ghibli_core.export import read_metadata

    song = clips.write_audio_file(tmp_path / "song.mp3", seconds=1.3)
    out = tmp_path / "hill.mp4"
    assert main(["--tiny", "a windy hill", "--frames", "4", "--audio", str(song), "--audio-gain", "-6", "-o", str(out), "--quiet"]) == 0
    with av.open(str(out)) as c:
        video, audio = c.streams.video[0], c.streams.audio[0]
        assert audio.duration * audio.time_base == video.duration * video.time_base  # exactly as long as the loop
    meta = read_metadata(out)["sound"]
    assert meta["name"] == "song.mp3" and meta["fit"] == "loop" and meta["gain_db"] == -6 and "/" not in meta["name"]
    side = tmp_path / "hill.gif"
    assert main(["--tiny", "a windy hill", "--frames", "4", "--audio", str(song), "--audio-sidecar", "-o", str(side), "--quiet"]) == 0
    assert read_sound(side.with_suffix(".m4a")).seconds >= 0.5 - 1e-3  # 8 frames at 16 fps, beside the GIF
    capsys.readouterr()


@pytest.mark.parametrize("args,match", [
    (["--audio", "{song}", "-o", "{out}.gif"], r"^audio: a GIF file cannot carry sound; write \.mp4 or \.webm, or add --audio-sidecar"),
    (["--audio", "{missing}", "-o", "{out}.mp4"], r"^audio: no file at "),
    (["--audio", "{silent}", "-o", "{out}.mp4"], r"^audio: silent\.mp4 is a video without sound"),
    (["--audio", "{notes}", "-o", "{out}.mp4"], r"^audio: notes\.wav is not a readable sound file"),
    (["--audio", "{song}", "--audio-start", "9", "-o", "{out}.mp4"], r"^audio-start: 9 s is past the end of song\.wav"),
    (["--audio", "{song}", "--audio-start", "-1", "-o", "{out}.mp4"], r"^audio-start: -1\.0 is out of range"),
    (["--audio-gain", "3", "-o", "{out}.mp4"], r"^audio: --audio-gain was given without a sound"),
])
def test_bad_sound_input_is_refused_in_one_line_before_any_model_loads(tiny_env, tmp_path, capsys, no_model_loads, args, match):
    import re

    from ghibli_core.cli import main

    song = clips.write_sound(tmp_path / "song.wav", seconds=1.0)
    silent = clips.write_clip(tmp_path / "silent.mp4", clips.moving_frames(2, 64, 64), 8)
    (tmp_path / "notes.wav").write_text("not sound")
    argv = [a.format(song=song, missing=tmp_path / "none.wav", silent=silent, notes=tmp_path / "notes.wav", out=tmp_path / "o")
            for a in args]
    assert main(["--tiny", "a hill", "--frames", "2", *argv, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(match, err.split("error: ", 1)[1]), err
    assert not list(tmp_path.glob("o.*"))


@pytest.mark.parametrize("bpm", [72, 120, 150])
def test_beat_features_of_a_click_track_at_a_known_tempo(bpm):
    from ghibli_core.audio_features import AudioFeatures

    rate, seconds, fps = 22050, 8.0, 12
    x = np.zeros(int(seconds * rate), np.float32)
    clicks = np.arange(0.3, seconds, 60 / bpm)
    for c in clicks:
        i = int(c * rate)
        x[i:i + 200] += np.hanning(200).astype(np.float32) * 0.9
    f = AudioFeatures.of(Sound(np.stack([x, x]), rate), fps, int(seconds * fps))
    assert abs(f.tempo - bpm) / bpm < 0.02  # tempo within 2 %
    for c in clicks[1:-1]:
        frame = int(c * fps)
        assert max(f.onset[max(0, frame - 1):frame + 2]) > 0.5  # each onset within one frame
        assert min(abs(b - c) for b in f.beats) < 1 / fps  # each beat within one frame
    assert f.amplitude.max() == 1.0 and f.beat.max() <= 1.0
    assert f.keyframes("beat").startswith("0:(") and f.keyframes("beat").count(":(") == int(seconds * fps)


def test_a_held_tone_has_no_beat_and_audio_keys_prints_schedules(tmp_path, capsys):
    from ghibli_core.audio_features import AudioFeatures
    from ghibli_core.camera.schedule import Schedule
    from ghibli_core.cli import main

    song = clips.write_sound(tmp_path / "tone.wav", seconds=2.0)
    held = AudioFeatures.of(read_sound(song), 8, 16)
    assert held.tempo == 0 and not held.beats and held.onset[0] == 1.0 and held.onset[1:].max() < 0.2
    assert main(["audio-keys", str(song), "--fps", "8", "--frames", "6", "--feature", "onset", "--scale", "0.05",
                 "--offset", "0.01", "--quiet"]) == 0
    text = capsys.readouterr().out.strip()
    schedule = Schedule.parse(text, "translation-z")  # what it prints, a schedule takes as it is
    assert abs(schedule.at(0, 6) - 0.06) < 1e-9 and text.count(":(") == 6
    assert main(["audio-keys", str(song), "--fps", "8", "--frames", "4"]) == 0
    printed = capsys.readouterr().out
    assert "tempo 0.0 BPM" in printed and printed.count(":(") == 12


def test_schedules_follow_the_sound_through_the_safe_evaluator(tmp_path):
    from ghibli_core.animate import AnimationSettings
    from ghibli_core.audio_features import AudioFeatures
    from ghibli_core.camera import CameraSettings
    from ghibli_core.camera.schedule import Schedule

    rate, fps, frames = 22050, 4, 16
    x = np.zeros(4 * rate, np.float32)
    for c in np.arange(0.1, 4, 0.5):  # 120 BPM
        x[int(c * rate):int(c * rate) + 200] += np.hanning(200).astype(np.float32) * 0.9
    features = AudioFeatures.of(Sound(np.stack([x, x]), rate), fps, frames)
    settings = AnimationSettings(frames=frames, steps=10, strength_schedule="0:(0.6 - 0.15*beat(t))", audio_features=features)
    assert [round(settings.values(k).strength, 6) for k in range(frames)] == [round(0.6 - 0.15 * b, 6) for b in features.beat]
    assert "audio_features" not in settings.to_dict()
    camera = CameraSettings(translation_z="0:(0.01 + 0.05*onset(t))", audio_features=features)
    assert camera._schedules["translation_z"].series(frames) == pytest.approx([0.01 + 0.05 * v for v in features.onset])
    with pytest.raises(InputError, match=r"onset\(t\) follows a soundtrack, and none was given \(add --audio FILE\)"):
        CameraSettings(translation_z="0:(0.05*onset(t))")
    for bad in ("__import__('os')", "onset", "onset(t, 2)", "beat(t).real"):  # still a whitelist, with the sound too
        with pytest.raises(InputError):
            Schedule.parse(f"0:({bad})", "x", audio=features).series(2)


def test_the_main_command_drives_schedules_from_its_soundtrack(tiny_env, tmp_path, capsys):
    from ghibli_core.cli import main
    from ghibli_core.export import read_metadata

    song = clips.write_audio_file(tmp_path / "beat.wav", seconds=2.0)
    out = tmp_path / "beat.mp4"
    assert main(["--tiny", "a hill", "--frames", "4", "--audio", str(song), "--translation-z", "0:(0.01 + 0.05*onset(t))",
                 "--strength-schedule", "0:(0.6 - 0.15*beat(t))", "-o", str(out), "--quiet"]) == 0
    meta = read_metadata(out)
    assert meta["settings"]["strength_schedule"] == "0:(0.6 - 0.15*beat(t))" and meta["sound"]["name"] == "beat.wav"
    capsys.readouterr()
    assert main(["--tiny", "a hill", "--frames", "4", "--translation-z", "0:(0.05*onset(t))", "-o", str(tmp_path / "x.mp4")]) == 2
    assert "add --audio FILE" in capsys.readouterr().err and not (tmp_path / "x.mp4").exists()
