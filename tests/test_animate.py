"""The sequential chain on tiny models: what the ControlNet really receives, seeds, steps, cancel."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ghibli_core.animate import AnimationSettings, Progress, animate, paint_frame
from ghibli_core.chain import ChainState
from ghibli_core.coherence import SharpnessHold
from ghibli_core.metrics import sharpness
from ghibli_core.painter import Painter
from ghibli_core.errors import Cancelled, InputError

NO_REUSE = dict(cache_interval=1, controlnet_end=1.0, cfg_end=1.0)  # every step computes everything (models/reuse.py)
PLAN = ["a ghibli forest at dawn", "a ghibli forest in the morning", "a ghibli forest at noon", "a ghibli forest at dusk"]


def settings(**kw) -> AnimationSettings:
    base = dict(frames=4, steps=4, strength=0.5, width=64, height=64, seed=11, guidance=5.0, **NO_REUSE)
    return AnimationSettings(**(base | kw))


def test_each_frame_is_steered_by_the_depth_of_the_previous_frame(pipes, recorder):
    rec = recorder
    frames = list(animate(pipes, PLAN, settings(), progress=False))
    assert [f.index for f in frames] == [0, 1, 2, 3] and frames[0].control is None
    per_frame = settings().img2img_steps()
    assert len(rec.controls) == 3 * per_frame  # one ControlNet call per img2img denoising step
    for k in (1, 2, 3):
        expected_depth = pipes.depth(frames[k - 1].image)  # computed independently, from the previous frame
        assert np.array_equal(np.asarray(expected_depth), np.asarray(frames[k].control))
        expected = pipes.img2img.control_image_processor.preprocess(expected_depth, height=64, width=64).to(pipes.img2img.controlnet.dtype)
        for received in rec.controls[(k - 1) * per_frame: k * per_frame]:
            # classifier-free guidance sends the control image twice (uncond + cond)
            assert received.shape == (2, 3, 64, 64)
            assert torch.allclose(received[:1], expected, atol=1e-6) and torch.allclose(received[1:], expected, atol=1e-6)
    # and not the depth of some other frame
    assert not np.array_equal(np.asarray(frames[1].control), np.asarray(frames[2].control))


def test_steps_run_follow_diffusers_strength(pipes, recorder):
    rec = recorder
    list(animate(pipes, PLAN[:3], settings(frames=3, steps=10, strength=0.3), progress=False))
    # frame 1: 10 txt2img steps; frames 2-3: int(10 * 0.3) = 3 steps; one UNet call per step (CFG batched)
    assert rec.unet_calls == 10 + 3 + 3


def test_same_seed_same_frames_and_any_frame_regenerates_alone(pipes):
    a = list(animate(pipes, PLAN, settings(), progress=False))
    b = list(animate(pipes, PLAN, settings(), progress=False))
    assert all(np.array_equal(np.asarray(x.image), np.asarray(y.image)) for x, y in zip(a, b))
    hold = SharpnessHold.from_state(sharpness(np.asarray(a[0].image)), a[1].coherence)  # auto sharpening's memory
    again = paint_frame(Painter.of(pipes, settings().scheduler), settings(), 2, PLAN[2], previous=a[1].image, hold=hold,
                        color_target=a[0].image)
    assert np.array_equal(np.asarray(again.image), np.asarray(a[2].image))
    other = list(animate(pipes, PLAN, settings(seed=12), progress=False))
    assert not np.array_equal(np.asarray(other[0].image), np.asarray(a[0].image))


def test_seed_policies(pipes):
    fixed = list(animate(pipes, PLAN[:2], settings(frames=2, seed=5), progress=False))
    inc = list(animate(pipes, PLAN[:2], settings(frames=2, seed=5, seed_policy="incrementing"), progress=False))
    assert [f.seed for f in fixed] == [5, 5] and [f.seed for f in inc] == [5, 6]
    s = settings(seed=None)
    assert s.with_seed().seed is not None and 0 <= s.with_seed().seed < 2**32


def test_init_image_starts_the_chain_under_its_own_depth(pipes):
    rng = np.random.default_rng(1)
    init = Image.fromarray(rng.integers(0, 255, (80, 120, 3), dtype=np.uint8))  # other size: fitted to 64x64
    frames = list(animate(pipes, PLAN[:2], settings(frames=2), init_image=init, progress=False))
    assert frames[0].control is not None and frames[0].image.size == (64, 64)
    plain = list(animate(pipes, PLAN[:2], settings(frames=2), progress=False))
    assert not np.array_equal(np.asarray(frames[0].image), np.asarray(plain[0].image))


def test_progress_callback_and_cancel_between_steps(pipes, recorder):
    events: list[Progress] = []
    list(animate(pipes, PLAN[:2], settings(frames=2), on_progress=events.append, progress=False))
    assert [(e.frame, e.step, e.steps) for e in events] == [(0, 1, 4), (0, 2, 4), (0, 3, 4), (0, 4, 4), (1, 1, 2), (1, 2, 2)]
    rec = recorder
    rec.unet_calls = 0  # count only the cancelled run
    seen: list[Progress] = []
    made = []
    with pytest.raises(Cancelled, match="frame 2 of 4"):
        for frame in animate(pipes, PLAN, settings(), on_progress=seen.append,
                             should_cancel=lambda: len(seen) >= 5, progress=False):
            made.append(frame)
    assert len(made) == 1 and rec.unet_calls == 5  # stopped right after the step that asked


@pytest.mark.parametrize("field,value,match", [
    ("frames", 0, "frames: 0 is out of range"),
    ("steps", 0, "steps: 0 is out of range"),
    ("steps", 2.5, "steps: 2.5 is not an integer"),
    ("strength", 0.0, r"strength: 0.0 is out of range; use a value in \(0.0, 1.0\]"),
    ("strength", 1.5, "strength: 1.5 is out of range"),
    ("guidance", -1, "guidance: -1 is out of range"),
    ("guidance", float("nan"), "guidance: nan is not a number"),
    ("controlnet_scale", 3, "controlnet-scale: 3 is out of range"),
    ("width", 500, "width: 500 is not a multiple of 8; use e.g. 496 or 504"),
    ("height", 32, "height: 32 is out of range"),
    ("seed", -1, "seed: -1 is out of range"),
    ("seed_policy", "random", "seed-policy: unknown policy 'random'"),
    ("scheduler", "lms", "scheduler: unknown scheduler 'lms'"),
])
def test_settings_are_validated_on_construction(field, value, match):
    with pytest.raises(InputError, match=match):
        settings(**{field: value})


def test_steps_times_strength_below_one_is_refused():
    with pytest.raises(InputError, match=r"strength: steps 3 x strength 0.2 runs no denoising step"):
        settings(steps=3, strength=0.2)


def test_plan_must_match_frames(pipes):
    with pytest.raises(InputError, match="plan: has 2 prompts but frames is 4"):
        list(animate(pipes, PLAN[:2], settings(), progress=False))
    with pytest.raises(InputError, match="plan: has an empty prompt"):
        list(animate(pipes, ["a", " "], settings(frames=2), progress=False))


@pytest.mark.parametrize("scheduler", ["default", "euler_a", "ddim", "unipc"])
def test_schedulers(pipes, scheduler):
    frames = list(animate(pipes, PLAN[:2], settings(frames=2, scheduler=scheduler), progress=False))
    assert len(frames) == 2 and np.isfinite(np.asarray(frames[1].image, dtype=np.float32)).all()


@pytest.mark.parametrize("camera", [None, "orbit-left"])
def test_a_saved_chain_state_resumes_with_the_frames_of_an_unbroken_run(pipes, tmp_path, camera):
    from ghibli_core.camera import CameraSettings

    cam = CameraSettings(camera) if camera else None
    states: list[ChainState] = []
    whole = list(animate(pipes, PLAN, settings(), progress=False, camera=cam, on_state=states.append))
    assert [s.index for s in states] == [0, 1, 2, 3] and states[1].coherence == whole[1].coherence
    folder = states[1].save(tmp_path / "state")
    states[2].save(folder)  # replaced whole by a later state...
    states[1].save(folder)  # ...and back
    loaded = ChainState.load(folder)
    assert loaded.index == 1 and np.array_equal(np.asarray(loaded.image), np.asarray(states[1].image))
    assert loaded.sharpness_reference == states[1].sharpness_reference and loaded.coherence == states[1].coherence
    rest = list(animate(pipes, PLAN, settings(), progress=False, camera=cam, resume=loaded))
    assert [f.index for f in rest] == [2, 3]
    for f, g in zip(rest, whole[2:]):
        assert np.array_equal(np.asarray(f.image), np.asarray(g.image))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]  # nothing left beside it


def test_a_chain_state_folder_refuses_what_is_not_one(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("a user's file")
    state = ChainState(0, 1, 5, Image.new("RGB", (8, 8)), Image.new("RGB", (8, 8)), 1.0)
    with pytest.raises(InputError, match="work-dir: .*mine exists and is not a chain state"):
        state.save(tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "a user's file"
    with pytest.raises(InputError, match="resume: .* holds no readable chain state"):
        ChainState.load(tmp_path / "mine")
