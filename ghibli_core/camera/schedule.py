"""Deforum-style schedules: one value per frame, written as a number or as keyframes.

    Schedule.parse("0.5")                              0.5 at every frame
    Schedule.parse("0:(0), 30:(1.5)")                  0 -> 1.5 linearly over frames 0..30, then 1.5
    Schedule.parse("0:(0.2*sin(2*pi*t/24))")           an expression in t (frame index) and max_f (frame count)

Between two keyframes the value is interpolated linearly; before the first and after the last it is held. A
keyframe's value may be an expression: it is evaluated at the frame being asked for (so `0:(sin(t))` is a sine
over the whole animation, and between two expression keyframes both are evaluated at t and blended). Expressions
are compiled by `expressions.compile_expression` (an AST whitelist, never eval).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

from ..errors import InputError
from .expressions import MAX_LENGTH, Expression, compile_expression

FORMAT = "a number, or keyframes like 0:(0), 24:(1.5) with values in t, e.g. 0:(0.2*sin(2*pi*t/24))"
MAX_KEYFRAMES = 1000
_KEY = re.compile(r"\s*([^\s:,()]+)\s*:\s*\(")


def _split_keyframes(text: str, name: str) -> list[tuple[int, str]]:
    """`F:(V), F:(V)` as [(F, "V"), ...], with balanced brackets and integer frame keys >= 0."""
    items, pos = [], 0
    while pos < len(text):
        m = _KEY.match(text, pos)
        if not m:
            raise InputError(name, f"{text!r} is not a schedule (expected F:(V) at {text[pos:pos + 12]!r})", f"write {FORMAT}")
        key = m.group(1)
        if not re.fullmatch(r"\d+", key):
            what = "negative" if key.startswith("-") else "not a whole number"
            raise InputError(name, f"frame key {key!r} in {text!r} is {what}", "frame keys are frame indices 0, 1, 2, ...")
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        if depth:
            raise InputError(name, f"unbalanced brackets in {text!r}", "close every ( with a )")
        items.append((int(key), text[m.end():i - 1]))
        pos = i
        sep = re.match(r"\s*(,|$)", text[pos:])
        if not sep or (sep.group(1) == "," and not text[pos + sep.end():].strip()):
            raise InputError(name, f"{text!r} has something after {key}:(...) that is not ', F:(V)'", f"write {FORMAT}")
        pos += sep.end()
    if not items:
        raise InputError(name, "is empty", f"write {FORMAT}")
    return items


@dataclass(frozen=True)
class Schedule:
    """A per-frame value: keyframes (frame, expression) sorted by frame; `text` is what it was parsed from."""

    text: str
    keys: tuple[int, ...]
    values: tuple[Expression, ...]

    @classmethod
    def parse(cls, text: str | float | int, name: str = "schedule", audio: Any = None) -> "Schedule":
        """A schedule from its text (or a plain number); an InputError names `name` and what is wrong. With `audio`
        (an `audio_features.AudioFeatures`), expressions may use amplitude(t), onset(t) and beat(t)."""
        if isinstance(text, bool):
            raise InputError(name, f"{text!r} is not a schedule", f"write {FORMAT}")
        if isinstance(text, (int, float)):
            text = repr(float(text))
        if not isinstance(text, str) or not text.strip():
            raise InputError(name, "is empty", f"write {FORMAT}")
        if len(text) > MAX_LENGTH * 8:
            raise InputError(name, f"{len(text)} characters is too long", "write fewer keyframes")
        stripped = text.strip()
        if re.match(r"\s*-?[^\s:,()]+\s*:", stripped) or stripped.count(":"):
            pairs = _split_keyframes(stripped, name)
        else:
            pairs = [(0, stripped)]  # a bare number or expression: the same at every frame
        if len(pairs) > MAX_KEYFRAMES:
            raise InputError(name, f"{len(pairs)} keyframes is too many", f"use at most {MAX_KEYFRAMES}")
        frames = [f for f, _ in pairs]
        if len(set(frames)) != len(frames):
            dup = next(f for f in frames if frames.count(f) > 1)
            raise InputError(name, f"frame {dup} is given twice in {stripped!r}", "give each frame key once")
        pairs.sort()
        extra = audio.functions() if audio is not None else None
        values = tuple(compile_expression(v, name, extra) for _, v in pairs)
        return cls(stripped, tuple(f for f, _ in pairs), values)

    @classmethod
    def constant(cls, value: float) -> "Schedule":
        return cls.parse(float(value))

    def at(self, t: int, max_f: int) -> float:
        """The value at frame `t` of an animation of `max_f` frames."""
        keys = self.keys
        if t <= keys[0]:
            return self.values[0](t=t, max_f=max_f)
        if t >= keys[-1]:
            return self.values[-1](t=t, max_f=max_f)
        i = next(i for i in range(1, len(keys)) if keys[i] >= t)
        a, b = keys[i - 1], keys[i]
        va, vb = self.values[i - 1](t=t, max_f=max_f), self.values[i](t=t, max_f=max_f)
        return va + (vb - va) * (t - a) / (b - a)

    def series(self, max_f: int) -> list[float]:
        """The value at every frame 0 .. max_f - 1 (every expression is checked for each of them)."""
        return [self.at(t, max_f) for t in range(max_f)]

    def describe(self) -> str:
        """The canonical text: `0.5`, or `0:(0), 30:(1.5)`."""
        if len(self.keys) == 1 and self.keys[0] == 0 and ":" not in self.text:
            return self.values[0].source  # type: ignore[attr-defined]
        return ", ".join(f"{k}:({v.source})" for k, v in zip(self.keys, self.values))  # type: ignore[attr-defined]

    def __str__(self) -> str:
        return self.describe()


def check_schedules(schedules: Sequence[Schedule], max_f: int) -> None:
    """Evaluate every schedule at every frame now, so a value that fails (1/(t-3)) fails before any work."""
    for s in schedules:
        s.series(max_f)
