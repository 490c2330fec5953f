"""Write diffusers state dicts in the original (LDM / CompVis) single-file layout.

This is the layout of the `.safetensors` checkpoints ComfyUI and A1111 users keep in
`models/checkpoints` and `models/controlnet`. diffusers reads it (`from_single_file`) but
ships no writer; `make-tiny` needs one to produce real single-file test checkpoints.
The mapping is driven by the model config, so it holds for SD1.5 sizes and tiny ones alike.
"""
from __future__ import annotations

from typing import Mapping

import torch

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_PREFIX = "cond_stage_model.transformer."
CONTROLNET_PREFIX = "control_model."

_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
           "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
_VAE_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def _move(src: Mapping[str, torch.Tensor], out: dict, old: str, new: str, rename: Mapping[str, str] | None = None) -> None:
    """Copy every `old.*` tensor to `new.*`, renaming the first part(s) of the rest through `rename`."""
    for key, value in src.items():
        if not key.startswith(old + "."):
            continue
        rest = key[len(old) + 1:]
        for a, b in (rename or {}).items():
            if rest == a or rest.startswith(a + "."):
                rest = b + rest[len(a):]
                break
        out[f"{new}.{rest}"] = value


def _unet_encoder(sd: Mapping[str, torch.Tensor], config: Mapping, out: dict) -> None:
    """Shared by the UNet and the ControlNet: time embedding, input blocks, middle block."""
    layers = config["layers_per_block"]
    n_levels = len(config["block_out_channels"])
    _move(sd, out, "time_embedding.linear_1", "time_embed.0")
    _move(sd, out, "time_embedding.linear_2", "time_embed.2")
    _move(sd, out, "conv_in", "input_blocks.0.0")
    for i in range(n_levels):
        for j in range(layers):
            block = 1 + i * (layers + 1) + j
            _move(sd, out, f"down_blocks.{i}.resnets.{j}", f"input_blocks.{block}.0", _RESNET)
            _move(sd, out, f"down_blocks.{i}.attentions.{j}", f"input_blocks.{block}.1")
        if i < n_levels - 1:
            _move(sd, out, f"down_blocks.{i}.downsamplers.0.conv", f"input_blocks.{(i + 1) * (layers + 1)}.0.op")
    _move(sd, out, "mid_block.resnets.0", "middle_block.0", _RESNET)
    _move(sd, out, "mid_block.attentions.0", "middle_block.1")
    _move(sd, out, "mid_block.resnets.1", "middle_block.2", _RESNET)


def unet_to_ldm(sd: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    _unet_encoder(sd, config, out)
    layers = config["layers_per_block"]
    n_levels = len(config["block_out_channels"])
    for i in range(n_levels):
        has_attn = any(k.startswith(f"up_blocks.{i}.attentions.") for k in sd)
        for j in range(layers + 1):
            block = i * (layers + 1) + j
            _move(sd, out, f"up_blocks.{i}.resnets.{j}", f"output_blocks.{block}.0", _RESNET)
            _move(sd, out, f"up_blocks.{i}.attentions.{j}", f"output_blocks.{block}.1")
        if i < n_levels - 1:
            _move(sd, out, f"up_blocks.{i}.upsamplers.0", f"output_blocks.{i * (layers + 1) + layers}.{2 if has_attn else 1}")
    _move(sd, out, "conv_norm_out", "out.0")
    _move(sd, out, "conv_out", "out.2")
    _check_complete(sd, out, "UNet")
    return {UNET_PREFIX + k: v for k, v in out.items()}


def vae_to_ldm(sd: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    n_levels = len(config["block_out_channels"])
    vae_resnet = {"conv_shortcut": "nin_shortcut"}
    for part in ("encoder", "decoder"):
        for name in ("conv_in", "conv_out"):
            _move(sd, out, f"{part}.{name}", f"{part}.{name}")
        _move(sd, out, f"{part}.conv_norm_out", f"{part}.norm_out")
        _move(sd, out, f"{part}.mid_block.resnets.0", f"{part}.mid.block_1", vae_resnet)
        _move(sd, out, f"{part}.mid_block.resnets.1", f"{part}.mid.block_2", vae_resnet)
        attn: dict[str, torch.Tensor] = {}
        _move(sd, attn, f"{part}.mid_block.attentions.0", f"{part}.mid.attn_1", _VAE_ATTN)
        # The original attention uses 1x1 convolutions where diffusers uses linear layers.
        out.update({k: (v[:, :, None, None] if v.ndim == 2 else v) for k, v in attn.items()})
    for i in range(n_levels):
        for j in range(config["layers_per_block"]):
            _move(sd, out, f"encoder.down_blocks.{i}.resnets.{j}", f"encoder.down.{i}.block.{j}", vae_resnet)
        _move(sd, out, f"encoder.down_blocks.{i}.downsamplers.0.conv", f"encoder.down.{i}.downsample.conv")
        up = n_levels - 1 - i  # the original decoder counts its levels the other way round
        for j in range(config["layers_per_block"] + 1):
            _move(sd, out, f"decoder.up_blocks.{i}.resnets.{j}", f"decoder.up.{up}.block.{j}", vae_resnet)
        _move(sd, out, f"decoder.up_blocks.{i}.upsamplers.0.conv", f"decoder.up.{up}.upsample.conv")
    for name in ("quant_conv", "post_quant_conv"):
        _move(sd, out, name, name)
    _check_complete(sd, out, "VAE")
    return {VAE_PREFIX + k: v for k, v in out.items()}


def text_encoder_to_ldm(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """HF CLIP keys under `cond_stage_model.transformer.text_model.` (transformers 5 drops `text_model.`)."""
    return {
        TEXT_PREFIX + (k if k.startswith("text_model.") else "text_model." + k): v
        for k, v in sd.items()
        if not k.endswith("position_ids")
    }


def controlnet_to_ldm(sd: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    _unet_encoder(sd, config, out)
    n_zero = sum(1 for k in sd if k.startswith("controlnet_down_blocks.") and k.endswith(".weight"))
    for i in range(n_zero):
        _move(sd, out, f"controlnet_down_blocks.{i}", f"zero_convs.{i}.0")
    _move(sd, out, "controlnet_mid_block", "middle_block_out.0")
    # input_hint_block is a Sequential of conv, SiLU, conv, SiLU, ...: convs sit at even indices.
    _move(sd, out, "controlnet_cond_embedding.conv_in", "input_hint_block.0")
    n_blocks = sum(1 for k in sd if k.startswith("controlnet_cond_embedding.blocks.") and k.endswith(".weight"))
    for i in range(n_blocks):
        _move(sd, out, f"controlnet_cond_embedding.blocks.{i}", f"input_hint_block.{2 * (i + 1)}")
    _move(sd, out, "controlnet_cond_embedding.conv_out", f"input_hint_block.{2 * (n_blocks + 1)}")
    _check_complete(sd, out, "ControlNet")
    return {CONTROLNET_PREFIX + k: v for k, v in out.items()}


def _check_complete(sd: Mapping, out: Mapping, what: str) -> None:
    if len(out) != len(sd):
        mapped = {id(v) for v in out.values()}
        missing = [k for k, v in sd.items() if id(v) not in mapped][:5]
        raise ValueError(f"{what}: {len(sd) - len(out)} tensors not mapped to the original layout, e.g. {missing}")
