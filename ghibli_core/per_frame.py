"""Painting values that change over the animation: each one a number or a schedule in the camera's syntax
(`0:(0.5), 12:(0.35)`, expressions in `t` and `max_f`, never `eval`). Every schedule is evaluated at every frame
when the settings are built, so a value out of range fails then, naming the frame, before any model loads.

    strength, guidance, controlnet_scale   replace the plain value at each frame (`strength_schedule`, ...)
    seed                                   frame k's seed (`seed_schedule`; rounded), instead of the seed policy
    contrast, sharpen, noise               what is done before each img2img step (coherence.py); `sharpen` may be
                                           `auto` (measured) instead of an amount
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .camera.schedule import Schedule
from .errors import InputError

AUTO = "auto"
#: name -> (settings field holding the number or schedule, lowest, highest, lowest excluded)
RANGES: dict[str, tuple[str, float, float, bool]] = {
    "strength": ("strength_schedule", 0.0, 1.0, True),
    "guidance": ("guidance_schedule", 0.0, 30.0, False),
    "controlnet_scale": ("controlnet_scale_schedule", 0.0, 2.0, False),
    "seed": ("seed_schedule", 0.0, 2.0**32 - 1, False),
    "contrast": ("contrast", 0.0, 3.0, True),
    "sharpen": ("sharpen", 0.0, 5.0, False),
    "noise": ("noise", 0.0, 1.0, False),
}


@dataclass(frozen=True)
class FrameValues:
    """Every scheduled value at one frame."""

    strength: float
    guidance: float
    controlnet_scale: float
    seed: int | None
    contrast: float
    sharpen: float | str
    noise: float


def flag(name: str) -> str:
    """The CLI/metadata spelling of a settings field (`strength_schedule` -> `strength-schedule`)."""
    return name.replace("_", "-")


def parse_schedules(settings: Any, frames: int) -> dict[str, Schedule]:
    """The schedules `settings` (an AnimationSettings) holds, by value name, each checked at every frame."""
    out: dict[str, Schedule] = {}
    for name, (field, lo, hi, lo_open) in RANGES.items():
        value = getattr(settings, field)
        if value is None or (name == "sharpen" and isinstance(value, str) and value.strip().lower() == AUTO):
            continue
        schedule = Schedule.parse(value, flag(field), audio=getattr(settings, "audio_features", None))
        for t, v in enumerate(schedule.series(frames)):
            if not (lo < v if lo_open else lo <= v) or v > hi:
                bound = f"({lo:.10g}, {hi:.10g}]" if lo_open else f"[{lo:.10g}, {hi:.10g}]"
                where = "" if isinstance(value, (int, float)) or _is_number(schedule.text) else f"at frame {t} "
                raise InputError(flag(field), f"{v:g} {where}is out of range", f"keep it in {bound}")
        out[name] = schedule
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def values_at(settings: Any, schedules: Mapping[str, Schedule], index: int) -> FrameValues:
    """The values of frame `index` (a schedule wins over the plain setting)."""
    frames = settings.frames

    def get(name: str, plain: Any) -> Any:
        return schedules[name].at(index, frames) if name in schedules else plain

    seed = get("seed", None)
    return FrameValues(
        strength=get("strength", settings.strength), guidance=get("guidance", settings.guidance),
        controlnet_scale=get("controlnet_scale", settings.controlnet_scale),
        seed=None if seed is None else int(round(seed)), contrast=get("contrast", 1.0),
        sharpen=AUTO if "sharpen" not in schedules else schedules["sharpen"].at(index, frames), noise=get("noise", 0.0),
    )


#: the settings fields a front end may give as a number or a schedule (and `auto` for sharpen)
SCHEDULE_FIELDS = ("strength_schedule", "guidance_schedule", "controlnet_scale_schedule", "seed_schedule", "contrast", "sharpen", "noise")


def number_or_schedule(value: Any) -> float | str | None:
    """What a CLI flag, jobs-file cell or node widget holds, as a settings value: None when empty, a float when it is a
    plain number, `auto`, or the schedule text (checked later, by the settings)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return AUTO if text.lower() == AUTO else text
