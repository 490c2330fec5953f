"""The work after painting runs behind it (overlap.py): same frames, metadata and metrics as the serial order; errors
and cancels stop everything cleanly."""
from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from ghibli_core import overlap
from ghibli_core.camera.path import CameraSettings
from ghibli_core.errors import Cancelled
from ghibli_core.export import read_metadata
from ghibli_core.job import AnimationJob, run_job
from ghibli_core.overlap import Behind
from ghibli_core.presets import get_preset
from ghibli_core.video.clip import ClipSettings, InMemoryClip
from ghibli_core.video.job import VideoJob, run_video_job


def _no_worker_left() -> bool:
    return not any(t.name == "ghibli-behind" and t.is_alive() for t in threading.enumerate())


def test_calls_run_in_order_in_one_background_thread():
    seen: list[tuple[int, str]] = []

    def work(i: int) -> None:
        time.sleep(0.01 * (i % 3))
        seen.append((i, threading.current_thread().name))

    with Behind(enabled=True) as behind:
        for i in range(8):
            behind.submit(work, i)
    assert [i for i, _ in seen] == list(range(8)) and {name for _, name in seen} == {"ghibli-behind"}
    assert _no_worker_left()


def test_disabled_runs_each_call_at_once_in_the_caller():
    seen: list[str] = []
    with Behind(enabled=False) as behind:
        behind.submit(lambda: seen.append(threading.current_thread().name))
        assert seen == [threading.current_thread().name]


def test_the_caller_waits_only_when_the_queue_is_full():
    release = threading.Event()
    with Behind(enabled=True, depth=1) as behind:
        behind.submit(release.wait)  # taken by the worker, which now blocks
        time.sleep(0.05)
        started = time.perf_counter()
        behind.submit(lambda: None)  # fits in the queue: no wait
        assert time.perf_counter() - started < 0.05
        timer = threading.Timer(0.3, release.set)
        timer.start()
        started = time.perf_counter()
        behind.submit(lambda: None)  # queue full: waits until the worker moves on
        assert time.perf_counter() - started >= 0.2


def test_a_failing_call_is_raised_in_the_caller_and_the_rest_is_dropped():
    ran: list[int] = []

    def work(i: int) -> None:
        if i == 1:
            raise ValueError("pair 1 broke")
        ran.append(i)

    with pytest.raises(ValueError, match="pair 1 broke"):
        with Behind(enabled=True) as behind:
            for i in range(50):
                behind.submit(work, i)
                time.sleep(0.002)
    assert ran == [0] and _no_worker_left()


def test_the_error_of_the_last_call_is_raised_when_the_block_ends():
    with pytest.raises(RuntimeError, match="at the end"):
        with Behind(enabled=True) as behind:
            behind.submit(lambda: (_ for _ in ()).throw(RuntimeError("at the end")))
    assert _no_worker_left()


def test_the_callers_own_error_goes_on_unchanged_and_the_queue_is_dropped():
    ran: list[int] = []
    gate = threading.Event()
    with pytest.raises(Cancelled, match="stop"):
        with Behind(enabled=True, depth=4) as behind:
            behind.submit(gate.wait, 2)
            for i in range(3):
                behind.submit(ran.append, i)
            raise Cancelled("stop")
    assert ran == [] and _no_worker_left()


# --- the real render: bit-identical to the serial order --------------------------------------------------------------

def _job(tmp_path, name: str, **changes) -> AnimationJob:
    preset = get_preset("balanced")
    motion = preset.motion(cadence=2, interpolate=1)
    return AnimationJob(painting=preset.animation(frames=5, width=64, height=64, seed=11, steps=4), motion=motion,
                        idea="a lantern-lit harbour at dusk", preset="balanced", output=tmp_path / name, **changes)


@pytest.mark.parametrize("camera", [None, CameraSettings("push-in:0.3")], ids=["flow", "camera"])
def test_overlapped_runs_write_exactly_what_serial_runs_write(pipes, tmp_path, camera):
    serial = run_job(_job(tmp_path, "serial.webp", camera=camera), pipes, progress=False, overlap=False)
    behind = run_job(_job(tmp_path, "behind.webp", camera=camera), pipes, progress=False, overlap=True)
    assert len(serial.output_frames) == len(behind.output_frames) > 5
    for a, b in zip(serial.output_frames, behind.output_frames):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    assert serial.metrics == behind.metrics
    meta_a, meta_b = read_metadata(tmp_path / "serial.webp"), read_metadata(tmp_path / "behind.webp")
    assert json.dumps(meta_a, sort_keys=True) == json.dumps(meta_b, sort_keys=True)
    assert _no_worker_left()


def test_an_error_in_the_work_behind_stops_the_run_with_that_error(pipes, tmp_path, monkeypatch):
    from ghibli_core import finish

    def broken(self, frames):
        raise OSError("disk gone while measuring")

    monkeypatch.setattr(finish.Finisher, "add", broken)
    with pytest.raises(OSError, match="disk gone"):
        run_job(_job(tmp_path, "x.webp"), pipes, progress=False, overlap=True)
    assert not (tmp_path / "x.webp").exists() and _no_worker_left()


def test_a_cancel_during_painting_stops_the_overlapped_run_cleanly(pipes, tmp_path):
    steps = []
    result = []

    def cancel() -> bool:
        return len(steps) >= 5  # after the first keyframe (4 steps), during the second

    with pytest.raises(Cancelled):
        result.append(run_job(_job(tmp_path, "c.webp"), pipes, progress=False, overlap=True,
                              on_progress=lambda p: steps.append(p), should_cancel=cancel))
    assert not result and not (tmp_path / "c.webp").exists() and _no_worker_left()


def test_a_clips_figures_measured_behind_equal_the_serial_ones(pipes, tmp_path, monkeypatch):
    frames = [np.roll(np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], (64, 1, 3)), 3 * i, axis=1)
              for i in range(6)]
    clip = InMemoryClip(frames, fps=8.0)
    preset = get_preset("balanced")

    def run(name: str, enabled: bool):
        monkeypatch.setattr(overlap, "overlap_pays", lambda device: enabled)
        monkeypatch.setattr("ghibli_core.video.job.overlap_pays", lambda device: enabled)
        job = VideoJob(clip=clip, clip_settings=ClipSettings(width=64, height=64), painting=preset.animation(frames=1, steps=4, seed=3),
                       prompt="a meadow", output=tmp_path / name)
        return run_video_job(job, pipes, progress=False)

    serial, behind = run("s.webp", False), run("b.webp", True)
    assert serial.metrics == behind.metrics
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(serial.output_frames, behind.output_frames))


def test_the_work_goes_behind_on_an_accelerator_or_with_cores_to_spare(monkeypatch):
    import torch

    from ghibli_core import parallel

    monkeypatch.setattr(parallel, "usable_cores", lambda: 2)
    monkeypatch.setattr(overlap, "usable_cores", lambda: 2)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert overlap.overlap_pays(torch.device("cuda", 0)) and overlap.overlap_pays("mps")
    assert not overlap.overlap_pays(torch.device("cpu"))  # the painting's threads use every core
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert overlap.overlap_pays(torch.device("cpu"))  # a core to spare
