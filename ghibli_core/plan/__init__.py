"""Frame planning: one idea -> exactly N frame prompts that keep the Ghibli style.

    from ghibli_core.plan import PlannerSettings, make_plan
    plan = make_plan("a cat bus in the rain", 8, PlannerSettings(backend="openai", base_url="http://127.0.0.1:11434/v1"))

Backends: `offline` (rules, no network), `hf` (Hugging Face Inference), `openai` (any OpenAI-compatible
server), `transformers` (a local chat model). A failing backend never stops an animation: the plan
falls back to the offline one and says why in `Plan.warnings`.
"""
from __future__ import annotations

from ..errors import InputError
from .base import Plan, Planner, check_frame_count, clean_idea
from .faults import PlanFault, RetryPolicy
from .llm import BACKEND_NAMES, LLMPlanner, PlannerSettings, UnavailablePlanner, safe_url
from .normalize import normalize_reply
from .offline import OfflinePlanner
from .plan_file import check_plan_output, load_plan_file, parse_plan_text, plan_json, save_plan_file

BACKENDS = BACKEND_NAMES


def make_planner(settings: PlannerSettings | None = None) -> Planner:
    """The planner for `settings`, checked now (key, package, model) so a bad setup fails before any work."""
    settings = settings or PlannerSettings()
    if settings.backend == "offline":
        return OfflinePlanner()
    if settings.backend == "transformers":
        from .local import TransformersPlanner as cls
    elif settings.backend == "hf":
        from .remote import HFPlanner as cls
    else:
        from .remote import OpenAIPlanner as cls
    planner = cls(settings)
    try:
        planner.check()
    except InputError as exc:
        if not settings.fallback:
            raise
        return UnavailablePlanner(settings, exc)
    return planner


def make_plan(idea: str, n: int, settings: PlannerSettings | str | None = None) -> Plan:
    """Plan `n` frames for `idea` (`settings` may be just a backend name)."""
    if isinstance(settings, str):
        settings = PlannerSettings(backend=settings)
    return make_planner(settings).plan(idea, n)


__all__ = [
    "BACKENDS", "LLMPlanner", "OfflinePlanner", "Plan", "PlanFault", "Planner", "PlannerSettings", "RetryPolicy",
    "check_frame_count", "check_plan_output", "clean_idea", "load_plan_file", "make_plan", "make_planner", "normalize_reply", "parse_plan_text", "plan_json", "safe_url",
    "save_plan_file",
]
