"""The trained LoRA as one `.safetensors` in the kohya layout, with its training record in the header.

kohya keys (``lora_unet_<module>.lora_down.weight`` / ``.lora_up.weight`` / ``.alpha``, ``lora_te_...`` for the text
encoder) are the layout every SD1.5 tool reads: ComfyUI's LoRA loader maps them natively, diffusers'
`load_lora_weights` converts them, A1111 and Civitai take them as they are. The per-module ``.alpha`` keeps
alpha ≠ rank, which a plain peft file without adapter metadata would lose.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch

from ..files import atomic_path

#: Prefix of every key this project writes into the safetensors header (read back by `read_lora_metadata`).
META_PREFIX = "ghibli_anim."


def peft_to_kohya(unet_layers: Mapping[str, torch.Tensor], text_encoder_layers: Mapping[str, torch.Tensor] | None,
                  alpha: float) -> dict[str, torch.Tensor]:
    """peft state dicts (``<module>.lora_A.weight`` keys, as `get_peft_model_state_dict` gives) -> kohya keys.

    diffusers' converter does the renaming; three things are set right around it: transformers 5's CLIP text model
    has no ``text_model.`` level, which every SD1.5 file (and ComfyUI's key map) has; the alpha the converter writes
    is the rank (here: the trained alpha); its text-encoder prefix is SDXL's ``lora_te1_`` where SD1.5 uses ``lora_te_``.
    """
    from diffusers.utils import convert_state_dict_to_kohya

    peft = {f"unet.{k}": v for k, v in unet_layers.items()}
    for key, value in (text_encoder_layers or {}).items():
        peft[f"text_encoder.{key if key.startswith('text_model.') else 'text_model.' + key}"] = value
    kohya = {}
    for key, value in convert_state_dict_to_kohya(peft).items():
        if key.startswith("lora_te1_"):
            key = "lora_te_" + key[len("lora_te1_"):]
        kohya[key] = torch.tensor(float(alpha)) if key.endswith(".alpha") else value
    return kohya


def training_metadata(*, base_model: str, rank: int, alpha: float, steps: int, resolution: int, dataset_size: int,
                      dataset_sha256: str, trigger_words: list[str], learning_rate: float, batch_size: int,
                      text_encoder: bool, title: str, extra: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The header of a trained LoRA: this project's record, plus the `ss_*` (kohya) and `modelspec.*` (SAI model
    spec) fields that A1111, Civitai and model managers display."""
    ours = {
        "base_model": base_model, "rank": rank, "alpha": alpha, "steps": steps, "resolution": resolution,
        "dataset_size": dataset_size, "dataset_sha256": dataset_sha256, "trigger_words": trigger_words,
        "learning_rate": learning_rate, "batch_size": batch_size, "text_encoder": text_encoder, **(extra or {}),
    }
    meta = {META_PREFIX + k: json.dumps(v) for k, v in ours.items()}  # JSON values: read back with their types
    meta |= {
        "ss_network_module": "networks.lora", "ss_network_dim": str(rank), "ss_network_alpha": f"{alpha:g}",
        "ss_base_model_version": "sd_v1", "ss_sd_model_name": base_model, "ss_resolution": f"({resolution}, {resolution})",
        "ss_num_train_images": str(dataset_size), "ss_max_train_steps": str(steps), "ss_steps": str(steps),
        "ss_learning_rate": f"{learning_rate:g}", "ss_network_train_unet_only": str(not text_encoder),
        "ss_training_comment": ", ".join(trigger_words),
        "modelspec.sai_model_spec": "1.0.0", "modelspec.architecture": "stable-diffusion-v1/lora",
        "modelspec.implementation": "https://github.com/huggingface/diffusers", "modelspec.title": title,
        "modelspec.resolution": f"{resolution}x{resolution}", "modelspec.trigger_phrase": ", ".join(trigger_words),
    }
    return meta


def write_lora(path: str | Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> Path:
    """Write the LoRA atomically: a crash or Ctrl-C leaves the previous file (or none), never half of one."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cpu = {k: v.detach().to("cpu", torch.float32 if v.is_floating_point() else v.dtype).contiguous() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(cpu, str(tmp), metadata=dict(metadata))
    return path


def read_lora_metadata(path: str | Path) -> dict[str, Any]:
    """This project's training record from a LoRA's header (empty for LoRAs made elsewhere)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        header = f.metadata() or {}
    return {k[len(META_PREFIX):]: json.loads(v) for k, v in header.items() if k.startswith(META_PREFIX)}
