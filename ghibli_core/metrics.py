"""Temporal quality of any frame list: flicker, flow warping error, loop seam, colour drift.

- flicker (VBench form): mean over t of (255 - mean |f_t - f_{t-1}|) / 255; 1.0 is a still image.
- warp error (Lai et al. 2018): mean over t of the squared RGB error (0..1 scale) between f_t and
  f_{t-1} warped to it by optical flow, counted only where the flow is forward-backward consistent
  (occluded pixels have no true correspondence). Lower is smoother motion.
- loop seam: the same error from the last frame to the first: what the viewer sees when the loop restarts.
- colour drift: CIE LAB distance (Delta E of the mean colour) of each frame from frame 1; the max is reported.
"""
from __future__ import annotations

from typing import Any, Sequence

import cv2
import numpy as np

from .blend.flow import consistency, flow_pair, warp

METRIC_NAMES = ("flicker", "warp_error", "loop_seam", "color_drift")


def as_array(frame: Any) -> np.ndarray:
    """HxWx3 uint8 RGB from a PIL image or an array."""
    if isinstance(frame, np.ndarray):
        arr = frame
    else:
        arr = np.asarray(frame.convert("RGB"))
    if arr.dtype != np.uint8:
        arr = np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).round().astype(np.uint8)
    return np.ascontiguousarray(arr[..., :3])


def flicker(frames: Sequence[np.ndarray]) -> float:
    if len(frames) < 2:
        return 1.0
    diffs = [np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() for a, b in zip(frames, frames[1:])]
    return float((255.0 - np.mean(diffs)) / 255.0)


def pair_warp_error(prev: np.ndarray, cur: np.ndarray, method: str = "dis") -> float:
    """Masked mean squared error between `cur` and `prev` warped onto it."""
    f_cur_prev, f_prev_cur = flow_pair(cur, prev, method)
    mask = consistency(f_cur_prev, f_prev_cur)
    warped = warp(prev, f_cur_prev).astype(np.float32) / 255.0
    err = ((cur.astype(np.float32) / 255.0 - warped) ** 2).mean(-1)
    total = mask.sum()
    return float((err * mask).sum() / total) if total > 0 else float(err.mean())


def warp_error(frames: Sequence[np.ndarray], method: str = "dis") -> float:
    if len(frames) < 2:
        return 0.0
    return float(np.mean([pair_warp_error(a, b, method) for a, b in zip(frames, frames[1:])]))


def loop_seam(frames: Sequence[np.ndarray], method: str = "dis") -> float:
    return pair_warp_error(frames[-1], frames[0], method) if len(frames) >= 2 else 0.0


def color_drift_series(frames: Sequence[np.ndarray]) -> list[float]:
    means = [cv2.cvtColor(f, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32).mean(0) for f in frames]
    # OpenCV's 8-bit LAB scales L to 0..255; bring it back to 0..100 so the distance is a Delta E
    scale = np.array([100 / 255, 1, 1], np.float32)
    return [float(np.linalg.norm((m - means[0]) * scale)) for m in means]


def compute_metrics(frames: Sequence[Any], method: str = "dis") -> dict[str, Any]:
    """All metrics of `frames` as a JSON-ready dict (scalars plus the per-frame colour drift)."""
    arrays = [as_array(f) for f in frames]
    drift = color_drift_series(arrays)
    return {
        "frames": len(arrays),
        "flicker": round(flicker(arrays), 5),
        "warp_error": round(warp_error(arrays, method), 6),
        "loop_seam": round(loop_seam(arrays, method), 6),
        "color_drift": round(max(drift), 3),
        "color_drift_per_frame": [round(d, 3) for d in drift],
    }


def summary_line(metrics: dict[str, Any]) -> str:
    return (f"flicker {metrics['flicker']:.4f}, warp error {metrics['warp_error']:.5f}, "
            f"loop seam {metrics['loop_seam']:.5f}, colour drift {metrics['color_drift']:.2f} dE")


def table(metrics: dict[str, Any]) -> str:
    """A readable table for `--metrics`."""
    rows = [
        ("frames", f"{metrics['frames']}", ""),
        ("flicker", f"{metrics['flicker']:.5f}", "1.0 = no change between frames (VBench)"),
        ("warp error", f"{metrics['warp_error']:.6f}", "flow-masked MSE frame to frame, lower is smoother"),
        ("loop seam", f"{metrics['loop_seam']:.6f}", "the same, last frame to first"),
        ("colour drift", f"{metrics['color_drift']:.3f}", "max Delta E of mean LAB colour from frame 1"),
    ]
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"  {name:<{width}}  {value:>10}  {note}" for name, value, note in rows)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 images."""
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity (Wang et al. 2004; Gaussian window sigma 1.5), averaged over RGB channels."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    x, y = a.astype(np.float64), b.astype(np.float64)
    blur = lambda img: cv2.GaussianBlur(img, (11, 11), 1.5)  # noqa: E731
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())


def stored_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The figures a file's metadata keeps (the per-frame colour drift stays in NAME.metrics.json)."""
    return {k: v for k, v in metrics.items() if k != "color_drift_per_frame"}
