"""Output frames made span by span as painted keyframes arrive: the cadence fill between two keyframes, then the
in-betweens of every frame pair in that span, final as soon as both keyframes are known.

    spans = KeyframeSpans(frames=8, keyframes=[0, 2, 4, 6], interpolate=1, loop=True)
    for index, image in painted:           # in order, as the painting chain yields them
        write(spans.add(index, image))     # the output frames from the previous keyframe up to this one
    write(spans.close())                   # the tail: through the loop's seam, or the last frame

The frames are exactly those of `fill_cadence` followed by `interpolate_sequence` over the whole timeline.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..parallel import map_in_order
from .flow import FlowCache
from .interpolate import interpolate_pair


class KeyframeSpans:
    """Turns painted keyframes (HxWx3 uint8, in order) into output frames span by span."""

    def __init__(self, frames: int, keyframes: Sequence[int], interpolate: int, *, loop: bool, method: str = "flow",
                 flow: str = "dis", flows: FlowCache | None = None) -> None:
        self.frames, self.keys, self.k = frames, list(keyframes), interpolate
        self.loop, self.method, self.flow, self.flows = loop, method, flow, flows
        self.painted: list[tuple[int, np.ndarray]] = []

    def add(self, index: int, image: np.ndarray) -> list[np.ndarray]:
        """Keyframe `index`; returns the output frames from the previous keyframe up to (not including) this one."""
        expected = self.keys[len(self.painted)] if len(self.painted) < len(self.keys) else None
        if index != expected:
            raise ValueError(f"keyframe {index} arrived where {expected} was expected")
        self.painted.append((index, image))
        return self._span(self.painted[-2], self.painted[-1]) if len(self.painted) > 1 else []

    def close(self) -> list[np.ndarray]:
        """The frames after the last keyframe: its cadence tail and in-betweens back to frame 0 (a loop), or itself."""
        last_index, last = self.painted[-1]
        if self.loop and self.frames > 1:
            return self._span(self.painted[-1], (self.frames, self.painted[0][1]))
        if last_index != self.frames - 1:
            raise ValueError("keyframes do not cover every output frame")
        return [last]

    def _span(self, a: tuple[int, np.ndarray], b: tuple[int, np.ndarray]) -> list[np.ndarray]:
        (ka, ia), (kb, ib) = a, b
        timeline = [ia, *interpolate_pair(ia, ib, kb - ka - 1, self.method, self.flow, self.flows), ib]
        pairs = list(zip(timeline, timeline[1:]))
        fills = map_in_order(lambda pair: interpolate_pair(*pair, self.k, self.method, self.flow, self.flows), pairs)
        out: list[np.ndarray] = []
        for frame, between in zip(timeline, fills):
            out.append(frame)
            out.extend(between)
        return out
