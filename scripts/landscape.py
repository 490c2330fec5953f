"""A hand-painted-looking landscape drawn in code (sky, sun, clouds, mountains, hills, a tree, meadow) with its depth,
for pictures that need a scene without model weights: the camera strip in README, the template thumbnails, the icon.
Not used by the engine.
"""
from __future__ import annotations

import cv2
import numpy as np


def _ridge(w: int, base: float, amps: tuple[float, ...], seed: int) -> np.ndarray:
    """A ridge line: y (0..1 of the height) per column, a sum of a few sines."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, w)
    y = np.full(w, base)
    for i, amp in enumerate(amps):
        y += amp * np.sin(2 * np.pi * (i + 1.3) * x * rng.uniform(0.8, 1.6) + rng.uniform(0, 6.3))
    return y


def paint_landscape(w: int = 512, h: int = 384, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 HxWx3, relative inverse depth float32 HxW in 0..1, 1 = near)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    v = yy / h
    # sky: deep blue at the top to a warm haze at the horizon
    top, horizon = np.array([70, 130, 200], np.float32), np.array([252, 222, 180], np.float32)
    t = np.clip(v / 0.6, 0, 1)[..., None] ** 1.3
    img = top * (1 - t) + horizon * t
    depth = np.zeros((h, w), np.float32)
    # sun and its glow
    sx, sy, sr = 0.72 * w, 0.3 * h, 0.06 * w
    dist = np.hypot(xx - sx, yy - sy)
    glow = np.exp(-(dist / (4 * sr)) ** 2)[..., None]
    img = img * (1 - 0.45 * glow) + np.array([255, 236, 190], np.float32) * 0.45 * glow
    img[dist < sr] = (255, 246, 214)
    # soft clouds
    clouds = np.zeros((h, w), np.float32)
    for _ in range(7):
        cx, cy = rng.uniform(0, w), rng.uniform(0.08, 0.35) * h
        for _ in range(5):
            ax, ay = rng.uniform(0.05, 0.12) * w, rng.uniform(0.02, 0.05) * h
            ox, oy = rng.uniform(-0.08, 0.08) * w, rng.uniform(-0.02, 0.02) * h
            clouds = np.maximum(clouds, (((xx - cx - ox) / ax) ** 2 + ((yy - cy - oy) / ay) ** 2 < 1).astype(np.float32))
    clouds = cv2.GaussianBlur(clouds, (0, 0), 0.012 * w)[..., None]
    img = img * (1 - 0.8 * clouds) + np.array([255, 250, 244], np.float32) * 0.8 * clouds
    # layers, far to near: mountains, far hills, mid hills, meadow
    layers = [
        (_ridge(w, 0.52, (0.05, 0.025, 0.01), seed + 1), (118, 142, 178), (150, 170, 196), 0.15),
        (_ridge(w, 0.62, (0.03, 0.015, 0.008), seed + 2), (96, 150, 120), (130, 170, 130), 0.35),
        (_ridge(w, 0.72, (0.025, 0.012, 0.006), seed + 3), (88, 156, 84), (120, 176, 90), 0.6),
        (_ridge(w, 0.84, (0.015, 0.008), seed + 4), (112, 178, 76), (150, 196, 92), 0.85),
    ]
    for ridge, near_colour, far_colour, near in layers:
        mask = v >= ridge[None, :]
        shade = np.clip((v - ridge[None, :]) / 0.25, 0, 1)[..., None]
        colour = np.array(far_colour, np.float32) * (1 - shade) + np.array(near_colour, np.float32) * shade
        img = np.where(mask[..., None], colour, img)
        depth = np.where(mask, near + 0.15 * np.clip((v - ridge[None, :]) / 0.2, 0, 1), depth)
    # a tree on the mid hill: trunk and a round crown of overlapping leaf blobs
    tx, ty = 0.22 * w, 0.74 * h
    trunk = (np.abs(xx - tx) < 0.008 * w) & (yy > ty - 0.12 * h) & (yy < ty + 0.02 * h)
    img[trunk] = (92, 66, 46)
    crown = np.zeros((h, w), bool)
    for _ in range(14):
        cx, cy = tx + rng.normal(0, 0.035 * w), ty - 0.16 * h + rng.normal(0, 0.03 * h)
        crown |= np.hypot(xx - cx, yy - cy) < rng.uniform(0.025, 0.045) * w
    lit = np.clip((tx - xx) / (0.1 * w) + 0.5, 0, 1)[..., None]
    crown_colour = np.array([44, 104, 58], np.float32) * (1 - lit) + np.array([86, 150, 70], np.float32) * lit
    img = np.where(crown[..., None], crown_colour, img)
    depth = np.where(trunk | crown, 0.7, depth)
    # meadow strokes and a painterly finish
    noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.2)
    img += (noise * 10 * (v > 0.7))[..., None]
    # watercolour paper: a soft edge between layers and a faint grain
    img = cv2.GaussianBlur(img, (0, 0), 0.9)
    paper = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 2.0)
    img *= (1 + 0.04 * paper)[..., None]
    img = np.clip(img, 0, 255).astype(np.uint8)
    depth = cv2.GaussianBlur(depth, (0, 0), 1.0)
    return img, np.clip(depth, 0, 1).astype(np.float32)
