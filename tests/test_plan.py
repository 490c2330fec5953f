"""The offline planner: exactly N distinct frames, each naming the Ghibli style, no network."""
from __future__ import annotations

import pytest

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
    assert a.frames == b.frames
    assert "dawn" in a.frames[0] and "night" in a.frames[-1]


@pytest.mark.parametrize("idea,n,match", [("", 4, "prompt: is empty"), ("   \n", 4, "prompt: is empty"), ("x", 0, "frames: 0"),
                                          ("x", 1001, "frames: 1001"), ("x", "3", "frames: '3'")])
def test_bad_plan_inputs(idea, n, match):
    with pytest.raises(InputError, match=match):
        make_plan(idea, n)


def test_unknown_backend():
    with pytest.raises(InputError, match="backend: unknown plan backend 'gpt'"):
        make_plan("x", 2, "gpt")
