"""What a 3D warp gives, and the constants both of its paths share (warp.py: OpenCV/NumPy; warp_torch.py: torch)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

#: a source pixel pair whose images land further apart than this (relative to the local zoom) is a torn depth edge
TEAR = 2.0
ITERATIONS = 6
TOLERANCE = 1e-4  # relative depth error at which a ray has found the surface (a few thousandths of a pixel)


def mark_tears(x: Any, y: Any, zoom: Any, torn: Any, maximum: Callable[[Any, Any], Any]) -> Any:
    """`torn` (source pixels already unusable) with every pixel beside a tear added: a neighbour whose image lands more
    than TEAR pixels away, scaled by the local zoom. For NumPy arrays and torch tensors alike (`maximum` is the
    library's); the pixel positions x, y are where each source pixel lands."""
    dx, dy = x[:, 1:] - x[:, :-1], y[:, 1:] - y[:, :-1]
    bad_x = ~(dx * dx + dy * dy <= (TEAR * maximum(zoom[:, 1:], zoom[:, :-1])) ** 2)
    dx, dy = x[1:, :] - x[:-1, :], y[1:, :] - y[:-1, :]
    bad_y = ~(dx * dx + dy * dy <= (TEAR * maximum(zoom[1:, :], zoom[:-1, :])) ** 2)
    torn[:, 1:] |= bad_x
    torn[:, :-1] |= bad_x
    torn[1:, :] |= bad_y
    torn[:-1, :] |= bad_y
    return torn


@dataclass
class Warped:
    """The new view: `image` (HxWxC, the input's dtype), `depth` (HxW z in the new camera; revealed pixels filled
    from their neighbours), `revealed` (HxW bool), and where each pixel came from in the source (`source_x/y`,
    NaN where revealed)."""

    image: np.ndarray
    depth: np.ndarray
    revealed: np.ndarray
    source_x: np.ndarray
    source_y: np.ndarray
