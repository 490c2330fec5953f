"""A planner that needs no network: a small looping story over N frames, with the camera directed.

Each frame keeps the idea and the Ghibli style words, and moves along two slow axes so consecutive frames differ a
little (good for img2img chaining): the light, which brightens and then returns the way it came so the last beat
leads back into the first, and something moving in the scene. The camera is not described in the prompt (Stable
Diffusion paints a still; words like "pan" only change the framing): it is a real move per beat, chosen as an
out-and-back pair or a sway so the camera's loop closes too.
"""
from __future__ import annotations

import zlib

from .. import defaults
from ..camera.moves import Move
from .base import Plan, check_frame_count, clean_idea
from .music import music_prompt

#: The light of the loop's first half; the second half walks back through it (a triangle over the loop).
LIGHT = (
    "first light of dawn, pale mist",
    "soft golden morning light",
    "bright clear midday sun",
    "warm afternoon glow",
    "long amber shadows of late afternoon",
)
MOTION = (
    "leaves drifting in a light breeze",
    "clouds sailing slowly overhead",
    "grass swaying in gentle waves",
    "sunbeams shifting through the branches",
    "a flock of birds crossing the sky",
    "petals and dust motes floating in the air",
    "water rippling and sparkling",
    "tall trees rustling softly",
)
#: Camera loops: a move for the first half of the beats and its return for the second, or one move that loops alone.
CAMERA_LOOPS: tuple[tuple[str, ...], ...] = (
    ("push-in", "pull-back"),
    ("sway",),
    ("pan-right", "pan-left"),
    ("truck-left", "truck-right"),
    ("crane-up", "crane-down"),
    ("orbit-right", "orbit-left"),
)
#: Strength of each half of an out-and-back loop (the camera goes half the move's full distance, and returns).
LOOP_STRENGTH = 1.0


def light_at(index: int, n: int) -> str:
    """The light of beat `index`: out along LIGHT over the first half of the loop, back over the second."""
    if n == 1:
        return LIGHT[0]
    t = index / n  # 0 <= t < 1 around the loop
    position = 1 - abs(1 - 2 * t)  # 0 -> 1 -> 0 (the seam joins the last beat to the first)
    peak = min(len(LIGHT) - 1, n // 2)  # short loops go less far, so no beat jumps more than one step of light
    return LIGHT[round(position * peak)]


def loop_moves(idea: str, n: int) -> list[str]:
    """Each beat's camera move for `idea` (the same idea always gets the same loop), chosen so the path returns to its
    start at the seam: `out` for the first half of the beats and `back` for the rest, or a move that loops alone."""
    if n == 1:
        return ["static"]
    pattern = CAMERA_LOOPS[zlib.crc32(idea.lower().encode("utf-8")) % len(CAMERA_LOOPS)]
    if len(pattern) == 1:
        return [str(Move(pattern[0]))] * n
    out, back = (str(Move(name, LOOP_STRENGTH)) for name in pattern)
    half = n // 2  # beat k carries the camera from frame k to k+1, the last across the seam: n steps in all
    return [out] * half + [back] * (n - half)


class OfflinePlanner:
    """Deterministic: the same idea and N always give the same plan."""

    name = "offline"

    def frame_prompt(self, idea: str, index: int, n: int) -> str:
        parts = [idea, light_at(index, n), MOTION[index % len(MOTION)]]
        return ", ".join(parts + [defaults.STYLE_SUFFIX])

    def plan(self, idea: str, n: int) -> Plan:
        idea = clean_idea(idea)
        n = check_frame_count(n)
        frames: list[str] = []
        seen: set[str] = set()
        for i in range(n):
            prompt = self.frame_prompt(idea, i, n)
            if prompt in seen:  # where the light and the motion repeat together (long plans, the return half)
                prompt = prompt.replace(defaults.STYLE_SUFFIX, f"moment {i + 1} of {n}, {defaults.STYLE_SUFFIX}")
            seen.add(prompt)
            frames.append(prompt)
        return Plan(idea=idea, frames=frames, backend=self.name, camera=loop_moves(idea, n), music=music_prompt(idea))
