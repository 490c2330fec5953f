"""A tiny autoencoder in place of the model's VAE: TAESD (diffusers' `AutoencoderTiny`) for fast drafts.

Every painted frame is encoded (img2img's start) and decoded by the VAE; at 256² on the CPU that is about 5 s of a
frame, and TAESD does both in a fraction of it, with softer detail. Off by default: the final frames use the model's
own VAE unless a tiny one is asked for (`ModelSettings.tiny_vae`, `--tiny-vae`, the loader node's `tiny_vae`).

Loaded like any other model: a hub id (madebyollin/taesd), a diffusers folder, or the original layout that ComfyUI
keeps in `models/vae_approx` (`taesd_decoder.safetensors` with `taesd_encoder.safetensors` beside it). The original
files are two `nn.Sequential` state dicts whose layer indices match diffusers' `EncoderTiny.layers` and
`DecoderTiny.layers`, except that the original decoder's layer 0 is a parameter-free clamp (diffusers applies it in
`forward`), so decoder indices shift by one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import InputError, ModelLoadError, first_line
from .sources import PICKLE_EXTS, ModelSource, encoder_beside, hub_offline, refuse_pickle

#: the original decoder's first layer is the clamp, which has no weights
DECODER_SHIFT = 1
ENCODER_PREFIX, DECODER_PREFIX = "encoder.layers.", "decoder.layers."


def original_to_diffusers(encoder: dict[str, torch.Tensor], decoder: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An `AutoencoderTiny` state dict from the original encoder and decoder state dicts."""
    out = {ENCODER_PREFIX + k: v for k, v in encoder.items()}
    for key, value in decoder.items():
        index, rest = key.split(".", 1)
        out[f"{DECODER_PREFIX}{int(index) - DECODER_SHIFT}.{rest}"] = value
    return out


def diffusers_to_original(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The original (encoder, decoder) state dicts of an `AutoencoderTiny` state dict (what ComfyUI's vae_approx holds)."""
    encoder = {k[len(ENCODER_PREFIX):]: v for k, v in state.items() if k.startswith(ENCODER_PREFIX)}
    decoder = {}
    for key, value in state.items():
        if key.startswith(DECODER_PREFIX):
            index, rest = key[len(DECODER_PREFIX):].split(".", 1)
            decoder[f"{int(index) + DECODER_SHIFT}.{rest}"] = value
    return encoder, decoder


def _config_of(encoder: dict[str, torch.Tensor]) -> dict[str, Any]:
    """`AutoencoderTiny` config for an original encoder: its width from the first conv, its latent channels from the last
    (the block counts are TAESD's own; a state dict of another shape is refused when it is loaded)."""
    first = encoder["0.weight"]
    last = max((k for k in encoder if k.endswith(".weight") and k.count(".") == 1), key=lambda k: int(k.split(".")[0]))
    width = int(first.shape[0])
    return {"encoder_block_out_channels": (width,) * 4, "decoder_block_out_channels": (width,) * 4,
            "latent_channels": int(encoder[last].shape[0])}


def _read(path: Path, allow_pickle: bool) -> dict[str, torch.Tensor]:
    if path.suffix.lower() in PICKLE_EXTS:
        refuse_pickle(str(path), "tiny-vae", allow_pickle)  # resolve_source refuses it earlier; kept for direct callers
        return torch.load(path, map_location="cpu", weights_only=True)
    from safetensors.torch import load_file

    return load_file(str(path))


def load_tiny_vae(src: ModelSource, dtype: torch.dtype = torch.float32, *, allow_pickle: bool = False) -> Any:
    """The `AutoencoderTiny` behind a checked source (hub id, diffusers folder, or an original-layout decoder file with
    its encoder beside it)."""
    from diffusers import AutoencoderTiny

    try:
        if src.kind != "file":
            return AutoencoderTiny.from_pretrained(src.location, dtype=dtype,
                                                   local_files_only=src.kind == "folder" or hub_offline())
        decoder_path = Path(src.location)
        encoder_path = encoder_beside(decoder_path)
        if encoder_path is None:
            raise FileNotFoundError(f"no encoder file beside {decoder_path.name}")
        encoder, decoder = _read(encoder_path, allow_pickle), _read(decoder_path, allow_pickle)
        model = AutoencoderTiny(**_config_of(encoder))
        model.load_state_dict(original_to_diffusers(encoder, decoder), strict=True)
        return model.to(dtype=dtype)
    except InputError:
        raise
    except Exception as exc:
        raise ModelLoadError(
            f"tiny-vae: could not load {src.name} as a tiny autoencoder ({first_line(exc, 160)}); give TAESD for SD1.5: "
            "madebyollin/taesd, its diffusers folder, or taesd_decoder.safetensors with taesd_encoder.safetensors beside it"
        ) from exc


def check_fits(tiny: Any, unet: Any, name: str) -> None:
    """Refuse a tiny autoencoder whose latents are not the UNet's (TAESD for SDXL, SD3 or FLUX with an SD1.5 model)."""
    latent, wanted = int(tiny.config.latent_channels), int(unet.config.in_channels)
    if latent != wanted:
        raise ModelLoadError(f"tiny-vae: {name} makes {latent}-channel latents, the model's UNet takes {wanted}; "
                             "use TAESD for SD1.5 (madebyollin/taesd, taesd_decoder.safetensors), not taesdxl/taesd3/taef1")
