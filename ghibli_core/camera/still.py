"""A camera move over one still image and its depth, no diffusion: a "3D photo" (Ken Burns effect).

Frame 0 is the image itself; frame k is the image seen from the path's pose k, warped straight from the still (not
from frame k-1, so nothing is resampled twice). Revealed areas are painted in from their surroundings.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .path import CameraPath
from .warp import warp_view


@dataclass
class StillMove:
    """The frames (HxWx3 uint8), the revealed-area masks (HxW bool) and the z-depth of every view."""

    frames: list[np.ndarray]
    masks: list[np.ndarray]
    depths: list[np.ndarray]


def move_still(image: np.ndarray, z: np.ndarray, path: CameraPath, *, fill: bool = True,
               on_frame: Callable[[int], None] | None = None, device: Any = None) -> StillMove:
    """Every view of `path` (pose k relative to pose 0) of `image` with z-depth `z`; warped in torch on `device` when one
    is given (warp.warp_view: a GPU's; see device.work_device)."""
    frames, masks, depths = [image.copy()], [np.zeros(z.shape, bool)], [z.astype(np.float32)]
    for k in range(1, len(path)):
        out = warp_view(image, z, path.step(0, k), path.fov, fill=fill, device=device)
        frames.append(out.image)
        masks.append(out.revealed)
        depths.append(out.depth)
        if on_frame is not None:
            on_frame(k)
    return StillMove(frames, masks, depths)
