"""The speed LoRA: a few-step LoRA (LCM-LoRA, TCD, Hyper-SD) applied beside the style LoRAs with its own weight, so
SD1.5 paints in 1-8 steps with the `lcm` or `tcd` scheduler (the `turbo` preset).

    --speed-lora latent-consistency/lcm-lora-sdv1-5           a hub repo holding pytorch_lora_weights.safetensors
    --speed-lora h1t/TCD-SD15:0.9                             the same, at weight 0.9
    --speed-lora ByteDance/Hyper-SD/Hyper-SD15-4steps-lora.safetensors   one file of a repo
    --speed-lora ~/ComfyUI/models/loras/lcm-lora-sdv1-5.safetensors     a file (diffusers or kohya layout)
"""
from __future__ import annotations

import os
from pathlib import Path

from .. import defaults
from ..errors import InputError, ModelNotFoundError, first_line
from .lora import LoraSpec
from .sources import hub_endpoint, hub_offline, reachable

FIX = ("give a LoRA file, a hub repo holding pytorch_lora_weights.safetensors (latent-consistency/lcm-lora-sdv1-5, "
       "h1t/TCD-SD15) or org/repo/FILE.safetensors")


def hub_parts(text: str) -> tuple[str, str] | None:
    """(repo, file) when `text` reads as a hub id (org/repo, or org/repo/FILE), else None (a path)."""
    parts = text.strip().split("/")
    if text.startswith((".", "/", "~")) or len(parts) < 2 or not all(parts):
        return None
    if len(parts) == 2 and os.path.splitext(text)[1]:  # dir/file.safetensors: a relative path, not a repo
        return None
    return "/".join(parts[:2]), "/".join(parts[2:]) or defaults.SPEED_LORA_FILE


def resolve_speed_lora(spec: LoraSpec) -> LoraSpec:
    """The speed LoRA as a local file at its weight: the file given, or a hub repo's file from the cache (downloaded
    once when the Hub answers)."""
    path = os.path.abspath(os.path.expanduser(spec.path))
    if os.path.isfile(path):
        return LoraSpec(path, spec.weight)
    hub = hub_parts(spec.path)
    if hub is None:
        raise ModelNotFoundError("speed-lora", f"no file at {path}", FIX)
    repo, filename = hub
    if not filename.endswith(".safetensors"):
        raise InputError("speed-lora", f"{filename} is not a .safetensors file", FIX)
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    cached = try_to_load_from_cache(repo, filename)
    if isinstance(cached, str):
        return LoraSpec(cached, spec.weight)
    if hub_offline() or not reachable(hub_endpoint()):
        why = "HF_HUB_OFFLINE=1" if hub_offline() else f"the Hub ({hub_endpoint()}) cannot be reached"
        raise ModelNotFoundError("speed-lora", f"{repo}/{filename} is not in the local Hugging Face cache and {why}",
                                 "connect once to download it, or give the LoRA file")
    try:
        return LoraSpec(hf_hub_download(repo, filename), spec.weight)
    except Exception as exc:
        raise ModelNotFoundError("speed-lora", f"could not get {filename} from {repo} ({first_line(exc)})", FIX) from exc


def name_of(spec: LoraSpec) -> str:
    """What metadata calls it: the hub id as given, or the file name."""
    return spec.path if not Path(os.path.expanduser(spec.path)).is_file() else Path(spec.path).name
