"""Keeping long img2img chains sharp: what is done to a frame before it seeds the next img2img step.

Every img2img step loses a little detail, and a chain compounds the loss. Before each step, after colour matching,
Deforum's order is followed (contrast -> sharpen -> noise -> img2img):

- contrast: luminance scaled around its mean by a factor (1 = unchanged). Colour matching already holds the global
  contrast to frame 1's, so the default is 1; the schedule is there for deliberate changes.
- sharpen: an unsharp mask (`image + amount * (image - GaussianBlur(image, kernel, sigma))`). A fixed amount either
  under- or over-corrects over a long chain (the loss per step depends on the model, the strength and the
  sampler), so the default, `auto`, measures instead: a feedback loop holds the painted frames' sharpness (variance
  of the Laplacian) at frame 1's. Each step the init gets a target sharpness, raised or lowered by how far the last
  painted frame fell short of or overshot frame 1 (integral control, with anti-windup while the amount is at its
  cap), and the amount that reaches it is solved in closed form (the mask is linear). A chain that keeps its detail
  is not sharpened. A number or schedule gives a fixed amount (Deforum's behaviour).
- noise: additive Gaussian grain shaped by fractal Perlin noise (patches of grain, as Deforum's perlin noise), of
  standard deviation `noise` on the 0..1 scale: fresh high-frequency texture for the next step to paint into
  detail instead of smoothing. The default 0.02 (about 5 grey levels where the mask is full) is well below what a
  denoising step at the presets' strengths removes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from .metrics import luminance, sharpness

#: upper bound of the automatic unsharp amount (beyond it, sharpening makes halos rather than detail)
AUTO_MAX_AMOUNT = 2.0
#: how far one step may move the target (a scene cut or a big reveal is not a loss of detail to undo at once)
MAX_STEP_RATIO = 2.0


@dataclass
class SharpnessHold:
    """What `auto` sharpening carries along a chain: frame 1's sharpness, the init's target sharpness (None before the
    first link: frame 1's), and whether the last amount was at its cap. `state()` is recorded per frame, so a frame
    regenerated alone can be given its predecessor's (`from_state`)."""

    reference: float
    target: float | None = None
    saturated: bool = False

    def next_target(self, current: float) -> float:
        """The next init's target: the last one scaled by how far the painted frame (`current`) is from frame 1."""
        if self.target is None:
            self.target = self.reference
        else:
            ratio = self.reference / max(current, 1e-6)
            if self.saturated and ratio > 1:  # anti-windup: asking for more than the cap gives changes nothing
                ratio = 1.0
            ratio = min(max(ratio, 1 / MAX_STEP_RATIO), MAX_STEP_RATIO)
            self.target = float(min(max(self.target * ratio, 0.5 * self.reference), 50 * self.reference))
        return self.target

    def state(self) -> dict:
        return {"sharpen_target": round(float(self.target), 4) if self.target is not None else None, "saturated": self.saturated}

    @classmethod
    def from_state(cls, reference: float, state: dict | None) -> "SharpnessHold":
        state = state or {}
        return cls(reference, state.get("sharpen_target"), bool(state.get("saturated", False)))


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
    grey = luminance(image)  # the grey `metrics.sharpness` measures
    detail = grey - cv2.GaussianBlur(grey, (kernel, kernel), sigma)
    return solve_amount(_laplacian(grey), _laplacian(detail), target, limit)


def solve_amount(li, ld, target: float, limit: float = AUTO_MAX_AMOUNT) -> float:
    """The amount `a` at which the variance of li + a * ld (the Laplacians of the grey and of its detail: NumPy arrays
    or torch tensors) is `target`, clamped to [0, limit]; 0 when it is already reached."""
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
        rows, cols = (y0 + dy)[:, 0], (x0 + dx)[0]  # rows then columns: the same gather as [y0 + dy, x0 + dx], 2x faster
        return gy[rows][:, cols] * (fy - dy) + gx[rows][:, cols] * (fx - dx)

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
    updated. Returns the uint8 image and what was applied, with the hold's state (for metadata)."""
    out = adjust_contrast(image.astype(np.float32), contrast)
    noise_field = grain(out.shape, noise, seed) if noise > 0 else None
    amount = sharpen_amount(sharpen, hold, lambda: sharpness(image),
                            (lambda: sharpness(noise_field)) if noise_field is not None else None,
                            lambda target: auto_amount(out, target, kernel, sigma))
    out = unsharp_mask(out, amount, kernel, sigma)
    if noise_field is not None:
        out = out + noise_field
    return np.clip(out, 0, 255).round().astype(np.uint8), applied_record(contrast, amount, noise, hold)


def sharpen_amount(sharpen: float | str, hold: SharpnessHold | None, current: Callable[[], float],
                   grain_sharpness: Callable[[], float] | None, solve: Callable[[float], float]) -> float:
    """The unsharp amount of one init: a fixed `sharpen`, or `auto`'s: the hold's next target for the frame's sharpness
    (`current`), less the grain's own Laplacian energy (they add), reached by `solve(target)`; the hold is updated."""
    if sharpen != "auto":
        return float(sharpen)
    if hold is None:
        raise ValueError("sharpen='auto' needs a SharpnessHold")
    target = hold.next_target(current())
    if grain_sharpness is not None:
        target = max(0.0, target - grain_sharpness())
    amount = solve(target)
    hold.saturated = amount >= AUTO_MAX_AMOUNT
    return amount


def applied_record(contrast: float, amount: float, noise: float, hold: SharpnessHold | None) -> dict:
    """What was done to an init, with the hold's state (the frame's metadata)."""
    applied = {"contrast": round(contrast, 4), "sharpen": round(amount, 4), "noise": round(noise, 4)}
    return {**applied, **(hold.state() if hold is not None else {})}


def _laplacian(grey: np.ndarray) -> np.ndarray:
    return cv2.Laplacian(grey, cv2.CV_32F, ksize=1)


def degrade(image: np.ndarray, blur: float = 0.6, contrast_loss: float = 0.03) -> np.ndarray:
    """A stand-in for one img2img step's losses, for evidence without weights: a small Gaussian blur and a loss of
    contrast around the mean (uint8 RGB in and out)."""
    out = cv2.GaussianBlur(image.astype(np.float32), (0, 0), blur)
    out = adjust_contrast(out, 1.0 - contrast_loss)
    return np.clip(out, 0, 255).round().astype(np.uint8)


def run_chain(first: np.ndarray, settings, steps: int, step=degrade) -> list[np.ndarray]:
    """A chain of `steps` links after `first`, each made by `step` (a stand-in for img2img) from the previous frame
    prepared exactly as `animate.paint_frame` prepares it: colour matched to frame 1 (`settings.color_coherence`), then
    contrast, sharpening and grain at each frame's scheduled values. Returns the frames a viewer would see."""
    from .blend.color import match_color

    frames = [first]
    hold = SharpnessHold(sharpness(first))
    for k in range(1, steps + 1):
        values = settings.values(min(k, settings.frames - 1))
        init, _ = prepare_init(frames[-1], contrast=values.contrast, sharpen=values.sharpen, noise=values.noise, seed=k,
                               hold=hold, kernel=settings.sharpen_kernel, sigma=settings.sharpen_sigma)
        out = step(init)
        if settings.color_coherence > 0:
            out = match_color(out, first, settings.color_coherence, settings.color_mode)
        frames.append(out)
    return frames


def painted_texture(seed: int = 0, size: int = 256) -> np.ndarray:
    """A synthetic first frame with detail at every scale (fractal noise washes and hard-edged discs), for the chain
    evidence in the tests and `bench/bench_coherence.py`."""
    rng = np.random.default_rng(seed)
    image = np.stack([perlin_noise(size, size, rng, cells=3, octaves=5) for _ in range(3)], -1) * 255
    for _ in range(12):
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        centre = tuple(int(c) for c in rng.integers(0, size, 2))
        cv2.circle(image, centre, int(rng.integers(size // 50, size // 6)), colour, -1)
    return np.clip(image, 0, 255).astype(np.uint8)
