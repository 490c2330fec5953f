"""Edge controls beside the depth ControlNet: a detector turns a frame into an edge map, an SD1.5 ControlNet of that kind
holds the painting to it (ControlNet v1.1's canny, soft-edge, lineart and anime-lineart models).

    --control canny:0.5                      canny edges (OpenCV, no detector weights) at scale 0.5
    --control lineart_anime:0.7@models/controlnet/control_v11p_sd15s2_lineart_anime.safetensors

Canny is OpenCV's, as ControlNet's own annotator is. The learned detectors (soft-edge/HED, lineart, anime lineart) are
controlnet_aux's networks (`pip install 'ghibli-anim[edges]'`), with their weights read from the annotator files of
`lllyasviel/Annotators` (a hub id or a folder holding them): a `.safetensors` copy first, else the released `.pth`
through `torch.load(weights_only=True)`, which reads tensors only and cannot run code.
"""
from __future__ import annotations

import contextlib
import functools
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

from .. import defaults
from ..errors import InputError, ModelLoadError, ModelNotFoundError, first_line
from .sources import ModelSource, hub_offline, resolve_source


@dataclass(frozen=True)
class EdgeKind:
    """One kind of edge control: its ControlNet (hub default) and the annotator files its detector reads (none for canny)."""

    name: str
    controlnet: str
    files: tuple[str, ...] = ()
    help: str = ""


EDGE_KINDS: dict[str, EdgeKind] = {k.name: k for k in (
    EdgeKind("canny", defaults.EDGE_CONTROLNETS["canny"], (), "hard outlines from OpenCV's Canny (no detector weights)"),
    EdgeKind("softedge", defaults.EDGE_CONTROLNETS["softedge"], ("ControlNetHED.pth",), "soft HED edges: shapes without texture"),
    EdgeKind("lineart", defaults.EDGE_CONTROLNETS["lineart"], ("sk_model.pth", "sk_model2.pth"), "clean line drawing"),
    EdgeKind("lineart_anime", defaults.EDGE_CONTROLNETS["lineart_anime"], ("netG.pth",), "anime line drawing"),
)}
#: Other names users write for the same kinds.
ALIASES = {"hed": "softedge", "soft-edge": "softedge", "soft_edge": "softedge", "lineart-anime": "lineart_anime",
           "anime": "lineart_anime"}
#: Canny's thresholds: ControlNet's annotator defaults.
CANNY_LOW, CANNY_HIGH = 100, 200


@dataclass(frozen=True)
class EdgeControl:
    """One edge control to paint under: its kind, its conditioning scale and its ControlNet (None: the kind's default)."""

    kind: str
    scale: float = defaults.EDGE_SCALE
    model: str | None = None

    def __post_init__(self) -> None:
        kind = ALIASES.get(self.kind.strip().lower(), self.kind.strip().lower())
        if kind not in EDGE_KINDS:
            raise InputError("control", f"{self.kind!r} is not a ControlNet kind",
                             f"use one of {', '.join(EDGE_KINDS)} (depth is always on: its weight is --controlnet-scale)")
        object.__setattr__(self, "kind", kind)
        if not 0.0 <= float(self.scale) <= 2.0:
            raise InputError("control", f"{self.kind} scale {self.scale} is outside 0..2", "give a scale like canny:0.5")

    @property
    def controlnet(self) -> str:
        return self.model or EDGE_KINDS[self.kind].controlnet

    @classmethod
    def parse(cls, text: str) -> "EdgeControl":
        """`KIND[:SCALE][@MODEL]`, as `--control` takes it."""
        spec, _, model = text.partition("@")
        kind, _, scale = spec.partition(":")
        try:
            value = float(scale) if scale.strip() else defaults.EDGE_SCALE
        except ValueError:
            raise InputError("control", f"{text!r}: scale {scale!r} is not a number", "write KIND[:SCALE][@MODEL], e.g. canny:0.5") from None
        return cls(kind, value, model.strip() or None)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "scale": self.scale, "controlnet": self.controlnet}


def resolve_edge_controlnet(edge: EdgeControl, allow_pickle: bool) -> ModelSource:
    return resolve_source(edge.controlnet, "controlnet", f"control {edge.kind}", allow_pickle=allow_pickle)


# --- detectors --------------------------------------------------------------------------------------------------------

Detector = Callable[[Image.Image], Image.Image]


def canny(image: Image.Image) -> Image.Image:
    """Canny edges as the canny ControlNet takes them: white lines on black, RGB, at the image's size."""
    import cv2

    edges = cv2.Canny(np.asarray(image.convert("RGB")), CANNY_LOW, CANNY_HIGH)
    return Image.fromarray(np.stack([edges] * 3, axis=-1))


def annotator_file(annotators: str, name: str) -> str:
    """The path of one annotator file: a `.safetensors` copy beside the `.pth` first; from a folder, or the hub cache
    (downloaded when online)."""
    stem = Path(name).stem
    candidates = (stem + ".safetensors", name)
    folder = os.path.abspath(os.path.expanduser(annotators))
    if os.path.isdir(folder):
        for c in candidates:
            if os.path.isfile(os.path.join(folder, c)):
                return os.path.join(folder, c)
        raise ModelNotFoundError("annotators", f"{folder} has no {name} (or {stem}.safetensors)",
                                 "give the folder that holds lllyasviel/Annotators' files, or its hub id")
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    for c in candidates:
        cached = try_to_load_from_cache(annotators, c)
        if isinstance(cached, str):
            return cached
    if hub_offline():
        raise ModelNotFoundError("annotators", f"{name} of {annotators} is not in the local Hugging Face cache and HF_HUB_OFFLINE=1",
                                 "run once online to download it, or give a folder that holds it")
    try:
        return hf_hub_download(annotators, name)
    except Exception as exc:
        raise ModelNotFoundError("annotators", f"could not get {name} from {annotators} ({first_line(exc)})",
                                 "give a folder that holds lllyasviel/Annotators' files") from exc


def read_weights(path: str) -> dict[str, torch.Tensor]:
    """A state dict from safetensors, or from a `.pth` read with `weights_only=True` (tensors only, no code)."""
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    # some releases were saved from DataParallel ("module." prefixes)
    return {k.removeprefix("module."): v for k, v in state.items()}


@contextlib.contextmanager
def _quiet_import() -> Any:
    with warnings.catch_warnings():  # controlnet_aux's package import warns about optional extras it does not need here
        warnings.simplefilter("ignore")
        yield


def _aux(kind: str) -> Any:
    try:
        with _quiet_import():
            if kind == "softedge":
                from controlnet_aux.hed import ControlNetHED_Apache2

                return ControlNetHED_Apache2
            if kind == "lineart":
                from controlnet_aux.lineart import Generator

                return Generator
            from controlnet_aux.lineart_anime import UnetGenerator

            return UnetGenerator
    except ImportError as exc:
        raise InputError("control", f"{kind} needs controlnet_aux's detectors, which are not installed",
                         "pip install 'ghibli-anim[edges]' (canny needs nothing more)") from exc


class LearnedDetector:
    """A controlnet_aux detector network on `device`: RGB image in, RGB edge map of the same size out (white = edge)."""

    def __init__(self, kind: str, annotators: str, device: torch.device) -> None:
        import torch.nn as nn

        net_cls = _aux(kind)
        self.kind, self.device = kind, device
        self._lock = threading.Lock()
        files = [annotator_file(annotators, f) for f in EDGE_KINDS[kind].files]
        if kind == "softedge":
            net = net_cls()
        elif kind == "lineart":
            net = net_cls(3, 1, 3)
        else:
            net = net_cls(3, 1, 8, 64, norm_layer=functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False),
                          use_dropout=False)
        try:
            net.load_state_dict({k: v.float() for k, v in read_weights(files[0]).items()})
        except Exception as exc:
            raise ModelLoadError(f"annotators: {Path(files[0]).name} is not a {kind} detector ({first_line(exc)}); "
                                 "give lllyasviel/Annotators or a folder of its files") from exc
        self.net = net.float().eval().to(device)

    @torch.inference_mode()
    def __call__(self, image: Image.Image) -> Image.Image:
        import cv2

        rgb = np.asarray(image.convert("RGB"))
        h, w = rgb.shape[:2]
        x = torch.from_numpy(rgb.copy()).float().permute(2, 0, 1)[None].to(self.device)
        with self._lock:
            if self.kind == "softedge":  # HED: the side outputs' mean through a sigmoid (controlnet_aux's rule)
                sides = [torch.nn.functional.interpolate(e, size=(h, w), mode="bilinear", align_corners=False)
                         for e in self.net(x)]
                edge = torch.sigmoid(torch.stack(sides).mean(0))[0, 0]
            elif self.kind == "lineart":  # lines are dark on white in the network's output: inverted
                edge = 1.0 - self.net(x / 255.0)[0, 0]
            else:  # the anime network takes -1..1 at a multiple of 256, and draws dark lines
                side = lambda n: 256 * int(np.ceil(n / 256))
                small = torch.nn.functional.interpolate(x / 127.5 - 1.0, size=(side(h), side(w)), mode="bilinear",
                                                        align_corners=False)
                edge = 1.0 - (self.net(small)[0, 0] + 1.0) / 2.0
        gray = (edge.clamp(0, 1) * 255).round().byte().cpu().numpy()
        if gray.shape != (h, w):
            gray = cv2.resize(gray, (w, h), interpolation=cv2.INTER_LINEAR)
        return Image.fromarray(np.stack([gray] * 3, axis=-1))


def load_detector(kind: str, annotators: str, device: torch.device) -> Detector:
    """The detector of one edge kind (canny needs no weights)."""
    return canny if kind == "canny" else LearnedDetector(kind, annotators, device)


def check_annotators(edges: tuple[EdgeControl, ...], annotators: str) -> None:
    """Before anything loads: the detectors' library and files are at hand (folder files, or a valid hub id)."""
    learned = [e for e in edges if EDGE_KINDS[e.kind].files]
    for e in learned:
        _aux(e.kind)
    folder = os.path.abspath(os.path.expanduser(annotators))
    if learned and os.path.isdir(folder):
        for e in learned:
            for name in EDGE_KINDS[e.kind].files:
                annotator_file(annotators, name)
