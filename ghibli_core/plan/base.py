"""The plan stage's interface: one idea in, exactly N frame prompts out."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from ..camera.moves import Move
from ..errors import InputError

MAX_FRAMES = 1000


@dataclass
class Plan:
    """N frame prompts for one idea, each beat's camera move, where they came from, and anything that had to be repaired.

    `camera[k]` is the move (`NAME` or `NAME:STRENGTH`) that carries the camera from frame k to frame k+1 (the last
    one across the loop's seam); an empty list means the plan says nothing about the camera (a still camera).
    """

    idea: str
    frames: list[str]
    backend: str
    warnings: list[str] = field(default_factory=list)
    model: str | None = None  # the chat model that wrote it (None for offline and hand-written plans)
    camera: list[str] = field(default_factory=list)
    #: what `--music` asks the text-to-music model for when no prompt is given ("" on plans made before it existed)
    music: str = ""

    def __post_init__(self) -> None:
        if self.camera and len(self.camera) != len(self.frames):
            raise InputError("plan", f"has {len(self.frames)} frames but {len(self.camera)} camera moves", "give one move per frame")

    def __len__(self) -> int:
        return len(self.frames)

    def moves(self) -> list[Move]:
        """Every beat's move (all `static` when the plan names none)."""
        return [Move.parse(m) for m in self.camera] if self.camera else [Move()] * len(self.frames)

    def lines(self) -> list[str]:
        """One line per frame, `prompt | move` where the plan has moves (what Plan From Text and line files read)."""
        if not self.camera:
            return list(self.frames)
        return [f"{prompt} | {move}" for prompt, move in zip(self.frames, self.camera)]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Planner(Protocol):
    """A plan source (offline rules, or an LLM backend)."""

    name: str

    def plan(self, idea: str, n: int) -> Plan: ...


def clean_idea(idea: str) -> str:
    """Collapse whitespace and trailing punctuation; refuse an empty idea."""
    if not isinstance(idea, str):
        raise InputError("prompt", "must be text", 'give an idea, e.g. "a serene forest at dawn"')
    text = re.sub(r"\s+", " ", idea).strip().strip(" ,;.")
    if not text:
        raise InputError("prompt", "is empty", 'give an idea, e.g. "a serene forest at dawn"')
    return text


def check_frame_count(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_FRAMES:
        raise InputError("frames", f"{n!r} is not a frame count", f"use an integer in [1, {MAX_FRAMES}]")
    return n
