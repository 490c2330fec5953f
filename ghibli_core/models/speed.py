"""Run-time speed options for loaded pipelines: SDPA attention, channels-last, torch.compile, VAE tiling/slicing.

Each is the libraries' own switch; `apply_speedups` turns on what `ModelSettings` asks for, once, at load.
"""
from __future__ import annotations

from typing import Any

import torch

#: torch.compile modes users can pick ("default" compiles fastest; "max-autotune" runs fastest on a GPU).
from ..registry import COMPILE_MODES  # noqa: E402 - the one definition


def use_sdpa(*models: Any) -> None:
    """Make every attention layer use PyTorch's fused scaled-dot-product attention (flash/memory-efficient kernels)."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    for model in models:
        processors = getattr(model, "attn_processors", None)  # None: no attention (a tiny autoencoder)
        if processors and any(not isinstance(p, AttnProcessor2_0) for p in processors.values()):
            model.set_attn_processor(AttnProcessor2_0())


CHANNELS_LAST_MODELS = ("unet", "controlnet", "vae")


def channels_last_models(option: bool | None, device: torch.device, dtype: torch.dtype = torch.float32) -> tuple[str, ...]:
    """Which models run channels-last (NHWC). True/False: all or none. None = automatic, as measured: all on CUDA
    (tensor-core convolutions prefer NHWC); on the CPU the VAE always (encode 1.5x, decode 1.4x in fp32; 2.7x and 2.3x
    in bf16 at 256²) and the UNet and ControlNet in bf16 only (a guided step 1.16x faster in bf16, 5 % slower in fp32)."""
    if option is not None:
        return CHANNELS_LAST_MODELS if option else ()
    if device.type == "cuda":
        return CHANNELS_LAST_MODELS
    return CHANNELS_LAST_MODELS if dtype == torch.bfloat16 else ("vae",)


def apply_speedups(txt2img: Any, controlnet: Any, *, device: torch.device, channels_last: bool | None = None,
                   compile_mode: str = "off", vae_tiling: bool = False, vae_slicing: bool = False,
                   dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """Apply the speed options to the shared UNet, ControlNet and VAE; return what was applied (for logs/metadata)."""
    unet, vae = txt2img.unet, txt2img.vae
    use_sdpa(unet, *getattr(controlnet, "nets", [controlnet]), vae)  # a MultiControlNet's nets one by one
    nhwc = channels_last_models(channels_last, device, dtype)
    for name, model in (("unet", unet), ("controlnet", controlnet), ("vae", vae)):
        model.to(memory_format=torch.channels_last if name in nhwc else torch.contiguous_format)
    # The VAE's own switches (diffusers >= 0.31 puts them on the model, not the pipeline).
    vae.enable_tiling() if vae_tiling else vae.disable_tiling()
    vae.enable_slicing() if vae_slicing else vae.disable_slicing()
    if compile_mode != "off":
        compile_regions(unet, controlnet, mode=None if compile_mode == "default" else compile_mode)
    return {"attention": "sdpa", "channels_last": list(nhwc), "compile": compile_mode, "vae_tiling": vae_tiling,
            "vae_slicing": vae_slicing}


#: Graphs Dynamo may keep per compiled function; SD1.5's transformer blocks need 10 (its default is 8).
RECOMPILE_LIMIT = 32


def compile_regions(unet: Any, controlnet: Any, **options: Any) -> int:
    """torch.compile the repeated blocks of the UNet and ControlNet in place (regional compilation); return how many.

    The UNet goes through diffusers' own `compile_repeated_blocks` (its transformer blocks); the ControlNet, which names
    no repeated blocks, gets the same block classes compiled. Not the whole models: step reuse swaps the UNet's deep
    blocks for stand-ins on every pipeline call, so a whole-model graph recompiled on each call and, past Dynamo's
    recompile limit (8), ran eager. Per block the graphs stay put, and with Dynamo's `aot_eager` backend the frames
    are bit-identical to eager ones. The blocks share one `forward`, whose graphs Dynamo counts together: 6 on the
    tiny models, 10 on SD1.5's (four block shapes, two batch sizes, with and without guidance; measured over 2 to 8
    frames), so the limit is raised to `RECOMPILE_LIMIT` (never lowered; a process-wide Dynamo setting).
    """
    import torch._dynamo

    config = torch._dynamo.config
    name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"  # its name before torch 2.6
    setattr(config, name, max(getattr(config, name), RECOMPILE_LIMIT))
    blocks = tuple(getattr(unet, "_repeated_blocks", None) or ())
    if not blocks:  # a UNet class that names no repeated blocks: compile it whole
        unet.compile(**options)
        return 1
    unet.compile_repeated_blocks(**options)
    count = sum(type(m).__name__ in blocks for m in unet.modules())
    for module in controlnet.modules() if controlnet is not None else ():
        if type(module).__name__ in blocks:
            module.compile(**options)
            count += 1
    return count
