"""Synthetic moving scenes with known true in-between frames, for tests and `bench/bench_blend.py`.

A painted-looking texture (smooth colour fields, soft blobs, hard-edged shapes, fine grain) moves by an
exactly known transform, so the frame at any time s in [0, 1] can be rendered and compared with what
an interpolator guesses from s = 0 and s = 1.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import check_choice

SCENES = ("translate", "rotate", "zoom", "parallax")


def texture(size: int, seed: int) -> np.ndarray:
    """A size x size RGB uint8 texture with structure at several scales."""
    rng = np.random.default_rng(seed)
    img = np.zeros((size, size, 3), np.float32)
    for scale, amp in ((size / 4, 90), (size / 16, 50), (size / 64, 25), (size / 256, 12)):
        noise = rng.normal(size=(size, size, 3)).astype(np.float32)
        noise = cv2.GaussianBlur(noise, (0, 0), scale)
        img += amp * noise / (noise.std() + 1e-6)
    img += 128
    for _ in range(size // 12):  # hard-edged shapes: edges are where interpolators fail
        colour = tuple(float(c) for c in rng.integers(0, 256, 3))
        c = tuple(int(v) for v in rng.integers(0, size, 2))
        if rng.random() < 0.5:
            cv2.circle(img, c, int(rng.integers(size // 40 + 2, size // 10 + 3)), colour, -1, cv2.LINE_AA)
        else:
            d = rng.integers(size // 40 + 2, size // 8 + 3, 2)
            cv2.rectangle(img, c, (int(c[0] + d[0]), int(c[1] + d[1])), colour, -1, cv2.LINE_AA)
    return np.clip(img, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Scene:
    """`kind` of motion over s in [0, 1] at `size`, with `amount` pixels (or degrees / scale) of motion."""

    kind: str
    size: int = 256
    seed: int = 0
    amount: float = 1.0

    def __post_init__(self) -> None:
        check_choice("scene", self.kind, SCENES, "scene")

    def _layers(self):
        big = 2 * self.size
        bg = texture(big, self.seed)
        fg = texture(big, self.seed + 1)
        yy, xx = np.mgrid[0:big, 0:big]
        r = self.size * 0.22
        mask = (((xx - big / 2) ** 2 + ((yy - big / 2) * 1.3) ** 2) < r * r).astype(np.float32)
        return bg, fg, cv2.GaussianBlur(mask, (0, 0), 1.0)

    def frame(self, s: float) -> np.ndarray:
        """The scene at time s (exact, rendered from the source textures)."""
        if not hasattr(self, "_cache"):
            object.__setattr__(self, "_cache", self._layers())
        bg, fg, mask = self._cache
        big, n = bg.shape[0], self.size
        centre = (big / 2, big / 2)
        a = self.amount
        if self.kind == "translate":
            m = np.float32([[1, 0, 18 * a * s], [0, 1, 9 * a * s]])
        elif self.kind == "rotate":
            m = cv2.getRotationMatrix2D(centre, 8 * a * s, 1.0)
        elif self.kind == "zoom":
            m = cv2.getRotationMatrix2D(centre, 0, 1.0 + 0.15 * a * s)
        else:
            m = np.float32([[1, 0, 6 * a * s], [0, 1, 0]])
        img = cv2.warpAffine(bg, m, (big, big), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        if self.kind == "parallax":  # a near layer moving faster than the far one, occluding it
            mf = np.float32([[1, 0, -22 * a * s], [0, 1, 4 * a * s]])
            f = cv2.warpAffine(fg, mf, (big, big), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
            mk = cv2.warpAffine(mask, mf, (big, big), flags=cv2.INTER_LINEAR)[..., None]
            img = (img * (1 - mk) + f * mk).round().astype(np.uint8)
        o = (big - n) // 2
        return np.ascontiguousarray(img[o:o + n, o:o + n])

    def frames(self, count: int) -> list[np.ndarray]:
        """`count` frames evenly over s in [0, 1]."""
        return [self.frame(i / max(count - 1, 1)) for i in range(count)]
