"""Check that a real-size SD1.5 single-file checkpoint (original layout) loads offline through
`ghibli_core`'s loader with the shipped configs, weight for weight.

Builds random SD1.5-size UNet/VAE/CLIP from `ghibli_core/configs/sd15`, writes them in the original
layout (as in ComfyUI's models/checkpoints), loads the file back with `load_pipelines`, compares.
Needs ~10 GB RAM and ~5 GB disk; not part of the test suite.  Usage: python scripts/verify_sd15_single_file.py [WORKDIR]
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch
from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel

from ghibli_core.models.configs import CONTROLNET_CONFIG_DIR, SD15_CONFIG_DIR
from ghibli_core.models.ldm_layout import controlnet_to_ldm, text_encoder_to_ldm, unet_to_ldm, vae_to_ldm
from ghibli_core.models.pipelines import _load_base, _load_controlnet
from ghibli_core.models.sources import resolve_source


def main(work: Path) -> None:
    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(SD15_CONFIG_DIR / "unet"))
    vae = AutoencoderKL.from_config(AutoencoderKL.load_config(SD15_CONFIG_DIR / "vae"))
    text = CLIPTextModel(CLIPTextConfig.from_pretrained(SD15_CONFIG_DIR / "text_encoder"))
    ckpt = work / "sd15-random.safetensors"
    sd = unet_to_ldm(unet.state_dict(), unet.config) | vae_to_ldm(vae.state_dict(), vae.config) | text_encoder_to_ldm(text.state_dict())
    save_file({k: v.contiguous() for k, v in sd.items()}, str(ckpt))
    print(f"wrote {ckpt.name}: {ckpt.stat().st_size / 2**30:.2f} GiB, {len(sd)} tensors")
    t = time.perf_counter()
    pipe = _load_base(resolve_source(str(ckpt), "pipeline", "model"), SD15_CONFIG_DIR, torch.float32, False)
    print(f"loaded through from_single_file + shipped config in {time.perf_counter() - t:.1f}s")
    for name, ref in (("unet", unet), ("vae", vae), ("text_encoder", text)):
        a, b = ref.state_dict(), getattr(pipe, name).state_dict()
        bad = [k for k in a if k not in b or not torch.equal(a[k], b[k])]
        print(f"{name}: {len(a)} tensors, {len(bad)} differ {bad[:3]}")
        assert not bad
    ids = pipe.tokenizer("a photo of a cat").input_ids
    assert ids == [49406, 320, 1125, 539, 320, 2368, 49407], ids
    cn = ControlNetModel.from_unet(unet)
    cfile = work / "control-random.safetensors"
    save_file({k: v.contiguous() for k, v in controlnet_to_ldm(cn.state_dict(), cn.config).items()}, str(cfile))
    loaded = _load_controlnet(resolve_source(str(cfile), "controlnet", "controlnet"), CONTROLNET_CONFIG_DIR, torch.float32, False)
    a, b = cn.state_dict(), loaded.state_dict()
    bad = [k for k in a if not torch.equal(a[k], b[k])]
    print(f"controlnet: {len(a)} tensors, {len(bad)} differ")
    assert not bad
    print("OK: real-size single files load offline with the shipped configs")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as d:
            main(Path(d))
