"""Every model the engine keeps loaded between runs, in one place a host can release: the one cache layer.

Loading functions load and return; only the holder keeps. Pipelines asked for through `pipelines.HeldPipelines` (the
CLI's batch, ComfyUI's loader) and the depth estimator they share, and the planner's local chat model, live in `HELD`,
keyed by what they were loaded from. `release_models()` drops them all (a host calls it when the user frees memory: ComfyUI's
*Unload Models*); a `HeldPipelines` handle that outlives a release loads its models again on first use, so a graph
cached by the host still runs. `weights_bytes` sizes a load from the files' own headers, before any weight is read.
"""
from __future__ import annotations

import gc
import math
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Hashable, TypeVar

import torch

from .sources import safetensors_keys

if TYPE_CHECKING:
    from .sources import ModelSource

T = TypeVar("T")


class ModelHolder:
    """Loaded models by key; `get` loads once, `release` lets every one of them go."""

    def __init__(self) -> None:
        self._models: dict[Hashable, Any] = {}
        self._labels: dict[Hashable, str] = {}
        self._released: list[weakref.ref] = []  # the last release's models, to tell whether they really went
        self._lock = threading.RLock()

    def get(self, key: Hashable, load: Callable[[], T], label: str | None = None) -> T:
        """The model held under `key`, loaded by `load()` the first time; `label` names it for `summary` (no paths)."""
        with self._lock:
            if key not in self._models:
                self._models[key] = load()
                self._labels[key] = label or str(key)
            return self._models[key]

    def drop(self, key: Hashable) -> bool:
        """Let the model held under `key` go (the others stay); whether one was held."""
        with self._lock:
            found = self._models.pop(key, None) is not None
            self._labels.pop(key, None)
        if found:
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        return found

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._models)

    def nbytes(self) -> int:
        """Parameter and buffer bytes of every held model (shared tensors counted once)."""
        with self._lock:
            return tensor_bytes(*self._models.values())

    def release(self) -> int:
        """Drop every held model; returns how many. Memory returns once nothing else refers to them."""
        with self._lock:
            count = len(self._models)
            self._released = [weakref.ref(m) for module in self._models.values() for m in _modules(module)]
            self._models.clear()
            self._labels.clear()
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return count


    def released_alive(self) -> int:
        """How many modules of the last release something still keeps in memory (0: all of them are gone)."""
        gc.collect()
        return sum(ref() is not None for ref in self._released)

    def summary(self) -> dict[str, Any]:
        """What is held, for a host to show: keys (as text, no local paths), bytes, and the last release's leftovers."""
        with self._lock:
            labels = list(self._labels.values())
        return {"held": labels, "bytes": self.nbytes(), "released_alive": self.released_alive()}


#: The engine's one holder.
HELD = ModelHolder()


def release_models() -> int:
    """Release every model the engine holds (the host's "free memory"); returns how many were held."""
    return HELD.release()


def _modules(obj: Any) -> list[torch.nn.Module]:
    """The torch modules inside a model object: itself, a diffusers/transformers pipeline's parts, or our wrappers."""
    if isinstance(obj, torch.nn.Module):
        return [obj]
    found: list[torch.nn.Module] = []
    components = getattr(obj, "components", None)  # diffusers pipelines
    if isinstance(components, dict):
        for part in components.values():
            found += _modules(part)
    for name in ("model", "pipe", "txt2img", "img2img", "depth"):  # transformers pipelines, DepthEstimator, GhibliPipelines
        part = getattr(obj, name, None)
        if part is not None and part is not obj and not isinstance(part, (str, bytes)):
            found += _modules(part)
    return found


def tensor_bytes(*objects: Any) -> int:
    """Bytes of the parameters and buffers of the modules in `objects`, each tensor's storage counted once."""
    seen: set[int] = set()
    total = 0
    for obj in objects:
        for module in _modules(obj):
            for tensor in (*module.parameters(), *module.buffers()):
                ptr = tensor.untyped_storage().data_ptr()
                if ptr in seen:
                    continue
                seen.add(ptr)
                total += tensor.untyped_storage().nbytes()
    return total


# --- sizing a load before it happens ----------------------------------------------------------------------------
def _file_numel(path: Path) -> int:
    if path.suffix == ".safetensors":
        return sum(math.prod(shape) for shape in safetensors_keys(str(path), "model").values())
    return path.stat().st_size // 2  # a pickle checkpoint: assume half-precision weights, the common case


def _folder_numel(folder: Path) -> int:
    """A model folder (diffusers or transformers): per subfolder, its largest weights file (variants are alternatives)."""
    by_dir: dict[Path, int] = {}
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix in (".safetensors", ".bin", ".ckpt", ".pt", ".pth"):
            by_dir[path.parent] = max(by_dir.get(path.parent, 0), _file_numel(path))
    return sum(by_dir.values())


def _hub_folder(repo_id: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    for marker in ("model_index.json", "config.json"):
        found = try_to_load_from_cache(repo_id, marker)
        if isinstance(found, str):
            return Path(found).parent
    return None


def source_numel(source: "ModelSource") -> int | None:
    """How many weights a model source holds, read from headers; None when it cannot be told (not cached)."""
    try:
        if source.kind == "file":
            return _file_numel(Path(source.location))
        folder = Path(source.location) if source.kind == "folder" else _hub_folder(source.location)
        return _folder_numel(folder) if folder is not None else None
    except (OSError, ValueError):  # InputError (an unreadable header) is a ValueError
        return None


def weights_bytes(resolved: Any, fallback: int) -> int:
    """Bytes the models of `resolved` (a `pipelines.ResolvedModels`; not imported: pipelines imports this) will take at the run's dtype (the depth model in float32 when the run is bf16,
    as it loads); `fallback` for a source whose size cannot be read."""
    size = torch.tensor([], dtype=resolved.dtype).element_size()
    depth_size = 4 if resolved.dtype == torch.bfloat16 else size
    total = 0
    for source, item in ((resolved.base, size), (resolved.controlnet, size), (resolved.depth, depth_size)):
        numel = source_numel(source)
        total += numel * item if numel is not None else fallback
    return total
