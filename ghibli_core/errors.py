"""Errors a user can act on: each names the input at fault and the fix."""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, TypeVar

T = TypeVar("T")


class GhibliError(Exception):
    """Base class of every error the engine raises on purpose."""


class InputError(GhibliError, ValueError):
    """A bad input, refused before any expensive work.

    `str(err)` is one line: ``"<input>: <problem>; <fix>"``, ready for a CLI or a node error.
    """

    def __init__(self, input_name: str, problem: str, fix: str = "") -> None:
        self.input_name = input_name
        self.problem = problem
        self.fix = fix
        super().__init__(f"{input_name}: {problem}" + (f"; {fix}" if fix else ""))


class InputErrors(InputError):
    """Several independent bad inputs, found at once: `problems` holds each as its own InputError (one line each)."""

    def __init__(self, problems: "list[InputError]") -> None:
        self.problems = list(problems)
        first = self.problems[0]
        super().__init__(first.input_name, first.problem, first.fix)

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


def every_problem(check: "Callable[[Any], T]", values: Any, leave_out: "Callable[[Any, str], Any | None]") -> "T":
    """`check(values)`, reporting every independent problem at once: after each InputError the input it names is left
    out (`leave_out(values, input_name)` gives the values with that input's default, or None when it cannot) and the
    check runs again. Raises the one InputError, or InputErrors with them all (in the order found)."""
    found: list[InputError] = []
    seen: set[str] = set()
    while True:
        try:
            result = check(values)
        except InputError as exc:
            problems = exc.problems if isinstance(exc, InputErrors) else [exc]
            names = {p.input_name for p in problems}
            if names & seen:  # the same input again, with its default standing in: the problem lies with another input
                break
            found.extend(problems)
            seen |= names
            values = leave_out(values, next(iter(names))) if len(names) == 1 else None
            if values is None:
                break
            continue
        if not found:
            return result
        break
    raise found[0] if len(found) == 1 else InputErrors(found)


class ModelNotFoundError(InputError, FileNotFoundError):
    """A model file, folder or hub id that cannot be found."""


class ModelLoadError(GhibliError):
    """A model that was found but could not be loaded (corrupt, wrong architecture...)."""


class Cancelled(GhibliError):
    """The caller asked to stop; raised between denoising steps or frames."""


def check_range(name: str, value: float, lo: float, hi: float, *, integer: bool = False, lo_open: bool = False) -> None:
    """Refuse a setting that is not a finite number (an int when `integer`) in [lo, hi] (or (lo, hi])."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)) or not math.isfinite(value):
        raise InputError(name, f"{value!r} is not {kind}", f"use {kind} in [{lo}, {hi}]")
    if (value <= lo if lo_open else value < lo) or value > hi:
        bound = f"({lo}, {hi}]" if lo_open else f"[{lo}, {hi}]"
        raise InputError(name, f"{value} is out of range", f"use a value in {bound}")


def check_choice(name: str, value: object, options: Iterable[str], what: str = "value") -> None:
    """Refuse a value that is not one of `options`: ``"<name>: unknown <what> 'x'; use one of a, b, c"``."""
    options = tuple(options)
    if value not in options:
        raise InputError(name, f"unknown {what} {value!r}", f"use one of {', '.join(options)}")


def first_line(exc: BaseException, limit: int = 160) -> str:
    """The first non-empty line of an exception's message (at most `limit` characters), or its type's name."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()[:limit]
    return type(exc).__name__
