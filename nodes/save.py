"""Animation Saver: the frames as a looping GIF / WebP / APNG / MP4 / WebM in ComfyUI's output folder, with an animated
preview, and the workflow embedded where the front end finds it when the file is dropped on the canvas."""
from __future__ import annotations

import os

import folder_paths
from comfy_api.latest import io, ui

from pathlib import Path

from ghibli_core.api import FIT_MODES, InputError, finish, fit_sound, FPS_RANGE, Outputs, write_webp

from . import host, validation
from .images import to_pil
from .audio import about, to_sound
from .types import CATEGORY, PlanType, Run

#: The figures a clip's run measured against its source (the saver cannot: it has only the output).
CLIP_FIGURES = ("temporal_warp_error", "source_warp_error", "structure_fidelity", "keyframes", "unet_steps_per_frame")
#: The format widget's choices and the file extension each writes.
#: the saver's sound fits: the engine's, and auto (a sound of the frames' exact length kept, another looped)
AUDIO_FITS = ("auto", *FIT_MODES)
FORMATS = {"gif": "gif", "webp": "webp", "apng": "png", "mp4": "mp4", "webm": "webm"}
#: Formats the canvas shows as they are (animated images, and videos as ComfyUI's own video savers return them); a GIF
#: gets a light animated WebP copy in the temp folder (the front end takes a .gif preview for a video).
PREVIEWABLE = ("webp", "png", "mp4", "webm")
FORMAT_TOOLTIP = ("gif: plays everywhere, but cannot carry the workflow (see save_workflow_json); webp: full colour, small; "
                  "apng: lossless animated PNG; mp4: H.264 video; webm: VP9 video. Every format but gif restores its workflow "
                  "when the file is dropped on the canvas.")


def _save_path(prefix: str, folder: str, ext: str, width: int, height: int) -> tuple[str, str, str]:
    """(full path, file name, subfolder) with ComfyUI's counter naming: PREFIX_00001_.EXT."""
    full_folder, filename, counter, subfolder, _ = folder_paths.get_save_image_path(prefix, folder, width, height)
    os.makedirs(full_folder, exist_ok=True)
    name = f"{filename}_{counter:05}_.{ext}"
    return os.path.join(full_folder, name), name, subfolder


def _inside_output(prefix: str) -> bool:
    """Whether ComfyUI will save under this prefix (it refuses, at run time, a folder outside its output folder)."""
    output = os.path.abspath(folder_paths.get_output_directory())
    folder = os.path.abspath(os.path.join(output, os.path.dirname(os.path.normpath(prefix))))
    return os.path.commonpath((output, folder)) == output


class GhibliSaveAnimation(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GhibliSaveAnimation",
            display_name="Ghibli Animation Saver",
            category=f"{CATEGORY}/output",
            description="Saves the frames as a looping animation (GIF with one shared palette, WebP, animated PNG, H.264 MP4 or VP9 "
            "WebM) in ComfyUI's output folder and shows it animated in the canvas. The workflow and plan go in its metadata "
            "(unless ComfyUI runs with --disable-metadata): drop a WebP, PNG, MP4 or WebM file on the canvas to get the "
            "workflow back; a GIF gets it in a .json file beside it. Files are written whole or not at all.",
            inputs=[
                io.Image.Input("images", tooltip="The frames, in order."),
                io.String.Input("filename_prefix", default="ghibli/animation",
                                tooltip="File name prefix in the output folder; a/b puts files in subfolder a. %date% style tokens work."),
                io.Float.Input("fps", default=16.0, min=FPS_RANGE[0], max=FPS_RANGE[1], step=0.5,
                               tooltip="Frames per second (connect Frame Blender's fps to keep the painted pace)."),
                io.Combo.Input("format", options=list(FORMATS), default="gif", tooltip=FORMAT_TOOLTIP),
                io.Boolean.Input("dither", default=False, optional=True,  # GIF-only: an API prompt for another format may leave it out
                                 tooltip="GIF only: Floyd-Steinberg dithering (smoother gradients, but the pattern can crawl)."),
                PlanType.Input("plan", optional=True, tooltip="Optional: the frame plan, stored in the file's metadata (a connected "
                               "run carries it already)."),
                io.Boolean.Input("save_workflow_json", default=True, optional=True,
                                 tooltip="GIF only: also save the workflow as NAME.json beside the GIF (a GIF cannot carry it); "
                                 "drop that file on the canvas to get the workflow back."),
                Run.Input("run", optional=True,
                          tooltip="Optional: the run output of Sequential Img2Img or Ghibli Video Stylize. The file then carries "
                          "what the command line's does: plan or source, every setting, seed, camera path, models and figures."),
                io.Audio.Input("audio", optional=True,
                               tooltip="Optional: sound for an MP4 or WebM (AAC; Opus at 48 kHz), fitted to the frames' exact "
                               "length and starting with the first frame. GIF, WebP and PNG cannot carry sound."),
                io.Combo.Input("audio_fit", options=list(AUDIO_FITS), default="auto", optional=True,
                               tooltip="How the sound is fitted to the frames. auto: a sound exactly as long as the frames "
                               "(a clip's own, Ghibli Music's) is kept as it is, another is looped. loop: repeated or cut "
                               "with an equal-power crossfade at the loop point, so the file loops without a click; trim: "
                               "cut (or silence added); stretch: played up to 10 % faster or slower to fit."),
            ],
            outputs=[],
            hidden=[io.Hidden.prompt, io.Hidden.extra_pnginfo],
            is_output_node=True,
        )

    @classmethod
    @validation.checks("filename_prefix", combos=("format", "audio_fit"))
    def validate_inputs(cls, **values) -> bool | str:
        errors = validation.combo_errors(values, {"format": FORMATS, "audio_fit": AUDIO_FITS})
        prefix = values.get("filename_prefix")
        if isinstance(prefix, str) and not prefix.strip():
            errors.append("filename_prefix: is empty; give a name such as ghibli/animation")
        elif isinstance(prefix, str) and not _inside_output(prefix.strip()):
            errors.append(f"filename_prefix: {prefix!r} leads outside ComfyUI's output folder; give a name inside it, such as ghibli/animation")
        return validation.report(errors)

    @classmethod
    def _comfy(cls) -> dict | None:
        """ComfyUI's own entries (the API prompt and every extra_pnginfo key, the canvas workflow among them)."""
        if not host.metadata_enabled():
            return None
        return {"prompt": cls.hidden.prompt, **(cls.hidden.extra_pnginfo or {})}

    @staticmethod
    def _metadata(plan, run, fps: float, frames: int) -> dict:
        """The run's own metadata (as the command line writes it) when connected, else what the plan says."""
        if run is not None:
            meta = {k: v for k, v in run.metadata.items() if k != "metrics"}
            meta.update(generator=host.GENERATOR, fps=fps)
            made = (run.metadata.get("schedule") or {}).get("output_frames") or (run.metadata.get("source") or {}).get("frames")
            if frames != made:  # a node between the painter and here changed the frames (a Frame Blender, say)
                meta["saved_frames"] = frames
            return meta
        return {
            "generator": host.GENERATOR,
            "prompt": plan.idea if plan is not None else None,
            "plan": plan.frames if plan is not None else None,
            "plan_backend": plan.backend if plan is not None else None,
            "plan_camera": [str(m) for m in plan.moves()] if plan is not None else None,
            "fps": fps,
        }

    @classmethod
    def execute(cls, images, filename_prefix: str, fps: float, format: str, dither: bool = False, plan=None,
                save_workflow_json: bool = True, run=None, audio=None, audio_fit: str = "auto") -> io.NodeOutput:
        frames = to_pil(images, "images")
        width, height = frames[0].size
        ext = FORMATS[format]
        sound = to_sound(audio) if audio is not None else None
        if sound is not None and ext not in ("mp4", "webm"):
            raise InputError("audio", f"a {format} file cannot carry sound", "set format to mp4 or webm, or disconnect audio")
        fit = None
        if sound is not None:
            seconds = len(frames) / fps
            exact = sound.samples.shape[1] == round(seconds * sound.rate)
            fit = ("trim" if exact else "loop") if audio_fit == "auto" else audio_fit
            sound = fit_sound(sound, seconds, fit)
        path, name, subfolder = _save_path(filename_prefix.strip(), folder_paths.get_output_directory(), ext, width, height)
        outputs = Outputs(fps=fps, output=Path(path), dither=dither, metrics_file=False, comfy=cls._comfy(),
                          workflow_sidecar=ext == "gif" and save_workflow_json, embed=host.metadata_enabled(), sound=sound)
        # the one finishing step, as the command line's: measured, metadata completed, written whole or not at all; a
        # clip's own figures (measured against its source, which only the run saw) are kept beside the saver's
        clip_figures = {k: v for k, v in (run.metadata.get("metrics") or {}).items()
                        if k in CLIP_FIGURES} if run is not None else {}
        metadata = cls._metadata(plan, run, fps, len(frames))
        if sound is not None:
            made = about(audio)  # what wrote it (Ghibli Music: model, prompt, seed), then what was written
            metadata["sound"] = {**made, **sound.summary(), "name": made.get("name", sound.name), "fit": fit}
        finish(frames, metadata, outputs, flow=run.flow if run is not None else "dis",
               camera=run.camera_check() if run is not None else None, extra_metrics=clip_figures)
        saved = ui.SavedResult(name, subfolder, io.FolderType.output)
        preview = saved
        if ext not in PREVIEWABLE:
            temp_path, temp_name, temp_sub = _save_path("ghibli-preview/" + os.path.basename(filename_prefix.strip()),
                                                        folder_paths.get_temp_directory(), "webp", width, height)
            write_webp(frames, temp_path, fps=fps, quality=80)
            preview = ui.SavedResult(temp_name, temp_sub, io.FolderType.temp)
        return io.NodeOutput(ui={"images": [preview], "animated": (len(frames) > 1,), "animations": [saved]})


NODES = [GhibliSaveAnimation]
