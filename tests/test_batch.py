"""`ghibli-anim batch`: jobs files checked up front, local mode (resume, failure isolation), Ray mode on a local
cluster (two actors, one killed mid-job)."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from ghibli_core.batch import BatchInterrupted, JobsFileError, load_jobs, preflight, run_local, verify_output
from ghibli_core.cli import main

pytestmark = pytest.mark.usefixtures("tiny_env")  # `--tiny` in the CLI uses this session's tiny set


TINY_ROW = {"size": "64x64", "preset": "fast"}


def test_every_bad_row_is_listed_with_its_line_before_any_render(tmp_path, tiny, jobs_files):
    jobs = jobs_files.write(tmp_path / "jobs.jsonl", [
        {"prompt": "a good row", **TINY_ROW},
        "{not json",
        {"promt": "typo"},
        {"prompt": "x", "frames": "eight"},
        {"frames": 3},
        {"prompt": "x", "preset": "ultra"},
        {"prompt": "x", "loras": ["missing.safetensors:0.5"]},
        {"prompt": "x", "output": "x.avi"},
        {"prompt": "x", "output": "../escape.gif"},
        {"plan": ["a", "b"], "frames": 3},
        {"prompt": "x", "size": "big"},
        {"prompt": "x", "strength": 2.0},
        {"prompt": "a good row", **TINY_ROW, "output": "0001-a-good-row.gif"},
    ])
    with pytest.raises(JobsFileError) as exc:
        load_jobs(jobs)
    text = str(exc.value)
    expected = ["line 2: row: not JSON", "line 3: promt: is not a job field; did you mean 'prompt'?", "line 4: frames: 'eight' is not an integer",
                "line 5: prompt: is missing", "line 6: preset: unknown preset 'ultra'", "line 7: loras: no file at",
                "line 8: output: unknown format '.avi'", "line 9: output: '../escape.gif' leaves the output folder",
                "line 10: frames: 3 but the plan holds 2", "line 11: size: 'big' is not WIDTHxHEIGHT", "line 12: strength",
                "line 13: output: '0001-a-good-row.gif' is also line 1's"]
    assert all(e in text for e in expected), text
    assert len(exc.value.problems) == len(expected) and text.startswith("jobs: 12 problems in jobs.jsonl")
    out = tmp_path / "never"
    assert main(["batch", str(jobs), "--tiny", "--out-dir", str(out), "-q"]) == 2
    assert not out.exists()


def test_csv_rows_and_relative_paths(tmp_path, tiny):
    (tmp_path / "loras").mkdir()
    (tmp_path / "loras" / "style.safetensors").write_bytes(tiny.lora.read_bytes())
    (tmp_path / "jobs.csv").write_text(
        "id,prompt,plan,frames,seed,loras,size,output,interpolate\n"
        "hill,a windy hill,,3,5,loras/style.safetensors:0.5,64x64,hill.webp,2\n"
        "bus,,a cat bus | the cat bus leaps,,,,,,\n"
    )
    hill, bus = load_jobs(tmp_path / "jobs.csv", {"size": (64, 64)})
    assert (hill.id, hill.frames, hill.seed, hill.width, hill.output) == ("hill", 3, 5, 64, "hill.webp")
    assert hill.loras[0].path == str(tmp_path / "loras" / "style.safetensors") and hill.loras[0].weight == 0.5
    assert hill.motion().interpolate == 2 and hill.fps == 24.0
    assert bus.plan == ("a cat bus", "the cat bus leaps") and bus.frames == 2 and bus.output == "bus.gif"


def test_local_mode_isolates_a_failing_job_and_resumes_a_half_done_batch(tmp_path, tiny, capsys, jobs_files):
    # a LoRA whose header looks right for the base but whose tensors do not fit it: fails when applied, not before
    broken = {k: (torch.zeros(v.shape[0], v.shape[1] + 3) if "attn1_to_q.lora_down" in k else v) for k, v in load_file(str(tiny.lora_kohya)).items()}
    save_file(broken, str(tmp_path / "broken.safetensors"))
    rows = jobs_files.rows(4)
    rows[1]["loras"] = ["broken.safetensors"]
    rows[2]["loras"] = [f"{tiny.lora}:0.8"]
    jobs_file = jobs_files.write(tmp_path / "jobs.jsonl", rows)
    out = tmp_path / "out"
    assert main(["batch", str(jobs_file), "--tiny", "--out-dir", str(out), "-q"]) == 1
    printed = capsys.readouterr().out
    summary = json.loads((out / "batch-summary.json").read_text())
    assert summary["counts"] == {"done": 3, "skipped": 0, "failed": 1, "cancelled": 0}, printed
    failed = [j for j in summary["jobs"] if j["status"] == "failed"]
    assert failed[0]["line"] == 2 and "broken.safetensors" in failed[0]["error"] and "failed" in printed
    jobs = load_jobs(jobs_file)
    ctx = jobs_files.ctx(tiny, out)
    for job in (jobs[0], jobs[2], jobs[3]):
        assert verify_output(out / job.output, ctx.fingerprint(job)) is None
    assert not (out / jobs[1].output).exists()

    # Ctrl-C after the first job of a fresh batch: finished output kept, the rest cancelled, nothing half-written
    out2 = tmp_path / "out2"
    good = [j for j in jobs if not any("broken" in s.path for s in j.loras)]

    def stop(result):
        raise KeyboardInterrupt

    with pytest.raises(BatchInterrupted) as stopped:
        run_local(good, jobs_files.ctx(tiny, out2), progress=False, on_result=stop)
    assert [r.status for r in stopped.value.results] == ["done", "cancelled", "cancelled"]
    assert sorted(p.name for p in out2.iterdir()) == [good[0].output]
    # one finished output truncated, one job's seed changed: resume re-renders exactly what does not verify
    resumed = run_local(good, jobs_files.ctx(tiny, out2), resume=True, progress=False)
    assert [r.status for r in resumed] == ["skipped", "done", "done"]
    data = (out2 / good[1].output).read_bytes()
    (out2 / good[1].output).write_bytes(data[: len(data) // 2])
    from dataclasses import replace

    changed = [good[0], good[1], replace(good[2], seed=99)]
    again = run_local(changed, jobs_files.ctx(tiny, out2), resume=True, progress=False)
    assert [r.status for r in again] == ["skipped", "done", "done"]
    assert all(verify_output(out2 / j.output, jobs_files.ctx(tiny, out2).fingerprint(j)) is None for j in changed)


def test_preflight_refuses_a_lora_for_another_base_by_line(tmp_path, tiny, jobs_files):
    save_file({"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight": torch.zeros(4, 768),
               "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight": torch.zeros(32, 4)},
              str(tmp_path / "sd15_real.safetensors"))
    rows = jobs_files.rows(2)
    rows[1]["loras"] = ["sd15_real.safetensors"]
    jobs = load_jobs(jobs_files.write(tmp_path / "jobs.jsonl", rows))
    with pytest.raises(JobsFileError, match=r"line 2: lora: sd15_real.safetensors was made for a base with cross-attention 768"):
        preflight(jobs, jobs_files.ctx(tiny, tmp_path / "out"), "jobs.jsonl")


@pytest.mark.parametrize("ext", [".gif", ".webp", ".png", ".mp4", ".webm"])
def test_resume_recognises_a_finished_file_in_every_format(tmp_path, ext):
    """--resume reads the fingerprint back and decodes every frame, whatever the job's output format."""
    import numpy as np
    from PIL import Image

    from ghibli_core.export import save_animation

    rng = np.random.default_rng(0)
    frames = [Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)) for _ in range(4)]
    out = save_animation(frames, tmp_path / f"a{ext}", fps=8, metadata={"job_fingerprint": "abc", "schedule": {"output_frames": 4}})
    assert verify_output(out, "abc") is None
    assert verify_output(out, "other") == "made by another job or settings"
    out.write_bytes(out.read_bytes()[: len(out.read_bytes()) // 2])
    assert verify_output(out, "abc") is not None  # a truncated file is rendered again


def test_a_clip_row_repaints_its_clip_beside_animation_rows_and_resumes(tmp_path, tiny, capsys, jobs_files):
    import av
    import clips

    clips.write_clip(tmp_path / "walk.mp4", clips.moving_frames(12, 64, 64), 8, sound=True)
    rows = [{"video": "walk.mp4", "prompt": "a quiet street", "output": "walk.mp4", "seed": 2, "steps": 6, "start": 0.25,
             "preset": "fast"}, *jobs_files.rows(1)]
    jobs_file = jobs_files.write(tmp_path / "jobs.jsonl", rows)
    clip_job = load_jobs(jobs_file)[0]
    assert clip_job.video == str(tmp_path / "walk.mp4") and clip_job.frames == 10 and clip_job.fps == 8.0
    out = tmp_path / "out"
    assert main(["batch", str(jobs_file), "--tiny", "--out-dir", str(out), "-q"]) == 0
    summary = json.loads((out / "batch-summary.json").read_text())
    clip_row = summary["jobs"][0]
    assert clip_row["status"] == "done" and clip_row["frames"] == 10 and "temporal_warp_error" in clip_row["metrics"]
    with av.open(str(out / "walk.mp4")) as c:
        assert c.streams.video[0].frames == 10 and len(c.streams.audio) == 1  # the clip's own sound over its window
    assert verify_output(out / "walk.mp4", jobs_files.ctx(tiny, out).fingerprint(clip_job)) is None
    capsys.readouterr()
    assert main(["batch", str(jobs_file), "--tiny", "--out-dir", str(out), "-q", "--resume"]) == 0
    assert json.loads((out / "batch-summary.json").read_text())["counts"]["skipped"] == 2


def test_bad_clip_rows_are_listed_with_their_lines_before_any_render(tmp_path, tiny, jobs_files):
    import clips

    clips.write_clip(tmp_path / "walk.mp4", clips.moving_frames(4, 64, 64), 8)
    clips.write_sound(tmp_path / "tone.wav")
    jobs_file = jobs_files.write(tmp_path / "jobs.jsonl", [
        {"video": "missing.mp4", "prompt": "x"},
        {"video": "tone.wav", "prompt": "x"},
        {"video": "walk.mp4", "prompt": "x", "start": 30},
        {"video": "walk.mp4", "prompt": "x", "frames": 3},
        {"video": "walk.mp4"},
        {"prompt": "an animation", "start": 1},
    ])
    with pytest.raises(JobsFileError) as err:
        load_jobs(jobs_file)
    problems = err.value.problems
    assert [p.split(":")[0] for p in problems] == [f"line {n}" for n in range(1, 7)]
    for text, expected in zip(problems, ("clip: no file at", "holds only sound", "start: 30 s is past the end",
                                         "frames: does not apply to a clip row", "prompt: is missing", "start: is for a clip row")):
        assert expected in text, text


def test_a_row_with_a_soundtrack_writes_it_and_its_schedules_follow_the_beat(tmp_path, tiny, jobs_files):
    import av
    import clips

    clips.write_audio_file(tmp_path / "song.mp3", seconds=2.0)
    rows = [{**jobs_files.rows(1)[0], "output": "beat.mp4", "audio": "song.mp3", "audio_gain": -3,
             "strength_schedule": "0:(0.6 - 0.15*beat(t))", "translation_z": "0:(0.01 + 0.04*onset(t))"}]
    jobs_file = jobs_files.write(tmp_path / "jobs.jsonl", rows)
    job = load_jobs(jobs_file)[0]
    assert job.sound_settings().path == str(tmp_path / "song.mp3") and job.audio_features is not None
    out = tmp_path / "out"
    assert main(["batch", str(jobs_file), "--tiny", "--out-dir", str(out), "-q"]) == 0
    with av.open(str(out / "beat.mp4")) as c:
        video, audio = c.streams.video[0], c.streams.audio[0]
        assert audio.duration * audio.time_base == video.duration * video.time_base
    bad = jobs_files.write(tmp_path / "bad.jsonl", [{**jobs_files.rows(1)[0], "output": "x.gif", "audio": "song.mp3"},
                                                    {**jobs_files.rows(1)[0], "audio_gain": 2},
                                                    {**jobs_files.rows(1)[0], "strength_schedule": "0:(0.5*beat(t))"}])
    with pytest.raises(JobsFileError) as err:
        load_jobs(bad)
    for text, expected in zip(err.value.problems, ("a GIF file cannot carry sound", "audio_gain: was given without a sound",
                                                   "beat(t) follows a soundtrack")):
        assert expected in text, text


def test_rows_sharing_a_model_set_are_worked_on_together_in_file_order(tiny, tmp_path, jobs_files):
    """A worker loads a model set (base, speed LoRA, VAE) once for all its rows instead of switching row by row; the
    results still come in the file's order (test_batch_ray.py: Ray dispatches in the same order)."""
    rows = jobs_files.rows(5)
    for i in (0, 2, 4):
        rows[i]["speed_lora"] = str(tiny.speed_lora)
    jobs = load_jobs(jobs_files.write(tmp_path / "jobs.jsonl", rows))
    order = [j.id for j in jobs_files.ctx(tiny, tmp_path / "out").in_model_order(jobs)]
    ids = [j.id for j in jobs]
    assert order in ([ids[1], ids[3], ids[0], ids[2], ids[4]], [ids[0], ids[2], ids[4], ids[1], ids[3]])
