"""The camera move of a planned beat, read from whatever a model or a person wrote.

Canonical form: a move from the camera vocabulary, `NAME` or `NAME:STRENGTH` (`push-in:0.5`). Models also say
"slow dolly in", "Pan Left", "zoom_out", {"move": "orbit", "direction": "left", "speed": 0.5} or "handheld": each is
read as the nearest known move; a word that names none becomes `static`, and either guess comes with a warning.
No text is ever evaluated.
"""
from __future__ import annotations

import difflib
import re
from typing import Any

from ..camera.moves import MOVES, STRENGTH_RANGE, Move
from ..errors import InputError

#: Phrases for each move, most specific first (matched as whole words in the cleaned text).
_PHRASES: tuple[tuple[str, str], ...] = (
    ("static", r"static|still|locked(?: off)?|fixed|no (?:camera )?(?:move(?:ment)?|motion)|none|hold|steady|stationary"),
    ("orbit-left", r"(?:orbit|arc|circle|revolve)s? (?:to (?:the )?)?left|(?:counter|anti)[ -]?clockwise orbit"),
    ("orbit-right", r"(?:orbit|arc|circle|revolve)s? (?:to (?:the )?)?right|clockwise orbit"),
    ("roll-left", r"roll(?:s|ing)? (?:to (?:the )?)?left|(?:counter|anti)[ -]?clockwise(?: roll| rotation)?|dutch left"),
    ("roll-right", r"roll(?:s|ing)? (?:to (?:the )?)?right|clockwise(?: roll| rotation)?|dutch right"),
    ("truck-left", r"(?:truck|track|strafe|slide|dolly|move|crab)s?(?:ing)? (?:to (?:the )?)?left"),
    ("truck-right", r"(?:truck|track|strafe|slide|dolly|move|crab)s?(?:ing)? (?:to (?:the )?)?right"),
    ("pan-left", r"pan(?:s|ning)? (?:to (?:the )?)?left|(?:turn|look)s? left|whip left"),
    ("pan-right", r"pan(?:s|ning)? (?:to (?:the )?)?right|(?:turn|look)s? right|whip right"),
    ("tilt-up", r"tilt(?:s|ing)? up(?:ward)?|look(?:s|ing)? up"),
    ("tilt-down", r"tilt(?:s|ing)? down(?:ward)?|look(?:s|ing)? down"),
    ("crane-up", r"(?:crane|boom|pedestal|jib|rise|rises|rising|ascend|ascends|ascending|lift|lifts|elevate)s?(?:ing)?(?: up(?:ward)?)?|(?:camera )?(?:moves? )?up(?:ward)?"),
    ("crane-down", r"(?:crane|boom|pedestal|jib)s?(?:ing)? down(?:ward)?|descend(?:s|ing)?|lower(?:s|ing)?|sink(?:s|ing)?|(?:camera )?(?:moves? )?down(?:ward)?"),
    ("pull-back", r"pull(?:s|ing)? (?:back|out|away)|zoom(?:s|ing)? out|dolly(?:ing)? (?:out|back(?:ward)?)|track(?:s|ing)? (?:out|back)|"
                  r"(?:move|drift)s? (?:back(?:ward)?|away)|retreat(?:s|ing)?|reveal|widen(?:s|ing)?|back(?:ward)?"),
    ("push-in", r"push(?:es|ing)? (?:in|forward|closer)|zoom(?:s|ing)? in|dolly(?:ing)? (?:in|forward)|track(?:s|ing)? (?:in|forward)|"
                r"(?:move|drift|glide)s? (?:in|forward|closer)|approach(?:es|ing)?|close[ -]?in|forward|push|zoom|dolly"),
    ("sway", r"sway(?:s|ing)?|hand[ -]?held|drift(?:s|ing)?|float(?:s|ing)?|breath(?:e|es|ing)|bob(?:s|bing)?|wobble|hover(?:s|ing)?|gentle motion"),
    ("pan-right", r"pan(?:s|ning)?"),
    ("orbit-right", r"orbit(?:s|ing)?|arc(?:s|ing)?|circl(?:e|es|ing)"),
    ("tilt-up", r"tilt(?:s|ing)?"),
    ("truck-right", r"truck(?:s|ing)?|track(?:s|ing)?"),
    ("roll-right", r"roll(?:s|ing)?"),
)
_COMPILED = tuple((name, re.compile(rf"(?<![\w-])(?:{pattern})(?![\w-])")) for name, pattern in _PHRASES)
_SLOW = re.compile(r"\b(?:slow(?:ly)?|gentle|gently|slight(?:ly)?|subtle|soft(?:ly)?|small|little|barely)\b")
_FAST = re.compile(r"\b(?:fast|quick(?:ly)?|rapid(?:ly)?|dramatic(?:ally)?|big|strong(?:ly)?|sweeping|swift(?:ly)?)\b")
#: Keys a model may use for the move's name and its strength inside a camera object.
NAME_KEYS = ("name", "move", "type", "camera", "movement", "motion", "direction", "kind", "action")
STRENGTH_KEYS = ("strength", "speed", "amount", "intensity", "scale", "magnitude", "amplitude")


def _clean(text: str) -> str:
    text = re.sub(r"[()\[\]{}\"'`*]", " ", text.strip().lower().replace("_", "-"))
    text = re.sub(r"\bcamera\b|\bshot\b|\bmove(?:ment)?\b(?=.)", " ", text)
    return re.sub(r"\s+", " ", text.replace("-", " ")).strip(" .,;:!")


def _strength(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        m = re.fullmatch(r"\s*([-+]?\d+(?:\.\d+)?)\s*(%?)\s*", value)
        if m:
            return float(m.group(1)) / (100 if m.group(2) else 1)
    return None


def _clamp(strength: float) -> float:
    lo, hi = STRENGTH_RANGE
    return round(min(max(strength, lo), hi), 3)


def read_move(value: Any) -> tuple[Move, str | None]:
    """The move `value` names (text or an object), and a warning when it had to be guessed (None if it was exact).

    Exact: a known move name, with an optional `:STRENGTH` in range. Otherwise the nearest move by phrase
    ("slow dolly in" -> push-in:0.5), then by spelling (`pushin` -> push-in), then `static`.
    """
    if isinstance(value, (list, tuple)):  # ["pan-left", 0.5]
        words = [v for v in value if isinstance(v, str)]
        numbers = [v for v in value if _strength(v) is not None and not isinstance(v, str)]
        value = {"move": " ".join(words), **({"strength": numbers[0]} if numbers else {})}
    if isinstance(value, dict):
        lowered = {str(k).lower(): v for k, v in value.items()}
        name = " ".join(str(lowered[k]) for k in NAME_KEYS if isinstance(lowered.get(k), str))
        strength = next((s for s in (_strength(lowered.get(k)) for k in STRENGTH_KEYS) if s is not None), None)
        # a strength in words ("speed": "slow") joins the name, where the slow/fast words are read
        name += "".join(f" {lowered[k]}" for k in STRENGTH_KEYS if isinstance(lowered.get(k), str) and _strength(lowered[k]) is None)
        if not name:
            return Move(), f"camera {_show(value)} names no move; used static"
        move, warning = read_move(name)
        if strength is None or move.name == "static":
            return move, warning
        exact = warning is None and STRENGTH_RANGE[0] <= strength <= STRENGTH_RANGE[1]
        moved = Move(move.name, _clamp(strength))
        return moved, None if exact else f"camera {_show(value)} read as {moved}"
    if value is None:
        return Move(), None
    if not isinstance(value, str):
        return Move(), f"camera {_show(value)} is not a move; used static"
    try:
        return Move.parse(value), None
    except InputError:
        pass
    text = _clean(value)
    name_part, _, strength_part = text.partition(":")
    strength = _strength(strength_part) if strength_part else None
    if strength is None:  # "pan left 0.5", "push in x2"
        m = re.search(r"(?:^|\s)x?(\d+(?:\.\d+)?)(%?)\s*$", name_part)
        if m:
            strength = float(m.group(1)) / (100 if m.group(2) else 1)
            name_part = name_part[:m.start()].strip()
    name, exact = _nearest(name_part)
    if name is None:
        return Move(), f"camera {_show(value)} is not a known move; used static"
    if strength is None:
        strength = 0.5 if _SLOW.search(name_part) else 1.5 if _FAST.search(name_part) else 1.0
    move = Move(name, _clamp(strength) if name != "static" else 1.0)
    exact = exact and STRENGTH_RANGE[0] <= strength <= STRENGTH_RANGE[1]
    return move, None if exact else f"camera {_show(value)} read as {move}"


def _nearest(text: str) -> tuple[str | None, bool]:
    """The move `text` names, and whether it named it outright (only case or separators differ)."""
    if not text:
        return None, False
    joined = text.replace(" ", "-")
    if joined in MOVES:
        return joined, True
    for name, pattern in _COMPILED:
        if pattern.search(text):
            return name, False
    close = difflib.get_close_matches(joined, MOVES, n=1, cutoff=0.75)
    return (close[0], False) if close else (None, False)


def _show(value: Any, limit: int = 40) -> str:
    text = repr(value.strip() if isinstance(value, str) else value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def move_text(value: Any, input_name: str = "camera") -> str:
    """A move the user wrote (`push-in:0.5`), checked strictly (no guessing: a person's typo is an error), canonical."""
    if isinstance(value, Move):
        return str(value)
    try:
        return str(Move.parse(value))
    except InputError as exc:
        raise InputError(input_name, exc.problem, exc.fix) from None


def split_camera_suffix(line: str) -> tuple[str, str | None]:
    """`a prompt | push-in:0.5` -> ("a prompt", "push-in:0.5"); a line without ` | ` has no move."""
    prompt, bar, move = line.rpartition("|")
    if not bar:
        return line, None
    return prompt.strip(), move.strip()
