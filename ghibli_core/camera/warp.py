"""Move an image to a new camera with its depth: the 3D warp behind every camera move.

    out = warp_view(image, z, step, fov)        # step: the new camera in the old one's axes (4x4)
    out.image, out.depth, out.revealed           # the new view, its z-depth, and the pixels nothing was seen at

How (exact on surfaces, occlusion-aware, sub-pixel):
1. Every source pixel is carried to the new view through its depth (forward map) and splatted into a z-buffer
   (each point covers the 2 x 2 pixels around where it lands, so zooms up to 2x leave no cracks): each new pixel gets
   the depth of the nearest surface that lands near it, and of the farthest one within a pixel (two candidates).
2. For each new pixel and candidate, the ray of that pixel is intersected with the source's depth surface by secant
   iterations on its depth (one bilinear sample of the source depth per iteration). Where it converges, the pixel's
   source position is exact to a small fraction of a pixel, wherever it is on the surface.
3. A pixel is *revealed* (no source) when no candidate converges to a point of the source frame that is not
   across a depth edge (where neighbouring source pixels are torn apart by the move), or nothing landed near it
   at all: behind a nearer surface in the source, or outside the source frame. Of two valid candidates the nearer
   one wins (occlusion).
4. The image is sampled bilinearly at the source positions; revealed pixels are filled by OpenCV inpainting
   (`fill=True`) or left black, and reported in `revealed` for the painter to repaint.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from .geometry import Intrinsics
from .warped import ITERATIONS, TOLERANCE, Warped, mark_tears

_ROW = 1024  # OpenCV's remap takes maps of fewer than 32767 rows and columns: long vectors are folded to this width


def _sample(img: np.ndarray, x: np.ndarray, y: np.ndarray, interpolation: int = cv2.INTER_LINEAR,
            border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """`img` at the float positions (x, y) of any shape (folded for OpenCV's map size limit)."""
    shape = x.shape
    n = x.size
    rows = max(1, -(-n // _ROW))
    maps = np.zeros((2, rows * _ROW), np.float32)
    maps[0, :n], maps[1, :n] = x.ravel(), y.ravel()
    out = cv2.remap(img, maps[0].reshape(rows, _ROW), maps[1].reshape(rows, _ROW), interpolation, borderMode=border)
    return out.reshape(rows * _ROW, *img.shape[2:])[:n].reshape(*shape, *img.shape[2:])


def forward_map(z: np.ndarray, step: np.ndarray, k: Intrinsics) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where every source pixel lands in the new view (x, y) and its depth there."""
    rx, ry = k.rays()
    r, t = step[:3, :3].astype(np.float32), step[:3, 3].astype(np.float32)
    px, py, pz = z * rx - t[0], z * ry - t[1], z - t[2]
    qx = r[0, 0] * px + r[1, 0] * py + r[2, 0] * pz
    qy = r[0, 1] * px + r[1, 1] * py + r[2, 1] * pz
    qz = r[0, 2] * px + r[1, 2] * py + r[2, 2] * pz
    x, y = k.project(qx, qy, qz)
    return x, y, qz


def _splat(x: np.ndarray, y: np.ndarray, depth: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """z-buffer: the smallest depth landing within a pixel of each target pixel (inf where none)."""
    h, w = shape
    front = np.isfinite(x) & np.isfinite(y) & (depth > 0) & (np.abs(x) < 4 * w) & (np.abs(y) < 4 * h)
    x0 = np.floor(np.where(front, x, -2)).astype(np.int32)
    y0 = np.floor(np.where(front, y, -2)).astype(np.int32)
    d = depth.ravel()
    buf = np.full(h * w + 1, np.inf, np.float32)  # the last slot takes everything that lands outside
    for dx in (0, 1):
        for dy in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            np.minimum.at(buf, np.where(ok, yi * w + xi, h * w).ravel(), d)
    return buf[:-1].reshape(h, w)


def _torn(x: np.ndarray, y: np.ndarray, z: np.ndarray, qz: np.ndarray) -> np.ndarray:
    """Source pixels next to a tear: a neighbour lands more than TEAR pixels away (scaled by the local zoom z/z')."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        zoom = np.where(qz > 0, z / qz, np.float32(np.inf)).astype(np.float32)
        return mark_tears(x, y, zoom, ~(qz > 0), np.maximum)


class _Ray:
    """Target pixels' rays and the step back to the source, for the secant search along them."""

    def __init__(self, inv_z: np.ndarray, step: np.ndarray, k: Intrinsics, rx: np.ndarray, ry: np.ndarray) -> None:
        self.inv_z, self.k, self.rx, self.ry = inv_z, k, rx, ry
        self.r = step[:3, :3].astype(np.float32)
        self.t = step[:3, 3].astype(np.float32)

    def surface_depth(self, zt: np.ndarray, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """g(zt) for the rays `sel`: the target depth of the source surface point on the source ray through the point
        at depth zt on each target ray; also where that is in the source (u, v) and the point's source depth."""
        r, t = self.r, self.t
        rx, ry = (self.rx, self.ry) if sel is None else (self.rx[sel], self.ry[sel])
        with np.errstate(invalid="ignore", over="ignore"):  # rays with no candidate carry inf/NaN and are dropped
            return self._surface(zt, rx, ry, r, t)

    def _surface(self, zt, rx, ry, r, t):
        tx, ty = zt * rx, zt * ry
        sx = r[0, 0] * tx + r[0, 1] * ty + r[0, 2] * zt + t[0]
        sy = r[1, 0] * tx + r[1, 1] * ty + r[1, 2] * zt + t[1]
        sz = r[2, 0] * tx + r[2, 1] * ty + r[2, 2] * zt + t[2]
        u, v = self.k.project(sx, sy, sz)
        with np.errstate(invalid="ignore", divide="ignore"):
            # inverse depth is linear across the image of a plane, so its bilinear sample is exact there
            scale = 1.0 / (_sample(self.inv_z, u, v) * sz)  # the surface point is on the same source ray, at depth zs
        g = r[0, 2] * (sx * scale - t[0]) + r[1, 2] * (sy * scale - t[1]) + r[2, 2] * (sz * scale - t[2])
        return g, u, v, sz

    def solve(self, z0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Secant iterations from z0, each ray until it converges: (depth, u, v, converged)."""
        n = z0.size
        depth = np.full(n, np.nan, np.float32)
        us, vs = depth.copy(), depth.copy()
        converged = np.zeros(n, bool)
        sel = np.arange(n)
        z_prev = z0
        g, u, v, sz = self.surface_depth(z_prev, None)  # every ray once; then only the ones still searching
        h_prev = g - z_prev
        z_cur = g
        for _ in range(ITERATIONS + 1):
            with np.errstate(invalid="ignore"):
                done = (np.abs(h_prev) <= TOLERANCE * np.abs(z_prev)) & (sz > 0) & (z_prev > 0)
            idx = sel[done]
            depth[idx], us[idx], vs[idx], converged[idx] = g[done], u[done], v[done], True
            keep = ~done & np.isfinite(z_cur) & (z_cur > 0)
            sel, z_prev, h_prev, z_cur = sel[keep], z_prev[keep], h_prev[keep], z_cur[keep]
            if not sel.size:
                break
            g, u, v, sz = self.surface_depth(z_cur, sel)
            h = g - z_cur
            with np.errstate(invalid="ignore", divide="ignore"):
                denom = h - h_prev
                z_next = np.where(np.abs(denom) > 1e-12 * np.abs(z_cur), z_cur - h * (z_cur - z_prev) / denom, g)
            z_next = np.where(np.isfinite(z_next) & (z_next > 0), z_next, g)
            z_prev, h_prev, z_cur = z_cur, h, z_next
        return depth, us, vs, converged


def warp_view(image: np.ndarray, z: np.ndarray, step: np.ndarray, fov: float, *, fill: bool = True,
              device: Any = None) -> Warped:
    """`image` (HxW or HxWxC) with z-depth `z` (HxW, > 0) seen from the camera `step` (4x4, the new camera in the
    old one's axes) with the horizontal field of view `fov` (degrees). With a torch `device` the same warp runs there
    in torch (warp_torch.py; a GPU run's painting device, see `device.work_device`)."""
    if device is not None:
        from .warp_torch import warp_view_torch

        return warp_view_torch(image, z, step, fov, fill=fill, device=device)
    h, w = z.shape
    z = np.ascontiguousarray(z, dtype=np.float32)
    k = Intrinsics(w, h, fov)
    if np.allclose(step, np.eye(4)):
        revealed = np.zeros((h, w), bool)
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        return Warped(image.copy(), z.copy(), revealed, xs, ys)
    x, y, qz = forward_map(z, step, k)
    near = _splat(x, y, qz, (h, w))
    finite = np.isfinite(near)
    far = cv2.dilate(np.where(finite, near, 0).astype(np.float32), np.ones((3, 3), np.uint8))  # farthest within a pixel
    far[far <= 0] = np.inf
    torn = _torn(x, y, z, qz).astype(np.float32)
    rx, ry = k.rays()
    inv_z = 1.0 / z

    best_z = np.full((h, w), np.nan, np.float32)
    best_u = np.full((h, w), np.nan, np.float32)
    best_v = np.full((h, w), np.nan, np.float32)
    for candidate in (near, far):  # the nearer candidate first: where it is valid, it occludes the farther
        todo = (np.isnan(best_z) & np.isfinite(candidate)).ravel()
        if not todo.any():
            continue
        if todo.all():  # every pixel: plain views, no gathering copies
            ray = _Ray(inv_z, step, k, rx.ravel(), ry.ravel())
            zt, u, v, ok = ray.solve(candidate.ravel())
            idx_all = np.arange(todo.size)
        else:
            idx_all = np.flatnonzero(todo)
            ray = _Ray(inv_z, step, k, rx.ravel()[idx_all], ry.ravel()[idx_all])
            zt, u, v, ok = ray.solve(candidate.ravel()[idx_all])
        with np.errstate(invalid="ignore"):
            ok &= (u >= -0.5) & (u <= w - 0.5) & (v >= -0.5) & (v <= h - 0.5)
        ok &= _sample(torn, u, v) < 1e-3  # (replicated border: inside the frame by the check above)
        idx = idx_all[ok]
        # ravel(): a view of these contiguous arrays; assigning through it is ~10x faster than through .flat
        best_z.ravel()[idx], best_u.ravel()[idx], best_v.ravel()[idx] = zt[ok], u[ok], v[ok]
    revealed = np.isnan(best_z)

    su = np.where(revealed, 0, best_u).astype(np.float32)
    sv = np.where(revealed, 0, best_v).astype(np.float32)
    out = cv2.remap(image, su, sv, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    depth = np.where(revealed, 0, best_z).astype(np.float32)
    if revealed.any():
        depth = fill_depth(depth, revealed)
        if fill:
            out = fill_image(out, revealed)
        else:
            out[revealed] = 0
    return Warped(out, depth, revealed, best_u, best_v)


def fill_image(image: np.ndarray, holes: np.ndarray, radius: int = 3, device: Any = None) -> np.ndarray:
    """Revealed pixels painted in from their surroundings (OpenCV's Telea inpainting; with a torch `device`,
    warp_torch's push-pull fill there): a plausible start for img2img."""
    if not holes.any():
        return image
    if device is not None:
        from .warp_torch import fill_image_torch

        return fill_image_torch(image, holes, device)
    mask = holes.astype(np.uint8) * 255
    if image.dtype == np.uint8:
        return cv2.inpaint(np.ascontiguousarray(image), mask, radius, cv2.INPAINT_TELEA)
    return cv2.inpaint(np.ascontiguousarray(image.astype(np.float32)), mask, radius, cv2.INPAINT_TELEA).astype(image.dtype)


def fill_depth(depth: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """Depth at revealed pixels from the nearest known pixel, leaning to the farther side (what is revealed lies
    behind an edge)."""
    if holes.all():
        return depth.copy()
    _, labels = cv2.distanceTransformWithLabels(holes.astype(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL)
    known = ~holes
    lookup = np.zeros(int(labels.max()) + 1, np.float32)
    lookup[labels[known]] = depth[known]
    nearest = lookup[labels]
    farther = cv2.dilate(nearest, np.ones((5, 5), np.uint8))
    return np.where(holes, farther, depth).astype(np.float32)
