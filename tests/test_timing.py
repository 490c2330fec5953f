"""Where a run's time goes: every stage measured where its work happens, each stage's own time (nested stages taken
out), counted across the worker threads, written to NAME.metrics.json and printed by --verbose; outside a measured
run nothing is counted and the frames are the same."""
from __future__ import annotations

import json
import time

import numpy as np

from ghibli_core.camera import CameraSettings
from ghibli_core.cli import main
from ghibli_core.job import AnimationJob, run_job
from ghibli_core.parallel import map_in_order
from ghibli_core.presets import get_preset
from ghibli_core.timing import STAGES, StageTimes, current, measuring, stage


def test_a_stage_inside_another_is_taken_out_of_it():
    times = StageTimes()
    with measuring(times):
        with stage("inbetweens"):
            time.sleep(0.05)
            with stage("flow"):
                time.sleep(0.1)
    seconds = times.to_dict()
    assert 0.09 < seconds["flow"] < 0.3 and 0.04 < seconds["inbetweens"] < 0.09  # the flow's 0.1 s is not the in-betweens'
    assert list(seconds) == ["flow", "inbetweens"]  # in the stages' order
    with stage("flow"):  # outside a measured run: nothing is counted
        pass
    assert current() is None and times.to_dict() == seconds


def test_work_on_worker_threads_counts_for_the_run_that_started_it():
    times = StageTimes()

    def work(_):
        with stage("metrics"):
            time.sleep(0.05)

    with measuring(times):
        map_in_order(work, range(4), workers=2)
    assert 0.19 < times.to_dict()["metrics"] < 0.5  # four pieces of 0.05 s, two threads side by side


def test_a_run_is_broken_down_by_stage_and_paints_the_same_frames(pipes, tmp_path):
    preset = get_preset("balanced")

    def job(out):
        return AnimationJob(idea="a forest path at dawn", painting=preset.animation(frames=4, width=64, height=64, seed=5, steps=6),
                            motion=preset.motion(), camera=CameraSettings("push-in:0.5"), output=out)

    plain = run_job(job(tmp_path / "plain.gif"), pipes, progress=False)
    assert "timings" not in json.loads((tmp_path / "plain.metrics.json").read_text())
    times = StageTimes(pipes.device)
    with measuring(times):
        measured = run_job(job(tmp_path / "measured.gif"), pipes, progress=False)
    assert [np.asarray(f).tobytes() for f in measured.output_frames] == [np.asarray(f).tobytes() for f in plain.output_frames]
    seconds = times.to_dict()
    for name in ("plan", "text", "unet", "vae", "depth", "camera", "flow", "inbetweens", "coherence", "metrics", "write"):
        assert name in seconds and seconds[name] >= 0, name
    assert set(seconds) <= set(STAGES) and seconds["unet"] > 0
    assert json.loads((tmp_path / "measured.metrics.json").read_text())["timings"].keys() == seconds.keys()


def test_the_command_prints_the_breakdown_when_asked(tiny_env, tmp_path, capsys):
    out = tmp_path / "f.gif"
    assert main(["a forest", "--tiny", "--frames", "2", "--steps", "4", "--verbose", "--quiet", "-o", str(out)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("time per stage: "))
    assert "load " in line and "unet " in line
    assert "load" in json.loads(out.with_suffix(".metrics.json").read_text())["timings"]
