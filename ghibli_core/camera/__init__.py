"""Camera motion: geometry only (no model imports).

    schedule     Schedule.parse("0:(0), 24:(1.5)")   per-frame values, Deforum syntax, expressions without eval
    moves        Move.parse("push-in:0.5")          named moves as schedules over the animation
    path         CameraSettings(...).path(frames)   per-frame poses (OpenCV axes, horizontal fov)
    depth        relative inverse depth <-> z-depth (near/far), depth files
    warp         warp_view(image, z, step, fov)     the 3D warp with occlusion and revealed-pixel masks
    still        move_still(image, z, path)         a camera move over one still ("3D photo")
    scenes       PlaneScene                         synthetic scenes with exactly known views (tests, benchmarks)
"""
from __future__ import annotations

from .depth import depth_image_to_z, inverse_depth_to_z, load_depth, z_to_depth_image, z_to_inverse_depth
from .geometry import AXES, Intrinsics, focal_length, step_matrix
from .moves import MOVES, Move
from .path import CameraPath, CameraSettings
from .schedule import Schedule
from .still import StillMove, move_still
from .warp import Warped, fill_image, warp_view

__all__ = [
    "AXES", "CameraPath", "CameraSettings", "Intrinsics", "MOVES", "Move", "Schedule", "StillMove", "Warped",
    "depth_image_to_z", "fill_image", "focal_length", "inverse_depth_to_z", "load_depth", "move_still", "step_matrix",
    "warp_view", "z_to_depth_image", "z_to_inverse_depth",
]
