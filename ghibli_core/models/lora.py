"""Style LoRAs: parse `FILE[:WEIGHT]`, inspect a file's layout and target base, attach several at once.

Both layouts users have load through diffusers' own `load_lora_weights` (it converts kohya keys):
- diffusers/peft: ``unet.<module>.lora_A.weight`` / ``text_encoder.<module>.lora_B.weight``
- kohya (A1111, ComfyUI, Civitai): ``lora_unet_<module>.lora_down.weight`` + ``.alpha``
"""
from __future__ import annotations

import math
import re
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import InputError, ModelNotFoundError, first_line
from ..files import file_identity
from .sources import PICKLE_EXTS, SAFE_EXTS, safetensors_keys

WEIGHT_RANGE = (-4.0, 4.0)


@dataclass(frozen=True)
class LoraSpec:
    """One LoRA file and the weight it is applied with (diffusers' adapter weight)."""

    path: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.weight, (int, float)) or not math.isfinite(self.weight):
            raise InputError("lora", f"weight {self.weight!r} is not a number", "write FILE:WEIGHT, e.g. style.safetensors:0.8")
        lo, hi = WEIGHT_RANGE
        if not lo <= self.weight <= hi:
            raise InputError("lora", f"weight {self.weight} for {Path(self.path).name} is out of range", f"use a weight in [{lo}, {hi}]")

    @classmethod
    def parse(cls, text: str) -> "LoraSpec":
        """`FILE` or `FILE:WEIGHT`. A drive letter (``C:\\x``) or a colon inside a file name stays in FILE."""
        usage = "write FILE or FILE:WEIGHT, e.g. style.safetensors:0.8"
        if not isinstance(text, str) or not text.strip():
            raise InputError("lora", "is empty", usage)
        text = text.strip()
        head, sep, tail = text.rpartition(":")
        is_weight_part = bool(sep and head) and len(head) > 1 and not re.search(r"[\\/]|\.(safetensors|ckpt|pt|pth|bin)$", tail, re.I)
        if not is_weight_part:
            return cls(text)
        try:
            weight = float(tail)
        except ValueError:
            raise InputError("lora", f"{text!r}: weight {tail!r} is not a number", usage) from None
        return cls(head, weight)

    @property
    def name(self) -> str:
        return Path(self.path).name


@dataclass(frozen=True)
class LoraInfo:
    """What a LoRA file's header says: its layout, what it targets, and the base it was made for."""

    layout: str  # "kohya" | "diffusers"
    targets: frozenset[str]  # {"unet", "text_encoder"}
    cross_attention_dim: int | None
    text_hidden_size: int | None
    rank: int | None
    for_sdxl: bool


_DOWN = re.compile(r"(lora_down|lora_A|lora\.down|_lora\.down)(\.[\w-]+)?\.weight$")


def inspect_lora(path: str) -> LoraInfo:
    """Read only the safetensors header of a LoRA file and describe it; refuse anything else."""
    keys = safetensors_keys(path, "lora")
    name = Path(path).name
    downs = {k: s for k, s in keys.items() if _DOWN.search(k)}
    if not downs:
        raise InputError("lora", f"{name} holds no LoRA tensors (no lora_down/lora_A weights)", "pass a LoRA .safetensors file")
    layout = "kohya" if any(k.startswith(("lora_unet_", "lora_te")) for k in keys) else "diffusers"
    targets = set()
    if any(k.startswith(("lora_unet_", "unet.")) or "diffusion_model" in k for k in downs):
        targets.add("unet")
    if any(k.startswith(("lora_te", "text_encoder")) for k in downs):
        targets.add("text_encoder")
    for_sdxl = any(k.startswith(("lora_te2_", "text_encoder_2.")) or "add_embedding" in k for k in keys)

    def in_dim(pattern: str) -> int | None:
        for k, shape in downs.items():
            if re.search(pattern, k) and len(shape) >= 2:
                return int(shape[1])
        return None

    cross = in_dim(r"attn2[._](to_k|to_v)")
    text = in_dim(r"^(lora_te1?_|text_encoder\.).*(q_proj|k_proj|v_proj)")
    rank = next((int(s[0]) for s in downs.values() if s), None)
    return LoraInfo(layout, frozenset(targets), cross, text, rank, for_sdxl)


def check_lora_file(spec: LoraSpec, *, cross_attention_dim: int, text_hidden_size: int, allow_pickle: bool = False) -> LoraInfo | None:
    """Refuse a missing, corrupt, non-LoRA or other-base file before any model loads."""
    path = Path(spec.path).expanduser()
    if not path.is_file():
        raise ModelNotFoundError(
            "lora", f"no file at {path.resolve()}", "check the path; ComfyUI keeps LoRAs in models/loras"
        )
    if path.suffix.lower() in PICKLE_EXTS:
        if not allow_pickle:
            raise InputError("lora", f"{path.name} is a pickle file, which can run code when loaded", "use a .safetensors LoRA, or opt in with --allow-pickle")
        return None
    if path.suffix.lower() not in SAFE_EXTS:
        raise InputError("lora", f"{path.name} is not a .safetensors file", "pass a LoRA .safetensors file")
    info = inspect_lora(str(path))
    base = f"this base model (cross-attention {cross_attention_dim}, text encoder {text_hidden_size})"
    if info.for_sdxl:
        raise InputError("lora", f"{path.name} was made for SDXL, not for {base}", "use an SD1.5 LoRA")
    if info.cross_attention_dim is not None and info.cross_attention_dim != cross_attention_dim:
        raise InputError(
            "lora",
            f"{path.name} was made for a base with cross-attention {info.cross_attention_dim} ({_guess_base(info.cross_attention_dim)}), not {base}",
            "use a LoRA trained on the same base model",
        )
    if info.text_hidden_size is not None and info.text_hidden_size != text_hidden_size:
        raise InputError(
            "lora",
            f"{path.name} targets a text encoder of width {info.text_hidden_size} ({_guess_base(info.text_hidden_size)}), not {base}",
            "use a LoRA trained on the same base model",
        )
    return info


def _guess_base(dim: int) -> str:
    return {768: "SD1.x", 1024: "SD2.x", 2048: "SDXL"}.get(dim, "an unknown base")


def adapter_name(index: int, spec: LoraSpec) -> str:
    stem = re.sub(r"[^A-Za-z0-9_]", "_", Path(spec.path).stem)[:40]
    return f"lora{index}_{stem}"


def _load_adapter(pipe: Any, spec: LoraSpec, name: str) -> None:
    try:
        with warnings.catch_warnings():  # peft warns on every adapter after the first; several are the point here
            warnings.filterwarnings("ignore", message="Already found a `peft_config`")
            pipe.load_lora_weights(str(Path(spec.path).expanduser()), adapter_name=name)
    except Exception as exc:
        raise InputError("lora", f"{spec.name} could not be applied ({first_line(exc)})", "use an SD1.5 LoRA in diffusers or kohya layout") from exc


def lora_key(spec: LoraSpec) -> tuple:
    """Identifies a LoRA file's content cheaply: a changed file (new mtime/size) is a different adapter."""
    return file_identity(Path(spec.path).expanduser().resolve())


def use_loras(pipe: Any, loaded: dict[tuple, str], specs: tuple[LoraSpec, ...] | list[LoraSpec]) -> list[str]:
    """Make exactly `specs` the active adapters of `pipe`, loading only files not yet in `loaded`.

    `loaded` maps `lora_key` to adapter names and is updated in place; adapters stay loaded while
    inactive, so switching LoRAs or weights between runs never reloads the base model.
    """
    names = []
    for spec in specs:
        key = lora_key(spec)
        if key not in loaded:
            name = adapter_name(len(loaded), spec)
            _load_adapter(pipe, spec, name)
            loaded[key] = name
        names.append(loaded[key])
    if len(set(names)) != len(names):
        raise InputError("lora", "the same LoRA file is applied twice", "chain each LoRA once and set its weight instead")
    if names:
        pipe.enable_lora()
        pipe.set_adapters(names, adapter_weights=[s.weight for s in specs])
    elif loaded:
        pipe.disable_lora()
    return names


class AdapterGate:
    """Runs that paint with the same LoRA adapters share the weights at once; a run with other adapters waits until
    they are done, then switches them (adapter weights are state on the shared model)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active: tuple | None = None
        self._users = 0

    @contextmanager
    def use(self, key: tuple, activate: Callable[[], Any]) -> Iterator[None]:
        with self._cond:
            while self._users and self._active != key:
                self._cond.wait()
            if self._active != key:
                activate()
                self._active = key
            self._users += 1
        try:
            yield
        finally:
            with self._cond:
                self._users -= 1
                self._cond.notify_all()

    def forget(self) -> None:
        """Adapters were changed outside the gate (a handle activated its own): the next user re-activates."""
        with self._cond:
            if not self._users:
                self._active = None
