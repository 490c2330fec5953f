"""Resumable checkpoints: one folder per step, written whole or not at all.

    <checkpoint dir>/step-000500/lora.safetensors   the LoRA at that step (loads like the final file)
                                  state.pt           LoRA weights, optimizer, LR schedule, scaler, random states
                                  run.json           the settings a resumed run must keep, base and dataset hash
    <checkpoint dir>/samples/step-000500.png         the sample prompt at that step
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError

_STEP_DIR = re.compile(r"^step-(\d+)$")


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    step: int

    @property
    def lora(self) -> Path:
        return self.path / "lora.safetensors"

    @property
    def run(self) -> dict[str, Any]:
        return json.loads((self.path / "run.json").read_text(encoding="utf-8"))

    def state(self, device: torch.device | str = "cpu") -> dict[str, Any]:
        # weights_only: a checkpoint is tensors, numbers and dicts; nothing in it may run code
        return torch.load(self.path / "state.pt", map_location=device, weights_only=True)


def default_checkpoint_dir(out: Path) -> Path:
    """`styles/ghibli.safetensors` -> `styles/ghibli-checkpoints/`."""
    return out.with_name(f"{out.stem}-checkpoints")


def list_checkpoints(folder: Path) -> list[Checkpoint]:
    """Complete checkpoints in `folder`, oldest first (a folder without state.pt is not one)."""
    if not folder.is_dir():
        return []
    found = []
    for child in folder.iterdir():
        m = _STEP_DIR.match(child.name)
        if m and (child / "state.pt").is_file() and (child / "run.json").is_file():
            found.append(Checkpoint(child, int(m.group(1))))
    return sorted(found, key=lambda c: c.step)


def find_checkpoint(resume: str, folder: Path) -> Checkpoint:
    """`latest` (the newest in `folder`) or a `step-N` folder's path."""
    if resume == "latest":
        found = list_checkpoints(folder)
        if not found:
            raise InputError("resume", f"no checkpoint in {folder}", "train without --resume first, or pass --checkpoint-dir where they are")
        return found[-1]
    path = Path(resume).expanduser()
    m = _STEP_DIR.match(path.name)
    if not m or not (path / "state.pt").is_file():
        raise InputError("resume", f"{path} is not a checkpoint folder (step-N with state.pt)", "pass latest, or a step-N folder")
    return Checkpoint(path, int(m.group(1)))


def save_checkpoint(folder: Path, step: int, *, lora: dict[str, torch.Tensor], lora_metadata: dict[str, str],
                    state: dict[str, Any], run: dict[str, Any], keep: int = 0) -> Checkpoint:
    """Write `step-N/` beside a temporary name, then rename it into place; prune to the newest `keep`."""
    from .lora_file import write_lora

    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{step:06d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=folder))
    try:
        write_lora(tmp / "lora.safetensors", lora, lora_metadata)
        torch.save(state, tmp / "state.pt")
        (tmp / "run.json").write_text(json.dumps(run, indent=1), encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if keep:
        for old in list_checkpoints(folder)[:-keep]:
            shutil.rmtree(old.path, ignore_errors=True)
    return Checkpoint(final, step)
