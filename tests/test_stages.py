"""The stream of stages after painting: keyframe spans, camera spans and the metrics give, batch by batch, exactly
what the whole-list functions give; every frame pair's optical flow is computed once per run; output frames are handed
on while later keyframes are still to be painted; the one finishing step writes every job type."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from ghibli_core.animate import AnimationSettings
from ghibli_core.blend import FlowCache, MotionSettings, fill_cadence, interpolate_sequence, keyframe_indices
from ghibli_core.blend import flow as flow_module
from ghibli_core.blend.scenes import Scene
from ghibli_core.blend.spans import KeyframeSpans
from ghibli_core.camera import CameraSettings
from ghibli_core.export import read_metadata
from ghibli_core.finish import Outputs, finish
from ghibli_core.job import AnimationJob, run_job
from ghibli_core.metrics import MetricsStream, compute_metrics
from ghibli_core.plan import Plan


@pytest.mark.parametrize("frames,cadence,interpolate,loop", [(9, 3, 1, True), (9, 3, 2, False), (7, 2, 0, True),
                                                              (5, 1, 1, True), (6, 4, 1, True), (1, 1, 2, True), (4, 3, 1, False)])
def test_keyframe_spans_give_the_whole_timeline_fill_and_in_betweens(frames, cadence, interpolate, loop):
    images = Scene("translate", size=48, seed=frames).frames(frames)
    keys = keyframe_indices(frames, cadence, loop)
    timeline = fill_cadence({k: images[k] for k in keys}, frames, loop=loop)
    whole = interpolate_sequence(timeline, interpolate, loop=loop)
    spans = KeyframeSpans(frames, keys, interpolate, loop=loop)
    streamed = [f for k in keys for f in spans.add(k, images[k])] + spans.close()
    assert len(streamed) == len(whole) and all(np.array_equal(a, b) for a, b in zip(streamed, whole))


def test_keyframes_out_of_order_are_refused():
    spans = KeyframeSpans(6, [0, 2, 4], 1, loop=True)
    frame = np.zeros((8, 8, 3), np.uint8)
    spans.add(0, frame)
    with pytest.raises(ValueError, match="keyframe 4 arrived where 2 was expected"):
        spans.add(4, frame)


@pytest.mark.parametrize("split", [[9], [1, 8], [3, 3, 3], [1] * 9, [2, 0, 7]])
def test_metrics_measured_batch_by_batch_equal_the_whole_list(split):
    frames = Scene("zoom", size=64, seed=2).frames(9)
    stream, at = MetricsStream(), 0
    for n in split:
        stream.add(frames[at:at + n])
        at += n
    assert stream.result() == compute_metrics(frames)
    assert MetricsStream().add(frames[:1]).result() == compute_metrics(frames[:1])


def test_a_flow_cache_computes_each_pair_once_in_either_order_and_across_threads(monkeypatch):
    a, b = Scene("translate", size=48, seed=1).frames(2)
    calls = []
    real = flow_module.compute_flow
    monkeypatch.setattr(flow_module, "compute_flow", lambda x, y, m="dis": calls.append(1) or real(x, y, m))
    cache = FlowCache()
    fwd, bwd = cache.pair(a, b)
    assert np.array_equal(fwd, real(a, b)) and np.array_equal(bwd, real(b, a))
    again_bwd, again_fwd = cache.pair(b, a)  # the other order: the same two flows, swapped
    assert again_fwd is fwd and again_bwd is bwd and len(calls) == 2
    results, barrier = [], threading.Barrier(4)

    def ask():
        barrier.wait()
        results.append(cache.pair(b.copy(), a.copy()))  # equal content, other arrays: still found

    threads = [threading.Thread(target=ask) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(calls) == 2 and cache.computed == 1 and cache.reused == 5 and all(r[1] is fwd for r in results)
    small = FlowCache(max_bytes=1)  # never holds more than the latest pair
    small.pair(a, b)
    small.pair(b, a.copy() * 0)
    assert len(small._flows) == 1


@pytest.mark.parametrize("camera,cadence,interpolate", [(None, 2, 1), ("orbit-left", 1, 0), ("pan-right", 2, 1)])
def test_a_run_computes_every_frame_pairs_flow_once(pipes, monkeypatch, camera, cadence, interpolate):
    seen: dict[tuple, int] = {}
    real = flow_module.compute_flow

    def counted(x, y, method="dis"):
        key = (flow_module._digest(x), flow_module._digest(y), method)
        seen[key] = seen.get(key, 0) + 1
        return real(x, y, method)

    monkeypatch.setattr(flow_module, "compute_flow", counted)
    settings = AnimationSettings(frames=4, steps=4, strength=0.5, width=64, height=64, seed=2)
    job = AnimationJob(painting=settings, motion=MotionSettings(cadence=cadence, interpolate=interpolate),
                       camera=CameraSettings(camera) if camera else None, plan=Plan("a hill", [f"a hill {i}" for i in range(4)], "test"))
    result = run_job(job, pipes, progress=False)
    assert seen and max(seen.values()) == 1, "a flow was computed twice"
    if camera and interpolate == 0:  # camera fidelity and the warp error share the painted pairs' flows
        assert "camera_fidelity" in result.metrics


def test_output_frames_are_handed_on_while_later_keyframes_are_still_to_paint(pipes):
    from ghibli_core.render import render_animation

    events: list[str] = []
    settings = AnimationSettings(frames=6, steps=4, strength=0.5, width=64, height=64, seed=2)
    anim = render_animation(pipes, [f"a lake {i}" for i in range(6)], settings, MotionSettings(cadence=2, interpolate=1),
                            on_frame=lambda f: events.append(f"key {f.index}"),
                            on_output=lambda frames: events.append(f"out {len(frames)}"), progress=False)
    # keyframes 0, 2, 4: the span 0..2 (4 output frames) is out before keyframe 4 is painted
    assert events[:4] == ["key 0", "out 4", "key 2", "out 4"] and events[4] == "key 4"
    assert sum(int(e.split()[1]) for e in events if e.startswith("out")) == len(anim.output_frames) == 12


def test_every_job_type_finishes_through_one_step(tmp_path):
    frames = Scene("translate", size=48, seed=4).frames(5)
    done = finish(frames, {"generator": "test", "source": "x"}, Outputs(fps=8, output=tmp_path / "a.webp",
                                                                        frames_dir=tmp_path / "f"))
    meta = read_metadata(tmp_path / "a.webp")
    assert meta["source"] == "x" and meta["metrics"]["frames"] == 5 and meta == done.metadata
    assert len(list((tmp_path / "f").glob("*.png"))) == 5 and (tmp_path / "a.metrics.json").is_file()
    finish(frames, {"generator": "test"}, Outputs(fps=8, output=tmp_path / "bare.webp", embed=False))
    assert read_metadata(tmp_path / "bare.webp") in (None, {})
