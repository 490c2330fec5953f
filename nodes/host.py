"""What the nodes ask of the ComfyUI that hosts them: model folders, progress, cancel, metadata settings."""
from __future__ import annotations

import functools
import inspect
import logging
import os
from typing import Callable, Hashable, Iterable

import folder_paths

from ghibli_core.api import __version__, Cancelled, defaults, file_identity, HELD, ModelNotFoundError, Progress

log = logging.getLogger(__name__)

#: What the pack's files name as their maker.
GENERATOR = f"ghibli-anim {__version__} (ComfyUI)"
#: A model folder kind ComfyUI does not have: transformers depth estimators (models/depth/<name>/config.json).
DEPTH_FOLDER = "depth"
#: Text-to-music models (MusicGen folders: models/musicgen/<name>/config.json).
MUSIC_FOLDER = "musicgen"
#: Edge detectors' weights (lllyasviel/Annotators' files: models/annotators/<name>/ControlNetHED.pth, ...).
ANNOTATORS_FOLDER = "annotators"
DIFFUSERS_TAG = " [diffusers]"  # marks a diffusers folder among single-file checkpoints in one list


def register_folders() -> None:
    """Add models/depth, models/musicgen and models/annotators (extra paths may add more through extra_model_paths.yaml's
    `depth:`, `musicgen:` and `annotators:` keys)."""
    for kind in (DEPTH_FOLDER, MUSIC_FOLDER, ANNOTATORS_FOLDER):
        folder_paths.add_model_folder_path(kind, os.path.join(folder_paths.models_dir, kind), is_default=True)


def _subfolders_with(kind: str, *markers: str) -> dict[str, str]:
    """Folders under every `kind` path that hold one of `markers`, by name relative to that path (one walk)."""
    found: dict[str, str] = {}
    try:
        roots = folder_paths.get_folder_paths(kind)
    except KeyError:
        return found
    for root in roots:
        if not os.path.isdir(root):
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            if dirpath != root and not set(markers).isdisjoint(filenames):
                found.setdefault(os.path.relpath(dirpath, root).replace(os.sep, "/"), dirpath)
                dirnames.clear()  # a model folder's subfolders are its parts, not more models
    return found


def base_models() -> dict[str, str]:
    """SD1.5 models by the name shown in the list: checkpoint files, then diffusers folders."""
    models = {name: "" for name in folder_paths.get_filename_list("checkpoints")}
    for name, path in _subfolders_with("diffusers", "model_index.json").items():
        models[name + DIFFUSERS_TAG] = path
    return models


def controlnet_models() -> dict[str, str]:
    models = {name: "" for name in folder_paths.get_filename_list("controlnet")}
    for name, path in _subfolders_with("controlnet", "config.json").items():
        models[name + DIFFUSERS_TAG] = path
    return models


#: the loader's `tiny_vae` choice that keeps the model's own VAE
NO_TINY_VAE = "none"


def tiny_vae_models() -> dict[str, str]:
    """The loader's tiny_vae choices: "none", then the TAESD decoder files in models/vae_approx (their encoders sit
    beside them; .safetensors only: the .pth releases are pickles)."""
    models = {NO_TINY_VAE: NO_TINY_VAE}
    for name in folder_paths.get_filename_list("vae_approx"):
        if "decoder" in name.lower() and name.lower().endswith(".safetensors"):
            models[name] = ""
    return models


def depth_models() -> dict[str, str]:
    """Local transformers depth folders, then the default hub id (used from the Hugging Face cache)."""
    models = dict(_subfolders_with(DEPTH_FOLDER, "config.json"))
    models.setdefault(defaults.DEPTH_MODEL, defaults.DEPTH_MODEL)
    return models


def annotator_folders() -> dict[str, str]:
    """Folders in models/annotators holding an edge detector's files (lllyasviel/Annotators' `.pth`, or `.safetensors`
    copies), then the default hub id (used from the Hugging Face cache)."""
    from pathlib import PurePath

    from ghibli_core.api import EDGE_KINDS

    files = {n for kind in EDGE_KINDS.values() for f in kind.files for n in (f, PurePath(f).stem + ".safetensors")}
    found = _subfolders_with(ANNOTATORS_FOLDER, *sorted(files))
    found.setdefault(defaults.ANNOTATORS, defaults.ANNOTATORS)
    return found


def music_models() -> dict[str, str]:
    """Local MusicGen folders, then the default hub id (used from the Hugging Face cache, or downloaded once)."""
    models = dict(_subfolders_with(MUSIC_FOLDER, "config.json"))
    models.setdefault(defaults.MUSIC_MODEL, defaults.MUSIC_MODEL)
    return models


def where_to_put(kind: str, value: str) -> str:
    """Where a missing model goes, in a canvas user's words: ComfyUI's primary `models/<kind>` folder (its full path),
    the download link for the files the shipped workflows name, and how to refresh the lists."""
    folders = list(folder_list(kind))
    primary = next((f for f in folders if os.path.normpath(f).endswith(os.path.join("models", kind))), folders[0] if folders else None)
    where = f"models/{kind}" + (f" ({primary})" if primary else "")
    hint = defaults.MODEL_DOWNLOADS.get(value)
    link = f", downloading it from {hint[1]}" if hint else ""
    return f"put it in {where}{link}, then press R in the canvas to refresh the lists"


def missing_model_message(input_name: str, value: str, kind: str) -> str:
    return f"{input_name}: {value!r} is not in ComfyUI's {kind} models; {where_to_put(kind, value)}"


def resolve_listed(value: str, listing: dict[str, str], kind: str, input_name: str) -> str:
    """The path (or hub id) behind a listed name; a missing one names the folder to put it in."""
    if value in listing:
        return listing[value] or folder_paths.get_full_path_or_raise(kind, value)
    raise ModelNotFoundError(input_name, f"{value!r} is not in ComfyUI's {kind} models", where_to_put(kind, value))


def folder_list(kind: str) -> Iterable[str]:
    try:
        return folder_paths.get_folder_paths(kind)
    except KeyError:
        return []


def comfy_device():
    """The torch.device ComfyUI itself runs on (honours --cpu, --cuda-device ...)."""
    import comfy.model_management as mm

    return mm.get_torch_device()


def torch_device() -> str:
    return str(comfy_device())


#: SD1.5's UNet, for ComfyUI's precision choice (it weighs the model's size against free memory).
SD15_UNET_PARAMS = 860_000_000
_DTYPE_NAMES = {"torch.float16": "fp16", "torch.bfloat16": "bf16", "torch.float32": "fp32"}


def torch_dtype(device: str) -> str:
    """The precision ComfyUI would load an SD1.5 UNet in on `device` (its --fp16-unet / --bf16-unet / --fp32-unet
    flags and its own checks; fp32 under --cpu), as one of the engine's dtype names. A ComfyUI without that function,
    or an answer the pipelines cannot run (fp8, fp64), gives the engine's own `auto`."""
    import torch

    import comfy.model_management as mm

    choose = getattr(mm, "unet_dtype", None)
    if choose is None:
        return "auto"
    try:
        chosen = choose(device=torch.device(device), model_params=SD15_UNET_PARAMS,
                        supported_dtypes=[torch.float16, torch.bfloat16, torch.float32])
    except TypeError:  # a signature this pack does not know: leave the choice to the engine
        return "auto"
    return _DTYPE_NAMES.get(str(chosen), "auto")


class StepProgress:
    """One ProgressBar tick per denoising step, and each painted frame as the canvas preview.

    Between frames, each step's latents are previewed the way ComfyUI previews its own samplers: its previewer, as the
    user set it (`--preview-method`: TAESD from models/vae_approx, or latent2rgb; none by default). ComfyUI's
    progress hook raises its interrupt exception when the user pressed Cancel, so a run stops between two steps.
    """

    def __init__(self, total_steps: int, node_id: str | None) -> None:
        import comfy.utils

        self.bar = comfy.utils.ProgressBar(total_steps, node_id=node_id)
        self.device = comfy_device()
        self.previewer = step_previewer(self.device)

    def step(self, progress: Progress) -> None:
        preview = None
        if self.previewer is not None and progress.latents is not None:
            import torch

            with torch.inference_mode():
                preview = self.previewer.decode_latent_to_preview_image("JPEG", progress.latents.float().to(self.device))
        self.bar.update_absolute(self.bar.current + 1, preview=preview)

    def frame(self, frame) -> None:
        # at its own size: ComfyUI scales the preview to fit max_size, up as well as down, and labels it with that size
        self.bar.update_absolute(self.bar.current, preview=("JPEG", frame.image, max(frame.image.size)))


def step_previewer(device):
    """ComfyUI's own latent previewer for SD1.5 latents (None when previews are off), as its samplers use it."""
    import comfy.latent_formats
    import latent_preview

    return latent_preview.get_previewer(device, comfy.latent_formats.SD15())


def cancel_check() -> Callable[[], bool]:
    import comfy.model_management as mm

    return mm.processing_interrupted


def raise_if_cancelled(exc: Cancelled) -> None:
    """Turn the engine's Cancelled into ComfyUI's own interrupt, which the queue reports as 'interrupted'."""
    import comfy.model_management as mm

    mm.throw_exception_if_processing_interrupted()
    raise exc


def metadata_enabled() -> bool:
    from comfy.cli_args import args

    return not args.disable_metadata


#: What a model whose files cannot be sized (a hub id not in the cache yet) is assumed to take.
UNKNOWN_MODEL_BYTES = 2 * 1024**3


def make_room(device: str, bytes_needed: int) -> None:
    """Ask ComfyUI to offload its own models from a GPU before ours (`bytes_needed`, from their files) move there."""
    if device.startswith("cuda"):
        import torch
        import comfy.model_management as mm

        mm.free_memory(bytes_needed, torch.device(device))


#: The held model set each loader node (by its id in the graph) gave last.
_GIVEN: dict[str, Hashable] = {}


def hold_for(node_id: str | None, held):
    """`held` (a HeldPipelines) as the output of loader node `node_id`, letting the set that node gave before go when it
    differs and no other node gives it: trying checkpoints or edge controls one after another holds one set, not one
    per try (a handle still cached somewhere loads its models again on use)."""
    if node_id is None:
        return held
    old, _GIVEN[node_id] = _GIVEN.get(node_id), held.key
    if old is not None and old != held.key and old not in _GIVEN.values():
        HELD.drop(old)
    return held


def release_with_comfyui() -> None:
    """Let *Unload Models* (`POST /free`) release the engine's held models (pipelines, depth, chat) too.

    ComfyUI tracks only its own ModelPatcher models; for /free its prompt worker calls
    `comfy.model_management.unload_all_models()`, looked up on the module each time, so the pack wraps that one
    function (once; the wrapper calls ComfyUI's own first, and releases ours even if it raises).
    """
    import comfy.model_management as mm

    from ghibli_core.api import release_models

    from .validation import warn_once

    original = getattr(mm, "unload_all_models", None)
    if getattr(original, "ghibli_releases_models", False):
        return
    if not callable(original) or not _callable_without_arguments(original):
        warn_once("Ghibli Animation: this ComfyUI has no unload_all_models() the pack knows; Unload Models will not "
                    "release the pack's models (they are freed when ComfyUI exits)")
        return

    @functools.wraps(original)
    def unload_all_models(*args, **kwargs):
        try:
            return original(*args, **kwargs)
        finally:
            release_models()

    unload_all_models.ghibli_releases_models = True
    mm.unload_all_models = unload_all_models


def _callable_without_arguments(func) -> bool:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params)


def file_fingerprint(*paths: str) -> tuple:
    """Changes when a model file is replaced under the same name, so ComfyUI's cache reloads it."""
    return tuple(file_identity(p) for p in paths)
