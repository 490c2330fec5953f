"""Moving a painted frame to the next keyframe's view before it is repainted (geometry only: the depth estimator is
passed in as a function).

    moved = move_frame(image, relative_depth, step, camera)
    moved.image     the previous frame seen from the new camera, revealed areas filled in plausibly
    moved.control   the moved scene's depth as the depth ControlNet takes it (min-max normalised inverse depth)
    moved.revealed  the pixels nothing was seen at (to be painted fresh)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from .depth import inverse_depth_to_z
from .path import CameraSettings
from .warp import warp_view


@dataclass
class MovedFrame:
    image: Image.Image
    control: Image.Image
    revealed: np.ndarray
    depth: np.ndarray  # z-depth in the new view

    @property
    def revealed_share(self) -> float:
        return float(self.revealed.mean())


def control_image(z: np.ndarray) -> Image.Image:
    """z-depth as the depth ControlNet's input: inverse depth min-max normalised (white = near), 8-bit RGB, like the
    estimator's maps the ControlNet was trained on."""
    inv = 1.0 / np.maximum(z, 1e-12)
    lo, hi = float(inv.min()), float(inv.max())
    d = (inv - lo) / (hi - lo) if hi > lo else np.zeros_like(inv)
    gray = np.round(np.clip(d, 0, 1) * 255.0).astype(np.uint8)
    return Image.fromarray(np.stack([gray] * 3, axis=-1), mode="RGB")


def move_frame(image: Image.Image, relative_depth: np.ndarray, step: np.ndarray, camera: CameraSettings,
               device: Any = None) -> MovedFrame:
    """`image` (with its relative inverse depth in 0..1) seen from camera `step` (the new camera in the old one's axes);
    moved on the torch `device` when one is given (warp.warp_view)."""
    z = inverse_depth_to_z(relative_depth, camera.near, camera.far)
    warped = warp_view(np.asarray(image.convert("RGB")), z, step, camera.fov, fill=True, device=device)
    return MovedFrame(Image.fromarray(warped.image), control_image(warped.depth), warped.revealed, warped.depth)
