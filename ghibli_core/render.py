"""From a plan to the finished animation: paint the keyframes, fill the cadence, interpolate, close the loop."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image

from .animate import AnimationSettings, CancelCheck, Frame, ProgressCallback, animate
from .blend import MotionSettings, fill_cadence, interpolate_sequence
from .errors import Cancelled
from .models.pipelines import GhibliPipelines
from .presets import default_motion
from .schedule import default_fps, denoising_steps, keyframe_indices

__all__ = ["Animation", "default_fps", "denoising_steps", "render_animation"]  # the schedule arithmetic, re-exported


@dataclass
class Animation:
    """The output frames, and the painted frames they were made from (with their depth maps)."""

    frames: list[Image.Image]
    painted: list[Frame] = field(default_factory=list)
    keyframes: list[int] = field(default_factory=list)

    def schedule(self) -> dict[str, Any]:
        """What was painted and what was interpolated, for metadata."""
        return {"painted": len(self.painted), "keyframes": self.keyframes, "output_frames": len(self.frames)}


def render_animation(
    pipes: GhibliPipelines,
    plan: Sequence[str],
    settings: AnimationSettings,
    motion: MotionSettings | None = None,
    *,
    init_image: Image.Image | None = None,
    on_progress: ProgressCallback | None = None,
    on_frame: Callable[[Frame], None] | None = None,
    should_cancel: CancelCheck | None = None,
    progress: bool = True,
) -> Animation:
    """Paint every `motion.cadence`-th frame of `plan`, fill the rest, then add in-betweens and the loop seam.

    `on_frame` sees each painted frame as soon as it exists (a preview); `on_progress` each denoising step.
    Without `motion`, the default preset's cadence and in-betweens are used.
    """
    motion = motion or default_motion()
    keys = keyframe_indices(settings.frames, motion.cadence, motion.loop)
    painted = []
    for frame in animate(pipes, plan, settings, init_image=init_image, keyframes=keys, on_progress=on_progress,
                         should_cancel=should_cancel, progress=progress):
        painted.append(frame)
        if on_frame is not None:
            on_frame(frame)
    if should_cancel is not None and should_cancel():
        raise Cancelled("cancelled before blending")
    arrays = {f.index: np.asarray(f.image.convert("RGB")) for f in painted}
    timeline = fill_cadence(arrays, settings.frames, loop=motion.loop, method=motion.blend, flow=motion.flow)
    # the timeline of a loop is cyclic: its last frame is followed by frame 0, so the seam gets in-betweens too
    out = interpolate_sequence(timeline, motion.interpolate, motion.blend, loop=motion.loop, flow=motion.flow)
    return Animation(frames=[Image.fromarray(a) for a in out], painted=painted, keyframes=keys)
