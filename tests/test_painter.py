"""The painter and per-run pipeline state: one request in, one frame out; two runs on two threads over one set of
weights paint exactly what each paints alone; the frames of every preset are those recorded before the engine's
reshaping (tests/golden_cases.py)."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image

from ghibli_core.animate import AnimationSettings, animate
from ghibli_core.camera import CameraSettings
from ghibli_core.errors import InputError
from ghibli_core.models.lora import LoraSpec
from ghibli_core.painter import Conditioning, Control, PaintRequest, Painter, RunPipelines, StartMask

import golden_cases

PLAN = ["a windmill on a hill", "a windmill at dusk", "a windmill under stars"]


def _frames(pipes, settings, camera=None) -> list[np.ndarray]:
    return [np.asarray(f.image) for f in animate(pipes, PLAN, settings, camera=camera, progress=False)]


def test_two_runs_on_two_threads_paint_what_each_paints_alone(pipes, tiny):
    """Different schedulers, step reuse, guidance, LoRAs and a camera, sharing one set of weights."""
    styled = pipes.with_loras([LoraSpec(str(tiny.lora), 0.8)])
    jobs = [
        (styled, AnimationSettings(frames=3, steps=6, strength=0.5, seed=3, width=64, height=64, scheduler="euler",
                                   cache_interval=2, controlnet_end=0.5, cfg_end=0.5), None),
        (pipes, AnimationSettings(frames=3, steps=5, strength=0.6, seed=9, width=64, height=64, scheduler="dpm++",
                                  guidance=4.0, cache_interval=1, controlnet_end=1.0, cfg_end=1.0), CameraSettings("pan-left")),
    ]
    alone = [_frames(*job) for job in jobs]
    assert not np.array_equal(alone[0][0], _frames(pipes, jobs[0][1])[0])  # the LoRA changes the picture
    together: list = [None, None]
    barrier = threading.Barrier(2)

    def run(i: int) -> None:
        barrier.wait()
        together[i] = _frames(*jobs[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    for mine, theirs in zip(together, alone):
        assert mine is not None and all(np.array_equal(a, b) for a, b in zip(mine, theirs))
    # nothing of either run stayed on the shared pipelines
    assert pipes.txt2img.unet is pipes.img2img.unet and type(pipes.img2img.controlnet).__name__ == "ControlNetModel"


def test_a_run_has_its_own_pipelines_and_scheduler_over_the_shared_weights(pipes):
    run = RunPipelines(pipes, "euler")
    assert run.txt2img is not pipes.txt2img and run.img2img is not pipes.img2img
    assert type(run.txt2img.scheduler).__name__ == type(run.img2img.scheduler).__name__ == "EulerDiscreteScheduler"
    assert run.txt2img.scheduler is not run.img2img.scheduler
    for name in ("unet", "vae", "text_encoder"):  # the weights are shared, not copied (from_pipe)
        assert getattr(run.txt2img, name) is getattr(pipes.txt2img, name) is getattr(run.img2img, name)
    assert run.img2img.controlnet is pipes.img2img.controlnet
    assert type(pipes.txt2img.scheduler).__name__ != "EulerDiscreteScheduler" or pipes.default_scheduler_config["_class_name"] == "EulerDiscreteScheduler"


def test_one_request_in_one_frame_and_its_latents_out(pipes):
    painter = Painter.of(pipes, "dpm++")
    request = PaintRequest(index=0, conditioning=Conditioning("a red hill"), seed=4, steps=4, guidance=1.0, width=64, height=64)
    first = painter.paint(request)
    assert first.image.size == (64, 64) and first.latents.shape == (1, 4, 8, 8)
    # the frame stays a tensor on the painting device until a PIL edge asks for it
    assert first.pixels.shape == (3, 64, 64) and first.pixels.device.type == pipes.device.type
    as_uint8 = (first.pixels.permute(1, 2, 0).float().cpu().numpy() * 255).round().astype(np.uint8)
    assert np.array_equal(np.asarray(first.image), as_uint8)
    depth = pipes.depth(first.image)
    nxt = painter.paint(PaintRequest(index=1, conditioning=Conditioning("a red hill"), seed=4, steps=4, guidance=1.0, width=64,
                                     height=64, init=first.image, strength=0.5, controls=(Control(depth, 0.8),)))
    assert not np.array_equal(np.asarray(nxt.image), np.asarray(first.image))
    # the init may be latents (the painter's own, or a clip's carried picture): same frame as from the decoded image's
    # encoding when the start is the same latents
    from_latents = painter.paint(PaintRequest(index=1, conditioning=Conditioning("a red hill"), seed=4, steps=4, guidance=1.0,
                                              width=64, height=64, init=first.latents / 1.0, strength=0.5,
                                              controls=(Control(depth, 0.8),)))
    assert from_latents.image.size == (64, 64)
    # a per-pixel start keeps what is not masked closer to the init
    mask = np.zeros((64, 64), bool)
    mask[:, :32] = True
    held = painter.paint(PaintRequest(index=1, conditioning=Conditioning("a red hill"), seed=4, steps=8, guidance=1.0, width=64,
                                      height=64, init=first.image, strength=0.5, controls=(Control(depth, 0.8),),
                                      start=StartMask(mask, 0.5, 7)))
    assert held.image.size == (64, 64) and not np.array_equal(np.asarray(held.image), np.asarray(nxt.image))


def test_a_request_with_the_wrong_controls_is_refused_before_painting(pipes):
    painter = Painter.of(pipes)
    grey = Image.new("RGB", (64, 64), (128, 128, 128))
    base = dict(index=0, conditioning=Conditioning("x"), seed=1, steps=2, guidance=1.0, width=64, height=64)
    with pytest.raises(InputError, match="^controls: were given for a frame painted from noise"):
        painter.paint(PaintRequest(**base, controls=(Control(grey),)))
    with pytest.raises(InputError, match=r"^controls: 2 control images for 1 ControlNet\(s\)"):
        painter.paint(PaintRequest(**base, init=grey, strength=0.5, controls=(Control(grey), Control(grey))))


@pytest.fixture(scope="module")
def fp32_pipes(tiny):
    from ghibli_core.models.pipelines import load_pipelines

    return load_pipelines(tiny.model_settings(device="cpu", dtype="fp32"), progress=False)


@pytest.mark.parametrize("case", sorted(golden_cases.CASES))
def test_every_preset_paints_the_frames_recorded_before_the_engine_was_reshaped(fp32_pipes, case):
    """tests/data/golden_frames.npz was written by tests/golden_cases.py (fp32) with the engine before the painter, the
    chain state, per-run pipelines and the stage stream existed: the reshaping changed structure, not frames."""
    golden = np.load(golden_cases.GOLDEN)
    recorded, now = golden[case], golden_cases.render_case(fp32_pipes, case)
    assert now.shape == recorded.shape
    diff = np.abs(now.astype(int) - recorded)
    if str(golden["cpu_capability"]) == torch.backends.cpu.get_cpu_capability():
        # bit-identical here; a float kernel may round a level differently elsewhere, never more
        assert diff.max() <= 2, (case, diff.max())
    else:  # another CPU family's kernels: the chain may amplify rounding, but not into another picture
        assert diff.mean() <= 1.5, (case, diff.mean(), str(golden["cpu_capability"]))
