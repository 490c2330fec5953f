"""The per-pair work after painting runs side by side and gives exactly what one thread gives."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from ghibli_core import parallel
from ghibli_core.blend import fill_cadence, interpolate_sequence
from ghibli_core.blend.flow import compute_flow, consistency, squared_norm
from ghibli_core.blend.scenes import Scene
from ghibli_core.camera.inbetween import CameraTimeline, camera_frames
from ghibli_core.camera.path import CameraSettings
from ghibli_core.metrics import camera_fidelity, compute_metrics, loop_seam, pair_warp_error, warp_error


def test_map_in_order_keeps_the_order_and_really_runs_side_by_side():
    ran_in, started = set(), threading.Barrier(3, timeout=10)

    def work(i: int) -> int:
        ran_in.add(threading.current_thread().name)
        if i < 3:
            started.wait()  # three items must be running at once, or this times out
        time.sleep(0.01 * (5 - i))  # later items finish first: the order must still be the input's
        return i * i

    assert parallel.map_in_order(work, range(6), workers=3) == [i * i for i in range(6)]
    assert len(ran_in) == 3 and all(name.startswith("ghibli-cpu") for name in ran_in)


def test_one_worker_and_nested_work_run_in_the_calling_thread():
    me = threading.current_thread().name
    assert parallel.map_in_order(lambda _: threading.current_thread().name, range(3), workers=1) == [me] * 3

    def outer(i: int) -> list[str]:  # a map inside a worker stays in that worker
        here = threading.current_thread().name
        inner = parallel.map_in_order(lambda _: threading.current_thread().name, range(4), workers=4)
        return [here] + inner

    for names in parallel.map_in_order(outer, range(2), workers=2):
        assert len(set(names)) == 1 and names[0] != me
    assert parallel.map_in_order(lambda x: x, [], workers=4) == []


def test_the_earliest_failing_items_error_is_raised_after_the_rest_finish():
    done = []

    def work(i: int) -> int:
        if i in (1, 3):
            raise ValueError(f"item {i}")
        time.sleep(0.05)
        done.append(i)
        return i

    with pytest.raises(ValueError, match="item 1"):
        parallel.map_in_order(work, range(5), workers=2)
    assert sorted(done) == [0, 2, 4]


def test_worker_count_follows_torchs_cpu_threads(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert parallel.cpu_workers() == 1  # a Ray actor given one CPU, or OMP_NUM_THREADS=1
    monkeypatch.setattr(torch, "get_num_threads", lambda: 512)
    assert 1 <= parallel.cpu_workers() <= parallel.MAX_WORKERS


def test_squared_norm_is_the_same_numbers_as_numpys_reduction():
    v = np.random.default_rng(0).standard_normal((37, 53, 2)).astype(np.float32) * 40
    assert np.array_equal(squared_norm(v), (v ** 2).sum(-1))


def test_flow_in_many_threads_equals_flow_in_one():
    """DIS keeps working buffers in its object: each thread must have its own, or concurrent pairs corrupt each other."""
    scenes = [Scene(kind, size=160, seed=s) for kind in ("translate", "zoom", "rotate") for s in (1, 2)]
    pairs = [(sc.frame(0), sc.frame(1)) for sc in scenes]
    alone = [compute_flow(a, b) for a, b in pairs]
    for _ in range(3):
        together = parallel.map_in_order(lambda p: compute_flow(*p), pairs * 2, workers=6)
        assert all(np.array_equal(x, y) for x, y in zip(together, alone * 2))


def _one_thread(monkeypatch, fn):
    monkeypatch.setattr(parallel, "cpu_workers", lambda: 1)
    try:
        return fn()
    finally:
        monkeypatch.undo()


def _same(a, b) -> bool:
    if a is None or isinstance(a, dict):
        return a == b
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_in_betweens_cadence_and_metrics_are_bit_identical_with_one_thread_or_four(monkeypatch):
    frames = Scene("zoom", size=128, seed=5).frames(9)
    keys = {i: frames[i] for i in (0, 3, 6)}
    jobs = {
        "in-betweens": lambda: interpolate_sequence(frames, 2, loop=True),
        "cadence": lambda: fill_cadence(keys, 9, loop=True),
        "metrics": lambda: compute_metrics(frames),
    }
    for name, job in jobs.items():
        alone = _one_thread(monkeypatch, job)
        monkeypatch.setattr(parallel, "cpu_workers", lambda: 4)
        assert _same(job(), alone), name
    metrics = compute_metrics(frames)  # the combined pass reports what the single-purpose functions do
    assert metrics["warp_error"] == round(warp_error(frames), 6) and metrics["loop_seam"] == round(loop_seam(frames), 6)
    assert warp_error(frames) == pytest.approx(np.mean([pair_warp_error(a, b) for a, b in zip(frames, frames[1:])]))


def test_camera_inbetweens_and_fidelity_are_bit_identical_with_one_thread_or_four(monkeypatch):
    scene = Scene("translate", size=96, seed=3)
    images = scene.frames(4)
    rng = np.random.default_rng(0)
    depths = [(2.0 + rng.random((96, 96))).astype(np.float32) for _ in images]
    camera = CameraSettings("push-in:0.5")
    path = camera.path(8)
    keys = {2 * i: (img, z) for i, (img, z) in enumerate(zip(images, depths))}
    timeline = CameraTimeline(path, 8, loop=True)
    pairs = [(images[i], images[i + 1], depths[i], path.step(2 * i, 2 * i + 2)) for i in range(3)]
    for job in (lambda: camera_frames(keys, timeline, 1), lambda: camera_fidelity(pairs, path.fov)):
        alone = _one_thread(monkeypatch, job)
        monkeypatch.setattr(parallel, "cpu_workers", lambda: 4)
        assert alone is not None and _same(job(), alone)


def test_consistency_marks_a_wrong_return_trip():
    fwd = np.zeros((8, 8, 2), np.float32)
    fwd[..., 0] = 2.0
    bwd = -fwd
    assert consistency(fwd, bwd).all()
    bwd[2:4, 2:4] = 5.0  # where the backward flow does not come back, the pixel is not trusted
    assert not consistency(fwd, bwd)[2:4, 0:2].any()
