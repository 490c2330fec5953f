"""Run-time speed options for loaded pipelines: SDPA attention, channels-last, torch.compile, VAE tiling/slicing.

Each is the libraries' own switch; `apply_speedups` turns on what `ModelSettings` asks for, once, at load.
"""
from __future__ import annotations

from typing import Any

import torch

#: torch.compile modes users can pick ("default" compiles fastest; "max-autotune" runs fastest on a GPU).
COMPILE_MODES = ("off", "default", "reduce-overhead", "max-autotune")


def use_sdpa(*models: Any) -> None:
    """Make every attention layer use PyTorch's fused scaled-dot-product attention (flash/memory-efficient kernels)."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    for model in models:
        if model is not None and any(not isinstance(p, AttnProcessor2_0) for p in model.attn_processors.values()):
            model.set_attn_processor(AttnProcessor2_0())


def wants_channels_last(option: bool | None, device: torch.device) -> bool:
    """None = automatic: on for CUDA (tensor-core convolutions prefer NHWC), off on the CPU, where it measured slower."""
    return device.type == "cuda" if option is None else bool(option)


def apply_speedups(txt2img: Any, controlnet: Any, *, device: torch.device, channels_last: bool | None = None,
                   compile_mode: str = "off", vae_tiling: bool = False, vae_slicing: bool = False) -> dict[str, Any]:
    """Apply the speed options to the shared UNet, ControlNet and VAE; return what was applied (for logs/metadata)."""
    unet, vae = txt2img.unet, txt2img.vae
    use_sdpa(unet, controlnet, vae)
    nhwc = wants_channels_last(channels_last, device)
    if nhwc:
        for model in (unet, controlnet, vae):
            model.to(memory_format=torch.channels_last)
    # The VAE's own switches (diffusers >= 0.31 puts them on the model, not the pipeline).
    vae.enable_tiling() if vae_tiling else vae.disable_tiling()
    vae.enable_slicing() if vae_slicing else vae.disable_slicing()
    if compile_mode != "off":
        # Module.compile compiles in place: the pipelines keep the same (shared) module objects and their types.
        for model in (unet, controlnet):
            model.compile(mode=None if compile_mode == "default" else compile_mode)
    return {"attention": "sdpa", "channels_last": nhwc, "compile": compile_mode, "vae_tiling": vae_tiling, "vae_slicing": vae_slicing}
