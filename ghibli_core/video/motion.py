"""The source's motion, and painted pictures carried along it (geometry only: no model).

Every step follows the *source's* optical flow (DIS), computed once per frame pair (`FlowCache`): a painted frame is
carried to another source frame by backward warping with the flow from that frame to it, trusted only where the flow is
forward-backward consistent (the occlusion test Rerender-A-Video and FRESCO use: a pixel is inconsistent when
|f_fw + f_bw(x + f_fw)| > 0.01 (|f_fw| + |f_bw(x + f_fw)|) + 0.5 px).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..blend.color import match_color
from ..blend.flow import FlowCache, flow_pair, squared_norm, warp

#: Below this share of consistent pixels between two consecutive source frames, the picture changed entirely: a cut.
CUT_CONSISTENT = 0.2


def consistent(fwd: np.ndarray, bwd: np.ndarray) -> np.ndarray:
    """Pixels whose flow comes back (the GMFlow occlusion test), as a bool HxW array."""
    bwd_at = warp(bwd, fwd)
    err = np.sqrt(squared_norm(fwd + bwd_at))
    bound = 0.01 * (np.sqrt(squared_norm(fwd)) + np.sqrt(squared_norm(bwd_at))) + 0.5
    return err <= bound


@dataclass
class Carried:
    """A picture carried to a source frame: the warped picture and where it can be trusted."""

    image: np.ndarray
    valid: np.ndarray  # bool HxW

    @property
    def share(self) -> float:
        return float(self.valid.mean())


def carry(picture: np.ndarray, picture_source: np.ndarray, target_source: np.ndarray, flows: FlowCache,
          method: str = "dis") -> Carried:
    """`picture` (painted over `picture_source`) seen at `target_source`: each target pixel takes the picture's pixel the
    source's flow says it came from, where that flow is consistent both ways."""
    to_picture, from_picture = flow_pair(target_source, picture_source, method, flows)  # target -> picture, back
    return Carried(warp(picture, to_picture), consistent(to_picture, from_picture))


def change(a: np.ndarray, b: np.ndarray, flows: FlowCache, method: str = "dis") -> tuple[float, float]:
    """How much source frame `b` differs from `a`: (share of inconsistent pixels, mean flow in pixels)."""
    fwd, bwd = flow_pair(a, b, method, flows)
    return 1.0 - float(consistent(fwd, bwd).mean()), float(np.sqrt(squared_norm(fwd)).mean())


def propagate(t_source: np.ndarray, before: tuple[np.ndarray, np.ndarray] | None, after: tuple[np.ndarray, np.ndarray] | None,
              alpha: float, flows: FlowCache, method: str = "dis") -> np.ndarray:
    """A frame between two painted keyframes, from both: each (painted, its source) is carried to `t_source` along the
    source's motion and weighted by time (`alpha` is how far t lies toward `after`) and by its consistency; what neither
    explains takes the nearer keyframe's colours transferred onto the source (no raw source pixel reaches the output)."""
    sides = [(p, s, 1.0 - alpha) for p, s in ([before] if before else [])] + [(p, s, alpha) for p, s in ([after] if after else [])]
    if not sides:
        raise ValueError("propagate needs a painted keyframe on at least one side")
    acc = np.zeros(t_source.shape, np.float32)
    weight = np.zeros(t_source.shape[:2], np.float32)
    for painted, source, w in sides:
        carried = carry(painted, source, t_source, flows, method)
        soft = cv2.GaussianBlur(carried.valid.astype(np.float32), (0, 0), 1.0)  # no hard seams between the sides
        wk = max(w, 1e-3) * soft
        acc += wk[..., None] * carried.image.astype(np.float32)
        weight += wk
    nearer = sides[0] if len(sides) == 1 or alpha < 0.5 else sides[1]
    recoloured = match_color(t_source, nearer[0], 1.0).astype(np.float32)  # the source in the keyframe's palette
    fill = np.clip(1.0 - weight, 0.0, 1.0)  # where the carried pictures hold little weight
    out = (acc + fill[..., None] * recoloured) / (weight + fill)[..., None]
    return np.clip(out, 0, 255).round().astype(np.uint8)


def source_warp_error(prev_out: np.ndarray, out: np.ndarray, prev_src: np.ndarray, src: np.ndarray, flows: FlowCache,
                      method: str = "dis") -> float:
    """Lai et al.'s warp error measured with the source's motion: output frame t+1 against output frame t carried by the
    source's flow, on the source's consistent pixels (0..1 scale, squared)."""
    to_prev, from_prev = flow_pair(src, prev_src, method, flows)
    mask = consistent(to_prev, from_prev)
    d = out.astype(np.float32) / 255.0 - warp(prev_out, to_prev).astype(np.float32) / 255.0
    err = (d * d).mean(-1)
    return float(err[mask].mean()) if mask.any() else float(err.mean())
