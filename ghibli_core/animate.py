"""The text and camera chain: frame 1 by txt2img (or img2img from an init image), then each next keyframe by
ControlNet-img2img from the previous painted frame (moved along the camera path when there is one), steered by depth.

    for frame in animate(pipes, plan, AnimationSettings(frames=len(plan), seed=7)):
        frame.image.save(f"{frame.index:03}.png")

Frames are yielded as they are made, so a caller can preview, save or stop early. `paint_frame` is one link: it builds
the painter's request (painter.py) from the previous frame and the chain's targets; `animate` carries a `ChainState`
(chain.py) from link to link, so a chain can resume from any finished frame.
"""
from __future__ import annotations

import re

import dataclasses
import functools
import random
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image, ImageOps
from tqdm.auto import tqdm

from . import defaults, registry
from .blend.color import match_color
from .camera.path import CameraSettings
from .camera.view import move_frame
from .device import work_device
from .chain import ChainState
from .coherence import SharpnessHold, prepare_init
from .coherence_torch import match_color_torch, prepare_init_torch
from .conditioning import PromptMix, prompt_mixes
from .metrics import sharpness
from .per_frame import FrameValues, parse_schedules, values_at
from .errors import Cancelled, InputError
from .registry import MAX_SEED, SEED_POLICIES
from .models.pipelines import GhibliPipelines
from .models.reuse import StepReuse
from .timing import stage
from .painter import (SCHEDULERS, CancelCheck, Conditioning, PaintRequest, Painter, Progress, ProgressCallback,
                      PromptEmbeddings, RunPipelines, StartMask)

__all__ = ["AnimationSettings", "CancelCheck", "Frame", "MAX_SEED", "Progress", "ProgressCallback", "PromptEmbeddings",
           "SCHEDULERS", "SEED_POLICIES", "animate", "fit_image", "paint_frame", "parse_size"]



def parse_size(text: str, input_name: str = "size") -> tuple[int, int]:
    """`WIDTHxHEIGHT` (also `X` or `×`) as two ints; the sizes themselves are checked by AnimationSettings."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text or "")
    if not m:
        raise InputError(input_name, f"{text!r} is not WIDTHxHEIGHT", "write e.g. 512x512")
    return int(m.group(1)), int(m.group(2))


@dataclass(frozen=True)
class AnimationSettings:
    """How frames are painted. Validated on construction; `strength` follows diffusers (1.0 = ignore
    the previous frame), and each img2img frame runs int(steps * strength) denoising steps."""

    frames: int = defaults.FRAMES
    # steps, strength, scheduler, controlnet_scale and the step reuse below: the default preset's (defaults.PRESET_VALUES)
    steps: int = defaults.preset_value("steps")
    strength: float = defaults.preset_value("strength")
    guidance: float = defaults.GUIDANCE
    controlnet_scale: float = defaults.preset_value("controlnet_scale")
    negative_prompt: str = defaults.NEGATIVE_PROMPT
    width: int = defaults.SIZE
    height: int = defaults.SIZE
    #: None draws a random seed once per animation (see `with_seed`); it is recorded in the metadata.
    seed: int | None = None
    #: "fixed": every frame uses `seed` (steadiest motion); "incrementing": frame k uses seed + k.
    seed_policy: str = defaults.SEED_POLICY
    scheduler: str = defaults.preset_value("scheduler")
    #: 0..1: each frame's LAB colours pulled toward frame 1 before it seeds the next step, so drift does not compound
    #: (Deforum's colour coherence; `MotionSettings.color_match` is the after-the-fact match of the blend stage).
    color_coherence: float = defaults.COLOR_MATCH
    color_mode: str = defaults.COLOR_MODE
    #: With a camera: the share of an img2img frame's steps that areas the camera reveals get on their own (the rest
    #: of the frame joins after them), so revealed areas are painted fresh at no extra cost. 0 = off.
    reveal_boost: float = defaults.REVEAL_BOOST
    #: Beats flow into each other: each painted frame's text conditioning is the time-weighted average of a path that
    #: travels between consecutive planned prompts by slerp (see conditioning.py). Off: a time-weighted blend.
    prompt_travel: bool = False
    #: Per-frame schedules (`0:(0.5), 12:(0.35)`, see per_frame.py) that replace the plain value at each frame.
    strength_schedule: str | None = None
    guidance_schedule: str | None = None
    controlnet_scale_schedule: str | None = None
    #: frame k's seed, rounded (instead of the seed policy)
    seed_schedule: str | None = None
    #: Before each img2img step, after colour matching (coherence.py): a contrast factor, an unsharp-mask amount or
    #: `auto` (holds frame 1's sharpness), and Perlin-shaped grain; each a number or a schedule.
    contrast: float | str = defaults.CONTRAST
    sharpen: float | str = defaults.SHARPEN
    noise: float | str = defaults.NOISE
    sharpen_kernel: int = defaults.SHARPEN_KERNEL
    sharpen_sigma: float = defaults.SHARPEN_SIGMA
    #: Work reused across denoising steps (models/reuse.py; 1, 1.0, 1.0 reuse nothing): deep UNet features recomputed
    #: every N-th step, the ControlNet for the first fraction of the steps, guidance for the first fraction.
    cache_interval: int = defaults.preset_value("cache_interval")
    controlnet_end: float = defaults.preset_value("controlnet_end")
    cfg_end: float = defaults.preset_value("cfg_end")
    #: a soundtrack's features (audio_features.AudioFeatures, per planned frame): schedules may then use amplitude(t),
    #: onset(t) and beat(t). Run-time context, not a setting (not in to_dict).
    audio_features: Any = dataclasses.field(default=None, repr=False, compare=False)
    _schedules: dict = dataclasses.field(default=None, init=False, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        registry.check_all(self, "painting")  # every range and choice, as the one table defines them
        for name, v in (("width", self.width), ("height", self.height)):
            if v % 8:
                raise InputError(name, f"{v} is not a multiple of 8", f"use e.g. {v - v % 8 or 8} or {v - v % 8 + 8}")
        if int(self.steps * self.strength) < 1:
            raise InputError("strength", f"steps {self.steps} x strength {self.strength} runs no denoising step", "raise --steps or --strength")
        if self.sharpen_kernel % 2 == 0:
            raise InputError("sharpen-kernel", f"{self.sharpen_kernel} is even", f"use an odd size, e.g. {self.sharpen_kernel + 1}")
        StepReuse(self.cache_interval, self.controlnet_end, self.cfg_end)  # checked here, used per call
        if self.seed_policy == "iter":  # Deforum's name for it
            object.__setattr__(self, "seed_policy", "incrementing")
        object.__setattr__(self, "_schedules", parse_schedules(self, self.frames))
        for index in range(self.frames):
            if int(self.steps * self.values(index).strength) < 1:
                raise InputError("strength-schedule", f"steps {self.steps} x strength at frame {index} runs no denoising step",
                                 "raise --steps or the strength")

    def replace(self, **changes: Any) -> "AnimationSettings":
        return dataclasses.replace(self, **changes)

    def with_seed(self) -> "AnimationSettings":
        """These settings with a concrete seed (a random one if none was set)."""
        return self if self.seed is not None else self.replace(seed=random.randint(0, MAX_SEED))

    @property
    def reuse(self) -> StepReuse:
        return StepReuse(self.cache_interval, self.controlnet_end, self.cfg_end)

    def values(self, index: int) -> FrameValues:
        """Frame `index`'s strength, guidance, ControlNet scale, seed (None: the policy's), contrast, sharpen, noise."""
        return values_at(self, self._schedules, index)

    def frame_seed(self, index: int) -> int:
        if self.seed is None:
            raise ValueError("call with_seed() first")
        scheduled = self.values(index).seed
        if scheduled is not None:
            return scheduled % (MAX_SEED + 1)
        return self.seed if self.seed_policy == "fixed" else (self.seed + index) % (MAX_SEED + 1)

    def img2img_steps(self, index: int | None = None) -> int:
        """Denoising steps an img2img frame actually runs (frame `index`'s, where the strength follows a schedule)."""
        strength = self.strength if index is None else self.values(index).strength
        return int(self.steps * strength)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if not f.name.startswith("_")
                and f.name != "audio_features"}


@dataclass
class Frame:
    """A painted frame; `control` is the depth map the ControlNet received (None for a txt2img frame). With a camera,
    `moved` is the previous frame seen from this frame's camera (what img2img started from) and `revealed` the pixels
    that camera saw nothing at (painted fresh)."""

    index: int
    image: Image.Image
    prompt: str
    seed: int
    control: Image.Image | None = None
    moved: Image.Image | None = None
    revealed: np.ndarray | None = None
    #: the previous frame's relative inverse depth (0..1, 1 = near) as estimated for this frame's move
    previous_depth: np.ndarray | None = None
    #: the planned frames whose prompts conditioned this one: [[plan index, weight], ...] (weights sum to 1)
    conditioning: list[list[float]] | None = None
    #: what was done to the previous frame before img2img: {"contrast", "sharpen" (the amount), "noise"}
    coherence: dict | None = None
    #: the final latents, before decoding (scaled as the UNet sees them)
    latents: torch.Tensor | None = dataclasses.field(default=None, repr=False)


def fit_image(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale and centre-crop to exactly width x height (no distortion)."""
    image = ImageOps.exif_transpose(image).convert("RGB")
    return image if image.size == (width, height) else ImageOps.fit(image, (width, height), Image.Resampling.LANCZOS)


def paint_frame(
    painter: Painter,
    settings: AnimationSettings,
    index: int,
    prompt: str,
    previous: Image.Image | None = None,
    *,
    previous_depth: np.ndarray | None = None,
    hold: SharpnessHold | None = None,
    color_target: Image.Image | None = None,
    view: tuple[CameraSettings, np.ndarray] | None = None,
    mix: tuple[Sequence[str], PromptMix] | None = None,
    progress_frame: int | None = None,
    total_frames: int | None = None,
) -> Frame:
    """One link of the chain: txt2img when `previous` is None, else depth-ControlNet img2img from `previous`.

    The chain's targets are separate inputs: `hold` (frame 1's sharpness and the chain's memory) makes this frame a link
    of the chain, whose init gets contrast, sharpening and grain first (coherence.py; not the first frame from an init
    image); `color_target` colour-matches the result to it by `settings.color_coherence`. With a `view` (the camera and its
    step from `previous` to this frame), `previous` is first moved to this frame's camera with its depth
    (`previous_depth`, relative inverse depth in 0..1, or else the depth model's estimate); the ControlNet sees the moved
    scene's depth and the revealed areas are painted fresh. With a `mix` (the plan and a PromptMix), the frame is
    conditioned on that blend of the plan's prompts instead of `prompt` alone. Every value that follows a schedule
    takes frame `index`'s value, so any frame can be regenerated alone from its inputs.
    """
    settings = settings.with_seed()
    values = settings.values(index)
    seed = settings.frame_seed(index)
    depth_model = painter.run.depth
    device = work_device(painter.run.shared.device)  # the warps, colour and grain on a GPU run's device
    request = PaintRequest(
        index=index, conditioning=Conditioning(prompt, settings.negative_prompt, mix), seed=seed, steps=settings.steps,
        guidance=values.guidance, width=settings.width, height=settings.height, reuse=settings.reuse)
    conditioning = mix[1].to_list() if mix is not None else None
    shown = dict(progress_frame=index if progress_frame is None else progress_frame, total_frames=total_frames or settings.frames)
    if previous is None:
        painted = painter.paint(request, **shown)
        return Frame(index, painted.image, prompt, seed, None, conditioning=conditioning, latents=painted.latents)
    with torch.inference_mode():
        previous = fit_image(previous, settings.width, settings.height)
        init, moved, revealed, relative, applied, start = previous, None, None, None, None, None
        if view is None:
            depth = depth_model(previous)
        else:
            camera, step_matrix = view
            relative = depth_model.relative(previous) if previous_depth is None else np.asarray(previous_depth, np.float32)
            with stage("camera"):
                moved_frame = move_frame(previous, relative, step_matrix, camera, device)
            init, moved, depth, revealed = moved_frame.image, moved_frame.image, moved_frame.control, moved_frame.revealed
            start = StartMask(revealed, settings.reveal_boost, seed ^ 0x5EED)
        if hold is not None:
            with stage("coherence"):
                prepare = prepare_init if device is None else functools.partial(prepare_init_torch, device=device)
                prepared, applied = prepare(np.asarray(init.convert("RGB")), contrast=values.contrast, sharpen=values.sharpen,
                                            noise=values.noise, seed=seed ^ 0xC0DE, hold=hold, kernel=settings.sharpen_kernel,
                                            sigma=settings.sharpen_sigma)
            init = Image.fromarray(prepared)
    painted = painter.paint(dataclasses.replace(request, init=init, strength=values.strength, start=start,
                                                controls=painter.run.controls(depth, values.controlnet_scale, moved or previous)),
                            **shown)
    image = painted.image
    if color_target is not None and settings.color_coherence > 0:
        with stage("coherence"):
            match = match_color if device is None else functools.partial(match_color_torch, device=device)
            image = Image.fromarray(match(np.asarray(image.convert("RGB")), np.asarray(color_target.convert("RGB")),
                                          settings.color_coherence, settings.color_mode))
    return Frame(index, image, prompt, seed, depth, moved, revealed, relative, conditioning, applied, painted.latents)


def animate(
    pipes: GhibliPipelines,
    plan: Sequence[str],
    settings: AnimationSettings,
    *,
    init_image: Image.Image | None = None,
    keyframes: Sequence[int] | None = None,
    on_progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
    progress: bool = True,
    camera: CameraSettings | None = None,
    loop: bool = True,
    resume: ChainState | None = None,
    on_state: Callable[[ChainState], None] | None = None,
) -> Iterator[Frame]:
    """Yield the painted frames, each from the one before, one plan entry per output frame.

    `keyframes` (default: all) are the output indices to paint; the rest are left to interpolation
    (cadence). Each keyframe is conditioned on the prompts of the planned frames it stands for, weighted by time
    (`conditioning.prompt_mixes`; `loop` says whether the frames after the last keyframe lead back to the first). Each
    painted frame after the first is colour-matched to the first (`settings.color_coherence`) before it seeds the next one.
    With a `camera`, each keyframe starts from the previous painted frame moved along the camera's path from that
    frame's index to its own. `on_state` sees the chain's state after every painted frame (to save it); `resume`, a
    state saved by an earlier run of the same chain, continues after its frame with the same frames as an unbroken run.
    """
    if len(plan) != settings.frames:
        raise InputError("plan", f"has {len(plan)} prompts but frames is {settings.frames}", "plan exactly one prompt per frame")
    if any(not isinstance(p, str) or not p.strip() for p in plan):
        raise InputError("plan", "has an empty prompt", "give every frame a prompt")
    indices = list(range(settings.frames)) if keyframes is None else list(keyframes)
    if not indices or sorted(set(indices)) != indices or indices[0] < 0 or indices[-1] >= settings.frames:
        raise InputError("keyframes", f"{indices[:8]} are not increasing frame indices", f"use indices in [0, {settings.frames - 1}]")
    if resume is not None and resume.index not in indices:
        raise InputError("resume", f"the saved state ends at frame {resume.index}, which this chain does not paint",
                         "resume with the settings the state was saved with")
    settings = settings.with_seed()
    path = camera.path(settings.frames) if camera is not None else None  # every schedule checked before painting
    painter = Painter(RunPipelines(pipes, settings.scheduler), on_progress=on_progress, should_cancel=should_cancel)
    mixes = dict(zip(indices, prompt_mixes(settings.frames, indices, loop, settings.prompt_travel)))
    state = resume
    todo = indices if state is None else indices[indices.index(state.index) + 1:]
    first = fit_image(init_image, settings.width, settings.height) if init_image is not None and state is None else None
    bar = tqdm(total=len(indices), initial=len(indices) - len(todo), desc="frames", unit="frame", disable=not progress)
    try:
        for index in todo:
            count = indices.index(index)
            if should_cancel is not None and should_cancel():
                raise Cancelled(f"cancelled before frame {count + 1} of {len(indices)}")
            view = (camera, path.step(state.index, index)) if path is not None and state is not None else None
            frame = paint_frame(
                painter, settings, index, plan[index], state.image if state is not None else first,
                previous_depth=state.depth if state is not None else None,
                hold=SharpnessHold.from_state(state.sharpness_reference, state.coherence) if state is not None else None,
                color_target=state.color_target if state is not None else None, view=view, mix=(plan, mixes[index]),
                progress_frame=count, total_frames=len(indices))
            target = state.color_target if state is not None else frame.image
            reference = state.sharpness_reference if state is not None else sharpness(np.asarray(frame.image.convert("RGB")))
            state = ChainState(index=index, count=count + 1, seed=frame.seed, image=frame.image, color_target=target,
                               sharpness_reference=reference, coherence=frame.coherence,
                               pose=path.poses[index] if path is not None else None)
            if on_state is not None:
                on_state(state)
            bar.update(1)
            yield frame
    finally:
        bar.close()
