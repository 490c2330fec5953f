"""ComfyUI IMAGE tensors <-> engine frames. No ComfyUI import, so it is testable on its own.

ComfyUI's IMAGE is a float tensor [B, H, W, C] in 0..1, C = 3 (RGB); the engine works on PIL images
and HxWx3 uint8 arrays.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image

from ghibli_core.api import InputError


def check_image_batch(images: torch.Tensor, input_name: str = "images") -> torch.Tensor:
    """Refuse anything that is not a non-empty IMAGE batch, naming the input."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise InputError(input_name, f"expected an IMAGE batch [B, H, W, C], got {shape}", "connect an IMAGE output (e.g. Load Image or a sampler's frames)")
    if images.shape[0] == 0:
        raise InputError(input_name, "the IMAGE batch is empty", "connect a node that outputs at least one frame")
    return images


def to_arrays(images: torch.Tensor, input_name: str = "images") -> list[np.ndarray]:
    """An IMAGE batch as HxWx3 uint8 RGB arrays (grey is spread to RGB, alpha dropped)."""
    batch = check_image_batch(images, input_name).detach().to("cpu", torch.float32)
    if batch.shape[-1] == 1:
        batch = batch.expand(-1, -1, -1, 3)
    data = (batch[..., :3].clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()
    return [np.ascontiguousarray(frame) for frame in data]


def to_pil(images: torch.Tensor, input_name: str = "images") -> list[Image.Image]:
    return [Image.fromarray(a) for a in to_arrays(images, input_name)]


def to_image_batch(frames: Sequence[Image.Image | np.ndarray]) -> torch.Tensor:
    """Frames of one size as an IMAGE batch [B, H, W, 3] float32 0..1."""
    arrays = [np.asarray(f.convert("RGB")) if isinstance(f, Image.Image) else np.asarray(f) for f in frames]
    if not arrays:
        raise InputError("frames", "there are no frames", "generate at least one frame")
    sizes = {a.shape for a in arrays}
    if len(sizes) != 1:
        raise InputError("frames", f"frames differ in size {sorted(sizes)}", "resize them to one size first")
    return torch.from_numpy(np.stack(arrays)).to(torch.float32) / 255.0
