"""Frame Blender: any IMAGE batch in, smoother IMAGE batch out (flow in-betweens, cadence, colour, loop)."""
from __future__ import annotations

from comfy_api.latest import io

from ghibli_core.api import (blend_frames, BLEND_METHODS, COLOR_MODES, default_fps, defaults, FLOW_METHODS,
    FPS_RANGE, InputError, MotionSettings)

from . import validation
from .images import to_arrays, to_image_batch
from .types import CATEGORY
from .widgets import setting_input

COMBOS = {"blend": BLEND_METHODS, "flow": FLOW_METHODS, "color_mode": COLOR_MODES}


class GhibliFrameBlender(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GhibliFrameBlender",
            display_name="Frame Blender",
            category=f"{CATEGORY}/post",
            description="Smooths any frame batch: optical-flow in-betweens (occlusion-aware, DIS flow), cadence re-fill, "
            "colour coherence to frame 1, and loop closure (the last frame flows back into the first).",
            inputs=[
                io.Image.Input("images", tooltip="Frames in order, [B,H,W,C]: from Sequential Img2Img or any video/image node."),
                setting_input("interpolate"),
                setting_input("blend"),
                setting_input("flow"),
                setting_input("cadence", default=1, tooltip="Keep every n-th frame and re-synthesise the others from their "
                              "neighbours (steadies flicker; 1 = off)."),
                setting_input("color_match"),
                setting_input("color_mode"),
                setting_input("loop"),
                io.Float.Input("base_fps", default=defaults.BASE_FPS, min=FPS_RANGE[0], max=FPS_RANGE[1], step=0.5,
                               tooltip="Frame rate of the input frames; the fps output keeps their pace with the in-betweens added."),
            ],
            outputs=[
                io.Image.Output("frames", display_name="frames", tooltip="The blended frames."),
                io.Float.Output("fps", display_name="fps", tooltip="base_fps x (interpolate + 1), at most 50: connect it to the saver's fps to keep the pace."),
            ],
        )

    @classmethod
    @validation.checks(combos=COMBOS)
    def validate_inputs(cls, **values) -> bool | str:
        values = {k: v for k, v in values.items() if v is not None}
        errors = validation.combo_errors(values, COMBOS)
        if not errors:
            try:
                MotionSettings(**{k: values[k] for k in ("interpolate", "blend", "flow", "cadence", "loop", "color_match", "color_mode") if k in values})
            except InputError as exc:
                errors.append(validation.input_error(exc))
        return validation.report(errors)

    @classmethod
    def execute(cls, images, interpolate: int, blend: str, flow: str, cadence: int, color_match: float, color_mode: str,
                loop: bool, base_fps: float) -> io.NodeOutput:
        motion = MotionSettings(interpolate=interpolate, blend=blend, flow=flow, cadence=cadence, loop=loop,
                                color_match=color_match, color_mode=color_mode)
        frames = blend_frames(to_arrays(images, "images"), motion)
        return io.NodeOutput(to_image_batch(frames), default_fps(interpolate, base_fps))


NODES = [GhibliFrameBlender]
