"""The plan stage's interface: one idea in, exactly N frame prompts out."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from ..errors import InputError

MAX_FRAMES = 1000


@dataclass
class Plan:
    """N frame prompts for one idea, where they came from, and anything that had to be repaired."""

    idea: str
    frames: list[str]
    backend: str
    warnings: list[str] = field(default_factory=list)
    model: str | None = None  # the chat model that wrote it (None for offline and hand-written plans)

    def __len__(self) -> int:
        return len(self.frames)

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
