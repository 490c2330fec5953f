"""Named speed/quality presets: how many frames are painted, with how many denoising steps.

A preset fixes the schedule (keyframe cadence with flow in-betweens, img2img strength, step counts,
scheduler, ControlNet scale); anything a user sets explicitly wins over it. The values live in
`defaults.PRESET_VALUES` (the one source `AnimationSettings()` also takes its defaults from).

UNet steps per output frame, for a 16-frame loop (8 planned frames, one in-between each):

    quality   every frame painted, 25 steps, strength 0.55: 25 + 7 x 13 = 116 steps  -> 7.25 per frame
    balanced  every 2nd frame,     16 steps, strength 0.45: 16 + 3 x 7  =  37 steps  -> 2.31 per frame
    fast      every 4th frame,     10 steps, strength 0.5 : 10 + 1 x 5  =  15 steps  -> 0.94 per frame

The original loop (30 txt2img steps, then 40 x 0.7 = 28 per frame, no in-betweens) needs 28.4 for 5 frames.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import defaults
from .animate import AnimationSettings
from .blend import MotionSettings
from .errors import check_choice
from .schedule import denoising_steps


@dataclass(frozen=True)
class Preset:
    """The painting and motion values a preset sets; every other setting keeps its own default."""

    name: str
    steps: int
    strength: float
    scheduler: str
    controlnet_scale: float
    cadence: int
    interpolate: int
    cache_interval: int = 1
    controlnet_end: float = 1.0
    cfg_end: float = 1.0
    #: the guidance scale the preset paints with (None: the setting's own default, 7.5)
    guidance: float | None = None

    #: The fields that go to AnimationSettings and to MotionSettings.
    ANIMATION_FIELDS = ("steps", "strength", "scheduler", "controlnet_scale", "cache_interval", "controlnet_end", "cfg_end",
                        "guidance")
    MOTION_FIELDS = ("cadence", "interpolate")

    @property
    def models(self) -> dict[str, str]:
        """The models this preset paints with unless others are named (speed_lora, tiny_vae; defaults.PRESET_MODELS)."""
        return dict(defaults.PRESET_MODELS.get(self.name, {}))

    @property
    def description(self) -> str:
        """What the preset paints, in words (written from its values, so it cannot drift from them)."""
        reused = []
        if self.cache_interval > 1:
            reused.append(f"deep features every {_ordinal(self.cache_interval)} step")
        if self.controlnet_end < 1:
            reused.append(f"ControlNet for the first {self.controlnet_end:g} of the steps")
        if self.cfg_end < 1:
            reused.append(f"guidance for the first {self.cfg_end:g}")
        painted = f"({self.steps} steps, strength {self.strength:g}" + (f"; {', '.join(reused)}" if reused else "") + ")"
        if self.cadence == 1:
            return f"every frame painted {painted}"
        return f"every {_ordinal(self.cadence)} frame painted {painted}, the rest by optical flow"

    def _set(self, names: tuple[str, ...]) -> dict[str, Any]:
        """The named values this preset sets (guidance only where it sets one)."""
        return {k: getattr(self, k) for k in names if not (k == "guidance" and self.guidance is None)}

    def values(self) -> dict[str, Any]:
        """Every value the preset sets, by setting name."""
        return self._set(self.ANIMATION_FIELDS + self.MOTION_FIELDS)

    def painting_values(self) -> dict[str, Any]:
        """The values the painting stage takes (what the Sequential Img2Img node's widgets hold): all but the in-betweens."""
        return self._set((*self.ANIMATION_FIELDS, "cadence"))

    def animation(self, **overrides: Any) -> AnimationSettings:
        """AnimationSettings with this preset's values; `overrides` that are not None win."""
        values = self._set(self.ANIMATION_FIELDS)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return AnimationSettings(**values)

    def motion(self, **overrides: Any) -> MotionSettings:
        """MotionSettings with this preset's cadence and in-betweens; `overrides` that are not None win."""
        values = {k: getattr(self, k) for k in self.MOTION_FIELDS}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return MotionSettings(**values)

    def steps_per_output_frame(self, planned_frames: int = defaults.FRAMES, loop: bool = True) -> float:
        """UNet denoising steps per output frame of an animation of `planned_frames` planned frames."""
        motion = self.motion(loop=loop)
        return denoising_steps(self.animation(frames=planned_frames), motion) / motion.output_count(planned_frames)


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


PRESETS: dict[str, Preset] = {name: Preset(name, **values) for name, values in defaults.PRESET_VALUES.items()}
DEFAULT_PRESET = defaults.DEFAULT_PRESET


def get_preset(name: str | None) -> Preset:
    """The named preset (None: the default); an unknown name is an InputError listing the choices."""
    name = DEFAULT_PRESET if name is None else name
    check_choice("preset", name, PRESETS, "preset")
    return PRESETS[name]


def default_motion() -> MotionSettings:
    """The default preset's cadence and in-betweens (what a render without motion settings uses)."""
    return get_preset(None).motion()
