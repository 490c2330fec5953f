"""Random-weight models of real SD1.5 size, built in memory for benchmarks (no download, no real weights).

UNet (860M parameters), depth ControlNet (361M), VAE (84M) and CLIP text encoder (123M) come from the SD1.5
configs shipped in `ghibli_core/configs`; the depth model is a Depth-Anything-V2-Small-shaped random model
(25M), written to a folder because transformers' depth pipeline loads from one. Timings match the real
models; the pictures are meaningless but deterministic.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ghibli_core.models.configs import CONTROLNET_CONFIG_DIR, SD15_CONFIG_DIR, read_json
from ghibli_core.tiny import randomize_zero_convs


def build_sd15(seed: int = 0):
    """(StableDiffusionPipeline, ControlNetModel) with random SD1.5-size weights, on the CPU in fp32."""
    from diffusers import AutoencoderKL, ControlNetModel, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_config(read_json(SD15_CONFIG_DIR / "unet" / "config.json"))
    vae = AutoencoderKL.from_config(read_json(SD15_CONFIG_DIR / "vae" / "config.json"))
    text_encoder = CLIPTextModel(CLIPTextConfig(**read_json(SD15_CONFIG_DIR / "text_encoder" / "config.json")))
    tokenizer = CLIPTokenizer.from_pretrained(str(SD15_CONFIG_DIR / "tokenizer"))
    scheduler = PNDMScheduler.from_pretrained(str(SD15_CONFIG_DIR / "scheduler"))
    controlnet = randomize_zero_convs(ControlNetModel.from_config(read_json(CONTROLNET_CONFIG_DIR / "config.json")))
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    for module in (unet, vae, text_encoder, controlnet):
        module.eval().requires_grad_(False)
    return pipe, controlnet


def write_depth_anything_small(out_dir: Path, seed: int = 0) -> Path:
    """A random Depth-Anything-V2-Small-shaped model (ViT-S/14 DINOv2 backbone, DPT head) with its processor."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config, DPTImageProcessor

    torch.manual_seed(seed)
    backbone = Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, image_size=518, patch_size=14,
                            out_indices=[3, 6, 9, 12], reshape_hidden_states=False)
    model = DepthAnythingForDepthEstimation(DepthAnythingConfig(backbone_config=backbone))
    model.save_pretrained(str(out_dir))
    DPTImageProcessor(
        do_resize=True, size={"height": 518, "width": 518}, keep_aspect_ratio=True, ensure_multiple_of=14,
        resample=3, do_normalize=True, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(str(out_dir))
    return out_dir
