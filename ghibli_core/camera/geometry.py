"""Pinhole camera geometry (OpenCV axes: x right, y down, z forward; depth = z distance).

The field of view is horizontal, in degrees; the principal point is the image centre ((W-1)/2, (H-1)/2 in pixel
coordinates, pixel centres at integers); pixels are square.

A camera *step* is where the next camera sits in the current camera's own axes: `R` (its axes as columns) and `t`
(its centre). A point P in the current camera's coordinates is at R^T (P - t) in the next one's.

The six user axes (Deforum's meaning) map onto a step so that, by effect:
  translation_x > 0  camera right (content slides left)     rotation_y > 0  pan right (content slides left)
  translation_y > 0  camera up (content slides down)        rotation_x > 0  tilt up (content slides down)
  translation_z > 0  camera forward (content grows)         rotation_z > 0  roll clockwise (content turns counter-clockwise)
Within one step: yaw (rotation_y), then pitch (rotation_x), then roll (rotation_z), each about the camera's own axes.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from ..registry import AXES  # noqa: E402 - the one definition


def focal_length(width: int, fov: float) -> float:
    """Focal length in pixels for a horizontal field of view of `fov` degrees across `width` pixels."""
    return (width / 2.0) / math.tan(math.radians(fov) / 2.0)


def rot_x(deg: float) -> np.ndarray:
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def rot_y(deg: float) -> np.ndarray:
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rot_z(deg: float) -> np.ndarray:
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def step_matrix(tx: float = 0.0, ty: float = 0.0, tz: float = 0.0, rx: float = 0.0, ry: float = 0.0, rz: float = 0.0) -> np.ndarray:
    """The 4x4 step (next camera in the current one's axes) for one increment of the six axes."""
    m = np.eye(4)
    m[:3, :3] = rot_y(ry) @ rot_x(rx) @ rot_z(rz)  # yaw, then pitch, then roll, about the camera's own axes
    m[:3, 3] = (tx, -ty, tz)  # OpenCV's y points down; translation_y > 0 moves the camera up
    return m


def relative(pose_from: np.ndarray, pose_to: np.ndarray) -> np.ndarray:
    """Camera `pose_to` in camera `pose_from`'s axes (both camera-to-world 4x4)."""
    return np.linalg.inv(pose_from) @ pose_to


@dataclass(frozen=True)
class Intrinsics:
    width: int
    height: int
    fov: float

    @property
    def f(self) -> float:
        return focal_length(self.width, self.fov)

    @property
    def cx(self) -> float:
        return (self.width - 1) / 2.0

    @property
    def cy(self) -> float:
        return (self.height - 1) / 2.0

    def rays(self) -> tuple[np.ndarray, np.ndarray]:
        """(x/z, y/z) of every pixel's ray, float32 HxW each (cached per size and fov)."""
        return _rays(self.width, self.height, self.fov)

    def project(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.f * x / z + self.cx, self.f * y / z + self.cy


@functools.lru_cache(maxsize=8)
def _rays(width: int, height: int, fov: float) -> tuple[np.ndarray, np.ndarray]:
    k = Intrinsics(width, height, fov)
    xs = ((np.arange(width, dtype=np.float64) - k.cx) / k.f).astype(np.float32)
    ys = ((np.arange(height, dtype=np.float64) - k.cy) / k.f).astype(np.float32)
    rx, ry = np.broadcast_to(xs[None, :], (height, width)), np.broadcast_to(ys[:, None], (height, width))
    return rx, ry
