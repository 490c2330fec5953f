"""Sequential Img2Img with Depth ControlNet: frame 1 by txt2img, every next frame from the one before."""
from __future__ import annotations

from comfy_api.latest import io

from ghibli_core.api import (AnimationJob, AnimationSettings, Cancelled, COLOR_MODES, DEFAULT_PRESET,
    denoising_steps, InputError, MAX_CADENCE, MAX_SEED, MotionSettings, number_or_schedule, PRESETS, render_job,
    SCHEDULERS, SEED_POLICIES)

from . import host, validation
from .preset_widgets import PRESET_OPTIONS, preset_widget_values
from .images import to_image_batch, to_pil
from .types import CATEGORY, Camera, Pipeline, PlanType, Run

COMBOS = {"preset": PRESET_OPTIONS, "seed_policy": SEED_POLICIES, "scheduler": tuple(SCHEDULERS), "color_mode": COLOR_MODES}
_DEFAULT = PRESETS[DEFAULT_PRESET]
_D = AnimationSettings()  # every other widget's default is the engine's
#: widget name -> AnimationSettings field (the rest go to MotionSettings)
PAINT_WIDGETS = ("steps", "strength", "guidance", "controlnet_scale", "negative_prompt", "width", "height", "seed", "seed_policy",
                 "scheduler", "color_match", "color_mode", "prompt_travel", "sharpen_kernel", "sharpen_sigma", "cache_interval",
                 "controlnet_end", "cfg_end")
SCHEDULE_TIPS = {
    "strength_schedule": "Optional per-frame strength, e.g. 0:(0.5), 12:(0.35) (expressions in t and max_f); empty uses strength.",
    "guidance_schedule": "Optional per-frame CFG scale, e.g. 0:(7.5), 12:(5); empty uses guidance.",
    "controlnet_scale_schedule": "Optional per-frame depth ControlNet weight; empty uses controlnet_scale.",
    "seed_schedule": "Optional per-frame seed, e.g. 0:(5), 4:(9) or 5+t; replaces seed and seed_policy where given.",
    "contrast": "Before each img2img step: luminance contrast factor, a number or schedule (1 = unchanged; colour matching already "
                "holds frame 1's contrast).",
    "sharpen": "Before each img2img step: unsharp mask amount, a number or schedule, or auto (default: holds frame 1's sharpness, "
               "measured each step; 0 = off; Deforum uses 0.1).",
    "noise": "Before each img2img step: Perlin-shaped grain, std on the 0..1 scale, a number or schedule (0 = off).",
}


def _frames_to_check(values: dict) -> int:
    """Enough frames to evaluate every keyframe the schedule widgets name (a bad one is refused at queue time)."""
    from ghibli_core.api import Schedule

    last = 0
    for name in SCHEDULE_TIPS:
        text = values.get(name)
        if isinstance(text, str) and text.strip() and text.strip().lower() != "auto":
            try:
                last = max(last, Schedule.parse(text, name).keys[-1])
            except InputError:
                pass  # reported by the settings themselves, under the widget's name
    return min(last, 999) + 1


def _schedule_default(name: str) -> str:
    value = getattr(_D, name)
    return "" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))


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
                io.Int.Input("width", default=_D.width, min=64, max=2048, step=8, tooltip="Frame width in pixels (a multiple of 8; SD1.5 is trained at 512)."),
                io.Int.Input("height", default=_D.height, min=64, max=2048, step=8, tooltip="Frame height in pixels (a multiple of 8)."),
                io.Int.Input("steps", default=_DEFAULT.steps, min=1, max=200, tooltip="Denoising steps of frame 1; img2img frames run steps x strength of them."),
                io.Float.Input("strength", default=_DEFAULT.strength, min=0.01, max=1.0, step=0.01,
                               tooltip="How much each frame may change from the previous one: low is steady, 1.0 ignores the previous frame."),
                io.Float.Input("guidance", default=_D.guidance, min=0.0, max=30.0, step=0.1, tooltip="Classifier-free guidance (CFG) scale."),
                io.Float.Input("controlnet_scale", default=_DEFAULT.controlnet_scale, min=0.0, max=2.0, step=0.05,
                               tooltip="How strongly the previous frame's depth map holds the scene's shapes."),
                io.Int.Input("seed", default=0, min=0, max=MAX_SEED, control_after_generate=True, tooltip="Noise seed; the same seed and settings repaint the same frames."),
                io.Combo.Input("seed_policy", options=list(SEED_POLICIES), default=_D.seed_policy,
                               tooltip="fixed: every frame uses the seed (steadiest); incrementing: frame k uses seed + k (livelier)."),
                io.Combo.Input("scheduler", options=list(SCHEDULERS), default=_DEFAULT.scheduler, tooltip="Sampler; default is the model's own."),
                io.String.Input("negative_prompt", multiline=True, default=_D.negative_prompt, tooltip="What no frame should show."),
                io.Float.Input("color_match", default=_D.color_match, min=0.0, max=1.0, step=0.05,
                               tooltip="Pull each frame's colours toward frame 1 before it seeds the next, so colour drift does not compound."),
                io.Combo.Input("color_mode", options=list(COLOR_MODES), default=_D.color_mode, tooltip="meanstd: LAB mean/std transfer; histogram: full LAB histogram match."),
                io.Int.Input("cache_interval", default=_DEFAULT.cache_interval, min=1, max=10, optional=True,
                             tooltip="Speed: the UNet's deep blocks run every n-th denoising step and their features are reused in "
                             "between (DeepCache-style; the ControlNet's residuals too). 1 = off."),
                io.Float.Input("controlnet_end", default=_DEFAULT.controlnet_end, min=0.05, max=1.0, step=0.05, optional=True,
                               tooltip="Speed: the ControlNet runs for this first fraction of the steps, then is not called at all. 1 = every step."),
                io.Float.Input("cfg_end", default=_DEFAULT.cfg_end, min=0.05, max=1.0, step=0.05, optional=True,
                               tooltip="Speed: classifier-free guidance for this first fraction of the steps, then one conditional "
                               "batch (half the work per step). 1 = every step."),
                io.Int.Input("cadence", default=_DEFAULT.cadence, min=1, max=MAX_CADENCE,
                             tooltip="Paint every n-th frame and fill the others by optical flow: about n times faster, same frame count."),
                io.Boolean.Input("loop", default=True, tooltip="The animation loops: with cadence, the tail after the last painted frame flows into frame 1."),
                io.Boolean.Input("prompt_travel", default=_D.prompt_travel, optional=True,
                                 tooltip="Beats flow into each other: each painted frame is conditioned on a slerp path through the "
                                 "planned prompts around it. Off: a time-weighted blend of the prompts it stands for (every planned "
                                 "prompt conditions the picture either way)."),
                *[io.String.Input(name, default=_schedule_default(name), optional=True, tooltip=tip) for name, tip in SCHEDULE_TIPS.items()],
                io.Int.Input("sharpen_kernel", default=_D.sharpen_kernel, min=1, max=31, step=2, optional=True,
                             tooltip="Unsharp mask kernel size (odd)."),
                io.Float.Input("sharpen_sigma", default=_D.sharpen_sigma, min=0.1, max=10.0, step=0.1, optional=True,
                               tooltip="Unsharp mask blur sigma."),
                io.Image.Input("init_image", optional=True, tooltip="Optional: start from this image (img2img) instead of txt2img."),
                Camera.Input("camera", optional=True,
                             tooltip="Optional: a 3D camera move (Ghibli Camera) replacing the plan's own moves (without it, each "
                             "planned beat's move drives the camera). Each painted frame starts from the previous one moved along the "
                             "camera path with its depth; areas the camera reveals are painted fresh."),
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
    @validation.checks("steps", "strength", "width", "height", "sharpen_kernel", *SCHEDULE_TIPS, combos=COMBOS)
    def validate_inputs(cls, **values) -> bool | str:
        values = {k: v for k, v in values.items() if v is not None}  # linked inputs are not known before the run
        errors = validation.combo_errors(values, COMBOS)
        try:
            if not errors:  # the plan's length is not known yet: check each schedule up to its last keyframe
                cls._settings(values, frames=_frames_to_check(values))
        except InputError as exc:
            errors.append(validation.input_error(exc))
        return validation.report(errors)

    @classmethod
    def _settings(cls, v: dict, frames: int) -> tuple[AnimationSettings, MotionSettings]:
        # a preset's values win over the widgets it sets (the canvas shows them anyway); "custom" keeps the widgets
        v = {**v, **preset_widget_values(v.get("preset", DEFAULT_PRESET))}
        schedules = {k: number_or_schedule(v[k]) for k in SCHEDULE_TIPS if k in v}
        anim = AnimationSettings(frames=frames, **{"seed": 0, **{k: v[k] for k in PAINT_WIDGETS if k in v},
                                                   **{k: x for k, x in schedules.items() if x is not None}})
        return anim, MotionSettings(cadence=v.get("cadence", _DEFAULT.cadence), loop=v.get("loop", True))

    @classmethod
    def execute(cls, pipeline, plan, init_image=None, camera=None, **values) -> io.NodeOutput:
        if not getattr(plan, "frames", None):
            raise InputError("plan", "is not a frame plan", "connect LLM Frame Planner or Plan From Text")
        settings, motion = cls._settings(values, frames=len(plan.frames))
        init = to_pil(init_image, "init_image")[0] if init_image is not None else None
        progress = host.StepProgress(denoising_steps(settings, motion, init_image=init is not None), cls.hidden.unique_id)
        job = AnimationJob(painting=settings, motion=motion, camera=camera, plan=plan, init_image=init,
                           preset=values.get("preset", DEFAULT_PRESET), generator=host.GENERATOR)
        pipes = pipeline.get()  # loads again here if Unload Models released the weights since the loader ran
        try:
            run = render_job(job, pipes, plan=plan, on_progress=progress.step, on_frame=progress.frame,
                             should_cancel=host.cancel_check(), progress=False)
        except Cancelled as exc:
            host.raise_if_cancelled(exc)
        animation = run.animation
        depth = [f.control for f in animation.painted if f.control is not None] or [pipes.depth(animation.painted[0].image)]
        return io.NodeOutput(to_image_batch(animation.frames), to_image_batch([d.convert("RGB") for d in depth]), run)


NODES = [GhibliSequentialImg2Img]
