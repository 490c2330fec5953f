"""Frame planning: one idea -> exactly N frame prompts that keep the Ghibli style."""
from __future__ import annotations

from .base import Plan, Planner, check_frame_count, clean_idea
from .offline import OfflinePlanner

BACKENDS = {"offline": OfflinePlanner}


def make_plan(idea: str, n: int, backend: str = "offline") -> Plan:
    """Plan `n` frames for `idea` with the named backend."""
    from ..errors import InputError

    if backend not in BACKENDS:
        raise InputError("backend", f"unknown plan backend {backend!r}", f"use one of {', '.join(BACKENDS)}")
    return BACKENDS[backend]().plan(idea, n)


__all__ = ["BACKENDS", "OfflinePlanner", "Plan", "Planner", "check_frame_count", "clean_idea", "make_plan"]
