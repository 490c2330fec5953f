"""Temporal quality of any frame list: flicker, flow warping error, loop seam, colour drift.

- flicker (VBench form): mean over t of (255 - mean |f_t - f_{t-1}|) / 255; 1.0 is a still image.
- warp error (Lai et al. 2018): mean over t of the squared RGB error (0..1 scale) between f_t and
  f_{t-1} warped to it by optical flow, counted only where the flow is forward-backward consistent
  (occluded pixels have no true correspondence). Lower is smoother motion.
- loop seam: the same error from the last frame to the first: what the viewer sees when the loop restarts.
- colour drift: CIE LAB distance (Delta E of the mean colour) of each frame from frame 1; the max is reported.
- sharpness: variance of the Laplacian of the luminance (0..255 scale), per frame; long img2img chains lose it.
- contrast: RMS contrast, the standard deviation of the luminance on a 0..1 scale, per frame.
- saturation: mean HSV saturation (0..1), per frame.
  Each of those three is reported as its drift from frame 1: the last frame's value over the first's (1 = held).
- camera fidelity (with a camera): the optical flow measured between consecutive painted frames against the flow
  the camera path predicts from the depth (`camera_fidelity`): 1 - median end-point error / median predicted motion,
  so 1 means the picture moves exactly as the camera does, and a morph that ignores the camera scores near 0.
"""
from __future__ import annotations

from typing import Any, Sequence

import cv2
import numpy as np

from . import defaults
from .blend.flow import FlowCache, consistency, flow_pair, pixel_grid, squared_norm, warp
from .parallel import map_in_order

METRIC_NAMES = ("flicker", "warp_error", "loop_seam", "color_drift", "sharpness_drift", "contrast_drift", "saturation_drift")
#: luminance weights (ITU-R BT.601, as OpenCV's RGB2GRAY)
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def as_array(frame: Any) -> np.ndarray:
    """HxWx3 uint8 RGB from a PIL image or an array."""
    if isinstance(frame, np.ndarray):
        arr = frame
    else:
        arr = np.asarray(frame.convert("RGB"))
    if arr.dtype != np.uint8:
        arr = np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).round().astype(np.uint8)
    return np.ascontiguousarray(arr[..., :3])


def measured_copy(frame: np.ndarray, side: int | None) -> np.ndarray:
    """`frame` scaled (area-averaged) so its long side is at most `side`; as it is when smaller or `side` is None."""
    h, w = frame.shape[:2]
    if side is None or max(h, w) <= side:
        return frame
    scale = side / max(h, w)
    return cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def flicker(frames: Sequence[np.ndarray]) -> float:
    if len(frames) < 2:
        return 1.0
    diffs = [np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() for a, b in zip(frames, frames[1:])]
    return float((255.0 - np.mean(diffs)) / 255.0)


def pair_warp_error(prev: np.ndarray, cur: np.ndarray, method: str = "dis", flows: FlowCache | None = None) -> float:
    """Masked mean squared error between `cur` and `prev` warped onto it."""
    f_cur_prev, f_prev_cur = flow_pair(cur, prev, method, flows)
    mask = consistency(f_cur_prev, f_prev_cur)
    warped = warp(prev, f_cur_prev).astype(np.float32) / 255.0
    d = cur.astype(np.float32) / 255.0 - warped
    err = (d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1] + d[..., 2] * d[..., 2]) / 3  # = (d ** 2).mean(-1), faster
    total = mask.sum()
    return float((err * mask).sum() / total) if total > 0 else float(err.mean())


def _pair_errors(frames: Sequence[np.ndarray], method: str, seam: bool, flows: FlowCache | None = None) -> list[float]:
    """`pair_warp_error` of every consecutive pair (then of the last frame to the first, when `seam`), side by side."""
    pairs = list(zip(frames, frames[1:])) + ([(frames[-1], frames[0])] if seam and len(frames) >= 2 else [])
    return map_in_order(lambda pair: pair_warp_error(*pair, method, flows), pairs)


def warp_error(frames: Sequence[np.ndarray], method: str = "dis") -> float:
    if len(frames) < 2:
        return 0.0
    return float(np.mean(_pair_errors(frames, method, seam=False)))


def loop_seam(frames: Sequence[np.ndarray], method: str = "dis") -> float:
    return pair_warp_error(frames[-1], frames[0], method) if len(frames) >= 2 else 0.0


#: OpenCV's 8-bit LAB scales L to 0..255; this brings it back to 0..100 so a distance is a Delta E
_LAB_SCALE = np.array([100 / 255, 1, 1], np.float32)


def lab_mean(frame: np.ndarray) -> np.ndarray:
    """The mean colour of an RGB uint8 frame in OpenCV's 8-bit LAB."""
    return cv2.cvtColor(frame, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32).mean(0)


def delta_e(a: np.ndarray, b: np.ndarray) -> float:
    """CIE76 distance between two `lab_mean` colours."""
    return float(np.linalg.norm((a - b) * _LAB_SCALE))


def color_drift_series(frames: Sequence[np.ndarray]) -> list[float]:
    means = [lab_mean(f) for f in frames]
    return [delta_e(m, means[0]) for m in means]


def luminance(frame: np.ndarray) -> np.ndarray:
    """Float luminance of an RGB array (any scale; a single channel is returned as float)."""
    arr = np.asarray(frame, np.float32)
    return arr @ LUMA if arr.ndim == 3 else arr


def sharpness(frame: np.ndarray) -> float:
    """Variance of the Laplacian of the luminance: high for crisp detail, falling as a frame blurs."""
    return float(cv2.Laplacian(luminance(frame), cv2.CV_32F, ksize=1).var())


def rms_contrast(frame: np.ndarray) -> float:
    """Standard deviation of the luminance on a 0..1 scale."""
    return float((luminance(frame) / 255.0).std())


def saturation(frame: np.ndarray) -> float:
    """Mean HSV saturation, 0..1."""
    return float(cv2.cvtColor(as_array(frame), cv2.COLOR_RGB2HSV)[..., 1].mean() / 255.0)


def drift_ratio(series: Sequence[float]) -> float:
    """Last over first (1 = held); 1 for a single frame, and where the first is 0."""
    return float(series[-1] / series[0]) if len(series) > 1 and series[0] > 0 else 1.0


class MetricsStream:
    """The metrics of frames that arrive in batches (as a render makes them): each new pair's warp error and each new
    frame's figures are computed as it comes; `result()` adds the loop seam and gives what `compute_metrics` gives.
    Frames are measured on a copy whose long side is at most `side` (`defaults.METRICS_SIDE`; None: as they are)."""

    def __init__(self, method: str = "dis", flows: FlowCache | None = None, side: int | None = defaults.METRICS_SIDE) -> None:
        self.method, self.flows, self.side = method, flows, side
        self.size: tuple[int, int] | None = None
        self.first: np.ndarray | None = None
        self.last: np.ndarray | None = None
        self.count = 0
        self.errors: list[float] = []
        self.diffs: list[float] = []
        self.means: list[np.ndarray] = []
        self.per_frame: list[tuple[float, float, float]] = []

    def add(self, frames: Sequence[Any]) -> "MetricsStream":
        arrays = [measured_copy(as_array(f), self.side) for f in frames]
        if not arrays:
            return self
        self.size = self.size or (arrays[0].shape[1], arrays[0].shape[0])
        chain = ([self.last] if self.last is not None else []) + arrays  # the last batch's last frame leads on
        pairs = list(zip(chain, chain[1:]))
        self.errors += map_in_order(lambda pair: pair_warp_error(*pair, self.method, self.flows), pairs)
        self.diffs += [np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() for a, b in pairs]
        self.means += [lab_mean(a) for a in arrays]
        self.per_frame += map_in_order(lambda a: (sharpness(a), rms_contrast(a), saturation(a)), arrays)
        self.first = arrays[0] if self.first is None else self.first
        self.last = arrays[-1]
        self.count += len(arrays)
        return self

    def result(self) -> dict[str, Any]:
        """All metrics as a JSON-ready dict (scalars plus the per-frame series)."""
        seam = pair_warp_error(self.last, self.first, self.method, self.flows) if self.count >= 2 else None
        drift = [delta_e(m, self.means[0]) for m in self.means]
        sharp, contrast, sat = ([row[i] for row in self.per_frame] for i in range(3))
        return {
            "frames": self.count,
            "measured_size": list(self.size) if self.size else None,  # width, height of what was measured
            "flicker": round(float((255.0 - np.mean(self.diffs)) / 255.0) if self.diffs else 1.0, 5),
            "warp_error": round(float(np.mean(self.errors)) if seam is not None else 0.0, 6),
            "loop_seam": round(seam if seam is not None else 0.0, 6),
            "color_drift": round(max(drift), 3),
            "sharpness_drift": round(drift_ratio(sharp), 4),
            "contrast_drift": round(drift_ratio(contrast), 4),
            "saturation_drift": round(drift_ratio(sat), 4),
            "color_drift_per_frame": [round(d, 3) for d in drift],
            "sharpness_per_frame": [round(v, 2) for v in sharp],
            "contrast_per_frame": [round(v, 5) for v in contrast],
            "saturation_per_frame": [round(v, 5) for v in sat],
        }


def compute_metrics(frames: Sequence[Any], method: str = "dis", flows: FlowCache | None = None,
                    side: int | None = defaults.METRICS_SIDE) -> dict[str, Any]:
    """All metrics of `frames` as a JSON-ready dict (scalars plus the per-frame series); flows from `flows` when given;
    measured on copies of long side `side` at most (None: the frames as they are)."""
    return MetricsStream(method, flows, side).add(frames).result()


def camera_fidelity(pairs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]], fov: float,
                    method: str = "dis", flows: FlowCache | None = None,
                    side: int | None = defaults.METRICS_SIDE) -> dict[str, Any] | None:
    """How closely the picture follows the camera: for each (frame a, frame b, a's scene depth z, the camera step
    from a to b), the measured flow a -> b against the flow the step predicts from z, over pixels that stay in view
    and whose flow is consistent both ways. None when the camera did not move the picture (nothing to follow).
    Measured on copies of long side `side` at most (None: the frames as they are); the pixel figures are given in the
    frames' own pixels either way."""
    from .camera.geometry import Intrinsics
    from .camera.warp import forward_map

    def compare(pair: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> tuple[float, float] | None:
        """Median end-point error and median predicted motion of one pair (in the frames' own pixels); None when too
        little stays in view."""
        a, b, z, step = pair
        a, b = as_array(a), as_array(b)
        full_w = a.shape[1]
        a, b = measured_copy(a, side), measured_copy(b, side)
        h, w = a.shape[:2]
        if (h, w) != np.shape(z):
            z = cv2.resize(np.asarray(z, np.float32), (w, h), interpolation=cv2.INTER_AREA)
        scale = full_w / w
        x, y, qz = forward_map(np.asarray(z, np.float32), step, Intrinsics(w, h, fov))
        u, v = pixel_grid(h, w)
        predicted = np.stack([x - u, y - v], -1)
        measured, back = flow_pair(a, b, method, flows)  # a -> b: where each pixel of a is found in b
        valid = (qz > 0) & (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1) & consistency(measured, back).astype(bool)
        if valid.sum() < 0.05 * valid.size:
            return None
        return (scale * float(np.median(np.sqrt(squared_norm(measured - predicted))[valid])),
                scale * float(np.median(np.sqrt(squared_norm(predicted))[valid])))

    kept = [r for r in map_in_order(compare, pairs) if r is not None]
    errors, motions = [e for e, _ in kept], [m for _, m in kept]
    if not motions or max(motions) < 0.25:  # under a quarter pixel per painted frame: no camera motion to follow
        return None
    error, motion = float(np.mean(errors)), float(np.mean(motions))
    return {"camera_fidelity": round(max(0.0, 1.0 - error / motion), 4), "camera_flow_error_px": round(error, 3),
            "camera_motion_px": round(motion, 3), "camera_flow_error_per_pair": [round(e, 3) for e in errors]}


def summary_line(metrics: dict[str, Any]) -> str:
    seam = f"loop seam {metrics['loop_seam']:.5f}, " if "loop_seam" in metrics else ""  # a clip that does not loop has none
    line = (f"flicker {metrics['flicker']:.4f}, warp error {metrics['warp_error']:.5f}, {seam}"
            f"colour drift {metrics['color_drift']:.2f} dE, "
            f"sharpness x{metrics['sharpness_drift']:.2f}, contrast x{metrics['contrast_drift']:.2f}")
    if "camera_fidelity" in metrics:
        line += f", camera fidelity {metrics['camera_fidelity']:.2f}"
    return line


def table(metrics: dict[str, Any]) -> str:
    """A readable table for `--metrics`."""
    rows = [
        ("frames", f"{metrics['frames']}", ""),
        *([("measured at", "x".join(map(str, metrics["measured_size"])), "the frames' size, or the copy measured "
            f"(long side {defaults.METRICS_SIDE}; --metrics full: the frames themselves)")] if metrics.get("measured_size") else []),
        ("flicker", f"{metrics['flicker']:.5f}", "1.0 = no change between frames (VBench)"),
        ("warp error", f"{metrics['warp_error']:.6f}", "flow-masked MSE frame to frame, lower is smoother"),
        *([("loop seam", f"{metrics['loop_seam']:.6f}", "the same, last frame to first")] if "loop_seam" in metrics else []),
        ("colour drift", f"{metrics['color_drift']:.3f}", "max Delta E of mean LAB colour from frame 1"),
        ("sharpness", f"x{metrics['sharpness_drift']:.3f}", "last frame's Laplacian variance over the first's (1 = held)"),
        ("contrast", f"x{metrics['contrast_drift']:.3f}", "last frame's RMS contrast over the first's"),
        ("saturation", f"x{metrics['saturation_drift']:.3f}", "last frame's mean saturation over the first's"),
    ]
    if "temporal_warp_error" in metrics:
        rows.append(("temporal warp error", f"{metrics['temporal_warp_error']:.6f}",
                     f"output frame to frame carried by the source's motion (the source's own: {metrics['source_warp_error']:.6f})"))
    if "structure_fidelity" in metrics:
        rows.append(("structure fidelity", f"{metrics['structure_fidelity']:.4f}", "correlation of the output's edges with the source's (1 = the same)"))
    if "camera_fidelity" in metrics:
        rows.append(("camera fidelity", f"{metrics['camera_fidelity']:.3f}",
                     f"1 = moves as the camera path says (median flow error {metrics['camera_flow_error_px']:.2f} px "
                     f"of {metrics['camera_motion_px']:.2f} px)"))
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
    """The figures a file's metadata keeps (the per-frame series stay in NAME.metrics.json)."""
    return {k: v for k, v in metrics.items() if not k.endswith(("_per_frame", "_per_pair"))}
