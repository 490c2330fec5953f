"""Motion between painted frames: flow interpolation, cadence fill, colour coherence, loop closure.

Everything here works on plain HxWx3 uint8 RGB arrays (any frames, not only ours) and never imports a model.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from .. import registry
from .cadence import fill_cadence, keyframe_indices
from .color import COLOR_MODES, match_color
from .flow import FLOW_METHODS, FlowCache, compute_flow, warp
from .interpolate import BLEND_METHODS, crossfade, interpolate_pair, interpolate_sequence

from ..registry import MAX_CADENCE, MAX_INTERPOLATE  # noqa: E402 - the one definition


@dataclass(frozen=True)
class MotionSettings:
    """How painted frames become the final animation.

    interpolate: in-between frames added after each frame (and on the loop seam); 0 = none.
    blend: "flow" (bidirectional optical-flow warping with occlusion weights) or "crossfade".
    flow: the OpenCV flow method, "dis" (better on painted footage) or "farneback".
    cadence: paint every c-th frame and fill the rest with `blend` (the requested frame count is kept).
    loop: close the loop: the last frame flows into the first (seam in-betweens, cadence tail).
    color_match: 0..1, pull every frame's LAB colours toward frame 1 after the fact (the painting chain
        has its own in-loop match, `AnimationSettings.color_coherence`); `color_mode` "meanstd" or "histogram".
    """

    interpolate: int = 0
    blend: str = "flow"
    flow: str = "dis"
    cadence: int = 1
    loop: bool = True
    color_match: float = 0.0
    color_mode: str = "meanstd"

    def __post_init__(self) -> None:
        registry.check_all(self, "motion")  # every range and choice, as the one table defines them

    def output_count(self, frames: int) -> int:
        """How many frames `frames` painted/input frames become."""
        k = self.interpolate
        return frames * (k + 1) if self.loop and frames > 1 else frames + (frames - 1) * k

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def blend_frames(frames: Sequence[np.ndarray], settings: MotionSettings, flows: FlowCache | None = None) -> list[np.ndarray]:
    """Colour-match (if asked), re-fill by cadence (if asked), then interpolate `frames`, closing the loop if asked.

    For frames that already exist, cadence c keeps every c-th one and re-synthesises the others from
    their neighbours by `settings.blend`: the count stays, frame-to-frame flicker goes.
    """
    frames = list(frames)
    if settings.cadence > 1 and len(frames) > 2:
        keys = keyframe_indices(len(frames), settings.cadence, settings.loop)
        frames = fill_cadence({i: frames[i] for i in keys}, len(frames), loop=settings.loop, method=settings.blend, flow=settings.flow,
                              flows=flows)
    if settings.color_match > 0 and len(frames) > 1:
        frames = [frames[0]] + [match_color(f, frames[0], settings.color_match, settings.color_mode) for f in frames[1:]]
    return interpolate_sequence(frames, settings.interpolate, settings.blend, loop=settings.loop, flow=settings.flow, flows=flows)


__all__ = [
    "BLEND_METHODS", "COLOR_MODES", "FLOW_METHODS", "FlowCache", "MotionSettings", "blend_frames", "compute_flow", "crossfade",
    "fill_cadence", "interpolate_pair", "interpolate_sequence", "keyframe_indices", "match_color", "warp",
]
