"""Errors a user can act on: each names the input at fault and the fix."""
from __future__ import annotations


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


class ModelNotFoundError(InputError, FileNotFoundError):
    """A model file, folder or hub id that cannot be found."""


class ModelLoadError(GhibliError):
    """A model that was found but could not be loaded (corrupt, wrong architecture...)."""


class Cancelled(GhibliError):
    """The caller asked to stop; raised between denoising steps or frames."""
