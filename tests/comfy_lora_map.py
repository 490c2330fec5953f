"""Ask ComfyUI's own LoRA loader which keys of a LoRA file it maps onto an SD1.5 model (no weights needed).

    python tests/comfy_lora_map.py COMFYUI_DIR FILE.safetensors [...]   -> JSON per file on stdout

The SD1.5 UNet and CLIP-L are built on the meta device from the shipped SD1.5 UNet config, through ComfyUI's
model detection (diffusers config -> ComfyUI's SD15 model config), and the key maps come from `comfy.lora`, the
functions `comfy.sd.load_lora_for_models` uses. Runs in its own process: importing ComfyUI sets global state.
"""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path


def sd15_key_map(comfy_dir: Path) -> tuple[dict[str, str], set[str]]:
    """ComfyUI's LoRA key map for an SD1.5 checkpoint, and the names of the model weights it can patch."""
    sys.path.insert(0, str(comfy_dir))
    import torch
    from diffusers import UNet2DConditionModel

    import comfy.cli_args

    comfy.cli_args.args.cpu = True  # as `main.py --cpu`: no GPU is needed to build key maps
    import comfy.lora
    import comfy.model_detection
    import comfy.sd1_clip
    import comfy.supported_models
    from ghibli_core.models.configs import SD15_CONFIG_DIR, read_json

    with torch.device("meta"):
        diffusers_unet = UNet2DConditionModel.from_config(read_json(SD15_CONFIG_DIR / "unet" / "config.json"))
    unet_config = comfy.model_detection.unet_config_from_diffusers_unet(diffusers_unet.state_dict())
    model_config = comfy.model_detection.model_config_from_unet_config(unet_config)
    assert type(model_config) is comfy.supported_models.SD15, type(model_config)
    model = model_config.get_model({}, device="meta")
    clip = comfy.sd1_clip.SD1ClipModel(device="meta")
    key_map = comfy.lora.model_lora_keys_unet(model, {})
    key_map = comfy.lora.model_lora_keys_clip(clip, key_map)
    return key_map, set(model.state_dict()) | set(clip.state_dict())


def check(path: Path, key_map: dict[str, str], weights: set[str]) -> dict:
    import comfy.lora
    import comfy.lora_convert
    from safetensors.torch import load_file

    lora = comfy.lora_convert.convert_lora(load_file(str(path)))
    missed: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if message.startswith("lora key not loaded: "):
                missed.append(message.split(": ", 1)[1])

    handler = Catch()
    logging.getLogger().addHandler(handler)
    try:
        patches = comfy.lora.load_lora(lora, key_map)
    finally:
        logging.getLogger().removeHandler(handler)
    modules = {k.split(".")[0] for k in lora}
    return {
        "keys": len(lora), "modules": len(modules), "patched": len(patches),
        "not_loaded": sorted(missed), "patch_targets_missing": sorted(str(k) for k in patches if k not in weights),
        "unet_patches": sum(1 for k in patches if str(k).startswith("diffusion_model.")),
        "clip_patches": sum(1 for k in patches if str(k).startswith("clip_l.")),
    }


def main(argv: list[str]) -> int:
    comfy_dir, files = Path(argv[0]), [Path(a) for a in argv[1:]]
    key_map, weights = sd15_key_map(comfy_dir)
    print(json.dumps({str(f): check(f, key_map, weights) for f in files}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
