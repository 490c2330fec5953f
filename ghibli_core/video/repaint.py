"""Repainting a clip: keyframes painted through the one painter, every other frame carried from the painted keyframes
around it along the source's motion (Rerender-A-Video / FRESCO's shape; WarpFusion's fusion for the keyframes).

    for frames in repaint(pipes, info, "a Ghibli street at dusk", AnimationSettings(...), KeyframeSettings()):
        write(frames)   # output frames as soon as both keyframes around them are painted

Keyframes are chosen on the source as it streams past: a new one when the picture has changed enough since the last
(the share of pixels the flow cannot follow passes `threshold`) within [`min_interval`, `max_interval`] frames, and at
every scene cut (which also drops the carried picture). A keyframe is img2img from *its source frame*, under the depth
ControlNet fed the source frame's depth, starting from the previous painted keyframe carried to it by the source's
flow and blended into the source (`flow_blend`) where the flow is consistent; the pixels it cannot carry evolve from
the first step (the painter's per-pixel start). Its colours are held to the first painted keyframe. Memory holds one
keyframe interval of frames, whatever the clip's length.
"""
from __future__ import annotations

import dataclasses
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np
from PIL import Image

from ..animate import AnimationSettings
from ..blend.color import match_color
from ..blend.flow import FlowCache
from ..errors import Cancelled, check_range
from ..models.cross_frame import CrossFrameAttention
from ..models.pipelines import GhibliPipelines
from ..timing import stage
from ..painter import CancelCheck, Conditioning, PaintRequest, Painter, ProgressCallback, RunPipelines, StartMask
from .clip import ClipFrame, ClipInfo, read_clip
from .motion import CUT_CONSISTENT, carry, change, propagate
from .work import WorkFolder


@dataclass(frozen=True)
class KeyframeSettings:
    """Which source frames are painted, and how the last painted keyframe is carried into the next."""

    min_interval: int = 3
    max_interval: int = 12
    #: a new keyframe once this share of pixels cannot be followed from the last one (and min_interval has passed)
    threshold: float = 0.25
    #: the carried painting's share of a keyframe's start where the flow is consistent (the rest: the source frame)
    flow_blend: float = 0.9
    #: each keyframe's self-attention also attends to its scene's first keyframe (models/cross_frame.py): shared textures
    #: and colours at the cost of memory for the reference (one tensor per attention layer and step)
    cross_frame: bool = False

    def __post_init__(self) -> None:
        check_range("keyframe-min", self.min_interval, 1, 100, integer=True)
        check_range("keyframe-max", self.max_interval, 1, 1000, integer=True)
        if self.max_interval < self.min_interval:
            from ..errors import InputError

            raise InputError("keyframe-max", f"{self.max_interval} is below keyframe-min {self.min_interval}",
                             "give keyframe-max >= keyframe-min")
        check_range("keyframe-threshold", self.threshold, 0.0, 1.0)
        check_range("flow-blend", self.flow_blend, 0.0, 1.0)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class Keyframe:
    index: int
    source: np.ndarray
    painted: np.ndarray
    cut: bool = False  # a scene cut starts here: nothing was carried into it
    carried_share: float = 0.0


@dataclass
class RepaintLog:
    """What the repaint did, for metadata and the run line."""

    keyframes: list[int] = field(default_factory=list)
    cuts: list[int] = field(default_factory=list)
    carried: list[float] = field(default_factory=list)
    steps: int = 0  # UNet steps run
    scenes: list[int] = field(default_factory=list)  # each keyframe's scene (0, then +1 at every cut)


def repaint(pipes: GhibliPipelines, info: ClipInfo, prompt: str | Sequence[str], settings: AnimationSettings, keys: KeyframeSettings,
            *, flows: FlowCache | None = None, log: RepaintLog | None = None, on_progress: ProgressCallback | None = None,
            on_keyframe: Callable[[Keyframe], None] | None = None, should_cancel: CancelCheck | None = None,
            frames: Iterator[ClipFrame] | None = None, work: WorkFolder | None = None) -> Iterator[list[tuple[np.ndarray, np.ndarray]]]:
    """Yield (source frame, output frame) pairs (HxWx3 uint8 at `info.size`, one per clip frame, in order) in runs, as
    each keyframe interval is finished. `prompt` may be one per scene (a plan's beats): each scene cut moves to the next
    (from the first again after the last). `settings` paints the keyframes (its width/height are ignored: the clip's). With a
    `work` folder, each painted keyframe is saved as it finishes, and one saved by an earlier run of the same job is
    taken instead of painted again (the same keyframes are chosen: the choice depends on the source only)."""
    flows = flows if flows is not None else FlowCache()
    log = log if log is not None else RepaintLog()
    settings = settings.with_seed()
    painter = Painter(RunPipelines(pipes, settings.scheduler), on_progress=on_progress, should_cancel=should_cancel)
    xattn = CrossFrameAttention(pipes.img2img.unet) if keys.cross_frame else None
    values = settings.values(0)
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    scene = 0
    first_painted: np.ndarray | None = None
    last: Keyframe | None = None
    pending: list[ClipFrame] = []  # source frames after the last keyframe, not yet output
    previous: ClipFrame | None = None

    def paint_key(frame: ClipFrame, cut: bool) -> Keyframe:
        nonlocal first_painted, scene
        scene += 1 if cut else 0
        conditioning = Conditioning(prompts[scene % len(prompts)], settings.negative_prompt)
        if should_cancel is not None and should_cancel():
            raise Cancelled(f"cancelled before frame {frame.index + 1} of {info.frames}")
        src = frame.image
        init, start, share = src, None, 0.0
        seed = settings.seed if settings.seed_policy == "fixed" else settings.seed + len(log.keyframes)
        if last is not None and not cut:
            with stage("inbetweens"):  # the carried picture: the in-betweens' own work
                carried = carry(last.painted, last.source, src, flows)
            blend = keys.flow_blend * carried.image.astype(np.float32) + (1 - keys.flow_blend) * src.astype(np.float32)
            init = np.where(carried.valid[..., None], blend, src).round().astype(np.uint8)
            start, share = StartMask(~carried.valid, settings.reveal_boost, seed ^ 0x5EED), carried.share
        if cut and xattn is not None:
            xattn.reset()
        # a scene's reference keyframe is painted again on resume: its attention inputs are what later keyframes see
        needs_reference = xattn is not None and not xattn.has_reference
        painted = work.saved(frame.index) if work is not None and not needs_reference else None
        if painted is None:
            request = PaintRequest(index=frame.index, conditioning=conditioning, seed=seed, steps=settings.steps,
                                   guidance=values.guidance, width=info.size[0], height=info.size[1], init=Image.fromarray(init),
                                   strength=values.strength, start=start, reuse=settings.reuse,
                                   controls=painter.run.controls(pipes.depth(Image.fromarray(src)), values.controlnet_scale,
                                                                 Image.fromarray(src)))
            with xattn.painting() if xattn is not None else nullcontext():
                painted = np.asarray(painter.paint(request, progress_frame=frame.index, total_frames=info.frames).image.convert("RGB"))
            if first_painted is not None and settings.color_coherence > 0:
                painted = match_color(painted, first_painted, settings.color_coherence, settings.color_mode)
            if work is not None:
                work.save(frame.index, painted)
            log.steps += request.denoising_steps
        if first_painted is None:
            first_painted = painted
        log.keyframes.append(frame.index)
        log.carried.append(round(share, 4))
        log.scenes.append(scene)
        if cut:
            log.cuts.append(frame.index)
        key = Keyframe(frame.index, src, painted, cut, share)
        if on_keyframe is not None:
            on_keyframe(key)
        return key

    def close_interval(next_key: Keyframe | None) -> list[tuple[np.ndarray, np.ndarray]]:
        """The last keyframe and the frames after it (up to the next keyframe), carried from both sides."""
        assert last is not None
        out = [(last.source, last.painted)]
        span = (next_key.index - last.index) if next_key is not None else None
        with stage("inbetweens"):
            for f in pending:
                if next_key is not None and not next_key.cut:
                    alpha = (f.index - last.index) / span
                    out.append((f.image, propagate(f.image, (last.painted, last.source), (next_key.painted, next_key.source),
                                                   alpha, flows)))
                else:  # after the last keyframe, or before a cut: only the keyframe of its own scene
                    out.append((f.image, propagate(f.image, (last.painted, last.source), None, 0.0, flows)))
        return out

    for frame in (frames if frames is not None else read_clip(info)):
        if last is None:
            last = paint_key(frame, cut=False)
            previous = frame
            continue
        cut = previous is not None and 1.0 - change(previous.image, frame.image, flows)[0] < CUT_CONSISTENT
        interval = frame.index - last.index
        due = cut or interval >= keys.max_interval
        if not due and interval >= keys.min_interval:
            due = change(last.source, frame.image, flows)[0] > keys.threshold
        if due:
            key = paint_key(frame, cut)
            yield close_interval(key)
            last, pending = key, []
        else:
            pending.append(frame)
        previous = frame
    if last is not None:
        yield close_interval(None)
