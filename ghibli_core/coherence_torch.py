"""What a GPU run does to a frame between two paintings, on its painting device: colour matching, contrast, sharpening
and grain (coherence.py and blend/color.py are the CPU's, and the definitions).

    image = match_color_torch(painted, first, 0.5, "meanstd", device)          # as blend.color.match_color
    init, applied = prepare_init_torch(image, contrast=1, sharpen="auto", noise=0.02, seed=s, hold=hold, device=device)

Every step is the CPU path's, written as tensor operations: OpenCV's Gaussian kernel and Laplacian as convolutions
with its border (reflect-101), the unsharp amount solved in closed form the same way, the grain the same numbers
(drawn by NumPy with the same seed, then moved to the device), the colour statistics in OpenCV's 8-bit LAB (written out
from its formulas, where OpenCV uses tables: the two agree within a grey level or two). The sharpness hold's memory is
the same object, so a chain may move between the paths.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from .coherence import AUTO_MAX_AMOUNT, SharpnessHold, applied_record, grain, sharpen_amount, solve_amount
from .errors import check_choice
from .metrics import LUMA
from .registry import COLOR_MODES

#: sRGB D65 white and the RGB -> XYZ matrix OpenCV's RGB2Lab uses
_XYZ = np.array([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]], np.float32)
_WHITE = np.array([0.950456, 1.0, 1.088754], np.float32)


def _torch():
    import torch

    return torch


def _planar(image: np.ndarray, device: Any) -> Any:
    """HxWx3 uint8 -> 3xHxW float32 on `device`."""
    torch = _torch()
    return torch.tensor(np.asarray(image), device=device).permute(2, 0, 1).to(torch.float32)


def _to_uint8(planar: Any) -> np.ndarray:
    return planar.clamp(0, 255).round().to(_torch().uint8).permute(1, 2, 0).cpu().numpy()


def _conv(planar: Any, kernel: Any) -> Any:
    """Each channel of C x H x W convolved with a 2D kernel, OpenCV's default border (reflect-101)."""
    torch = _torch()
    kh, kw = kernel.shape
    padded = torch.nn.functional.pad(planar[:, None], (kw // 2, kw // 2, kh // 2, kh // 2), mode="reflect")
    return torch.nn.functional.conv2d(padded, kernel[None, None].to(planar))[:, 0]


def gaussian_blur(planar: Any, kernel: int, sigma: float) -> Any:
    """cv2.GaussianBlur(image, (kernel, kernel), sigma) of each channel."""
    torch = _torch()
    g = torch.from_numpy(cv2.getGaussianKernel(kernel, sigma).astype(np.float32)).to(planar.device)
    return _conv(_conv(planar, g.T), g)  # separable, as OpenCV


def laplacian(grey: Any) -> Any:
    """cv2.Laplacian(grey, CV_32F, ksize=1) of a 1 x H x W grey."""
    torch = _torch()
    k = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], device=grey.device)
    return _conv(grey, k)


def luminance(planar: Any) -> Any:
    """1 x H x W luminance (metrics.LUMA weights)."""
    w = _torch().from_numpy(LUMA).to(planar.device)
    return (planar * w[:, None, None]).sum(0, keepdim=True)


def sharpness(planar: Any) -> float:
    """metrics.sharpness: the variance of the Laplacian of the luminance."""
    return float(laplacian(luminance(planar)).var(unbiased=False))


def auto_amount(planar: Any, target: float, kernel: int, sigma: float, limit: float = AUTO_MAX_AMOUNT) -> float:
    """coherence.auto_amount: the unsharp amount that brings the sharpness to `target` (a quadratic, solved exactly)."""
    grey = luminance(planar)
    detail = grey - gaussian_blur(grey, kernel, sigma)
    return solve_amount(laplacian(grey), laplacian(detail), target, limit)


def prepare_init_torch(image: np.ndarray, *, contrast: float, sharpen: float | str, noise: float, seed: int,
                       hold: SharpnessHold | None = None, kernel: int = 5, sigma: float = 1.0,
                       device: Any = "cpu") -> tuple[np.ndarray, dict]:
    """coherence.prepare_init on `device`: contrast, sharpening (a number or `auto` with `hold`) and grain, in that order."""
    torch = _torch()
    with torch.inference_mode():
        src = _planar(image, device)
        out = src
        if contrast != 1.0:
            mean = src.mean(dim=(1, 2), keepdim=True).mean(0, keepdim=True)
            out = mean + (src - mean) * contrast
        noise_field = torch.from_numpy(grain(image.shape, noise, seed)).to(device).permute(2, 0, 1) if noise > 0 else None
        amount = sharpen_amount(sharpen, hold, lambda: sharpness(src),
                                (lambda: sharpness(noise_field)) if noise_field is not None else None,
                                lambda target: auto_amount(out, target, kernel, sigma))
        if amount > 0:
            out = out + amount * (out - gaussian_blur(out, kernel, sigma))
        if noise_field is not None:
            out = out + noise_field
        return _to_uint8(out), applied_record(contrast, amount, noise, hold)


# --- colour ----------------------------------------------------------------------------------------------------------

def _lab(planar: Any) -> Any:
    """OpenCV's 8-bit RGB2Lab (sRGB, D65; L x 255/100, a and b + 128), rounded to whole levels as it is."""
    torch = _torch()
    rgb = planar / 255.0
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = torch.from_numpy(_XYZ / _WHITE[:, None]).to(planar.device)
    xyz = torch.einsum("ij,jhw->ihw", m, linear)
    f = torch.where(xyz > 0.008856, xyz.clamp_min(0) ** (1 / 3), 7.787 * xyz + 16 / 116)
    lightness = torch.where(xyz[1] > 0.008856, 116 * f[1] - 16, 903.3 * xyz[1])
    lab = torch.stack([lightness * 255 / 100, 500 * (f[0] - f[1]) + 128, 200 * (f[1] - f[2]) + 128])
    return lab.clamp(0, 255).round()


def _rgb(lab: Any) -> Any:
    """OpenCV's 8-bit Lab2RGB of whole-level LAB (its inverse formulas), 0..255 float."""
    torch = _torch()
    lab = lab.clamp(0, 255).round()
    lightness, a, b = lab[0] * 100 / 255, lab[1] - 128, lab[2] - 128
    fy = (lightness + 16) / 116
    fx, fz = fy + a / 500, fy - b / 200

    def inv(f: Any) -> Any:
        return torch.where(f > 6 / 29, f ** 3, (f - 16 / 116) / 7.787)

    y = torch.where(lightness > 903.3 * 0.008856, fy ** 3, lightness / 903.3)
    xyz = torch.stack([inv(fx), y, inv(fz)]) * torch.from_numpy(_WHITE).to(lab.device)[:, None, None]
    m = torch.from_numpy(np.linalg.inv(_XYZ).astype(np.float32)).to(lab.device)
    linear = torch.einsum("ij,jhw->ihw", m, xyz).clamp(0, 1)
    rgb = torch.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return (rgb * 255).clamp(0, 255).round()


def match_color_torch(frame: np.ndarray, reference: np.ndarray, strength: float = 1.0, mode: str = "meanstd",
                      device: Any = "cpu") -> np.ndarray:
    """blend.color.match_color on `device`: `frame`'s LAB statistics moved `strength` of the way to `reference`'s."""
    if strength <= 0:
        return frame
    check_choice("color-mode", mode, COLOR_MODES, "mode")
    torch = _torch()
    with torch.inference_mode():
        src, ref = _lab(_planar(frame, device)), _lab(_planar(reference, device))
        s, r = src.reshape(3, -1), ref.reshape(3, -1)
        if mode == "meanstd":
            s_mean, s_std = s.mean(1, keepdim=True), s.std(1, unbiased=False, keepdim=True) + 1e-6
            r_mean, r_std = r.mean(1, keepdim=True), r.std(1, unbiased=False, keepdim=True) + 1e-6
            matched = (s - s_mean) * (r_std / s_std) + r_mean
        else:  # the reference value at the same quantile (as blend.color._match_histogram)
            ranks = torch.argsort(torch.argsort(s, dim=1, stable=True), dim=1, stable=True).to(torch.float64)
            ordered = torch.sort(r, dim=1).values
            where = (ranks * (r.shape[1] - 1) / max(s.shape[1] - 1, 1)).round().to(torch.int64)
            matched = torch.gather(ordered, 1, where)
        out = s + min(strength, 1.0) * (matched - s)
        return _to_uint8(_rgb(out.reshape(src.shape)))
