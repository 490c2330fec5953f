"""Component configs shipped inside the package so single-file checkpoints load offline."""
from __future__ import annotations

import json
from pathlib import Path

CONFIG_ROOT = Path(__file__).resolve().parent.parent / "configs"
#: A diffusers-layout folder (configs + CLIP tokenizer, no weights) for SD1.5.
SD15_CONFIG_DIR = CONFIG_ROOT / "sd15"
#: The config of `lllyasviel/control_v11f1p_sd15_depth` (any SD1.5 ControlNet shares it).
CONTROLNET_CONFIG_DIR = CONFIG_ROOT / "controlnet_depth"


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
