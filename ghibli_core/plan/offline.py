"""A planner that needs no network: a small story arc over N frames.

Each frame keeps the idea and the Ghibli style words, and moves along three slow axes so
consecutive frames differ a little (good for img2img chaining) and the whole loop tells a beat:
light over time, something moving in the scene, and a gentle camera move.
"""
from __future__ import annotations

from .. import defaults
from .base import Plan, check_frame_count, clean_idea

LIGHT = (
    "first light of dawn, pale mist",
    "soft golden morning light",
    "bright clear midday sun",
    "warm afternoon glow",
    "long amber shadows of late afternoon",
    "rosy sunset sky",
    "violet dusk, first stars",
    "calm blue moonlit night",
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
CAMERA = (
    "wide establishing view",
    "slow pan to the right",
    "gentle push in",
    "slight tilt upward",
    "slow pan to the left",
    "gentle pull back",
)


def _pick(options: tuple[str, ...], t: float) -> str:
    return options[min(int(t * len(options)), len(options) - 1)]


class OfflinePlanner:
    """Deterministic: the same idea and N always give the same plan."""

    name = "offline"

    def frame_prompt(self, idea: str, index: int, n: int) -> str:
        t = index / n  # position along the loop, 0 <= t < 1
        parts = [idea, _pick(LIGHT, t), MOTION[index % len(MOTION)], _pick(CAMERA, t)]
        return ", ".join(parts + [defaults.STYLE_SUFFIX])

    def plan(self, idea: str, n: int) -> Plan:
        idea = clean_idea(idea)
        n = check_frame_count(n)
        frames: list[str] = []
        seen: set[str] = set()
        for i in range(n):
            prompt = self.frame_prompt(idea, i, n)
            if prompt in seen:  # only for very long plans, where the axes repeat
                prompt = prompt.replace(defaults.STYLE_SUFFIX, f"moment {i + 1} of {n}, {defaults.STYLE_SUFFIX}")
            seen.add(prompt)
            frames.append(prompt)
        return Plan(idea=idea, frames=frames, backend=self.name)
