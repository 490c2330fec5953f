"""In-between frames: a pixel crossfade, or bidirectional optical-flow warping with occlusion weights.

Flow interpolation at time t (0 < t < 1) between frames 0 and 1 follows Jiang et al. 2018 (Super SloMo):
the flows from time t back to each end are approximated from the two measured flows,

    F_t0 = -(1 - t) t F_01 + t^2 F_10        F_t1 = (1 - t)^2 F_01 - t (1 - t) F_10

each end is warped to time t, and the two are blended with weights (1 - t) and t times how much each
end can be trusted there: a pixel whose flow fails the forward-backward check is occluded in the other
frame, so its colour comes from the frame where it is visible. This is what keeps fast motion from
smearing (a crossfade shows both positions at once: ghosting).
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from .flow import consistency, flow_pair, warp

BLEND_METHODS = ("flow", "crossfade")
_FLOOR = 0.02  # a little of each end everywhere, so no pixel is left with zero weight


def crossfade(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return cv2.addWeighted(a, 1.0 - t, b, t, 0.0)


class FlowPair:
    """Two frames and their flows, computed once and reused for every in-between time."""

    def __init__(self, a: np.ndarray, b: np.ndarray, method: str = "dis") -> None:
        self.a, self.b = a, b
        self.f01, self.f10 = flow_pair(a, b, method)
        soften = lambda m: cv2.GaussianBlur(m, (0, 0), 1.5)  # noqa: E731 - soft edges avoid seams
        self.visible0 = soften(consistency(self.f01, self.f10))  # pixels of a still visible in b
        self.visible1 = soften(consistency(self.f10, self.f01))

    def at(self, t: float) -> np.ndarray:
        f01, f10 = self.f01, self.f10
        ft0 = -(1 - t) * t * f01 + t * t * f10
        ft1 = (1 - t) ** 2 * f01 - t * (1 - t) * f10
        w0 = (1 - t) * (warp(self.visible0, ft0) + _FLOOR)
        w1 = t * (warp(self.visible1, ft1) + _FLOOR)
        i0 = warp(self.a, ft0).astype(np.float32)
        i1 = warp(self.b, ft1).astype(np.float32)
        out = (w0[..., None] * i0 + w1[..., None] * i1) / (w0 + w1)[..., None]
        return np.clip(out, 0, 255).round().astype(np.uint8)


def interpolate_pair(a: np.ndarray, b: np.ndarray, k: int, method: str = "flow", flow: str = "dis") -> list[np.ndarray]:
    """`k` frames evenly spaced strictly between `a` and `b`."""
    if k <= 0:
        return []
    times = [(i + 1) / (k + 1) for i in range(k)]
    if method == "crossfade":
        return [crossfade(a, b, t) for t in times]
    if method != "flow":
        raise ValueError(f"unknown blend method {method!r}; use one of {BLEND_METHODS}")
    pair = FlowPair(a, b, flow)
    return [pair.at(t) for t in times]


def interpolate_sequence(frames: Sequence[np.ndarray], k: int, method: str = "flow", *, loop: bool = False,
                         flow: str = "dis") -> list[np.ndarray]:
    """`frames` with `k` in-betweens after each (and after the last, toward the first, when `loop`)."""
    out: list[np.ndarray] = []
    n = len(frames)
    for i, frame in enumerate(frames):
        out.append(frame)
        if i + 1 < n:
            out.extend(interpolate_pair(frame, frames[i + 1], k, method, flow))
        elif loop and n > 1:
            out.extend(interpolate_pair(frame, frames[0], k, method, flow))
    return out
