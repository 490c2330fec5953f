"""Synthetic 3D scenes whose every view is known exactly: textured planes rendered by ray casting.

    scene = PlaneScene.two_planes(seed=3)
    image, z = scene.render(pose, 256, 256, fov=40)   # the view from camera-to-world `pose` and its z-depth

Textures are smooth functions of the position on each plane (sums of a few sines), so any view can be computed at
any point; the tests and benchmarks compare warps and in-betweens against these exact views.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .geometry import Intrinsics


@dataclass(frozen=True)
class Plane:
    """A textured plane n . X = offset (world coordinates = frame 0's camera axes), optionally a rectangle
    (|a| <= half_width, |b| <= half_height in the plane's own axes u, v around `center`)."""

    normal: tuple[float, float, float]
    center: tuple[float, float, float]
    u: tuple[float, float, float]
    v: tuple[float, float, float]
    wavelength: float
    seed: int
    half_size: tuple[float, float] | None = None
    _waves: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        # per channel: 4 waves (direction angle, wavelength factor, phase, amplitude)
        angles = rng.uniform(0, np.pi, (3, 4))
        lengths = self.wavelength * rng.uniform(1.0, 2.5, (3, 4))
        phases = rng.uniform(0, 2 * np.pi, (3, 4))
        amps = rng.uniform(0.05, 0.12, (3, 4))
        object.__setattr__(self, "_waves", np.stack([angles, lengths, phases, amps], -1))

    def intersect(self, origin: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ray parameter (inf where missed) and plane coordinates (a, b) of each ray's hit."""
        n = np.asarray(self.normal, float)
        c = np.asarray(self.center, float)
        with np.errstate(divide="ignore", invalid="ignore"):
            lam = ((c - origin) @ n) / (dirs @ n)
        hit = origin + lam[..., None] * dirs
        a = (hit - c) @ np.asarray(self.u, float)
        b = (hit - c) @ np.asarray(self.v, float)
        ok = np.isfinite(lam) & (lam > 1e-6)
        if self.half_size is not None:
            ok &= (np.abs(a) <= self.half_size[0]) & (np.abs(b) <= self.half_size[1])
        return np.where(ok, lam, np.inf), a, b

    def color(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.full(a.shape + (3,), 0.5)
        for ch in range(3):
            for angle, length, phase, amp in self._waves[ch]:
                out[..., ch] += amp * np.sin(2 * np.pi * (a * np.cos(angle) + b * np.sin(angle)) / length + phase)
        return np.clip(out, 0, 1)


@dataclass(frozen=True)
class PlaneScene:
    """Planes seen by a pinhole camera; nearer surfaces hide farther ones."""

    planes: tuple[Plane, ...]

    @classmethod
    def two_planes(cls, seed: int = 0, near: float = 2.0, far: float = 6.0) -> "PlaneScene":
        """A textured background wall at `far` and a textured card in front of it at `near`, a little off centre."""
        wall = Plane((0, 0, 1), (0, 0, far), (1, 0, 0), (0, 1, 0), wavelength=0.35 * far / 6, seed=seed)
        card = Plane((0, 0, 1), (-0.15 * near, 0.05 * near, near), (1, 0, 0), (0, 1, 0), wavelength=0.35 * near / 6,
                     seed=seed + 1, half_size=(0.22 * near, 0.17 * near))
        return cls((wall, card))

    @classmethod
    def wall(cls, seed: int = 0, depth: float = 4.0) -> "PlaneScene":
        """One textured fronto-parallel wall (for pure rotations, where depth does not matter)."""
        return cls((Plane((0, 0, 1), (0, 0, depth), (1, 0, 0), (0, 1, 0), wavelength=0.3 * depth / 6, seed=seed),))

    @classmethod
    def ground_and_card(cls, seed: int = 0) -> "PlaneScene":
        """A slanted ground plane running into the distance, a far wall, and a card standing on the ground."""
        tilt = np.radians(12)
        ground_n = (0.0, -np.cos(tilt), -np.sin(tilt))  # seen from above: the floor rises toward the horizon
        ground = Plane(ground_n, (0, 1.0, 3.0), (1, 0, 0), (0, np.sin(tilt), -np.cos(tilt)), wavelength=0.25, seed=seed)
        wall = Plane((0, 0, 1), (0, 0, 9.0), (1, 0, 0), (0, 1, 0), wavelength=0.5, seed=seed + 1)
        card = Plane((0, 0, 1), (0.3, 0.3, 2.2), (1, 0, 0), (0, 1, 0), wavelength=0.12, seed=seed + 2, half_size=(0.3, 0.35))
        return cls((ground, wall, card))

    def render(self, pose: np.ndarray, width: int, height: int, fov: float) -> tuple[np.ndarray, np.ndarray]:
        """(HxWx3 uint8 image, HxW float z-depth) seen from `pose` (camera to world, 4x4)."""
        k = Intrinsics(width, height, fov)
        rx, ry = k.rays()
        cam = np.stack([rx, ry, np.ones_like(rx)], -1).astype(np.float64)  # z = 1: the ray parameter is the z-depth
        dirs = cam @ pose[:3, :3].T
        origin = pose[:3, 3]
        best = np.full((height, width), np.inf)
        image = np.zeros((height, width, 3))
        for plane in self.planes:
            lam, a, b = plane.intersect(origin, dirs)
            nearer = lam < best
            if nearer.any():
                image[nearer] = plane.color(a[nearer], b[nearer])
                best[nearer] = lam[nearer]
        if not np.all(np.isfinite(best)):
            raise ValueError("a ray sees no plane: widen the scene or narrow the view")
        return np.round(image * 255).astype(np.uint8), best.astype(np.float32)
