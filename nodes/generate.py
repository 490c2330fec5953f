"""Sequential Img2Img with Depth ControlNet: frame 1 by txt2img, every next frame from the one before."""
from __future__ import annotations

import dataclasses

from comfy_api.latest import io

from ghibli_core.api import (AnimationJob, AnimationSettings, Cancelled, COLOR_MODES, DEFAULT_PRESET,
    denoising_steps, InputError, MotionSettings, number_or_schedule, PRESETS, render_job, SCHEDULERS, SEED_POLICIES,
    SETTINGS)

from . import host, validation
from .preset_widgets import PRESET_OPTIONS, preset_widget_values
from .images import to_image_batch, to_pil
from .types import CATEGORY, Camera, DepthModel, Pipeline, PlanType, Run
from .widgets import default, setting_input

COMBOS = {"preset": PRESET_OPTIONS, "seed_policy": SEED_POLICIES, "scheduler": tuple(SCHEDULERS), "color_mode": COLOR_MODES}
#: widget name -> AnimationSettings field, for every painting setting the node shows (numbers, choices, text)
PAINT_WIDGETS = {s.widget_name: s.name for s in SETTINGS.values() if s.owner == "painting" and s.widget_name
                 and s.kind not in ("schedule", "amount")}
#: the schedule and amount widgets (a number or keyframes; empty: the plain value)
SCHEDULES = tuple(s.name for s in SETTINGS.values() if s.owner == "painting" and s.kind in ("schedule", "amount"))
#: the name an engine error gives a setting -> its widget here (color-coherence -> color_match)
RENAME = {s.label: s.widget_name for s in SETTINGS.values() if s.owner == "painting" and s.widget_name}


def _frames_to_check(values: dict) -> int:
    """Enough frames to evaluate every keyframe the schedule widgets name (a bad one is refused at queue time)."""
    from ghibli_core.api import Schedule

    last = 0
    for name in SCHEDULES:
        text = values.get(name)
        if isinstance(text, str) and text.strip() and text.strip().lower() != "auto":
            try:
                last = max(last, Schedule.parse(text, name).keys[-1])
            except InputError:
                pass  # reported by the settings themselves, under the widget's name
    return min(last, 999) + 1


class GhibliSequentialImg2Img(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GhibliSequentialImg2Img",
            display_name="Sequential Img2Img with Depth ControlNet",
            category=f"{CATEGORY}/generate",
            description="Paints the plan frame by frame: frame 1 by txt2img (or img2img from init_image), every next frame by "
            "img2img from the previous one under the depth ControlNet fed the previous frame's depth map, colour-held to frame 1. "
            "The preset picks the schedule (balanced paints every 2nd frame and fills the rest by optical flow). "
            "One progress tick per denoising step; Cancel stops between steps.",
            inputs=[
                Pipeline.Input("pipeline", tooltip="From Ghibli Pipeline Loader (and any Ghibli LoRA Loaders)."),
                PlanType.Input("plan", tooltip="One prompt per frame, from LLM Frame Planner or Plan From Text."),
                io.Combo.Input("preset", options=list(PRESET_OPTIONS), default=DEFAULT_PRESET,
                               tooltip="Speed/quality schedule: " + "; ".join(f"{p.name}: {p.description}" for p in PRESETS.values())
                               + ". It sets steps, strength, scheduler, controlnet_scale and cadence (their widgets follow it); "
                               "custom uses the widgets as you set them."),
                setting_input("width", step=8),
                setting_input("height", step=8),
                setting_input("steps"),
                setting_input("strength"),
                setting_input("guidance"),
                setting_input("controlnet_scale"),
                setting_input("seed", default=0, control_after_generate=True),
                setting_input("seed_policy"),
                setting_input("scheduler"),
                setting_input("negative_prompt", multiline=True),
                setting_input("color_coherence"),
                setting_input("color_mode"),
                *[setting_input(name, optional=True) for name in ("cache_interval", "controlnet_end", "cfg_end")],
                setting_input("cadence"),
                setting_input("loop"),
                setting_input("prompt_travel", optional=True),
                *[setting_input(name, optional=True) for name in SCHEDULES],
                setting_input("sharpen_kernel", step=2, optional=True),
                setting_input("sharpen_sigma", optional=True),
                setting_input("reveal_boost", optional=True),  # last: saved canvases keep their widget order
                io.Image.Input("init_image", optional=True, tooltip="Optional: start from this image (img2img) instead of txt2img."),
                Camera.Input("camera", optional=True,
                             tooltip="Optional: a 3D camera move (Ghibli Camera) replacing the plan's own moves (without it, each "
                             "planned beat's move drives the camera). Each painted frame starts from the previous one moved along the "
                             "camera path with its depth; areas the camera reveals are painted fresh."),
                DepthModel.Input("depth_model", optional=True,
                                 tooltip="Optional: Ghibli Depth Loader's estimator, used for the depth ControlNet and the camera "
                                 "instead of the pipeline's own depth model."),
            ],
            outputs=[
                io.Image.Output("frames", display_name="frames", tooltip="One frame per plan prompt, [B,H,W,C]."),
                io.Image.Output("depth_maps", display_name="depth_maps", tooltip="The depth map each img2img frame was steered by (one per painted frame after the "
                                "first; frame 1's own when only one frame was painted)."),
                Run.Output("run", display_name="run", tooltip="How the frames were made (plan, settings, seed, camera path, models): connect "
                           "it to Ghibli Animation Saver so the file carries the same metadata as the command line's."),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    @validation.checks("steps", "strength", "width", "height", "sharpen_kernel", *SCHEDULES, combos=COMBOS)
    def validate_inputs(cls, **values) -> bool | str:
        values = {k: v for k, v in values.items() if v is not None}  # linked inputs are not known before the run
        errors = validation.combo_errors(values, COMBOS)
        values = {k: v for k, v in values.items() if k not in COMBOS or v in COMBOS[k]}  # a bad choice: its default stands in
        # the plan's length is not known yet: each schedule is checked up to its last keyframe; every bad widget at once
        errors += validation.every_problem_in(lambda v: cls._settings(v, frames=_frames_to_check(v)), values, RENAME)
        return validation.report(errors)

    @classmethod
    def _settings(cls, v: dict, frames: int) -> tuple[AnimationSettings, MotionSettings]:
        # a preset's values win over the widgets it sets (the canvas shows them anyway); "custom" keeps the widgets
        v = {**v, **preset_widget_values(v.get("preset", DEFAULT_PRESET))}
        schedules = {k: number_or_schedule(v[k]) for k in SCHEDULES if k in v}
        anim = AnimationSettings(frames=frames, **{"seed": 0, **{field: v[w] for w, field in PAINT_WIDGETS.items() if w in v},
                                                   **{k: x for k, x in schedules.items() if x is not None}})
        return anim, MotionSettings(cadence=v.get("cadence", default("cadence")), loop=v.get("loop", True))

    @classmethod
    def execute(cls, pipeline, plan, init_image=None, camera=None, depth_model=None, **values) -> io.NodeOutput:
        if not getattr(plan, "frames", None):
            raise InputError("plan", "is not a frame plan", "connect LLM Frame Planner or Plan From Text")
        settings, motion = cls._settings(values, frames=len(plan.frames))
        init = to_pil(init_image, "init_image")[0] if init_image is not None else None
        progress = host.StepProgress(denoising_steps(settings, motion, init_image=init is not None), cls.hidden.unique_id)
        job = AnimationJob(painting=settings, motion=motion, camera=camera, plan=plan, init_image=init,
                           preset=values.get("preset", DEFAULT_PRESET), generator=host.GENERATOR)
        pipes = pipeline.get()  # loads again here if Unload Models released the weights since the loader ran
        if depth_model is not None:  # another depth source: the same weights, that estimator
            pipes = dataclasses.replace(pipes, depth=depth_model.get())
        try:
            run = render_job(job, pipes, plan=plan, on_progress=progress.step, on_frame=progress.frame,
                             should_cancel=host.cancel_check(), progress=False)
        except Cancelled as exc:
            host.raise_if_cancelled(exc)
        animation = run.animation
        depth = [f.control for f in animation.painted if f.control is not None] or [pipes.depth(animation.painted[0].image)]
        return io.NodeOutput(to_image_batch(animation.output_frames), to_image_batch([d.convert("RGB") for d in depth]), run)


NODES = [GhibliSequentialImg2Img]
