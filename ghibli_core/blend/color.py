"""Colour coherence: pull a frame's colours toward a reference frame in CIE LAB, with a strength.

Frame-by-frame img2img drifts in colour (each step nudges the palette and the drift compounds); matching
every frame to frame 1 before it seeds the next step stops the compounding while keeping the content.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..errors import check_choice

from ..registry import COLOR_MODES  # noqa: E402 - the one definition


def _lab(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2LAB).astype(np.float32)


def _rgb(lab: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(lab, 0, 255).round().astype(np.uint8), cv2.COLOR_LAB2RGB)


def _match_meanstd(src: np.ndarray, ref: np.ndarray) -> np.ndarray:
    s_mean, s_std = src.reshape(-1, 3).mean(0), src.reshape(-1, 3).std(0) + 1e-6
    r_mean, r_std = ref.reshape(-1, 3).mean(0), ref.reshape(-1, 3).std(0) + 1e-6
    return (src - s_mean) * (r_std / s_std) + r_mean


def _match_histogram(src: np.ndarray, ref: np.ndarray) -> np.ndarray:
    out = np.empty_like(src)
    for c in range(3):
        s, r = src[..., c].ravel(), np.sort(ref[..., c].ravel())
        ranks = np.argsort(np.argsort(s, kind="stable"), kind="stable")
        # the reference value at the same quantile (reference may have another pixel count)
        out[..., c] = r[(ranks * (r.size - 1) / max(s.size - 1, 1)).round().astype(np.int64)].reshape(src.shape[:2])
    return out


def match_color(frame: np.ndarray, reference: np.ndarray, strength: float = 1.0, mode: str = "meanstd") -> np.ndarray:
    """`frame` with its LAB statistics moved `strength` (0..1) of the way to `reference`'s."""
    if strength <= 0:
        return frame
    check_choice("color-mode", mode, COLOR_MODES, "mode")
    src, ref = _lab(frame), _lab(reference)
    matched = _match_meanstd(src, ref) if mode == "meanstd" else _match_histogram(src, ref)
    return _rgb(src + min(strength, 1.0) * (matched - src))
