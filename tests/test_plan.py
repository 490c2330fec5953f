"""The offline planner: exactly N distinct frames, each naming the Ghibli style, no network."""
from __future__ import annotations

import re

import numpy as np
import pytest

from ghibli_core.camera import CameraSettings, step_matrix
from ghibli_core.plan.offline import LIGHT

from ghibli_core.defaults import STYLE_TAG
from ghibli_core.errors import InputError
from ghibli_core.plan import make_plan


@pytest.mark.parametrize("n", [1, 2, 7, 16, 64, 300])
def test_offline_plan_has_n_distinct_styled_frames(n):
    plan = make_plan("  a serene forest at dawn,  sunlight through swaying trees. ", n)
    assert len(plan.frames) == n and len(set(plan.frames)) == n
    assert all(STYLE_TAG in f and f.startswith("a serene forest at dawn, sunlight through swaying trees,") for f in plan.frames)
    assert plan.backend == "offline" and plan.idea == "a serene forest at dawn, sunlight through swaying trees"


def test_offline_plan_is_deterministic_and_progresses():
    a, b = make_plan("a cat bus", 8), make_plan("a cat bus", 8)
    assert a.frames == b.frames and a.camera == b.camera
    assert "dawn" in a.frames[0] and "midday" in a.frames[len(a.frames) // 4]


def _light(frame: str) -> int:
    return next(i for i, light in enumerate(LIGHT) if light in frame)


@pytest.mark.parametrize("n", [2, 3, 5, 8, 12, 16])
@pytest.mark.parametrize("idea", ["a cat bus", "a serene forest at dawn", "a harbour town", "a windy hill", "sky castle", "x"])
def test_offline_plan_loops_in_light_and_camera(idea, n):
    plan = make_plan(idea, n)
    lights = [_light(f) for f in plan.frames]
    # the light walks out and back: neighbours (the seam included) are at most one step apart
    assert all(abs(a - b) <= 1 for a, b in zip(lights, lights[1:] + lights[:1])), lights
    moves = plan.moves()
    assert len(moves) == n and all(str(m) in plan.camera for m in moves)
    names = [m.name for m in moves]
    if set(names) == {"sway"}:
        return
    out, back = names[0], names[-1]
    assert {out, back} in ({"push-in", "pull-back"}, {"pan-left", "pan-right"}, {"truck-left", "truck-right"},
                           {"crane-up", "crane-down"}, {"orbit-left", "orbit-right"})
    assert names == [out] * (n // 2) + [back] * (n - n // 2)
    # with an even count the camera's path comes home: n - 1 steps, and the last beat's step across the seam
    path = CameraSettings(beats=plan.camera).path(n)
    if n % 2 == 0:
        seam = CameraSettings(move=plan.camera[-1]).path(n).increments[-1]
        assert np.allclose(path.poses[-1] @ step_matrix(*seam), np.eye(4), atol=1e-9)


def test_offline_prompts_name_no_camera_move():
    for idea in ("a cat bus", "a forest", "a harbour"):
        for frame in make_plan(idea, 16).frames:
            assert not re.search(r"\b(pan|tilt|push in|pull back|zoom|orbit|dolly|truck|crane)\b", frame), frame


def test_single_frame_plan_holds_still():
    assert make_plan("a cat bus", 1).camera == ["static"]


@pytest.mark.parametrize("idea,n,match", [("", 4, "prompt: is empty"), ("   \n", 4, "prompt: is empty"), ("x", 0, "frames: 0"),
                                          ("x", 1001, "frames: 1001"), ("x", "3", "frames: '3'")])
def test_bad_plan_inputs(idea, n, match):
    with pytest.raises(InputError, match=match):
        make_plan(idea, n)


def test_unknown_backend():
    with pytest.raises(InputError, match="backend: unknown plan backend 'gpt'"):
        make_plan("x", 2, "gpt")


@pytest.mark.parametrize("n", [2, 4, 8, 12])
def test_every_offline_camera_loop_comes_home(n):
    from ghibli_core.plan.offline import CAMERA_LOOPS, loop_moves

    seen = set()
    for i in range(200):  # ideas until every loop pattern has been chosen
        idea = f"idea number {i}"
        moves = loop_moves(idea, n)
        pattern = tuple(dict.fromkeys(_move_name(m) for m in moves))
        seen.add(pattern)
        path = CameraSettings(beats=moves).path(n)
        if pattern == ("sway",):
            assert path.closes()  # sway is home at the last frame by itself
        else:  # an out-and-back pair: home after the last beat's step across the seam
            seam = CameraSettings(move=moves[-1]).path(n).increments[-1]
            assert np.allclose(path.poses[-1] @ step_matrix(*seam), np.eye(4), atol=1e-6), (idea, moves)  # 6-digit constants
    assert seen == {tuple(p) for p in CAMERA_LOOPS}


def _move_name(text: str) -> str:
    return text.split(":")[0]
