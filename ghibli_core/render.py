"""From a plan to the animation's frames: paint the keyframes, fill the cadence, interpolate, close the loop.

A stream of stages: each painted keyframe flows on at once; as soon as two keyframes are known, the frames between them
(cadence fill and in-betweens, or camera in-betweens) are made and handed on (`on_output`, e.g. the finishing step's
measurements), and every stage takes its optical flow from one `FlowCache`, so no frame pair's flow is computed twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image

from .animate import AnimationSettings, CancelCheck, Frame, ProgressCallback, animate
from .blend import MotionSettings
from .blend.flow import FlowCache
from .blend.spans import KeyframeSpans
from .camera.depth import inverse_depth_to_z
from .camera.inbetween import CameraSpans, CameraTimeline
from .camera.path import CameraPath, CameraSettings
from .device import work_device
from .errors import Cancelled
from .models.pipelines import GhibliPipelines
from .overlap import Behind, overlap_pays
from .presets import default_motion
from .timing import stage
from .schedule import default_fps, denoising_steps, keyframe_indices

__all__ = ["Animation", "default_fps", "denoising_steps", "render_animation"]  # the schedule arithmetic, re-exported


@dataclass
class Animation:
    """The output frames (the planned beats' painted frames, cadence fill and in-betweens, in playing order), and the
    painted frames they were made from (with their depth maps). With a camera, its settings, the path it took and how
    the loop closes. (`AnimationSettings.frames` counts planned beats; these are what plays.)"""

    output_frames: list[Image.Image]
    painted: list[Frame] = field(default_factory=list)
    keyframes: list[int] = field(default_factory=list)
    camera: CameraSettings | None = None
    path: CameraPath | None = None
    loop_closure: str | None = None

    def schedule(self) -> dict[str, Any]:
        """What was painted and what was interpolated, for metadata."""
        out = {"painted": len(self.painted), "keyframes": self.keyframes, "output_frames": len(self.output_frames),
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
    on_output: Callable[[list[np.ndarray]], None] | None = None,
    should_cancel: CancelCheck | None = None,
    progress: bool = True,
    camera: CameraSettings | None = None,
    flows: FlowCache | None = None,
    overlap: bool | None = None,
) -> Animation:
    """Paint every `motion.cadence`-th frame of `plan`, fill the rest, then add in-betweens and the loop seam.

    `on_frame` sees each painted frame as soon as it exists (a preview); `on_progress` each denoising step; `on_output`
    each run of output frames (HxWx3 uint8, in order) as soon as they are final. Without `motion`, the default preset's
    cadence and in-betweens are used. With a `camera`, every keyframe is painted from the previous one moved along the
    camera's path, and every other frame is made by moving the painted keyframes around it to its own pose (optical flow
    only for what the camera does not explain). `flows` shares optical flows with later stages (the metrics).
    `overlap` runs the work between keyframes (in-betweens, `on_output`) behind the painting of the next keyframe, in
    order, with the same result (overlap.py); None: where it pays (`overlap_pays`: on an accelerator, or spare cores).
    """
    motion = motion or default_motion()
    flows = flows if flows is not None else FlowCache()
    keys = keyframe_indices(settings.frames, motion.cadence, motion.loop)
    path = camera.path(settings.frames) if camera is not None else None
    painted: list[Frame] = []
    out: list[np.ndarray] = []

    def emit(frames: list[np.ndarray]) -> None:
        out.extend(frames)
        if on_output is not None and frames:
            on_output(frames)

    def rgb(frame: Frame) -> np.ndarray:
        return np.asarray(frame.image.convert("RGB"))

    if camera is not None and path is not None:
        spans: CameraSpans | KeyframeSpans = CameraSpans(CameraTimeline(path, settings.frames, motion.loop), motion.interpolate,
                                                         motion.flow, flows, work_device(pipes.device))

        def z(relative: np.ndarray) -> np.ndarray:
            return inverse_depth_to_z(relative, camera.near, camera.far)

        def after(previous: Frame | None, frame: Frame) -> None:
            # a keyframe's depth is known once the next one is painted (its move estimated it): one keyframe behind
            if previous is not None:
                with stage("inbetweens"):
                    emit(spans.add(previous.index, rgb(previous), z(frame.previous_depth)))
    else:
        spans = KeyframeSpans(settings.frames, keys, motion.interpolate, loop=motion.loop, method=motion.blend, flow=motion.flow,
                              flows=flows)

        def after(previous: Frame | None, frame: Frame) -> None:
            with stage("inbetweens"):
                emit(spans.add(frame.index, rgb(frame)))

    def last(frame: Frame, last_z: np.ndarray | None) -> None:
        with stage("inbetweens"):
            if last_z is not None:
                emit(spans.add(frame.index, rgb(frame), last_z))
            emit(spans.close())

    # the in-betweens and what `on_output` does with them (the metrics) run behind the painting of the next keyframe
    with Behind(overlap_pays(pipes.device) if overlap is None else overlap) as behind:
        for frame in animate(pipes, plan, settings, init_image=init_image, keyframes=keys, on_progress=on_progress,
                             should_cancel=should_cancel, progress=progress, camera=camera, loop=motion.loop):
            behind.submit(after, painted[-1] if painted else None, frame)
            painted.append(frame)
            if on_frame is not None:
                on_frame(frame)
        if should_cancel is not None and should_cancel():
            raise Cancelled("cancelled before blending")
        # the last keyframe's depth for the seam back to the first (a model call: here, in the painting thread)
        behind.submit(last, painted[-1], z(pipes.depth.relative(painted[-1].image)) if isinstance(spans, CameraSpans) else None)
    frames = [Image.fromarray(a) for a in out]
    if camera is not None and path is not None:
        closure = None if not motion.loop else ("the camera path returns to its start" if path.closes()
                                                 else "the seam in-betweens bring the camera back to its start")
        return Animation(frames, painted, keys, camera, path, closure)
    return Animation(output_frames=frames, painted=painted, keyframes=keys)
