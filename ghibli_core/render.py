"""From a plan to the finished animation: paint the keyframes, fill the cadence, interpolate, close the loop."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image

from .animate import AnimationSettings, CancelCheck, Frame, ProgressCallback, animate
from .blend import MotionSettings, fill_cadence, interpolate_sequence
from .camera.depth import inverse_depth_to_z
from .camera.inbetween import CameraTimeline, camera_frames
from .camera.path import CameraPath, CameraSettings
from .errors import Cancelled
from .models.pipelines import GhibliPipelines
from .presets import default_motion
from .schedule import default_fps, denoising_steps, keyframe_indices

__all__ = ["Animation", "default_fps", "denoising_steps", "render_animation"]  # the schedule arithmetic, re-exported


@dataclass
class Animation:
    """The output frames, and the painted frames they were made from (with their depth maps). With a camera, its
    settings, the path it took and how the loop closes."""

    frames: list[Image.Image]
    painted: list[Frame] = field(default_factory=list)
    keyframes: list[int] = field(default_factory=list)
    camera: CameraSettings | None = None
    path: CameraPath | None = None
    loop_closure: str | None = None

    def schedule(self) -> dict[str, Any]:
        """What was painted and what was interpolated, for metadata."""
        out = {"painted": len(self.painted), "keyframes": self.keyframes, "output_frames": len(self.frames),
               "conditioning": [f.conditioning for f in self.painted], "coherence": [f.coherence for f in self.painted]}
        if self.camera is not None:
            out["revealed"] = [round(float(f.revealed.mean()), 4) if f.revealed is not None else 0.0 for f in self.painted]
        return out

    def camera_pairs(self) -> list[tuple[Any, Any, np.ndarray, np.ndarray]]:
        """(painted frame, next painted frame, the first's scene depth, the camera step between them) for every
        consecutive pair: what `metrics.camera_fidelity` compares the picture's motion against."""
        if self.camera is None or self.path is None:
            return []
        out = []
        for a, b in zip(self.painted, self.painted[1:]):
            if b.previous_depth is None:
                continue
            z = inverse_depth_to_z(b.previous_depth, self.camera.near, self.camera.far)
            out.append((a.image, b.image, z, self.path.step(a.index, b.index)))
        return out

    def camera_metadata(self) -> dict[str, Any] | None:
        """The camera as requested and the path taken (every frame's pose in frame 0's axes), to reproduce the run."""
        if self.camera is None or self.path is None:
            return None
        return {"settings": self.camera.to_dict(), "poses": self.path.to_list(), "loop": self.loop_closure}


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
    camera: CameraSettings | None = None,
) -> Animation:
    """Paint every `motion.cadence`-th frame of `plan`, fill the rest, then add in-betweens and the loop seam.

    `on_frame` sees each painted frame as soon as it exists (a preview); `on_progress` each denoising step.
    Without `motion`, the default preset's cadence and in-betweens are used. With a `camera`, every keyframe is
    painted from the previous one moved along the camera's path, and every other frame is made by moving the painted
    keyframes around it to its own pose (optical flow only for what the camera does not explain).
    """
    motion = motion or default_motion()
    keys = keyframe_indices(settings.frames, motion.cadence, motion.loop)
    path = camera.path(settings.frames) if camera is not None else None
    painted = []
    for frame in animate(pipes, plan, settings, init_image=init_image, keyframes=keys, on_progress=on_progress,
                         should_cancel=should_cancel, progress=progress, camera=camera, loop=motion.loop):
        painted.append(frame)
        if on_frame is not None:
            on_frame(frame)
    if should_cancel is not None and should_cancel():
        raise Cancelled("cancelled before blending")
    if camera is not None and path is not None:
        timeline = CameraTimeline(path, settings.frames, motion.loop)
        depths = [f.previous_depth for f in painted[1:]] + [pipes.depth.relative(painted[-1].image)]
        frames = camera_frames({f.index: (np.asarray(f.image.convert("RGB")), inverse_depth_to_z(d, camera.near, camera.far))
                                for f, d in zip(painted, depths)}, timeline, motion.interpolate, motion.flow)
        closure = None if not motion.loop else ("the camera path returns to its start" if timeline.closes
                                                 else "the seam in-betweens bring the camera back to its start")
        return Animation([Image.fromarray(a) for a in frames], painted, keys, camera, path, closure)
    arrays = {f.index: np.asarray(f.image.convert("RGB")) for f in painted}
    timeline = fill_cadence(arrays, settings.frames, loop=motion.loop, method=motion.blend, flow=motion.flow)
    # the timeline of a loop is cyclic: its last frame is followed by frame 0, so the seam gets in-betweens too
    out = interpolate_sequence(timeline, motion.interpolate, motion.blend, loop=motion.loop, flow=motion.flow)
    return Animation(frames=[Image.fromarray(a) for a in out], painted=painted, keyframes=keys)
