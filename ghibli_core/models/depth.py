"""Monocular depth for the depth ControlNet, through transformers' depth-estimation pipeline.

Any transformers depth model works (DPT, Depth Anything, GLPN...). Maps are min-max normalised,
near = bright, like the MiDaS maps the SD1.5 depth ControlNet was trained on.
"""
from __future__ import annotations

import threading

import numpy as np
import torch
from PIL import Image

from ..errors import ModelLoadError, first_line
from ..timing import stage
from .holder import HELD
from .sources import ModelSource, safe_load_kwargs


class DepthEstimator:
    """Callable: RGB PIL image -> RGB PIL depth map of the same size."""

    def __init__(self, source: ModelSource, device: torch.device, dtype: torch.dtype, allow_pickle: bool = False) -> None:
        from transformers import pipeline

        self.source = source
        self._lock = threading.Lock()  # a transformers pipeline object is not meant for two threads at once
        # transformers' depth pipeline turns its output into numpy, which has no bf16: a bf16 run keeps this small
        # model (~25M parameters for Depth-Anything-V2-Small) in fp32
        dtype = torch.float32 if dtype == torch.bfloat16 else dtype
        try:
            self.pipe = pipeline("depth-estimation", model=source.location, device=device, dtype=dtype,
                                 model_kwargs=safe_load_kwargs(allow_pickle))
        except Exception as exc:
            raise ModelLoadError(
                f"depth-model: could not load {source.name} as a transformers depth model "
                f"({first_line(exc)}); pass a DPT / Depth Anything model id or folder"
            ) from exc

    @torch.inference_mode()
    def relative(self, image: Image.Image) -> np.ndarray:
        """Relative inverse depth of `image` as float32 HxW in 0..1 (1 = nearest), at the image's size."""
        view = image.convert("RGB")
        if min(view.size) < 8:  # transformers' post-processing squeezes a 1-pixel side away: a thumbnail is enlarged
            view = view.resize((max(8, view.width), max(8, view.height)), Image.NEAREST)
        with self._lock, stage("depth"):
            out = self.pipe(view)
        depth = out["predicted_depth"].float()
        depth = depth.reshape(1, 1, *depth.shape[-2:])
        depth = torch.nn.functional.interpolate(depth, size=(image.height, image.width), mode="bicubic", align_corners=False)[0, 0]
        lo, hi = depth.min(), depth.max()
        depth = (depth - lo) / (hi - lo) if hi > lo else torch.zeros_like(depth)
        return depth.clamp(0, 1).cpu().numpy().astype(np.float32)

    def __call__(self, image: Image.Image) -> Image.Image:
        """The depth map as the ControlNet takes it: RGB, 8-bit, white = near."""
        gray = np.round(self.relative(image) * 255.0).astype(np.uint8)
        return Image.fromarray(np.stack([gray] * 3, axis=-1), mode="RGB")


def load_depth_estimator(source: ModelSource, device: torch.device, dtype: torch.dtype, allow_pickle: bool = False) -> DepthEstimator:
    """The depth estimator, loaded now (safetensors weights only unless `allow_pickle`); nothing is kept."""
    return DepthEstimator(source, device, dtype, allow_pickle)


def held_depth_estimator(source: ModelSource, device: torch.device, dtype: torch.dtype, allow_pickle: bool = False) -> DepthEstimator:
    """One estimator per (model, device, dtype) in the engine's holder, until `release_models()`: every held pipeline set
    that names it shares it."""
    key = ("depth", source.location, str(device), str(dtype), allow_pickle)
    return HELD.get(key, lambda: load_depth_estimator(source, device, dtype, allow_pickle), label=f"depth: {source.name} ({device})")



class HeldDepth:
    """A handle on a depth estimator kept in `HELD` (the depth model alone, without an SD pipeline: a 3D photo's depth,
    or another depth source for a painting run); cheap to keep, loaded on `get()`, freed with every held model."""

    def __init__(self, source: ModelSource, device: torch.device, dtype: torch.dtype, allow_pickle: bool = False) -> None:
        self.source, self.device, self.dtype, self.allow_pickle = source, device, dtype, allow_pickle

    @classmethod
    def of(cls, model: str, device: str = "auto", dtype: str = "auto", allow_pickle: bool = False) -> "HeldDepth":
        """A checked handle: the model's files (without loading them), the device and the dtype."""
        from ..device import resolve_device, resolve_dtype
        from .sources import resolve_source

        source = resolve_source(model, "depth", "depth_model", allow_pickle=allow_pickle)
        where = resolve_device(device)
        return cls(source, where, resolve_dtype(dtype, where), allow_pickle)

    def get(self) -> DepthEstimator:
        return held_depth_estimator(self.source, self.device, self.dtype, self.allow_pickle)

    @property
    def name(self) -> str:
        return self.source.name
