"""HDR clips (PQ or HLG: a recent iPhone films HLG by default) brought to an ordinary picture, as players show them.

FFmpeg's conversion to 8-bit RGB keeps an HDR signal's numbers, so an HDR clip reads dim and grey, in the wrong
primaries. The picture is made the way players show HDR on an SDR screen, so the painter starts from what the user
saw:
1. 16-bit RGB in the clip's own primaries, decoded with its own matrix and range (FFmpeg);
2. to light: PQ (SMPTE ST 2084) to absolute luminance; HLG (ARIB STD-B67) through its inverse OETF and the BT.2100
   OOTF of a 1000 cd/m² display. HDR reference white (203 cd/m², ITU-R BT.2408) becomes SDR white;
3. BT.2020 to BT.709 primaries in linear light (ITU-R BT.2087), colours outside them clipped;
4. highlights above KNEE rolled off smoothly into the top of the range, on the brightest channel so hues hold;
5. sRGB encoding to 8 bits, as the painter's pictures are.
Below the knee this is exact: an SDR picture stored as HDR comes back within a grey level or two of itself (tested).
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

#: FFmpeg's transfer characteristics (AVColorTransferCharacteristic) and primaries (AVColorPrimaries)
PQ, HLG = 16, 18
BT2020_PRIMARIES = 9
NAMES = {PQ: "PQ", HLG: "HLG"}
REFERENCE_WHITE = 203.0  # cd/m²: HDR's diffuse white (BT.2408), shown as SDR white
HLG_PEAK = 1000.0  # cd/m²: the display HLG's OOTF is taken for (its system gamma is 1.2 there)
KNEE = 0.8  # of SDR white: brighter light is rolled off into the top of the range

#: linear BT.2020 RGB -> linear BT.709 RGB (ITU-R BT.2087)
BT2020_TO_BT709 = np.array([[1.6605, -0.5876, -0.0728],
                            [-0.1246, 1.1329, -0.0083],
                            [-0.0182, -0.1006, 1.1187]], np.float32)
_BT2020_LUMA = np.array([0.2627, 0.6780, 0.0593], np.float32)


def transfer_of(frame: Any) -> str | None:
    """"PQ" or "HLG" for an HDR PyAV frame, else None."""
    return NAMES.get(int(getattr(frame, "color_trc", 0) or 0))


def sdr_rgb(frame: Any) -> np.ndarray:
    """A decoded PyAV video frame as HxWx3 uint8 sRGB: an HDR one as players show it on an SDR screen, any other as
    FFmpeg converts it."""
    transfer = transfer_of(frame)
    if transfer is None:
        return frame.to_ndarray(format="rgb24")
    light = to_light(frame.to_ndarray(format="rgb48le"), transfer)
    if int(getattr(frame, "color_primaries", 0) or 0) == BT2020_PRIMARIES:
        light = light @ BT2020_TO_BT709.T
    return encode_srgb(roll_off(np.maximum(light, 0.0)))


def to_light(signal: np.ndarray, transfer: str) -> np.ndarray:
    """16-bit PQ or HLG signal (HxWx3 uint16) -> linear light with HDR reference white at 1 (float32); the curves are
    tabled for every 16-bit code, so a 4K frame costs table lookups, not powers and exponentials."""
    if transfer == "PQ":
        return _table("PQ")[signal]
    scene = _table("HLG")[signal]
    gamma = 1.2  # BT.2100's system gamma at 1000 cd/m²
    luma = np.maximum(scene @ _BT2020_LUMA, 1e-12)[..., None]
    return (HLG_PEAK / REFERENCE_WHITE) * np.power(luma, gamma - 1.0) * scene


@functools.cache
def _table(transfer: str) -> np.ndarray:
    codes = np.arange(65536, dtype=np.float64) / 65535.0
    return (pq_to_light(codes) if transfer == "PQ" else hlg_inverse_oetf(codes)).astype(np.float32)


def pq_to_light(signal: np.ndarray) -> np.ndarray:
    """PQ signal (0..1) -> linear light with HDR reference white at 1 (SMPTE ST 2084's EOTF, in cd/m² / 203)."""
    m1, m2 = 2610 / 16384, 2523 / 4096 * 128
    c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    p = np.power(np.clip(signal, 0.0, 1.0), 1 / m2)
    nits = 10000.0 * np.power(np.maximum(p - c1, 0.0) / (c2 - c3 * p), 1 / m1)
    return nits / REFERENCE_WHITE


def hlg_inverse_oetf(signal: np.ndarray) -> np.ndarray:
    """HLG signal (0..1) -> normalised scene light 0..1 (BT.2100's inverse OETF)."""
    a, b = 0.17883277, 0.28466892
    c = 0.5 - a * np.log(4 * a)
    e = np.clip(signal, 0.0, 1.0)
    return np.where(e <= 0.5, e * e / 3.0, (np.exp((e - c) / a) + b) / 12.0)


def roll_off(light: np.ndarray, knee: float = KNEE) -> np.ndarray:
    """Light above `knee` (on each pixel's brightest channel) rolled off smoothly below 1, hue kept; unchanged below."""
    peak = np.maximum(np.maximum(light[..., 0], light[..., 1]), light[..., 2])  # NumPy reduces a 3-long axis slowly
    bright = peak > knee
    if not bright.any():
        return np.clip(light, 0.0, 1.0)
    over = peak[bright] - knee  # only the highlights pay for the exponential
    rolled = knee + (1.0 - knee) * (1.0 - np.exp(-over / (1.0 - knee)))  # slope 1 at the knee, 1 at infinity
    scale = np.ones_like(peak)
    scale[bright] = rolled / peak[bright]
    return np.clip(light * scale[..., None], 0.0, 1.0)


def encode_srgb(light: np.ndarray) -> np.ndarray:
    """Linear light 0..1 -> sRGB uint8 (IEC 61966-2-1), through a table of 16-bit linear codes."""
    codes = np.clip(light * 65535.0 + 0.5, 0, 65535).astype(np.uint16)
    return _srgb_table()[codes]


@functools.cache
def _srgb_table() -> np.ndarray:
    light = np.arange(65536, dtype=np.float64) / 65535.0
    v = np.where(light <= 0.0031308, 12.92 * light, 1.055 * np.power(np.maximum(light, 0.0031308), 1 / 2.4) - 0.055)
    return np.clip(v * 255.0 + 0.5, 0, 255).astype(np.uint8)

