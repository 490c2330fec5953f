"""The 3D warp of warp.py in torch, on the painting device: what a GPU run moves its frames with.

    out = warp_view_torch(image, z, step, fov, device="cuda")   # the same Warped as warp_view, computed on the device

The same four steps as `warp.warp_view` (forward map and z-buffered splat, the two candidates per pixel, the secant
search along each ray, torn depth edges and the revealed mask), written as whole-frame tensor operations: the splat is
a scatter-min, the dilation a max-pool, every bilinear sample `grid_sample` (exact bilinear, where OpenCV's remap rounds
positions to 1/32 px, so the two paths agree to a small fraction of a pixel, not bit for bit), and the secant search
runs a fixed number of iterations on every ray with converged rays frozen instead of gathering the rest (no host sync).

The revealed areas are filled on the device too, by push-pull (each level of a pyramid fills its holes from the
coarser level): depth from the farther side, as `warp.fill_depth` leans, and the image by an average of what surrounds
each hole where `warp.fill_image` uses OpenCV's Telea inpainting; both are a start for img2img, which repaints them.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .geometry import Intrinsics
from .warped import ITERATIONS, TOLERANCE, Warped, mark_tears


def _torch():
    import torch

    return torch


def _sample(img: Any, x: Any, y: Any) -> Any:
    """`img` (C x H x W) bilinearly at float pixel positions (x, y) of one shape, edges replicated: C x shape."""
    torch = _torch()
    c, h, w = img.shape
    gx = x.reshape(1, 1, -1) * (2.0 / max(w - 1, 1)) - 1.0
    gy = y.reshape(1, 1, -1) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], -1)
    out = torch.nn.functional.grid_sample(img[None], grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out.reshape(c, *x.shape)


def _rays(k: Intrinsics, device: Any) -> tuple[Any, Any]:
    torch = _torch()
    rx, ry = k.rays()
    return torch.tensor(rx, device=device), torch.tensor(ry, device=device)


def _project(k: Intrinsics, x: Any, y: Any, z: Any) -> tuple[Any, Any]:
    return k.f * x / z + k.cx, k.f * y / z + k.cy


def _splat(x: Any, y: Any, depth: Any, h: int, w: int) -> Any:
    """z-buffer: the smallest depth landing within a pixel of each target pixel (inf where none)."""
    torch = _torch()
    front = torch.isfinite(x) & torch.isfinite(y) & (depth > 0) & (x.abs() < 4 * w) & (y.abs() < 4 * h)
    x0 = torch.floor(torch.where(front, x, torch.full_like(x, -2))).to(torch.int64)
    y0 = torch.floor(torch.where(front, y, torch.full_like(y, -2))).to(torch.int64)
    buf = torch.full((h * w + 1,), math.inf, dtype=torch.float32, device=depth.device)  # the last slot: outside
    d = depth.reshape(-1)
    for dx in (0, 1):
        for dy in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            buf.scatter_reduce_(0, torch.where(ok, yi * w + xi, torch.full_like(xi, h * w)).reshape(-1), d, reduce="amin")
    return buf[:-1].reshape(h, w)


def _torn(x: Any, y: Any, z: Any, qz: Any) -> Any:
    """Source pixels next to a tear (as warp._torn)."""
    torch = _torch()
    zoom = torch.where(qz > 0, z / qz, torch.full_like(z, math.inf))
    return mark_tears(x, y, zoom, ~(qz > 0), torch.maximum)


def _solve(z0: Any, inv_z: Any, r: Any, t: Any, k: Intrinsics, rx: Any, ry: Any) -> tuple[Any, Any, Any, Any]:
    """Secant iterations from z0 along every target ray (as warp._Ray.solve): (depth, u, v, converged)."""
    torch = _torch()

    def surface(zt: Any) -> tuple[Any, Any, Any, Any]:
        tx, ty = zt * rx, zt * ry
        sx = r[0, 0] * tx + r[0, 1] * ty + r[0, 2] * zt + t[0]
        sy = r[1, 0] * tx + r[1, 1] * ty + r[1, 2] * zt + t[1]
        sz = r[2, 0] * tx + r[2, 1] * ty + r[2, 2] * zt + t[2]
        u, v = _project(k, sx, sy, sz)
        # rays without a usable point sample anywhere harmless; they are masked out below
        scale = 1.0 / (_sample(inv_z, torch.nan_to_num(u, 0.0, 0.0, 0.0), torch.nan_to_num(v, 0.0, 0.0, 0.0))[0] * sz)
        g = r[0, 2] * (sx * scale - t[0]) + r[1, 2] * (sy * scale - t[1]) + r[2, 2] * (sz * scale - t[2])
        return g, u, v, sz

    depth = torch.full_like(z0, math.nan)
    us, vs = depth.clone(), depth.clone()
    converged = torch.zeros_like(z0, dtype=torch.bool)
    active = torch.isfinite(z0)
    z_prev = z0
    g, u, v, sz = surface(z_prev)
    h_prev = g - z_prev
    z_cur = g
    for i in range(ITERATIONS + 1):
        done = active & (h_prev.abs() <= TOLERANCE * z_prev.abs()) & (sz > 0) & (z_prev > 0)
        depth, us, vs = torch.where(done, g, depth), torch.where(done, u, us), torch.where(done, v, vs)
        converged |= done
        active = active & ~done & torch.isfinite(z_cur) & (z_cur > 0)
        if i == ITERATIONS:
            break  # (the serial search also evaluates once more here, but never looks at the result)
        z_safe = torch.where(active, z_cur, torch.ones_like(z_cur))
        g, u, v, sz = surface(z_safe)
        h = g - z_safe
        denom = h - h_prev
        z_next = torch.where(denom.abs() > 1e-12 * z_safe.abs(), z_safe - h * (z_safe - z_prev) / denom, g)
        z_next = torch.where(torch.isfinite(z_next) & (z_next > 0), z_next, g)
        z_prev, h_prev, z_cur = z_safe, h, z_next
    return depth, us, vs, converged


def _push_pull(values: Any, known: Any, reduce: str) -> Any:
    """Holes (`known` False) of C x H x W `values` filled from coarser levels: an average of the known pixels ("mean")
    or their largest value ("max") over each 2 x 2 block, level by level, until every hole has a value."""
    torch = _torch()
    f = torch.nn.functional
    if bool(known.all()) or not bool(known.any()):
        return values
    c, h, w = values.shape
    if reduce == "max":
        masked = torch.where(known, values, torch.full_like(values, -math.inf))
        coarse = f.max_pool2d(masked[None], 2, ceil_mode=True)[0]
        coarse_known = torch.isfinite(coarse)
        coarse = torch.where(coarse_known, coarse, torch.zeros_like(coarse))
    else:
        weight = known.to(values.dtype)
        total = f.avg_pool2d((values * weight)[None], 2, ceil_mode=True)[0]
        count = f.avg_pool2d(weight[None], 2, ceil_mode=True)[0]
        coarse_known = count > 0
        coarse = torch.where(coarse_known, total / count.clamp_min(1e-12), torch.zeros_like(total))
    coarse = _push_pull(coarse, coarse_known.expand_as(coarse), reduce)
    up = coarse.repeat_interleave(2, 1).repeat_interleave(2, 2)[:, :h, :w]
    return torch.where(known, values, up)


def warp_view_torch(image: np.ndarray, z: np.ndarray, step: np.ndarray, fov: float, *, fill: bool = True,
                    device: Any = "cpu") -> Warped:
    """`warp.warp_view` computed with torch on `device` (arrays in, arrays out; see the module docstring)."""
    torch = _torch()
    h, w = z.shape
    k = Intrinsics(w, h, fov)
    if np.allclose(step, np.eye(4)):
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        return Warped(image.copy(), np.ascontiguousarray(z, np.float32).copy(), np.zeros((h, w), bool), xs, ys)
    with torch.inference_mode():
        zt = torch.tensor(np.asarray(z, np.float32), device=device)
        m = torch.from_numpy(np.asarray(step, np.float32)).to(device)
        r, t = m[:3, :3], m[:3, 3]
        rx, ry = _rays(k, device)
        px, py, pz = zt * rx - t[0], zt * ry - t[1], zt - t[2]
        qx = r[0, 0] * px + r[1, 0] * py + r[2, 0] * pz
        qy = r[0, 1] * px + r[1, 1] * py + r[2, 1] * pz
        qz = r[0, 2] * px + r[1, 2] * py + r[2, 2] * pz
        x, y = _project(k, qx, qy, qz)
        near = _splat(x, y, qz, h, w)
        finite = torch.isfinite(near)
        far = torch.nn.functional.max_pool2d(torch.where(finite, near, torch.zeros_like(near))[None, None], 3, 1, 1)[0, 0]
        far = torch.where(far > 0, far, torch.full_like(far, math.inf))
        torn = _torn(x, y, zt, qz).to(torch.float32)[None]
        inv_z = (1.0 / zt)[None]

        best_z = torch.full((h, w), math.nan, device=zt.device)
        best_u, best_v = best_z.clone(), best_z.clone()
        for candidate in (near, far):  # the nearer candidate first: where it is valid, it occludes the farther
            todo = torch.isnan(best_z) & torch.isfinite(candidate)
            start = torch.where(todo, candidate, torch.full_like(candidate, math.nan))
            depth, u, v, ok = _solve(start, inv_z, r, t, k, rx, ry)
            ok &= (u >= -0.5) & (u <= w - 0.5) & (v >= -0.5) & (v <= h - 0.5)
            ok &= _sample(torn, torch.nan_to_num(u, 0.0), torch.nan_to_num(v, 0.0))[0] < 1e-3
            best_z, best_u, best_v = torch.where(ok, depth, best_z), torch.where(ok, u, best_u), torch.where(ok, v, best_v)
        revealed = torch.isnan(best_z)

        su = torch.where(revealed, torch.zeros_like(best_u), best_u)
        sv = torch.where(revealed, torch.zeros_like(best_v), best_v)
        src = torch.tensor(np.asarray(image), device=device)
        planar = src.reshape(h, w, -1).permute(2, 0, 1).to(torch.float32)
        out = _sample(planar, su, sv)
        known = ~revealed[None]
        depth_out = torch.where(revealed, torch.zeros_like(best_z), best_z)
        if bool(revealed.any()):
            depth_out = _push_pull(depth_out[None], known, "max")[0]
            # then the farthest within 2 px, as the OpenCV path leans: what is revealed lies behind an edge
            farther = torch.nn.functional.max_pool2d(depth_out[None, None], 5, 1, 2)[0, 0]
            depth_out = torch.where(revealed, farther, depth_out)
            out = _push_pull(out, known.expand_as(out), "mean") if fill else torch.where(known, out, torch.zeros_like(out))
        if image.dtype == np.uint8:
            out = out.round().clamp(0, 255).to(torch.uint8)
        result = out.permute(1, 2, 0).reshape(image.shape).cpu().numpy().astype(image.dtype, copy=False)
        return Warped(result, depth_out.cpu().numpy(), revealed.cpu().numpy(), best_u.cpu().numpy(), best_v.cpu().numpy())


def fill_image_torch(image: np.ndarray, holes: np.ndarray, device: Any = "cpu") -> np.ndarray:
    """`holes` of `image` (HxW or HxWxC) filled by push-pull on `device`."""
    torch = _torch()
    h, w = holes.shape
    with torch.inference_mode():
        planar = torch.tensor(np.asarray(image), device=device).reshape(h, w, -1).permute(2, 0, 1).to(torch.float32)
        known = ~torch.tensor(np.asarray(holes), device=device)[None].expand_as(planar)
        out = _push_pull(planar, known, "mean")
        if image.dtype == np.uint8:
            out = out.round().clamp(0, 255).to(torch.uint8)
        return out.permute(1, 2, 0).reshape(image.shape).cpu().numpy().astype(image.dtype, copy=False)
