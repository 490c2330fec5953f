"""Schedule arithmetic: which frames are painted, how many denoising steps that costs, the output frame rate.

Plain numbers only (no model, no image), so the presets, the renderer, the CLI, the batch jobs and the
nodes can all use it without importing each other.
"""
from __future__ import annotations

from typing import Any

from . import defaults


def keyframe_indices(frames: int, cadence: int, loop: bool) -> list[int]:
    """Which of `frames` output frames are painted: 0, c, 2c, ... (and the last one when the animation does not loop)."""
    keys = list(range(0, frames, max(1, cadence)))
    if not loop and keys[-1] != frames - 1:
        keys.append(frames - 1)
    return keys


def denoising_steps(settings: Any, motion: Any = None, *, init_image: bool = False) -> int:
    """UNet steps a render runs: the first keyframe by txt2img (img2img from an init image), the others by img2img.

    `settings` is an AnimationSettings (a strength schedule counts frame by frame), `motion` a MotionSettings (None:
    the default preset's cadence, looping).
    """
    cadence, loop = (motion.cadence, motion.loop) if motion is not None else (defaults.preset_value("cadence"), True)
    keys = keyframe_indices(settings.frames, cadence, loop)
    first = settings.img2img_steps(keys[0]) if init_image else settings.steps
    return first + sum(settings.img2img_steps(k) for k in keys[1:])


def default_fps(interpolate: int, base: float = defaults.BASE_FPS) -> float:
    """Keep the painted frames' pace when in-betweens are added, under GIF's practical ceiling."""
    return min(base * (interpolate + 1), defaults.MAX_DEFAULT_FPS)
