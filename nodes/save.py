"""GIF Saver: the frames as a looping GIF / WebP / MP4 in ComfyUI's output folder, with an animated preview."""
from __future__ import annotations

import os

import folder_paths
from comfy_api.latest import io, ui

from ghibli_core import __version__
from ghibli_core.export import FPS_RANGE, save_animation, write_webp

from . import host
from .images import to_pil
from .types import CATEGORY, PlanType

FORMATS = ("gif", "webp", "mp4")


def _save_path(prefix: str, folder: str, ext: str, width: int, height: int) -> tuple[str, str, str]:
    """(full path, file name, subfolder) with ComfyUI's counter naming: PREFIX_00001_.EXT."""
    full_folder, filename, counter, subfolder, _ = folder_paths.get_save_image_path(prefix, folder, width, height)
    os.makedirs(full_folder, exist_ok=True)
    name = f"{filename}_{counter:05}_.{ext}"
    return os.path.join(full_folder, name), name, subfolder


class GhibliSaveAnimation(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GhibliSaveAnimation",
            display_name="Ghibli GIF Saver",
            category=f"{CATEGORY}/output",
            description="Saves the frames as a looping animation (GIF with one shared palette, WebP or H.264 MP4) in ComfyUI's output "
            "folder, with the workflow and plan in its metadata (unless ComfyUI runs with --disable-metadata), and shows it "
            "animated in the canvas. Files are written whole or not at all.",
            inputs=[
                io.Image.Input("images", tooltip="The frames, in order."),
                io.String.Input("filename_prefix", default="ghibli/animation",
                                tooltip="File name prefix in the output folder; a/b puts files in subfolder a. %date% style tokens work."),
                io.Float.Input("fps", default=16.0, min=FPS_RANGE[0], max=FPS_RANGE[1], step=0.5,
                               tooltip="Frames per second (connect Frame Blender's fps to keep the painted pace)."),
                io.Combo.Input("format", options=list(FORMATS), default="gif", tooltip="gif: plays everywhere; webp: full colour, small; mp4: H.264 video."),
                io.Boolean.Input("dither", default=False, tooltip="GIF only: Floyd-Steinberg dithering (smoother gradients, but the pattern can crawl)."),
                PlanType.Input("plan", optional=True, tooltip="Optional: the frame plan, stored in the file's metadata."),
            ],
            outputs=[],
            hidden=[io.Hidden.prompt, io.Hidden.extra_pnginfo],
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, **values) -> bool | str:
        errors = host.combo_errors(values, {"format": FORMATS})
        prefix = values.get("filename_prefix")
        if isinstance(prefix, str) and not prefix.strip():
            errors.append("filename_prefix: is empty; give a name such as ghibli/animation")
        return "; ".join(errors) or True

    @classmethod
    def _metadata(cls, plan, fps: float) -> dict | None:
        if not host.metadata_enabled():
            return None
        extra = cls.hidden.extra_pnginfo or {}
        return {
            "generator": f"ghibli-anim {__version__} (ComfyUI)",
            "prompt": plan.idea if plan is not None else None,
            "plan": plan.frames if plan is not None else None,
            "plan_backend": plan.backend if plan is not None else None,
            "plan_camera": [str(m) for m in plan.moves()] if plan is not None else None,
            "fps": fps,
            "comfyui_prompt": cls.hidden.prompt,
            "workflow": extra.get("workflow"),
        }

    @classmethod
    def execute(cls, images, filename_prefix: str, fps: float, format: str, dither: bool, plan=None) -> io.NodeOutput:
        frames = to_pil(images, "images")
        width, height = frames[0].size
        path, name, subfolder = _save_path(filename_prefix.strip(), folder_paths.get_output_directory(), format, width, height)
        options = {"dither": True} if dither and format == "gif" else {}
        save_animation(frames, path, fps=fps, metadata=cls._metadata(plan, fps), **options)
        saved = ui.SavedResult(name, subfolder, io.FolderType.output)
        preview = saved
        if format != "webp":  # the canvas animates WebP, not GIF or MP4: show a light WebP copy from the temp folder
            temp_path, temp_name, temp_sub = _save_path("ghibli-preview/" + os.path.basename(filename_prefix.strip()),
                                                        folder_paths.get_temp_directory(), "webp", width, height)
            write_webp(frames, temp_path, fps=fps, quality=80)
            preview = ui.SavedResult(temp_name, temp_sub, io.FolderType.temp)
        return io.NodeOutput(ui={"images": [preview], "animated": (len(frames) > 1,), "animations": [saved]})


NODES = [GhibliSaveAnimation]
