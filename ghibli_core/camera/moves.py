"""Named camera moves users (and the planner) can say: `push-in`, `pan-left:0.5`, `sway` ...

Each is a set of per-axis increment schedules over the animation's length (texts in `t` and `max_f`, so one
definition fits any frame count), scaled by a strength (1 = the move as defined below, 0 = still). Amounts are
relative to the scene (`near`, the nearest depth) and the lens (`fov`), so a move looks the same at any resolution.
Over a whole animation, at strength 1:

    push-in / pull-back       forward / back by 0.3 x near (the nearest things grow by ~40 %)
    pan-left / pan-right      turn by a quarter of the field of view
    tilt-up / tilt-down       turn up / down by a quarter of the field of view
    truck-left / truck-right  sideways by 0.3 x near (parallax: near things slide, far ones hardly)
    crane-up / crane-down     up / down by 0.3 x near
    orbit-left / orbit-right  20 degrees around a point at the scene's middle depth, facing it
    roll-left / roll-right    roll 15 degrees counter-clockwise / clockwise
    sway                      a gentle hand-held drift (sideways and up, 0.05 x near) that returns to its
                              start pose at the last frame, so it loops
    static                    no move
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

from ..errors import InputError

STRENGTH_RANGE = (0.0, 4.0)
#: moves whose path returns to the start pose at the last frame
LOOPING = ("static", "sway")
_PER_STEP = "/max(max_f-1,1)"  # an amount spread evenly over the animation's steps


def _even(total: float) -> str:
    return f"{total:.6g}{_PER_STEP}"


def _sine_steps(amplitude: float, cycles: int) -> str:
    """Increments whose running sum is amplitude * sin(2 pi cycles t / (max_f - 1)): back to 0 at the last frame."""
    period = f"2*pi*{cycles}/max(max_f-1,1)"
    return f"{amplitude:.6g}*(sin({period}*t)-sin({period}*(t-1)))"


def move_axes(name: str, strength: float, *, fov: float, near: float, far: float) -> dict[str, str]:
    """The schedule text of every axis the named move uses (the others stay 0)."""
    s = strength
    travel, turn = 0.3 * near * s, 0.25 * fov * s
    if name == "orbit-left" or name == "orbit-right":
        pivot = math.sqrt(near * far)  # the scene's middle depth (geometric mean of near and far)
        sign = 1 if name == "orbit-right" else -1
        angle = math.radians(20 * s)
        # each step: a chord of the circle around the pivot, turning to keep facing it
        return {"translation_x": f"{sign * pivot:.6g}*sin({angle:.6g}{_PER_STEP})",
                "translation_z": f"{pivot:.6g}*(1-cos({angle:.6g}{_PER_STEP}))",
                "rotation_y": _even(-sign * math.degrees(angle))}
    table = {
        "static": {},
        "push-in": {"translation_z": _even(travel)},
        "pull-back": {"translation_z": _even(-travel)},
        "pan-left": {"rotation_y": _even(-turn)},
        "pan-right": {"rotation_y": _even(turn)},
        "tilt-up": {"rotation_x": _even(turn)},
        "tilt-down": {"rotation_x": _even(-turn)},
        "truck-left": {"translation_x": _even(-travel)},
        "truck-right": {"translation_x": _even(travel)},
        "crane-up": {"translation_y": _even(travel)},
        "crane-down": {"translation_y": _even(-travel)},
        "roll-left": {"rotation_z": _even(-15 * s)},
        "roll-right": {"rotation_z": _even(15 * s)},
        "sway": {"translation_x": _sine_steps(0.05 * near * s, 1), "translation_y": _sine_steps(0.025 * near * s, 2)},
    }
    return table[name]


MOVES = ("static", "push-in", "pull-back", "pan-left", "pan-right", "tilt-up", "tilt-down", "truck-left", "truck-right",
         "crane-up", "crane-down", "orbit-left", "orbit-right", "roll-left", "roll-right", "sway")


@dataclass(frozen=True)
class Move:
    """A named move and its strength, as users write it: `push-in`, `push-in:0.5`."""

    name: str = "static"
    strength: float = 1.0

    def __post_init__(self) -> None:
        if self.name not in MOVES:
            near = difflib.get_close_matches(str(self.name), MOVES, n=1)
            raise InputError("camera", f"unknown move {self.name!r}",
                             (f"did you mean {near[0]!r}? " if near else "") + f"use one of {', '.join(MOVES)}")
        lo, hi = STRENGTH_RANGE
        if isinstance(self.strength, bool) or not isinstance(self.strength, (int, float)) or not math.isfinite(self.strength) \
                or not lo <= self.strength <= hi:
            raise InputError("camera", f"strength {self.strength!r} of {self.name} is out of range", f"use a number in [{lo:g}, {hi:g}]")

    @classmethod
    def parse(cls, text: str) -> "Move":
        """`NAME` or `NAME:STRENGTH`."""
        if not isinstance(text, str) or not text.strip():
            raise InputError("camera", "is empty", f"name a move, e.g. push-in or push-in:0.5 ({', '.join(MOVES)})")
        name, _, strength = text.strip().lower().partition(":")
        if not strength:
            return cls(name.strip())
        try:
            value = float(strength)
        except ValueError:
            raise InputError("camera", f"strength {strength!r} in {text!r} is not a number", "write NAME:STRENGTH, e.g. push-in:0.5") from None
        return cls(name.strip(), value)

    @property
    def loops(self) -> bool:
        return self.name in LOOPING or self.strength == 0

    def __str__(self) -> str:
        return self.name if self.strength == 1 else f"{self.name}:{self.strength:g}"
