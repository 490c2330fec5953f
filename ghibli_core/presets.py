"""Named speed/quality presets: how many frames are painted, with how many denoising steps.

A preset fixes the schedule (keyframe cadence with flow in-betweens, img2img strength, step counts,
scheduler, ControlNet scale); anything a user sets explicitly wins over it.

UNet steps per output frame, for a 16-frame loop (8 planned frames, one in-between each):

    quality   every frame painted, 25 steps, strength 0.55: 25 + 7 x 13 = 116 steps  -> 7.25 per frame
    balanced  every 2nd frame,     16 steps, strength 0.45: 16 + 3 x 7  =  37 steps  -> 2.31 per frame
    fast      every 4th frame,     10 steps, strength 0.5 : 10 + 1 x 5  =  15 steps  -> 0.94 per frame

The original loop (30 txt2img steps, then 40 x 0.7 = 28 per frame, no in-betweens) needs 28.4 for 5 frames.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .animate import AnimationSettings
from .blend import MotionSettings
from .errors import InputError


@dataclass(frozen=True)
class Preset:
    """The painting and motion values a preset sets; every other setting keeps its own default."""

    name: str
    description: str
    steps: int
    strength: float
    scheduler: str
    controlnet_scale: float
    cadence: int
    interpolate: int

    #: The fields that go to AnimationSettings and to MotionSettings.
    ANIMATION_FIELDS = ("steps", "strength", "scheduler", "controlnet_scale")
    MOTION_FIELDS = ("cadence", "interpolate")

    def values(self) -> dict[str, Any]:
        """Every value the preset sets, by setting name."""
        return {k: getattr(self, k) for k in self.ANIMATION_FIELDS + self.MOTION_FIELDS}

    def painting_values(self) -> dict[str, Any]:
        """The values the painting stage takes (what the Sequential Img2Img node's widgets hold): all but the in-betweens."""
        return {k: getattr(self, k) for k in (*self.ANIMATION_FIELDS, "cadence")}

    def animation(self, **overrides: Any) -> AnimationSettings:
        """AnimationSettings with this preset's values; `overrides` that are not None win."""
        values = {k: getattr(self, k) for k in self.ANIMATION_FIELDS}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return AnimationSettings(**values)

    def motion(self, **overrides: Any) -> MotionSettings:
        """MotionSettings with this preset's cadence and in-betweens; `overrides` that are not None win."""
        values = {k: getattr(self, k) for k in self.MOTION_FIELDS}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return MotionSettings(**values)

    def steps_per_output_frame(self, planned_frames: int = 8, loop: bool = True) -> float:
        """UNet denoising steps per output frame of an animation of `planned_frames` planned frames."""
        from .render import denoising_steps

        motion = self.motion(loop=loop)
        settings = self.animation(frames=planned_frames)
        return denoising_steps(settings, motion) / motion.output_count(planned_frames)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("quality", "every frame painted (25 steps, strength 0.55), one flow in-between each",
               steps=25, strength=0.55, scheduler="dpm++", controlnet_scale=0.8, cadence=1, interpolate=1),
        Preset("balanced", "every 2nd frame painted (16 steps, strength 0.45), the rest by optical flow",
               steps=16, strength=0.45, scheduler="dpm++", controlnet_scale=0.8, cadence=2, interpolate=1),
        Preset("fast", "every 4th frame painted (10 steps, strength 0.5), the rest by optical flow",
               steps=10, strength=0.5, scheduler="dpm++", controlnet_scale=0.7, cadence=4, interpolate=1),
    )
}
DEFAULT_PRESET = "balanced"


def get_preset(name: str | None) -> Preset:
    """The named preset (None: the default); an unknown name is an InputError listing the choices."""
    name = DEFAULT_PRESET if name is None else name
    if name not in PRESETS:
        raise InputError("preset", f"unknown preset {name!r}", f"use one of {', '.join(PRESETS)}")
    return PRESETS[name]

