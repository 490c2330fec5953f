"""Every planned prompt reaches the picture: which plan indices condition each painted frame (by time, with cadence
and prompt travel), slerp, and the text embeddings the real UNet receives (tiny models)."""
from __future__ import annotations

import pytest
import torch

from ghibli_core.animate import AnimationSettings, PromptEmbeddings
from ghibli_core.blend import MotionSettings
from ghibli_core.conditioning import prompt_mixes, slerp
from ghibli_core.job import AnimationJob, run_job
from ghibli_core.plan import Plan
from ghibli_core.schedule import keyframe_indices

CASES = [(f, c, loop, travel) for f in (1, 2, 5, 8, 13) for c in (1, 2, 3, 4, 8) for loop in (True, False) for travel in (False, True)]


@pytest.mark.parametrize("frames,cadence,loop,travel", CASES)
def test_every_plan_index_conditions_some_painted_frame(frames, cadence, loop, travel):
    keys = keyframe_indices(frames, cadence, loop)
    mixes = prompt_mixes(frames, keys, loop, travel)
    assert len(mixes) == len(keys)
    seen = set()
    for key, mix in zip(keys, mixes):
        weights = mix.plan_weights()
        assert abs(sum(weights.values()) - 1) < 1e-9 and all(w > 0 for w in weights.values())
        if loop or not travel:  # (travel at an open end: the path only runs one way, toward the next beat)
            assert max(weights, key=weights.get) == key  # a keyframe leans on its own beat most
        seen |= set(weights)
    assert seen == set(range(frames))
    if cadence == 1 and not travel:
        assert [m.plan_weights() for m in mixes] == [{k: 1.0} for k in keys]


def test_cadence_shares_each_beat_by_time():
    mixes = prompt_mixes(8, [0, 2, 4, 6], loop=True)
    assert mixes[1].plan_weights() == {1: 0.25, 2: 0.5, 3: 0.25}
    assert mixes[0].plan_weights() == {0: 0.5, 1: 0.25, 7: 0.25}  # the loop: frame 7 leads back into frame 0
    open_end = prompt_mixes(7, [0, 4, 6], loop=False)
    assert open_end[0].plan_weights() == pytest.approx({0: 0.4, 1: 0.3, 2: 0.2, 3: 0.1})


def test_travel_leans_each_beat_toward_its_neighbours():
    mixes = prompt_mixes(8, list(range(8)), loop=True, travel=True)
    weights = mixes[3].plan_weights()
    assert set(weights) == {2, 3, 4} and weights[2] == pytest.approx(weights[4]) and weights[3] > 0.6
    assert any(0 < t < 1 for _, _, t, _ in mixes[3].terms)  # slerp terms, not only whole prompts


def test_slerp_keeps_the_ends_and_the_magnitude():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(1, 77, 32, generator=g), torch.randn(1, 77, 32, generator=g) * 2
    assert torch.equal(slerp(a, b, 0.0), a) and torch.equal(slerp(a, b, 1.0), b)
    mid = slerp(a, b, 0.5)
    assert torch.allclose(mid.norm(dim=-1), (a.norm(dim=-1) + b.norm(dim=-1)) / 2, atol=1e-4)
    lerp = (a + b) / 2
    assert (mid.norm(dim=-1) >= lerp.norm(dim=-1) - 1e-5).all()  # no dip in magnitude, unlike a linear mix
    assert torch.allclose(slerp(a, a * 3, 0.5), a * 2, atol=1e-5)  # parallel vectors: a linear mix


@pytest.mark.parametrize("travel", [False, True])
def test_the_unet_receives_the_blend_of_every_planned_prompt(pipes, recorder, travel):
    prompts = [f"a meadow, beat {i}, Studio Ghibli style" for i in range(6)]
    settings = AnimationSettings(frames=6, steps=4, strength=0.5, seed=1, width=64, height=64, prompt_travel=travel,
                                 cache_interval=1, controlnet_end=1.0, cfg_end=1.0)  # guidance on every step
    job = AnimationJob(painting=settings, motion=MotionSettings(cadence=2, interpolate=0), plan=Plan("a meadow", prompts, "test"))
    result = run_job(job, pipes, progress=False)
    conditioning = result.metadata["schedule"]["conditioning"]
    assert [f.index for f in result.animation.painted] == [0, 2, 4]
    assert sorted({int(i) for frame in conditioning for i, _ in frame}) == list(range(6))  # every plan index
    assert result.metadata["settings"]["prompt_travel"] is travel

    embeddings = PromptEmbeddings(pipes.txt2img)
    encoded = [embeddings.encode(p) for p in prompts]
    mixes = prompt_mixes(6, [0, 2, 4], loop=True, travel=travel)
    steps = [settings.steps] + [settings.img2img_steps()] * 2
    calls = iter(recorder.texts)
    for mix, n in zip(mixes, steps):
        expected = sum(w * slerp(encoded[a], encoded[b], t) for a, b, t, w in mix.terms)
        for _ in range(n):
            text = next(calls)
            assert text.shape[0] == 2  # classifier-free guidance: negative, then positive
            assert torch.allclose(text[1:], expected, atol=1e-5)
            assert not any(torch.allclose(text[1:], e, atol=1e-5) for e in encoded)  # a blend, not one prompt
    assert next(calls, None) is None
