"""A clip repainted on the tiny models: frame count, rate and duration kept; keyframes chosen on the source and every
other frame carried from the painted keyframes around it (never a copy of the source or of a keyframe); more
temporally consistent with the source's motion than painting frame by frame; a scene cut starts afresh; bad input
refused in one line before any model loads; the command end to end."""
from __future__ import annotations

import numpy as np
import pytest

from ghibli_core.cli import main
from ghibli_core.export import read_metadata
from ghibli_core.presets import get_preset
from ghibli_core.video import ClipSettings
from ghibli_core.video.job import VideoJob, run_video_job
from ghibli_core.video.repaint import KeyframeSettings

import clips

PAINT = dict(seed=3, steps=6)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return clips.write_clip(tmp_path_factory.mktemp("clip") / "walk.mp4", clips.moving_frames(16, 64, 64), 8, sound=True)


def _job(clip, **kw):
    keys = kw.pop("keys", KeyframeSettings())
    return VideoJob(clip=clip, prompt="a quiet street", painting=get_preset("balanced").animation(**PAINT), keys=keys, **kw)


def test_keyframes_are_painted_and_every_other_frame_carried_from_them(pipes, clip):
    painted = {}
    result = run_video_job(_job(clip), pipes, on_keyframe=lambda k: painted.setdefault(k.index, k), progress=False)
    frames = [np.asarray(f) for f in result.output_frames]
    sources = [f.image for f in __import__("ghibli_core.video", fromlist=["read_clip"]).read_clip(result.job.info)]
    assert len(frames) == 16 and result.metrics["frames"] == 16
    keys = result.log.keyframes
    assert keys[0] == 0 and 1 < len(keys) < 16 and sorted(painted) == keys
    assert all(b - a <= KeyframeSettings().max_interval for a, b in zip(keys, keys[1:]))
    for i, frame in enumerate(frames):
        assert not np.array_equal(frame, sources[i])  # no raw source frame reaches the output
        if i in painted:
            assert np.array_equal(frame, painted[i].painted)
        else:
            assert not any(np.array_equal(frame, k.painted) for k in painted.values())
    # carried keyframes start from the previous one along the flow: most pixels of a slow pan can be followed
    assert result.log.carried[0] == 0.0 and max(result.log.carried[1:]) > 0.3
    assert result.metrics["unet_steps_per_frame"] < get_preset("balanced").steps_per_output_frame() * 1.5


def test_more_consistent_with_the_sources_motion_than_painting_frame_by_frame(pipes, clip):
    ours = run_video_job(_job(clip), pipes, progress=False).metrics
    # every frame a keyframe, nothing carried: frame-by-frame img2img of the source
    naive = run_video_job(_job(clip, keys=KeyframeSettings(1, 1, 0.0, 0.0)), pipes, progress=False).metrics
    assert naive["keyframes"] == 16 and ours["keyframes"] < naive["keyframes"]
    assert ours["temporal_warp_error"] < naive["temporal_warp_error"], (ours["temporal_warp_error"], naive["temporal_warp_error"])
    assert ours["source_warp_error"] == naive["source_warp_error"]  # the same source, measured the same way


def test_a_scene_cut_starts_a_new_keyframe_and_drops_the_carried_picture(pipes, tmp_path):
    a, b = clips.moving_frames(6, 64, 64, seed=1), clips.moving_frames(6, 64, 64, seed=9)
    path = clips.write_clip(tmp_path / "cut.mp4", a + b, 8)
    result = run_video_job(_job(path, keys=KeyframeSettings(2, 12, 0.9, 0.9)), pipes, progress=False)
    assert 6 in result.log.cuts and 6 in result.log.keyframes
    assert result.log.carried[result.log.keyframes.index(6)] == 0.0


def test_the_command_writes_the_clip_with_its_rate_duration_and_metadata(tiny_env, clip, tmp_path, capsys):
    import av

    out = tmp_path / "walk-ghibli.mp4"
    assert main(["video", "--tiny", str(clip), "--prompt", "a quiet street", "-o", str(out), "--quiet", "--seed", "3",
                 "--steps", "6", "--metrics"]) == 0
    printed = capsys.readouterr()
    assert "16 frames, 8.000 fps" in printed.out and "temporal warp error" in printed.out
    assert "64x64 -> 64x64, long side capped at 768" in printed.err
    with av.open(str(out)) as c:
        stream = c.streams.video[0]
        assert stream.frames == 16 and float(stream.average_rate) == 8.0
        assert abs(float(stream.duration * stream.time_base) - 2.0) < 1e-6  # 16 frames at 8 fps, as the clip
    meta = read_metadata(out)
    assert meta["source"]["source"] == "walk.mp4" and meta["source"]["frames"] == 16 and meta["keyframes"][0] == 0
    assert meta["settings"]["width"] == 64 and meta["seed"] == 3 and "Studio Ghibli" in meta["prompt"]
    assert "loop_seam" not in meta["metrics"] and meta["metrics"]["temporal_warp_error"] > 0
    assert (tmp_path / "walk-ghibli.metrics.json").is_file()


def test_a_phones_portrait_clip_comes_out_upright(tiny_env, tmp_path, capsys):
    """Stored landscape with a display matrix turning it a quarter clockwise, as phones record portrait video: the
    repainted clip is portrait, as every player shows the source."""
    import av

    path = clips.write_clip(tmp_path / "phone.mp4", clips.moving_frames(4, 128, 64), 8, turn=(-90, False, False))
    out = tmp_path / "phone-ghibli.mp4"
    assert main(["video", "--tiny", str(path), "--prompt", "a quiet street", "-o", str(out), "--quiet", "--steps", "4"]) == 0
    assert "64x128 (stored 128x64) -> 64x128" in capsys.readouterr().err
    with av.open(str(out)) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (64, 128)
    assert read_metadata(out)["source"]["display"] == {"turns": ["clock"], "pixel_aspect": "1:1", "deinterlaced": False}


@pytest.mark.parametrize("args,match", [
    (["{missing}", "--prompt", "x"], r"^clip: no file at "),
    (["{sound}", "--prompt", "x"], r"^clip: tone\.wav holds only sound"),
    (["{clip}", "--prompt", "x", "--start", "9"], r"^start: 9 s is past the end of walk\.mp4"),
    (["{clip}", "--prompt", "x", "--size", "100x64"], r"^width: 100 is not a multiple of 8"),
    (["{clip}", "--prompt", "x", "--every-nth", "0"], r"^every-nth: 0 is out of range"),
    (["{clip}", "--prompt", "x", "--idea", "y"], r"^prompt: and --idea were both given"),
    (["{clip}"], r"^prompt: is empty"),
    (["{clip}", "--prompt", "x", "--keyframe-min", "5", "--keyframe-max", "2"], r"^keyframe-max: 2 is below keyframe-min 5"),
])
def test_bad_input_is_refused_in_one_line_before_any_model_loads(tiny_env, clip, tmp_path, capsys, no_model_loads, args, match):
    sound = clips.write_sound(tmp_path / "tone.wav")
    argv = [a.format(missing=tmp_path / "none.mp4", sound=sound, clip=clip) for a in args]
    out = tmp_path / "out.mp4"
    assert main(["video", "--tiny", *argv, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len([line for line in err if "error:" in line]) == 1 and not out.exists()
    import re

    assert re.search(match, err[-1].split("error: ", 1)[1]), err[-1]


@pytest.mark.parametrize("ext", [".mp4", ".webm"])
def test_the_clips_own_sound_comes_back_in_sync_over_the_window(pipes, tmp_path, ext):
    import av

    from ghibli_core.sound import read_sound

    path = clips.write_clip(tmp_path / "clicked.mkv", clips.moving_frames(24, 64, 64), 8, sound=True, click=1.5)
    out = tmp_path / f"out{ext}"
    job = _job(path, clip_settings=ClipSettings(start=1.0, duration=2.0), output=out)
    result = run_video_job(job, pipes, progress=False)
    assert result.metrics["frames"] == 16 and result.sound is not None and result.metadata["sound"]["seconds"] == 2.0
    with av.open(str(out)) as c:
        video, audio = c.streams.video[0], c.streams.audio[0]
        assert audio.start_time == 0 and video.start_time == 0
        if ext == ".mp4":
            assert audio.duration * audio.time_base == video.duration * video.time_base == 2
    back = read_sound(out)
    assert abs(np.argmax(np.abs(back.samples[0])) / back.rate - 0.5) < 0.005  # the click 1.5 s in the clip: 0.5 s in


def test_a_clip_file_repainted_for_a_caller_gives_its_sound_back_in_sync(pipes, tmp_path):
    """No output and no frames folder (a host such as ComfyUI, a library user): the frames and the clip's own sound
    come back, over the window, from the first frame; a frames folder alone cannot carry the sound and says so."""
    path = clips.write_clip(tmp_path / "clicked.mp4", clips.moving_frames(24, 64, 64), 8, sound=True, click=1.5)
    job = _job(path, clip_settings=ClipSettings(start=1.0, duration=1.0))
    assert not job.sound_dropped and job.work_dir is None
    result = run_video_job(job, pipes, progress=False)
    assert len(result.output_frames) == 8 and result.sound is not None
    assert abs(result.sound.seconds - 1.0) < 1e-3 and result.metadata["sound"]["seconds"] == 1.0
    assert abs(np.argmax(np.abs(result.sound.samples[0])) / result.sound.rate - 0.5) < 0.005
    assert _job(path, frames_dir=tmp_path / "frames").sound_dropped


def test_a_format_without_sound_drops_it_and_says_so(pipes, clip, tmp_path):
    job = _job(clip, output=tmp_path / "out.gif")
    assert job.sound_dropped
    assert run_video_job(job, pipes, progress=False).metadata["sound"] == "dropped: the format cannot carry it"


def test_any_stylised_clip_is_scored_against_its_source(tmp_path, capsys, no_model_loads):
    from ghibli_core.errors import InputError
    from ghibli_core.video.score import score_files

    frames = clips.moving_frames(16, 64, 64)
    source = clips.write_clip(tmp_path / "src.mp4", frames, 8)
    same = clips.write_clip(tmp_path / "same.webm", frames, 8)  # the source itself, re-encoded
    shuffled = clips.write_clip(tmp_path / "shuffled.mp4", [frames[i] for i in np.random.default_rng(0).permutation(16)], 8)
    faithful, jumbled = score_files(same, source), score_files(shuffled, source)
    assert faithful["structure_fidelity"] > 0.9 and faithful["temporal_warp_error"] < 3 * faithful["source_warp_error"] + 1e-3
    assert jumbled["temporal_warp_error"] > 5 * faithful["temporal_warp_error"]
    assert jumbled["source_warp_error"] == faithful["source_warp_error"]  # the same source, measured the same way
    with pytest.raises(InputError, match=r"^metrics-only: src\.mp4 has 16 frames, the source's window 8"):
        score_files(source, same, ClipSettings(duration=1.0))
    assert main(["video", str(source), "--metrics-only", str(same)]) == 0
    printed = capsys.readouterr().out
    assert "structure fidelity" in printed and "temporal warp error" in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.webm", "shuffled.mp4", "src.mp4"]  # nothing written


def test_an_interrupted_repaint_resumes_from_its_last_keyframe_and_writes_the_same_file(pipes, clip, tmp_path):
    from ghibli_core.errors import Cancelled

    whole = run_video_job(_job(clip, output=tmp_path / "whole.webp"), pipes, progress=False)
    assert not (tmp_path / "whole.work").exists()  # removed after success
    job = _job(clip, output=tmp_path / "cut.webp")
    painted = []
    with pytest.raises(Cancelled):  # Ctrl-C after two keyframes: no output, the keyframes kept
        run_video_job(job, pipes, on_keyframe=painted.append,
                      should_cancel=lambda: len(painted) >= 2, progress=False)
    assert not (tmp_path / "cut.webp").exists() and len(list((tmp_path / "cut.work").glob("key_*.png"))) == 2
    again = run_video_job(job, pipes, progress=False)
    assert again.metrics["resumed_keyframes"] == 2 and again.log.keyframes == whole.log.keyframes
    assert again.log.steps < whole.log.steps  # the saved keyframes were not painted again
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(again.output_frames, whole.output_frames))
    assert not (tmp_path / "cut.work").exists()
    # a changed setting starts over (the folder is ours: emptied and reused)
    job2 = _job(clip, output=tmp_path / "other.webp", keep_work=True)
    run_video_job(job2, pipes, progress=False)
    changed = VideoJob(clip=clip, prompt="a quiet street", painting=get_preset("balanced").animation(seed=4, steps=6),
                       output=tmp_path / "other.webp", keep_work=True)
    assert run_video_job(changed, pipes, progress=False).metrics["resumed_keyframes"] == 0


def test_a_work_folder_this_tool_did_not_make_is_never_touched(clip, tmp_path, no_model_loads):
    from ghibli_core.errors import InputError

    mine = tmp_path / "out.work"
    mine.mkdir()
    (mine / "holiday.png").write_bytes(b"a user's file")
    with pytest.raises(InputError, match=r"^work-dir: .*out\.work exists and is not a work folder of this tool"):
        _job(clip, output=tmp_path / "out.mp4")
    assert (mine / "holiday.png").read_bytes() == b"a user's file"


def test_an_idea_is_planned_into_one_prompt_per_scene(pipes, tmp_path):
    a, b = clips.moving_frames(6, 64, 64, seed=1), clips.moving_frames(6, 64, 64, seed=9)
    path = clips.write_clip(tmp_path / "two-scenes.mp4", a + b, 8)
    job = VideoJob(clip=path, idea="a harbour town in summer", painting=get_preset("balanced").animation(**PAINT),
                   keys=KeyframeSettings(2, 12, 0.9, 0.9))
    result = run_video_job(job, pipes, progress=False)
    prompts, scenes = result.metadata["prompts"], result.log.scenes
    assert len(prompts) == 8 and len(set(prompts)) > 1 and all("Ghibli" in p for p in prompts)
    assert scenes[0] == 0 and scenes[result.log.keyframes.index(6)] == 1  # the cut moves to the plan's next beat


def test_the_sound_stays_in_sync_when_the_picture_starts_later_on_the_files_timeline(pipes, tmp_path):
    """A recorder's file, or a cut made by copying streams, may start its picture later than its sound: players keep
    them in sync on the file's timeline, and so does the repainted clip (its time 0 is the first picture)."""
    from ghibli_core.sound import read_sound

    times = [0.5 + k / 8 for k in range(24)]  # the picture from 0.5 s on the file's timeline; the sound from 0
    path = clips.write_clip(tmp_path / "late.mkv", clips.moving_frames(24, 64, 64), 8, sound=True, click=1.5, times=times)
    out = tmp_path / "out.mp4"
    result = run_video_job(_job(path, output=out), pipes, progress=False)
    assert result.metrics["frames"] == 24 and abs(result.sound.samples.shape[1] / result.sound.rate - 3.0) < 1e-3
    back = read_sound(out)
    assert abs(np.argmax(np.abs(back.samples[0])) / back.rate - 1.0) < 0.01  # 1.5 s on the file's clock: 1.0 s in
