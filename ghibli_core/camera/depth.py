"""Depth for the camera: scene depth (z, in scene units) from what users and models give.

The depth estimator (Depth Anything, DPT, MiDaS...) gives *relative inverse depth*, which the engine keeps as an 8-bit
map normalised to 0..1 (1 = nearest, as the depth ControlNet expects). The camera needs metric-like z. The mapping
interpolates inverse depth between the scene's far and near planes:

    1/z = d / near + (1 - d) / far          (d = 1 -> z = near, d = 0 -> z = far)

so relative disparity stays relative disparity (straight lines and planes stay planes up to the estimator's own
error), and `near` / `far` set the scale. Defaults near 1, far 10: the named moves are defined relative to `near`,
so they look the same whatever the units.

An explicit depth map can be given instead: `.npy` (float z-depth, H x W, in scene units), a 16-bit PNG (z-depth
as integers times `scale`, e.g. millimetres with scale 0.001) or an 8-bit image (relative inverse depth, white =
near, mapped with near/far like the estimator's).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError

DEPTH_SUFFIXES = (".npy", ".png", ".tif", ".tiff", ".exr", ".jpg", ".jpeg", ".webp")
DEFAULT_PNG_SCALE = 0.001


def inverse_depth_to_z(d: np.ndarray, near: float, far: float) -> np.ndarray:
    """Relative inverse depth in 0..1 (1 = near) to z-depth between near and far."""
    d = np.clip(np.asarray(d, dtype=np.float32), 0.0, 1.0)
    return 1.0 / (d / near + (1.0 - d) / far)


def z_to_inverse_depth(z: np.ndarray, near: float, far: float) -> np.ndarray:
    """z-depth back to relative inverse depth in 0..1 (what the depth ControlNet is fed), clipped to [near, far]."""
    z = np.asarray(z, dtype=np.float32)
    with np.errstate(divide="ignore"):
        d = (1.0 / np.maximum(z, 1e-12) - 1.0 / far) / (1.0 / near - 1.0 / far)
    return np.clip(d, 0.0, 1.0)


def depth_image_to_z(image, near: float, far: float) -> np.ndarray:
    """The engine's depth map (PIL image or HxW(x3) uint8, white = near) as z-depth."""
    arr = np.asarray(image)
    if arr.ndim == 3:
        arr = arr[..., 0]
    return inverse_depth_to_z(arr.astype(np.float32) / 255.0, near, far)


def z_to_depth_image(z: np.ndarray, near: float, far: float):
    """z-depth as the engine's 8-bit, three-channel depth map (PIL), white = near."""
    from PIL import Image

    gray = np.round(z_to_inverse_depth(z, near, far) * 255.0).astype(np.uint8)
    return Image.fromarray(np.stack([gray] * 3, axis=-1), mode="RGB")


def check_z(z: np.ndarray, name: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """A z-depth map that is finite and > 0 everywhere (and of `size` = (width, height) when given)."""
    if z.ndim != 2:
        raise InputError("depth", f"{name} holds a {z.ndim}-D array", "give one depth value per pixel (H x W)")
    if size is not None and (z.shape[1], z.shape[0]) != tuple(size):
        raise InputError("depth", f"{name} is {z.shape[1]}x{z.shape[0]} but the image is {size[0]}x{size[1]}",
                         "give a depth map of the image's size")
    if not np.all(np.isfinite(z)):
        raise InputError("depth", f"{name} holds NaN or infinite values ({int(np.sum(~np.isfinite(z)))} pixels)",
                         "give a finite depth for every pixel")
    if np.any(z <= 0):
        raise InputError("depth", f"{name} holds zero or negative depths ({int(np.sum(z <= 0))} pixels)",
                         "give a depth > 0 for every pixel (z distance from the camera)")
    return z.astype(np.float32)


def load_depth(path: str | Path, size: tuple[int, int] | None = None, *, near: float, far: float,
               scale: float = DEFAULT_PNG_SCALE) -> np.ndarray:
    """A depth file as z-depth (see the module docstring for the formats); every problem is one InputError."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError("depth", f"no file at {file.resolve()}", "check the path")
    if file.suffix.lower() not in DEPTH_SUFFIXES:
        raise InputError("depth", f"{file.name} is not a depth map", "give a .npy (float z-depth) or a 16-bit / 8-bit PNG")
    if file.suffix.lower() == ".npy":
        try:
            z = np.load(file, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise InputError("depth", f"{file.name} is not a readable .npy array ({type(exc).__name__})",
                             "save it with numpy.save(path, depth.astype('float32'))") from exc
        if not np.issubdtype(z.dtype, np.number) or np.issubdtype(z.dtype, np.complexfloating):
            raise InputError("depth", f"{file.name} holds {z.dtype} values", "save float z-depth values")
        z = np.squeeze(z).astype(np.float64)
        return check_z(z, file.name, size)
    import cv2

    raw = cv2.imread(str(file), cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
    if raw is None:
        raise InputError("depth", f"{file.name} is not a readable image", "give a .npy or a PNG depth map")
    if raw.ndim == 3:
        raw = raw[..., 0]
    if raw.dtype == np.uint16:
        z = raw.astype(np.float64) * scale
    elif raw.dtype == np.uint8:
        z = inverse_depth_to_z(raw.astype(np.float32) / 255.0, near, far).astype(np.float64)
    else:
        z = raw.astype(np.float64)
    return check_z(z, file.name, size)
