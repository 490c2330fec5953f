"""Ghibli Video Stylize: a clip's frames (and sound) repainted in the Ghibli style, frame for frame."""
from __future__ import annotations

from comfy_api.latest import io

from ghibli_core.api import (Cancelled, DEFAULT_PRESET, InMemoryClip, KeyframeSettings, PRESETS, SETTINGS, VideoJob,
    run_video_job)

from . import host, validation
from .audio import to_audio, to_sound
from .clips import clip_source
from .images import to_image_batch
from .preset_widgets import PRESET_OPTIONS, preset_widget_values
from .types import CATEGORY, Pipeline, Run
from .widgets import setting_input

#: ComfyUI's native VIDEO type, where the running ComfyUI has it (newer than early 0.3 builds)
VIDEO = getattr(io, "Video", None)
_KEYS = KeyframeSettings()
PAINT = ("steps", "strength", "controlnet_scale", "seed", "color_coherence", "cache_interval", "controlnet_end", "cfg_end")
COMBOS = {"preset": PRESET_OPTIONS}


class GhibliVideoStylize(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GhibliVideoStylize",
            display_name="Ghibli Video Stylize",
            category=f"{CATEGORY}/video",
            description="Repaints a clip in the Ghibli style, frame for frame: keyframes chosen on the source (a new one when "
            "the picture has changed enough, at every scene cut) are img2img from their own frame under the depth ControlNet, "
            "starting from the previous painted keyframe carried along the source's motion; every other frame is carried "
            "from the painted keyframes around it. The same frame count and rate come out, and the sound, trimmed to them.",
            inputs=[
                Pipeline.Input("pipeline", tooltip="From Ghibli Pipeline Loader (and any Ghibli LoRA Loaders)."),
                io.String.Input("prompt", multiline=True, default="a quiet street in a seaside town",
                                tooltip="What the clip becomes, in words; the Ghibli style words are added."),
                io.Combo.Input("preset", options=list(PRESET_OPTIONS), default=DEFAULT_PRESET,
                               tooltip="Speed/quality: sets steps, strength, controlnet_scale and the step reuse (custom: "
                               "the widgets as set)."),
                *[setting_input(name, **({"default": 0, "control_after_generate": True} if name == "seed" else {}),
                                **({"optional": True} if name in ("cache_interval", "controlnet_end", "cfg_end") else {}))
                  for name in PAINT],
                io.Int.Input("keyframe_min", default=_KEYS.min_interval, min=1, max=100,
                             tooltip="Keyframes at least this many frames apart."),
                io.Int.Input("keyframe_max", default=_KEYS.max_interval, min=1, max=1000,
                             tooltip="Keyframes at most this many frames apart."),
                io.Float.Input("keyframe_threshold", default=_KEYS.threshold, min=0.0, max=1.0, step=0.05,
                               tooltip="A new keyframe once this share of pixels cannot be followed from the last one."),
                io.Float.Input("flow_blend", default=_KEYS.flow_blend, min=0.0, max=1.0, step=0.05,
                               tooltip="The carried painting's share of a keyframe's start where the motion holds (the rest: "
                               "the source frame)."),
                io.Int.Input("max_side", default=768, min=64, max=2048, step=8,
                             tooltip="The frames' long side is scaled down to this (a multiple of 8; the aspect is kept)."),
                io.Image.Input("images", optional=True,
                               tooltip="The clip's frames (Load Video / Get Video Components, VHS Load Video)."),
                io.Float.Input("fps", default=24.0, min=0.1, max=1000.0, step=0.001, optional=True,
                               tooltip="The frames' rate (connect the loader's fps / frame_rate); kept for the output."),
                io.Audio.Input("audio", optional=True, tooltip="The clip's sound: trimmed to the frames and given back."),
                *([VIDEO.Input("video", optional=True, tooltip="Or a VIDEO (Load Video): its file is read as players show "
                                           "it (a phone's portrait clip upright, HDR as SDR, deinterlaced), one frame at a "
                                           "time, with its rate and sound (the audio input, if connected, replaces it).")]
                  if VIDEO is not None else []),
                io.Boolean.Input("cross_frame", default=_KEYS.cross_frame, optional=True,
                                 tooltip="Each keyframe's self-attention also sees its scene's first keyframe: textures and "
                                 "colours shared across keyframes, at the cost of memory for that reference (one tensor "
                                 "per attention layer and step)."),
            ],
            outputs=[
                io.Image.Output("frames", display_name="frames", tooltip="The repainted frames, one per input frame."),
                io.Audio.Output("sound", display_name="audio", tooltip="The clip's sound over the same frames (connect it "
                                "to Ghibli Animation Saver for an MP4/WebM with sound)."),
                io.Float.Output("rate", display_name="fps", tooltip="The frames' rate."),
                Run.Output("run", display_name="run", tooltip="How the clip was repainted (source, keyframes, settings, "
                           "models, figures): connect it to Ghibli Animation Saver."),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    @validation.checks("prompt", "keyframe_min", "keyframe_max", combos=COMBOS)
    def validate_inputs(cls, **values) -> bool | str:
        errors = validation.combo_errors(values, COMBOS)
        if isinstance(values.get("prompt"), str) and not values["prompt"].strip():
            errors.append("prompt: is empty; say what the clip becomes, e.g. a quiet street at dusk")
        lo, hi = values.get("keyframe_min"), values.get("keyframe_max")
        if isinstance(lo, int) and isinstance(hi, int) and hi < lo:
            errors.append(f"keyframe_max: {hi} is below keyframe_min {lo}; give keyframe_max >= keyframe_min")
        return validation.report(errors)

    @classmethod
    def execute(cls, pipeline, prompt: str, preset: str, keyframe_min: int, keyframe_max: int, keyframe_threshold: float,
                flow_blend: float, max_side: int, images=None, fps: float = 24.0, audio=None, video=None,
                cross_frame: bool = False, **values) -> io.NodeOutput:
        import comfy.utils

        clip, clip_settings = clip_source(images, video, fps, audio, max_side)
        values = {**values, **preset_widget_values(preset)}  # a preset's values win over the widgets it sets
        widgets = {SETTINGS[name].widget_name: name for name in PAINT}
        painting = PRESETS[DEFAULT_PRESET].animation(frames=1, **{field: values[w] for w, field in widgets.items() if w in values})
        job = VideoJob(clip=clip, prompt=prompt, clip_settings=clip_settings, painting=painting,
                       keys=KeyframeSettings(keyframe_min, keyframe_max, keyframe_threshold, flow_blend, cross_frame),
                       preset=preset, metrics_file=False, generator=host.GENERATOR)
        bar = comfy.utils.ProgressBar(job.info.frames, node_id=cls.hidden.unique_id)
        check = host.cancel_check()

        def on_keyframe(key) -> None:  # each painted keyframe: the bar moves to it, the canvas shows it
            from PIL import Image

            image = Image.fromarray(key.painted)
            bar.update_absolute(key.index + 1, preview=("JPEG", image, max(image.size)))

        pipes = pipeline.get()
        try:
            result = run_video_job(job, pipes, on_keyframe=on_keyframe, should_cancel=check, progress=False)
        except Cancelled as exc:
            host.raise_if_cancelled(exc)
        bar.update_absolute(job.info.frames)
        sound = result.sound
        if audio is not None and not isinstance(clip, InMemoryClip):  # the AUDIO input replaces the file's own sound
            sound = to_sound(audio).window(0.0, job.info.frames / job.info.fps)
        sound = to_audio(sound) if sound is not None else None
        return io.NodeOutput(to_image_batch(result.output_frames), sound, float(job.info.fps), result)


NODES = [GhibliVideoStylize]
