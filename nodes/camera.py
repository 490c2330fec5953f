"""Camera nodes: a camera move as a GHIBLI_CAMERA, and a camera move over one still image (the `move` command)."""
from __future__ import annotations

import numpy as np
from comfy_api.latest import io

from ghibli_core.api import (AXES, CameraSettings, DEFAULT_FAR, DEFAULT_FOV, DEFAULT_NEAR, defaults, InputError,
    inverse_depth_to_z, Move, move_still, MOVES, STRENGTH_RANGE, work_device)

from . import host, validation
from .images import to_arrays, to_image_batch
from .types import CATEGORY, Camera, DepthModel, Pipeline

#: The move option that leaves the camera to the plan: each beat's own move, with this node's lens and axes.
FROM_PLAN = "from plan"
MOVE_OPTIONS = (FROM_PLAN, *MOVES)
COMBOS = {"move": MOVE_OPTIONS}
AXIS_TIPS = {
    "translation_x": "camera right, scene units per frame (content slides left)",
    "translation_y": "camera up (content slides down)",
    "translation_z": "camera forward (content grows)",
    "rotation_x": "tilt up, degrees per frame (content slides down)",
    "rotation_y": "pan right, degrees per frame (content slides left)",
    "rotation_z": "roll clockwise, degrees per frame (content turns counter-clockwise)",
}


def camera_from(values: dict) -> CameraSettings:
    """The widgets as CameraSettings: the move and strength, the schedules typed (empty = the move's), lens and depth."""
    axes = {a: values[a] for a in AXES if isinstance(values.get(a), str) and values[a].strip()}
    name = values.get("move", "static")
    move = None if name == FROM_PLAN else Move(name, values.get("strength", 1.0))
    return CameraSettings(move=move, fov=values.get("fov", DEFAULT_FOV),
                          near=values.get("near", DEFAULT_NEAR), far=values.get("far", DEFAULT_FAR), **axes)


def camera_inputs() -> list:
    lo, hi = STRENGTH_RANGE
    return [
        io.Combo.Input("move", options=list(MOVE_OPTIONS), default="push-in",
                       tooltip="A named camera move over the whole animation, replacing the plan's: push-in, pan-left, orbit-right, sway "
                       "(returns to its start, so it loops), ... static holds still. 'from plan' keeps each planned beat's own move "
                       "(with this node's lens and any schedules below)."),
        io.Float.Input("strength", default=1.0, min=lo, max=hi, step=0.05, tooltip="How far the move goes: 1 as defined, 0.5 half, 2 double."),
        *[io.String.Input(axis, default="", optional=True,
                          tooltip=f"Optional schedule for {axis} ({AXIS_TIPS[axis]}): a number per frame, or keyframes like "
                          "0:(0), 12:(0.05) with expressions in t and max_f. Replaces the move on this axis; empty keeps the move's.")
          for axis in AXES],
        io.Float.Input("fov", default=DEFAULT_FOV, min=1.5, max=178.5, step=0.5, tooltip="Horizontal field of view in degrees."),
        io.Float.Input("near", default=DEFAULT_NEAR, min=0.001, max=1e5, step=0.1,
                       tooltip="Scene depth of the nearest point of the depth map (moves are measured against it)."),
        io.Float.Input("far", default=DEFAULT_FAR, min=0.002, max=1e6, step=0.5, tooltip="Scene depth of the farthest point."),
    ]


def camera_errors(values: dict) -> list[str]:
    values = {k: v for k, v in values.items() if v is not None}
    errors = validation.combo_errors(values, COMBOS)
    values = {k: v for k, v in values.items() if k not in COMBOS or v in COMBOS[k]}  # a bad choice: its default stands in
    return errors + validation.every_problem_in(lambda v: camera_from(v).path(2), values, rename={"camera": "move"})


class GhibliCamera(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GhibliCamera",
            display_name="Ghibli Camera",
            category=f"{CATEGORY}/camera",
            description="A 3D camera move through the painted scene, using each frame's depth: a named move with a strength, "
            "and/or per-axis schedules (Deforum's syntax). Connect it to Sequential Img2Img or Ghibli Camera Move.",
            inputs=camera_inputs(),
            outputs=[Camera.Output("camera", display_name="camera", tooltip="The camera move.")],
        )

    @classmethod
    @validation.checks(*AXES, "near", "far", combos=COMBOS)
    def validate_inputs(cls, **values) -> bool | str:
        return validation.report(camera_errors(values))

    @classmethod
    def execute(cls, **values) -> io.NodeOutput:
        return io.NodeOutput(camera_from(values))


class GhibliCameraMove(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GhibliCameraMove",
            display_name="Ghibli Camera Move (3D photo)",
            category=f"{CATEGORY}/camera",
            description="Moves a camera through one still image using its depth, no diffusion: frame 0 is the image, frame k the "
            "view after k steps. Occlusion-aware; revealed areas are painted in from their surroundings.",
            inputs=[
                io.Image.Input("image", tooltip="The still (the first image of the batch is used)."),
                Camera.Input("camera", tooltip="From Ghibli Camera."),
                io.Int.Input("length", default=defaults.MOVE_FRAMES, min=1, max=1000, tooltip="Frames to make, the still included."),
                io.Image.Input("depth", optional=True,
                               tooltip="Optional depth map of the image (white = near, as depth preprocessors make it); else "
                               "the pipeline's depth model estimates it."),
                DepthModel.Input("depth_model", optional=True,
                                 tooltip="Optional: Ghibli Depth Loader's estimator, used when no depth map is connected."),
                Pipeline.Input("pipeline", optional=True, tooltip="Optional: its depth model estimates the depth when neither a "
                               "depth map nor a depth loader is connected."),
            ],
            outputs=[
                io.Image.Output("frames", display_name="frames", tooltip="The views, [B,H,W,C]."),
                io.Mask.Output("revealed", display_name="revealed", tooltip="Per frame, the pixels the camera saw nothing at (1 = revealed)."),
            ],
        )

    @classmethod
    @validation.checks("input_types")
    def validate_inputs(cls, input_types=None) -> bool | str:
        """At queue time: a depth source is connected (declaring `input_types` makes ComfyUI leave the links' type checks
        to the node, so they are done here too)."""
        linked = input_types or {}
        errors = [f"{name}: a {got} is connected, but it takes {MOVE_INPUT_TYPES[name]}; connect a {MOVE_INPUT_TYPES[name]}"
                  for name, got in linked.items() if name in MOVE_INPUT_TYPES and got not in (MOVE_INPUT_TYPES[name], "*")]
        if not {"depth", "depth_model", "pipeline"} & set(linked):
            errors.append("depth: no depth source is connected; connect a depth map (IMAGE, white = near), a Ghibli Depth "
                          "Loader (depth_model) or a Ghibli Pipeline Loader (pipeline)")
        return validation.report(errors)

    @classmethod
    def execute(cls, image, camera, length: int, depth=None, depth_model=None, pipeline=None) -> io.NodeOutput:
        import torch
        from PIL import Image

        if not isinstance(camera, CameraSettings):
            raise InputError("camera", "is not a camera", "connect Ghibli Camera")
        still = to_arrays(image, "image")[0]
        h, w = still.shape[:2]
        if depth is not None:
            d = to_arrays(depth, "depth")[0]
            if d.shape[:2] != (h, w):
                raise InputError("depth", f"the depth map is {d.shape[1]}x{d.shape[0]} but the image is {w}x{h}",
                                 "connect the depth map of this image (same size)")
            relative = d[..., 0].astype(np.float32) / 255.0
        elif depth_model is not None or pipeline is not None:
            estimator = depth_model.get() if depth_model is not None else pipeline.get().depth
            relative = estimator.relative(Image.fromarray(still))
        else:
            raise InputError("depth", "no depth source is connected", "connect a depth map, a Ghibli Depth Loader or a pipeline")
        z = inverse_depth_to_z(relative, camera.near, camera.far)
        moved = move_still(still, z, camera.path(length), device=work_device(host.comfy_device()))  # on ComfyUI's GPU
        masks = torch.from_numpy(np.stack(moved.masks).astype(np.float32))
        return io.NodeOutput(to_image_batch(moved.frames), masks)


#: The links Camera Move takes, by the type each must carry (checked by the node: see its validate_inputs).
MOVE_INPUT_TYPES = {"image": "IMAGE", "camera": "GHIBLI_CAMERA", "depth": "IMAGE", "depth_model": "GHIBLI_DEPTH",
                    "pipeline": "GHIBLI_PIPELINE"}

NODES = [GhibliCamera, GhibliCameraMove]
