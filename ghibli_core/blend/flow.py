"""Dense optical flow (OpenCV DIS or Farneback), backward warping and forward-backward consistency.

Conventions: frames are HxWx3 uint8 RGB arrays; a flow `F_ab` is HxWx2 float32 such that
`a(x) ~ b(x + F_ab(x))`, so `warp(b, F_ab) ~ a`.
"""
from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict

import cv2
import numpy as np

from ..timing import stage

from ..errors import check_choice

from ..registry import FLOW_METHODS  # noqa: E402 - the one definition


_per_thread = threading.local()
#: The shortest side OpenCV's DIS takes safely (found by trying every shape: shorter ones crash or are refused).
DIS_MIN_SIDE = 16


def _dis(preset: int):
    """One DIS object per preset and thread: `calc` keeps working buffers in the object, so threads must not share it."""
    cache = _per_thread.__dict__.setdefault("dis", {})
    if preset not in cache:
        cache[preset] = cv2.DISOpticalFlow_create(preset)
    return cache[preset]


def _gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame


def compute_flow(a: np.ndarray, b: np.ndarray, method: str = "dis") -> np.ndarray:
    """Flow from `a` to `b` (see the module docstring for the convention)."""
    check_choice("flow", method, FLOW_METHODS, "method")
    ga, gb = _gray(a), _gray(b)
    if method == "dis":
        # MEDIUM: on this footage about 1 dB better than FAST at a few ms more per pair (DESIGN.md)
        dis = _dis(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        # OpenCV's DIS refuses a picture with both sides under 12 px and crashes the process on one with a side under
        # 16 (a thumbnail, a 4000x12 strip): such a side gets its edge repeated up to 16 px and the flow is cropped
        # back, by an object of its own (one that has seen so small a picture gives other flows on larger ones after it)
        h, w = ga.shape
        if min(h, w) < DIS_MIN_SIDE:
            ga, gb = (cv2.copyMakeBorder(g, 0, max(0, DIS_MIN_SIDE - h), 0, max(0, DIS_MIN_SIDE - w), cv2.BORDER_REPLICATE)
                      for g in (ga, gb))
            dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        flow = dis.calc(ga, gb, None)[:h, :w]
    else:
        flow = cv2.calcOpticalFlowFarneback(ga, gb, None, pyr_scale=0.5, levels=5, winsize=21, iterations=5,
                                            poly_n=7, poly_sigma=1.5, flags=cv2.OPTFLOW_FARNEBACK_GAUSSIAN)
    return flow.astype(np.float32)


@functools.lru_cache(maxsize=8)
def pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """x and y coordinates of every pixel (cached per size: every warp of an animation needs the same grid)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    xs.flags.writeable = ys.flags.writeable = False
    return xs, ys


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample `image` at x + flow(x) (bilinear, edges replicated)."""
    h, w = flow.shape[:2]
    xs, ys = pixel_grid(h, w)
    return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def squared_norm(v: np.ndarray) -> np.ndarray:
    """|v|^2 of every vector of an HxWx2 field: the same numbers as `(v ** 2).sum(-1)`, ~9x faster (NumPy reduces a
    length-2 last axis slowly, and this runs several times per frame pair)."""
    x, y = v[..., 0], v[..., 1]
    return x * x + y * y


def consistency(fwd: np.ndarray, bwd: np.ndarray) -> np.ndarray:
    """1 where following `fwd` then `bwd` comes back (Sundaram et al. 2010), else 0, as float32 HxW.

    A pixel that fails is occluded in the other frame (or its flow is wrong): its colour should not be trusted.
    """
    bwd_at = warp(bwd, fwd)
    round_trip = fwd + bwd_at
    err = squared_norm(round_trip)
    bound = 0.01 * (squared_norm(fwd) + squared_norm(bwd_at)) + 0.5
    return (err <= bound).astype(np.float32)


def flow_pair(a: np.ndarray, b: np.ndarray, method: str = "dis", flows: "FlowCache | None" = None) -> tuple[np.ndarray, np.ndarray]:
    """Flows a->b and b->a (from `flows` when it has them: each pair is computed once per run)."""
    if flows is not None:
        return flows.pair(a, b, method)
    return compute_flow(a, b, method), compute_flow(b, a, method)


def _digest(frame: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(frame).data, digest_size=16, person=str(frame.shape).encode()[:16]).digest()


class FlowCache:
    """The optical flows of one run's frame pairs, each pair computed once and shared by every stage that needs it
    (cadence fill, in-betweens, camera fidelity, metrics; a clip's propagation and its warp error).

    Pairs are found by the frames' content, in either order (a->b and b->a are the same two flows). Safe across
    threads: a pair asked for by two threads at once is computed by one while the other waits. At most `max_bytes` of
    flows are kept (least recently used go first), so a long run does not grow without bound.
    """

    def __init__(self, max_bytes: int = 512 * 2**20) -> None:
        self.max_bytes = max_bytes
        self.computed = 0  # pairs computed (two flows each)
        self.reused = 0  # pairs served from the cache
        self._flows: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._pending: dict[tuple, threading.Event] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def pair(self, a: np.ndarray, b: np.ndarray, method: str = "dis") -> tuple[np.ndarray, np.ndarray]:
        """(flow a->b, flow b->a)."""
        da, db = _digest(a), _digest(b)
        key, swapped = ((da, db, method), False) if da <= db else ((db, da, method), True)
        while True:
            with self._lock:
                if key in self._flows:
                    self._flows.move_to_end(key)
                    self.reused += 1
                    fwd, bwd = self._flows[key]
                    return (bwd, fwd) if swapped else (fwd, bwd)
                waiting = self._pending.get(key)
                if waiting is None:
                    self._pending[key] = threading.Event()
                    break
            waiting.wait()  # another thread computes this pair; then it is in the cache (or evicted: compute it here)
        try:
            first, second = (b, a) if swapped else (a, b)
            with stage("flow"):
                flows = compute_flow(first, second, method), compute_flow(second, first, method)
            with self._lock:
                self.computed += 1
                self._flows[key] = flows
                self._bytes += flows[0].nbytes + flows[1].nbytes
                while self._bytes > self.max_bytes and len(self._flows) > 1:
                    _, (f, g) = self._flows.popitem(last=False)
                    self._bytes -= f.nbytes + g.nbytes
        finally:
            with self._lock:
                self._pending.pop(key).set()
        return (flows[1], flows[0]) if swapped else flows
