"""Cadence: paint only every c-th output frame and fill the rest by interpolation.

The count a user asks for is the count they get: keyframes sit at 0, c, 2c, ... and, when the animation
does not loop, at the last frame too; a looping animation fills its tail toward frame 0.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..parallel import map_in_order
from ..schedule import keyframe_indices
from .flow import FlowCache
from .interpolate import interpolate_pair

__all__ = ["fill_cadence", "keyframe_indices"]


def fill_cadence(keyframes: Mapping[int, np.ndarray], frames: int, *, loop: bool, method: str = "flow",
                 flow: str = "dis", flows: FlowCache | None = None) -> list[np.ndarray]:
    """All `frames` output frames from the painted ones at their indices."""
    keys = sorted(keyframes)
    out: list[np.ndarray | None] = [None] * frames
    for i in keys:
        out[i] = keyframes[i]
    spans: Sequence[tuple[int, int]] = list(zip(keys, keys[1:]))
    if loop and keys[-1] != frames - 1:
        spans = [*spans, (keys[-1], frames)]  # the tail flows into frame 0 of the next loop

    def fill(span: tuple[int, int]) -> list[np.ndarray]:
        start, end = span
        target = keyframes[end] if end < frames else keyframes[keys[0]]
        return interpolate_pair(keyframes[start], target, end - start - 1, method, flow, flows)

    for (start, _), images in zip(spans, map_in_order(fill, spans)):  # the spans side by side
        out[start + 1:start + 1 + len(images)] = images
    if any(o is None for o in out):  # frames after the last keyframe of a non-looping, partial set
        raise ValueError("keyframes do not cover every output frame")
    return out  # type: ignore[return-value]
