"""Frames between painted keyframes that follow the camera.

Every output frame sits at a (fractional) planned-frame time s and has the camera pose of that time. A frame that
was not painted is made from the painted keyframes a <= s <= b around it: keyframe a is moved forward to the pose
at s with its depth, keyframe b backward, each one's revealed pixels are taken from the other, and what the camera
does not explain (the content changing between the two paintings) is bridged by optical flow between the two
moved views at the time fraction (s - a) / (b - a). In a loop, the frames after the last keyframe lead to keyframe 0
of the next loop: their poses run from the last frame's pose back to the first (a path that closes, like `sway`,
makes that no move at all; an open one, like `push-in`, returns through the seam).
"""
from __future__ import annotations

from typing import Any, Mapping

import cv2
import numpy as np

from ..blend.flow import FlowCache
from ..blend.interpolate import FlowPair
from ..parallel import map_in_order
from .path import CameraPath
from .warp import fill_image, warp_view


def pose_between(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    """The pose a fraction `alpha` of the way from pose a to pose b (rotation along the shortest arc, translation
    in a straight line)."""
    delta = np.linalg.inv(a) @ b
    rvec, _ = cv2.Rodrigues(delta[:3, :3])
    rot, _ = cv2.Rodrigues(rvec * alpha)
    step = np.eye(4)
    step[:3, :3] = rot
    step[:3, 3] = alpha * delta[:3, 3]
    return a @ step


class CameraTimeline:
    """The pose at every output time of an animation of `frames` planned frames along `path`."""

    def __init__(self, path: CameraPath, frames: int, loop: bool) -> None:
        self.path, self.frames, self.loop = path, frames, loop

    def pose(self, s: float) -> np.ndarray:
        last = self.frames - 1
        if s <= last:
            return self.path.pose_at(s)
        if not self.loop:
            raise ValueError(f"time {s} is past the last frame of an animation that does not loop")
        if s >= self.frames:
            return self.path.poses[0]
        return pose_between(self.path.poses[last], self.path.poses[0], s - last)  # the seam leads back to frame 0

    def times(self, interpolate: int) -> list[float]:
        """The planned-frame time of every output frame."""
        k = interpolate + 1
        count = self.frames * k if self.loop and self.frames > 1 else (self.frames - 1) * k + 1
        return [o / k for o in range(count)]

    @property
    def closes(self) -> bool:
        """The camera is back at its start pose on the last frame (the seam needs no move)."""
        return self.path.closes()


def between(a_image: np.ndarray, a_depth: np.ndarray, a_pose: np.ndarray, b_image: np.ndarray, b_depth: np.ndarray,
            b_pose: np.ndarray, pose: np.ndarray, alpha: float, fov: float, flow: str = "dis",
            flows: FlowCache | None = None, device: Any = None) -> np.ndarray:
    """The view at `pose` from keyframe a (weight 1 - alpha) and keyframe b (weight alpha), each moved there with its
    depth; each one's revealed pixels come from the other, and flow bridges what the camera does not explain. The
    moves run on the torch `device` when one is given (warp.warp_view)."""
    wa = warp_view(a_image, a_depth, np.linalg.inv(a_pose) @ pose, fov, fill=False, device=device)
    wb = warp_view(b_image, b_depth, np.linalg.inv(b_pose) @ pose, fov, fill=False, device=device)
    both = wa.revealed & wb.revealed
    ia = np.where(wa.revealed[..., None], wb.image, wa.image)
    ib = np.where(wb.revealed[..., None], wa.image, wb.image)
    if both.any():
        ia, ib = fill_image(ia, both, device=device), fill_image(ib, both, device=device)
    if flow == "none" or np.array_equal(ia, ib):
        out = cv2.addWeighted(ia, 1.0 - alpha, ib, alpha, 0.0)
    else:
        out = FlowPair(ia, ib, flow, flows).at(alpha)
    return out


class CameraSpans:
    """Output frames made span by span as painted keyframes arrive (in order, each with its z-depth): the frames from
    one keyframe up to the next are final as soon as both are known. The same frames as all at once."""

    def __init__(self, timeline: CameraTimeline, interpolate: int, flow: str = "dis", flows: FlowCache | None = None,
                 device: Any = None) -> None:
        self.timeline, self.flow, self.flows, self.device = timeline, flow, flows, device
        self.times = timeline.times(interpolate)
        self.anchors: list[tuple[int, tuple[np.ndarray, np.ndarray], np.ndarray]] = []

    def add(self, index: int, image: np.ndarray, z: np.ndarray) -> list[np.ndarray]:
        """Keyframe `index` (HxWx3 uint8) and its z-depth; returns the output frames from the previous keyframe up to
        (not including) this one."""
        self.anchors.append((index, (image, z), self.timeline.pose(index)))
        return self._span(*self.anchors[-2:]) if len(self.anchors) > 1 else []

    def close(self) -> list[np.ndarray]:
        """The frames after the last keyframe: through the loop's seam back to the first one, or the last frame."""
        t = self.timeline
        last = self.anchors[-1]
        if t.loop and t.frames > 1:
            first, keys = self.anchors[0][0], self.anchors[0][1]
            return self._span(last, (t.frames + first, keys, t.pose(t.frames + first)))
        return [last[1][0]] if any(abs(s - last[0]) < 1e-9 for s in self.times) else []

    def _span(self, a: tuple, b: tuple) -> list[np.ndarray]:
        (ka, (ia, za), pa), (kb, (ib, zb), pb) = a, b

        def frame_at(s: float) -> np.ndarray:
            if abs(s - ka) < 1e-9:
                return ia
            return between(ia, za, pa, ib, zb, pb, self.timeline.pose(s), (s - ka) / (kb - ka), self.timeline.path.fov,
                           self.flow, self.flows, self.device)

        # every in-between is independent: side by side
        return map_in_order(frame_at, [s for s in self.times if ka - 1e-9 <= s < kb - 1e-9])


def camera_frames(keys: Mapping[int, tuple[np.ndarray, np.ndarray]], timeline: CameraTimeline, interpolate: int,
                  flow: str = "dis", flows: FlowCache | None = None, device: Any = None) -> list[np.ndarray]:
    """Every output frame (HxWx3 uint8) from the painted keyframes {index: (image, z-depth)}; the moves on `device`."""
    spans = CameraSpans(timeline, interpolate, flow, flows, device)
    out = [frame for k in sorted(keys) for frame in spans.add(k, *keys[k])]
    return out + spans.close()
