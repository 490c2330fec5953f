"""Loader nodes: the SD1.5 + depth ControlNet + depth estimator set, style LoRAs and edge ControlNets on top of it."""
from __future__ import annotations

import os

from comfy_api.latest import io

from ghibli_core.api import (COMPILE_MODES, DEVICES, DTYPES, EDGE_KINDS, EdgeControl, HeldDepth, HeldPipelines, LoraSpec,
    ModelSettings, ModelSource, WEIGHT_RANGE, defaults, weights_bytes)

import folder_paths

from . import host, validation
from .types import CATEGORY, DepthModel, Pipeline

LISTS = {
    "ckpt_name": ("checkpoints", host.base_models),
    "controlnet_name": ("controlnet", host.controlnet_models),
    "depth_model": (host.DEPTH_FOLDER, host.depth_models),
    "tiny_vae": ("vae_approx", host.tiny_vae_models),
    "annotators": (host.ANNOTATORS_FOLDER, host.annotator_folders),
}


def _listed_error(name: str, value) -> str | None:
    kind, listing = LISTS[name]
    if value is None or (isinstance(value, str) and value in listing()):  # None: linked, known only at run time
        return None
    return host.missing_model_message(name, value, kind)


#: The loader's speed_lora choice for none.
NO_SPEED_LORA = "none"


class GhibliPipelineLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GhibliPipelineLoader",
            display_name="Ghibli Pipeline Loader",
            category=f"{CATEGORY}/load",
            description="Loads an SD1.5 checkpoint (single file from models/checkpoints or a diffusers folder from models/diffusers), "
            "a depth ControlNet (models/controlnet) and a depth estimator (models/depth) once, shared by txt2img and img2img. "
            "Kept between runs; released when ComfyUI frees memory (Unload Models).",
            inputs=[
                io.Combo.Input("ckpt_name", options=list(host.base_models()), tooltip="The SD1.5 model: a .safetensors checkpoint, or a diffusers folder (marked [diffusers])."),
                io.Combo.Input("controlnet_name", options=list(host.controlnet_models()), tooltip="A depth ControlNet for SD1.5, e.g. control_v11f1p_sd15_depth."),
                io.Combo.Input("depth_model", options=list(host.depth_models()),
                               tooltip="A transformers depth estimator folder in models/depth (e.g. Depth-Anything-V2-Small-hf), or a hub id from the Hugging Face cache."),
                io.Combo.Input("device", options=list(DEVICES), default="auto", tooltip="auto: the device ComfyUI runs on (its --cpu, --cuda-device ...)."),
                io.Combo.Input("dtype", options=list(DTYPES), default="auto", tooltip="auto: the precision ComfyUI itself picks for an SD1.5 model on that device (its --fp16-unet, --bf16-unet, "
                               "--fp32-unet flags; fp32 under --cpu)."),
                io.Combo.Input("compile", options=list(COMPILE_MODES), default="off", optional=True,
                               tooltip="torch.compile the UNet and ControlNet: faster frames on a GPU after a slow first one (off on the CPU)."),
                io.Boolean.Input("vae_tiling", default=False, optional=True,
                                 tooltip="Decode in tiles: large frame sizes in less memory, slightly slower."),
                io.Combo.Input("tiny_vae", options=list(host.tiny_vae_models()), default=host.NO_TINY_VAE, optional=True,
                               tooltip="none: the model's own VAE. A TAESD decoder from models/vae_approx "
                               "(taesd_decoder.safetensors, its encoder beside it): every frame encoded and decoded by "
                               "the tiny autoencoder instead: fast drafts, softer detail."),
                io.Combo.Input("speed_lora", options=[NO_SPEED_LORA, *folder_paths.get_filename_list("loras")],
                               default=NO_SPEED_LORA, optional=True,
                               tooltip="A few-step LoRA from models/loras (LCM-LoRA, TCD, Hyper-SD) beside the style LoRAs: with "
                               "the turbo preset (or the lcm/tcd scheduler) frames paint in 2 steps. none: no speed LoRA."),
                io.Float.Input("speed_lora_strength", default=1.0, min=WEIGHT_RANGE[0], max=WEIGHT_RANGE[1], step=0.05,
                               optional=True, tooltip="The speed LoRA's adapter weight."),
            ],
            outputs=[Pipeline.Output("pipeline", display_name="pipeline", tooltip="The loaded models; chain Ghibli LoRA Loaders after it.")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    @validation.checks("ckpt_name", "controlnet_name", "depth_model", "tiny_vae", "speed_lora", combos=("device", "dtype", "compile"))
    def validate_inputs(cls, ckpt_name=None, controlnet_name=None, depth_model=None, device="auto", dtype="auto",
                        compile="off", tiny_vae=host.NO_TINY_VAE, speed_lora=None) -> bool | str:
        errors = [e for e in (_listed_error(n, v) for n, v in (("ckpt_name", ckpt_name), ("controlnet_name", controlnet_name),
                                                               ("depth_model", depth_model), ("tiny_vae", tiny_vae))) if e]
        if speed_lora not in (None, NO_SPEED_LORA) and speed_lora not in folder_paths.get_filename_list("loras"):
            errors.append(host.missing_model_message("speed_lora", speed_lora, "loras"))
        errors += validation.combo_errors({"device": device, "dtype": dtype, "compile": compile},
                                          {"device": DEVICES, "dtype": DTYPES, "compile": COMPILE_MODES})
        return validation.report(errors)

    @classmethod
    def _paths(cls, ckpt_name: str, controlnet_name: str, depth_model: str) -> tuple[str, str, str]:
        return (
            host.resolve_listed(ckpt_name, host.base_models(), "checkpoints", "ckpt_name"),
            host.resolve_listed(controlnet_name, host.controlnet_models(), "controlnet", "controlnet_name"),
            host.resolve_listed(depth_model, host.depth_models(), host.DEPTH_FOLDER, "depth_model"),
        )

    @classmethod
    def _tiny_vae_path(cls, tiny_vae: str) -> str | None:
        if tiny_vae in (None, host.NO_TINY_VAE):
            return None
        return host.resolve_listed(tiny_vae, host.tiny_vae_models(), "vae_approx", "tiny_vae")

    @classmethod
    def fingerprint_inputs(cls, ckpt_name, controlnet_name, depth_model, device, dtype, compile="off", vae_tiling=False,
                           tiny_vae=host.NO_TINY_VAE, speed_lora=NO_SPEED_LORA, speed_lora_strength=1.0):
        try:
            tiny = cls._tiny_vae_path(tiny_vae)
            speed = cls._speed_lora(speed_lora, speed_lora_strength)
            tiny_files = ModelSource("file" if os.path.isfile(tiny) else "folder", tiny, "tiny-vae").files if tiny else ()
            files = host.file_fingerprint(*cls._paths(ckpt_name, controlnet_name, depth_model), *tiny_files,
                                          *([speed.path] if speed else []))
            return files, device, dtype, compile, vae_tiling, tiny_vae, speed_lora, speed_lora_strength
        except Exception:  # a missing model is reported by execute, with the folder to put it in
            return None

    @classmethod
    def _speed_lora(cls, name: str | None, strength: float) -> LoraSpec | None:
        if name in (None, NO_SPEED_LORA):
            return None
        return LoraSpec(folder_paths.get_full_path_or_raise("loras", name), strength)

    @classmethod
    def execute(cls, ckpt_name: str, controlnet_name: str, depth_model: str, device: str, dtype: str, compile: str = "off",
                vae_tiling: bool = False, tiny_vae: str = host.NO_TINY_VAE, speed_lora: str = "none",
                speed_lora_strength: float = 1.0) -> io.NodeOutput:
        base, controlnet, depth = cls._paths(ckpt_name, controlnet_name, depth_model)
        device = host.torch_device() if device == "auto" else device
        settings = ModelSettings(base=base, controlnet=controlnet, depth_model=depth, device=device,
                                 dtype=host.torch_dtype(device) if dtype == "auto" else dtype,
                                 compile=compile, vae_tiling=vae_tiling, tiny_vae=cls._tiny_vae_path(tiny_vae),
                                 speed_lora=cls._speed_lora(speed_lora, speed_lora_strength))
        resolved = settings.resolve()  # every file checked (headers only) before any weight is read
        host.make_room(str(resolved.device), weights_bytes(resolved, fallback=host.UNKNOWN_MODEL_BYTES))
        held = host.hold_for(cls.hidden.unique_id, HeldPipelines.of(resolved))
        held.get()  # load now, so the loader's own progress shows the load and a bad file fails here
        return io.NodeOutput(held)


class GhibliDepthLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GhibliDepthLoader",
            display_name="Ghibli Depth Loader",
            category=f"{CATEGORY}/load",
            description="Loads a depth estimator alone (a transformers depth model from models/depth, or a hub id from the "
            "Hugging Face cache): the depth source of Ghibli Camera Move (a 3D photo needs no SD model), or of Sequential "
            "Img2Img instead of its pipeline's. Kept between runs; released by Unload Models.",
            inputs=[
                io.Combo.Input("depth_model", options=list(host.depth_models()),
                               tooltip="A transformers depth estimator folder in models/depth (e.g. Depth-Anything-V2-Small-hf), or a hub id from the Hugging Face cache."),
                io.Combo.Input("device", options=list(DEVICES), default="auto", tooltip="auto: the device ComfyUI runs on."),
                io.Combo.Input("dtype", options=list(DTYPES), default="auto", tooltip="auto: fp16 on a GPU, fp32 on the CPU."),
            ],
            outputs=[DepthModel.Output("depth", display_name="depth_model",
                                       tooltip="The depth estimator, for Ghibli Camera Move or Sequential Img2Img.")],
        )

    @classmethod
    @validation.checks("depth_model", combos=("device", "dtype"))
    def validate_inputs(cls, depth_model=None, device="auto", dtype="auto") -> bool | str:
        errors = [e for e in [_listed_error("depth_model", depth_model)] if e]
        errors += validation.combo_errors({"device": device, "dtype": dtype}, {"device": DEVICES, "dtype": DTYPES})
        return validation.report(errors)

    @classmethod
    def execute(cls, depth_model: str, device: str, dtype: str) -> io.NodeOutput:
        path = host.resolve_listed(depth_model, host.depth_models(), host.DEPTH_FOLDER, "depth_model")
        held = HeldDepth.of(path, host.torch_device() if device == "auto" else device, dtype)
        held.get()  # load now: the loader's own progress shows the load, and a bad folder fails here
        return io.NodeOutput(held)


class GhibliLoraLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        lo, hi = WEIGHT_RANGE
        return io.Schema(
            node_id="GhibliLoraLoader",
            display_name="Ghibli LoRA Loader",
            category=f"{CATEGORY}/load",
            description="Adds a style LoRA (models/loras, diffusers or kohya layout) to the pipeline at a weight. "
            "Chain several for several LoRAs; the base weights are shared, and switching LoRAs never reloads the model.",
            inputs=[
                Pipeline.Input("pipeline", tooltip="From Ghibli Pipeline Loader or another Ghibli LoRA Loader."),
                io.Combo.Input("lora_name", options=folder_paths.get_filename_list("loras"), tooltip="An SD1.5 LoRA .safetensors file in models/loras."),
                io.Float.Input("strength", default=0.8, min=lo, max=hi, step=0.05, tooltip="Adapter weight: 0 turns it off, 1 is full strength, negative inverts it."),
            ],
            outputs=[Pipeline.Output("pipeline_out", display_name="pipeline", tooltip="The same models, painting with this LoRA added.")],
        )

    @classmethod
    @validation.checks("lora_name")
    def validate_inputs(cls, lora_name=None, **_) -> bool | str:
        if lora_name is None or lora_name in folder_paths.get_filename_list("loras"):
            return True
        return host.missing_model_message("lora_name", lora_name, "loras")

    @classmethod
    def fingerprint_inputs(cls, pipeline, lora_name, strength):
        path = folder_paths.get_full_path("loras", lora_name)
        return host.file_fingerprint(path) if path else None, strength

    @classmethod
    def execute(cls, pipeline, lora_name: str, strength: float) -> io.NodeOutput:
        path = folder_paths.get_full_path_or_raise("loras", lora_name)
        return io.NodeOutput(pipeline.with_loras((*pipeline.loras, LoraSpec(path, float(strength)))))  # checked against the model


class GhibliEdgeControl(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GhibliEdgeControl",
            display_name="Ghibli Edge ControlNet",
            category=f"{CATEGORY}/load",
            description="Adds an edge control beside the depth ControlNet (as --control does): each painted frame's edges "
            "(canny from OpenCV; soft edges, lineart or anime lineart from their detectors) hold the painting to the "
            "frame's outlines through an SD1.5 ControlNet of that kind. Chain several for several kinds. The models are "
            "loaded again with it (the pipeline's LoRAs are kept); released by Unload Models.",
            inputs=[
                Pipeline.Input("pipeline", tooltip="From Ghibli Pipeline Loader, a Ghibli LoRA Loader or another Edge ControlNet."),
                io.Combo.Input("kind", options=list(EDGE_KINDS), default="canny",
                               tooltip="; ".join(f"{k.name}: {k.help}" for k in EDGE_KINDS.values())),
                io.Combo.Input("controlnet_name", options=list(host.controlnet_models()),
                               tooltip="An SD1.5 ControlNet of that kind in models/controlnet, e.g. control_v11p_sd15_canny."),
                io.Float.Input("strength", default=defaults.EDGE_SCALE, min=0.0, max=2.0, step=0.05,
                               tooltip="Its conditioning scale beside the depth ControlNet's."),
                io.Combo.Input("annotators", options=list(host.annotator_folders()), default=defaults.ANNOTATORS, optional=True,
                               tooltip="Where the learned detectors' weights are (not used by canny): a folder in "
                               "models/annotators holding lllyasviel/Annotators' files, or that hub id from the Hugging Face cache."),
            ],
            outputs=[Pipeline.Output("pipeline_out", display_name="pipeline",
                                     tooltip="The same models and LoRAs, painting under this edge control too.")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    @validation.checks("controlnet_name", "annotators", combos=("kind",))
    def validate_inputs(cls, controlnet_name=None, annotators=None, kind="canny", **_) -> bool | str:
        errors = [e for e in (_listed_error("controlnet_name", controlnet_name), _listed_error("annotators", annotators)) if e]
        errors += validation.combo_errors({"kind": kind}, {"kind": EDGE_KINDS})
        return validation.report(errors)

    @classmethod
    def fingerprint_inputs(cls, pipeline, kind, controlnet_name, strength, annotators=defaults.ANNOTATORS):
        try:
            path = host.resolve_listed(controlnet_name, host.controlnet_models(), "controlnet", "controlnet_name")
            return host.file_fingerprint(path), kind, strength, annotators
        except Exception:  # a missing model is reported by execute, with the folder to put it in
            return None

    @classmethod
    def execute(cls, pipeline, kind: str, controlnet_name: str, strength: float,
                annotators: str = defaults.ANNOTATORS) -> io.NodeOutput:
        path = host.resolve_listed(controlnet_name, host.controlnet_models(), "controlnet", "controlnet_name")
        where = host.resolve_listed(annotators, host.annotator_folders(), host.ANNOTATORS_FOLDER, "annotators")
        settings = pipeline.resolved.settings
        settings = settings.replace(edges=(*settings.edges, EdgeControl(kind, float(strength), path)), annotators=where)
        resolved = settings.resolve()  # the ControlNet and the detector's files checked (headers only) before loading
        host.make_room(str(resolved.device), weights_bytes(resolved, fallback=host.UNKNOWN_MODEL_BYTES))
        held = host.hold_for(cls.hidden.unique_id, HeldPipelines.of(resolved))
        held = held.with_loras(pipeline.loras) if pipeline.loras else held
        held.get()  # load now: this node's own progress shows the load, and a bad file fails here
        return io.NodeOutput(held)


NODES = [GhibliPipelineLoader, GhibliDepthLoader, GhibliLoraLoader, GhibliEdgeControl]
