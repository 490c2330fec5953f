"""ghibli_core: one sentence to a hand-painted, Studio-Ghibli-style looping animation.

Stages, each usable alone (from Python, the `ghibli-anim` CLI, or the ComfyUI nodes):
    plan      make_plan(idea, n)                      -> Plan (n frame prompts)
    models    load_pipelines(ModelSettings(...))      -> GhibliPipelines (shared weights)
    animate   animate(pipes, plan.frames, settings)   -> yields Frame objects
    render    render_animation(pipes, plan.frames, settings, MotionSettings(...)) -> Animation
              (keyframes painted, cadence filled by flow, in-betweens, loop closed)
    presets   get_preset("balanced").animation(...), .motion()  -> the schedule of quality / balanced / fast
    metrics   compute_metrics(frames)                  -> flicker, warp error, loop seam, colour drift
    export    save_animation(images, "out.gif", ...)  -> looping GIF / WebP / APNG / MP4 / WebM, atomic, with metadata
    models    release_models()                         -> frees every model the engine holds between runs
    train     train_lora(data_dir, base, "style.safetensors", TrainSettings(...)) -> a style LoRA every tool loads
This package never imports ComfyUI.
"""
from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "AnimationSettings": "animate", "Frame": "animate", "animate": "animate", "paint_frame": "animate",
    "Painter": "painter", "PaintRequest": "painter", "Painted": "painter", "Control": "painter", "Progress": "painter",
    "RunPipelines": "painter", "ChainState": "chain",
    "ModelSettings": "models.pipelines", "GhibliPipelines": "models.pipelines", "load_pipelines": "models.pipelines",
    "LoraSpec": "models.lora", "release_models": "models.holder",
    "Plan": "plan", "make_plan": "plan", "PlannerSettings": "plan", "load_plan_file": "plan",
    "MotionSettings": "blend", "blend_frames": "blend", "render_animation": "render", "Animation": "render",
    "Preset": "presets", "PRESETS": "presets", "get_preset": "presets",
    "compute_metrics": "metrics", "load_frames": "readers",
    "save_animation": "export", "write_png_frames": "export", "read_metadata": "export",
    "make_tiny": "tiny", "ensure_tiny": "tiny", "TinyModels": "tiny",
    "train_lora": "train", "TrainSettings": "train", "read_lora_metadata": "train",
    "GhibliError": "errors", "InputError": "errors", "ModelNotFoundError": "errors", "ModelLoadError": "errors", "Cancelled": "errors",
}


def __getattr__(name: str):
    """Import heavy stages (torch, diffusers) only when first used, so `--help` and checks stay fast."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    module_name = _LAZY[name]
    module = importlib.import_module(f".{module_name}", __name__)
    # Bind every name this module exports: importing `.animate` just rebound `animate` to the module.
    for export, source in _LAZY.items():
        if source == module_name:
            globals()[export] = getattr(module, export)
    return globals()[name]


__all__ = sorted(_LAZY) + ["__version__"]
