"""Planner nodes: an idea -> one prompt per frame (LLM or offline), or prompts typed by hand."""
from __future__ import annotations

import logging

from comfy_api.latest import io

from ghibli_core.api import (BACKENDS, clean_idea, defaults, InputError, make_plan, MAX_FRAMES, parse_plan_text,
    PlannerSettings)

from . import validation
from .types import CATEGORY, PlanType

log = logging.getLogger(__name__)
_PLANNER = PlannerSettings()


def plan_text(plan) -> str:
    """The plan as text, one `prompt | move` per line (what Plan From Text reads back)."""
    return "\n".join(plan.lines())


class GhibliFramePlanner(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GhibliFramePlanner",
            display_name="LLM Frame Planner",
            category=f"{CATEGORY}/plan",
            description="Turns one idea into one prompt per frame, each keeping the Studio Ghibli style, with an LLM "
            "(Hugging Face, any OpenAI-compatible server, or a local transformers model) or offline rules. "
            "API keys are read from the environment only (HF_TOKEN, OPENAI_API_KEY), never from the graph.",
            inputs=[
                io.String.Input("idea", multiline=True, default="a serene forest at dawn, sunlight through swaying trees",
                                tooltip="The scene in one sentence; the planner writes how it moves from frame to frame."),
                io.Int.Input("frames", default=defaults.FRAMES, min=1, max=MAX_FRAMES, tooltip="How many frames to plan (painted frames, before in-betweens)."),
                io.Combo.Input("backend", options=list(BACKENDS), default="hf",
                               tooltip="offline: rules, no network. hf: Hugging Face Inference (HF_TOKEN). openai: any "
                               "OpenAI-compatible server (OPENAI_API_KEY; set base_url for Ollama, vLLM, LM Studio). "
                               "transformers: a local chat model."),
                io.String.Input("model", default="", tooltip="Chat model id or local folder; empty uses the backend's default."),
                io.String.Input("base_url", default="", tooltip="OpenAI-compatible server URL, e.g. http://127.0.0.1:11434/v1 (openai and hf backends); empty for the provider's own."),
                io.Float.Input("temperature", default=_PLANNER.temperature, min=0.0, max=2.0, step=0.05, tooltip="LLM sampling temperature; lower keeps frames closer to each other."),
                io.Int.Input("seed", default=0, min=0, max=2**31 - 1, control_after_generate=False,
                             tooltip="LLM sampling seed, where the backend supports one (same seed, same plan)."),
                io.Boolean.Input("fallback", default=True,
                                 tooltip="When the LLM cannot be reached (no key, offline, server down), plan offline and warn, instead of failing the run."),
            ],
            outputs=[
                PlanType.Output("plan", display_name="plan", tooltip="The frame plan, for Sequential Img2Img and the savers' metadata."),
                io.String.Output("plan_text", display_name="plan_text", tooltip="The frame prompts, one per line (edit them with Plan From Text)."),
            ],
        )

    @classmethod
    @validation.checks("idea", "base_url", combos=("backend",))
    def validate_inputs(cls, idea: str | None = None, base_url: str | None = None, backend: str | None = None) -> bool | str:
        problems = validation.combo_errors({"backend": backend}, {"backend": BACKENDS})  # None: linked, known at run time
        try:
            if idea is not None:
                clean_idea(idea)
        except InputError as exc:
            problems.append(validation.input_error(exc, rename={"prompt": "idea"}))
        try:
            if base_url is not None:
                PlannerSettings(base_url=base_url.strip() or None)
        except InputError as exc:
            problems.append(validation.input_error(exc))
        return validation.report(problems)

    @classmethod
    def execute(cls, idea: str, frames: int, backend: str, model: str, base_url: str, temperature: float, seed: int,
                fallback: bool) -> io.NodeOutput:
        settings = PlannerSettings(backend=backend, model=model.strip() or None, base_url=base_url.strip() or None,
                                   temperature=temperature, seed=seed, fallback=fallback)
        plan = make_plan(idea, frames, settings)
        for warning in plan.warnings:
            log.warning("Ghibli planner: %s", warning)
        # the warnings go to the canvas too (the pack's script draws them under the node), not only to the log
        return io.NodeOutput(plan, plan_text(plan), ui={"text": [plan_text(plan)], "warnings": list(plan.warnings)})


class GhibliPlanFromText(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GhibliPlanFromText",
            display_name="Plan From Text",
            category=f"{CATEGORY}/plan",
            description="A frame plan written by hand: one prompt per line (or the JSON `ghibli-anim plan --json` writes). "
            "Use it to edit an LLM plan, or to skip the LLM.",
            inputs=[
                io.String.Input("prompts", multiline=True, default="",
                                tooltip="One frame prompt per line, optionally ending in | MOVE for that beat's camera (e.g. "
                                "'a misty lake at dawn | push-in:0.5'); blank lines and lines starting with # are ignored."),
                io.String.Input("idea", default="", tooltip="What the animation is about, kept in the metadata; empty uses the first prompt."),
            ],
            outputs=[
                PlanType.Output("plan", display_name="plan", tooltip="The frame plan, one frame per prompt line."),
                io.String.Output("plan_text", display_name="plan_text", tooltip="The cleaned prompts, one per line."),
            ],
        )

    @classmethod
    @validation.checks("prompts")
    def validate_inputs(cls, prompts: str | None = None, **_) -> bool | str:
        if prompts is None:  # linked: known only at run time
            return True
        try:
            parse_plan_text(prompts, "the prompts box", input_name="prompts")
        except InputError as exc:
            return validation.input_error(exc)
        return True

    @classmethod
    def execute(cls, prompts: str, idea: str) -> io.NodeOutput:
        if not isinstance(prompts, str):
            raise InputError("prompts", "must be text", "write one frame prompt per line")
        plan = parse_plan_text(prompts, "the prompts box", input_name="prompts", idea=idea)
        return io.NodeOutput(plan, plan_text(plan))


NODES = [GhibliFramePlanner, GhibliPlanFromText]
