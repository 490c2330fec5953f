"""Keeping long img2img chains sharp: what is done to a frame before it seeds the next img2img step.

Every img2img step loses a little detail, and a chain compounds the loss. Before each step, after colour matching,
Deforum's order is followed (contrast -> sharpen -> noise -> img2img):

- contrast: luminance scaled around its mean by a factor (1 = unchanged). Colour matching already holds the global
  contrast to frame 1's, so the default is 1; the schedule is there for deliberate changes.
- sharpen: an unsharp mask (`image + amount * (image - GaussianBlur(image, kernel, sigma))`). A fixed amount either
  under- or over-corrects over a long chain (the loss per step depends on the model, the strength and the
  sampler), so the default, `auto`, measures instead: the amount is chosen (in closed form: the mask is linear) so
  that the frame's sharpness (variance of the Laplacian) is frame 1's divided by how much of its sharpness the last
  step kept. A chain that keeps its detail is not sharpened at all. A number or schedule gives a fixed amount.
- noise: additive Gaussian grain shaped by fractal Perlin noise (patches of grain, as Deforum's perlin noise), of
  standard deviation `noise` on the 0..1 scale: fresh high-frequency texture for the next step to paint into
  detail instead of smoothing. The default 0.02 (about 5 grey levels where the mask is full) is well below what a
  denoising step at the presets' strengths removes.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .metrics import sharpness

#: upper bound of the automatic unsharp amount (beyond it, sharpening makes halos rather than detail)
AUTO_MAX_AMOUNT = 2.0
#: the sharpness kept by the last step is trusted down to this (a scene cut or a big reveal is not "blur")
MIN_RETENTION = 0.25


@dataclass
class SharpnessHold:
    """The state `auto` sharpening carries along a chain: frame 1's sharpness, and the sharpness of the last init."""

    reference: float
    last_init: float | None = None

    def target(self, current: float) -> float:
        """The sharpness the next init should have: frame 1's, raised by the share the last step lost."""
        retention = 1.0 if not self.last_init else min(1.0, max(MIN_RETENTION, current / self.last_init))
        return self.reference / retention


def adjust_contrast(image: np.ndarray, factor: float) -> np.ndarray:
    """`image` (float RGB 0..255) with its luminance spread around its mean by `factor` (hue and mean kept)."""
    if factor == 1.0:
        return image
    mean = image.mean(axis=(0, 1), keepdims=True).mean(-1, keepdims=True)
    return mean + (image - mean) * factor


def unsharp_mask(image: np.ndarray, amount: float, kernel: int = 5, sigma: float = 1.0) -> np.ndarray:
    """`image + amount * (image - blurred)` on float RGB 0..255."""
    if amount <= 0:
        return image
    return image + amount * (image - cv2.GaussianBlur(image, (kernel, kernel), sigma))


def auto_amount(image: np.ndarray, target: float, kernel: int = 5, sigma: float = 1.0, limit: float = AUTO_MAX_AMOUNT) -> float:
    """The unsharp amount that brings `image`'s sharpness (Laplacian variance of its grey) to `target`.

    The Laplacian of `image + a * detail` is L(image) + a * L(detail), so its variance is a quadratic in `a`: solved
    exactly, clamped to [0, limit]; 0 when the image is already as sharp.
    """
    grey = _grey(image)
    detail = grey - cv2.GaussianBlur(grey, (kernel, kernel), sigma)
    li, ld = _laplacian(grey), _laplacian(detail)
    li, ld = li - li.mean(), ld - ld.mean()
    vi, vd, cov = float((li * li).mean()), float((ld * ld).mean()), float((li * ld).mean())
    if vi >= target or vd <= 1e-12:
        return 0.0
    # vd a^2 + 2 cov a + (vi - target) = 0, the positive root
    a = (-cov + np.sqrt(max(cov * cov - vd * (vi - target), 0.0))) / vd
    return float(min(max(a, 0.0), limit))


def perlin_noise(height: int, width: int, rng: np.random.Generator, cells: int = 4, octaves: int = 3) -> np.ndarray:
    """Fractal Perlin (gradient) noise in [0, 1], `cells` lattice cells across the shorter side at the first octave."""
    total = np.zeros((height, width), np.float32)
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        res = cells * 2 ** octave
        total += amplitude * _perlin(height, width, res, rng)
        norm += amplitude
        amplitude *= 0.5
    total /= norm
    return np.clip(0.5 + total * 1.4, 0.0, 1.0)  # gradient noise lies in about [-0.7, 0.7]


def _perlin(height: int, width: int, res: int, rng: np.random.Generator) -> np.ndarray:
    side = min(height, width)
    ry, rx = max(1, round(res * height / side)), max(1, round(res * width / side))
    angles = rng.uniform(0, 2 * np.pi, (ry + 1, rx + 1))
    gy, gx = np.sin(angles), np.cos(angles)
    y = np.linspace(0, ry, height, endpoint=False)[:, None]
    x = np.linspace(0, rx, width, endpoint=False)[None, :]
    y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
    fy, fx = y - y0, x - x0

    def corner(dy: int, dx: int) -> np.ndarray:
        return gy[y0 + dy, x0 + dx] * (fy - dy) + gx[y0 + dy, x0 + dx] * (fx - dx)

    def fade(t: np.ndarray) -> np.ndarray:
        return t * t * t * (t * (t * 6 - 15) + 10)

    uy, ux = fade(fy), fade(fx)
    top = corner(0, 0) + ux * (corner(0, 1) - corner(0, 0))
    bottom = corner(1, 0) + ux * (corner(1, 1) - corner(1, 0))
    return (top + uy * (bottom - top)).astype(np.float32)


def grain(shape: tuple[int, int, int], amount: float, seed: int) -> np.ndarray:
    """Perlin-shaped Gaussian grain of standard deviation `amount` (0..1 scale) where the mask is full, in 0..255 units."""
    rng = np.random.default_rng(seed)
    mask = perlin_noise(shape[0], shape[1], rng)[..., None]
    return rng.standard_normal(shape).astype(np.float32) * mask * (amount * 255.0)


def prepare_init(image: np.ndarray, *, contrast: float, sharpen: float | str, noise: float, seed: int,
                 hold: SharpnessHold | None = None, kernel: int = 5, sigma: float = 1.0) -> tuple[np.ndarray, dict]:
    """What seeds the next img2img step: `image` (uint8 RGB, already colour matched) with contrast, sharpening and
    noise applied in that order. `sharpen="auto"` needs `hold` (frame 1's sharpness and the chain's memory), which is
    updated. Returns the uint8 image and what was applied (for metadata)."""
    out = adjust_contrast(image.astype(np.float32), contrast)
    noise_field = grain(out.shape, noise, seed) if noise > 0 else None
    if sharpen == "auto":
        if hold is None:
            raise ValueError("sharpen='auto' needs a SharpnessHold")
        target = hold.target(sharpness(image))
        if noise_field is not None:  # the grain's own Laplacian energy counts toward the target (they add)
            target = max(0.0, target - sharpness(noise_field))
        amount = auto_amount(out, target, kernel, sigma)
    else:
        amount = float(sharpen)
    out = unsharp_mask(out, amount, kernel, sigma)
    if noise_field is not None:
        out = out + noise_field
    result = np.clip(out, 0, 255).round().astype(np.uint8)
    if hold is not None:
        hold.last_init = sharpness(result)
    return result, {"contrast": round(contrast, 4), "sharpen": round(amount, 4), "noise": round(noise, 4)}


def _grey(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32).mean(-1) if image.ndim == 3 else image.astype(np.float32)


def _laplacian(grey: np.ndarray) -> np.ndarray:
    return cv2.Laplacian(grey, cv2.CV_32F, ksize=1)
