"""Where a model comes from (hub id, diffusers folder, single file), checked without loading it.

Every check here is cheap (a stat, a JSON read, a safetensors header) so a CLI or a node can
refuse a bad input before any weights are read.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import InputError, ModelNotFoundError, first_line

SAFE_EXTS = (".safetensors",)
PICKLE_EXTS = (".ckpt", ".pt", ".pth", ".bin")
MODEL_EXTS = SAFE_EXTS + PICKLE_EXTS

Kind = Literal["pipeline", "controlnet", "depth", "chat", "tiny-vae", "music"]

#: What a user can do to get each kind of model, appended to "not found" errors.
HOW_TO_GET = {
    "pipeline": "give a hub id (e.g. stable-diffusion-v1-5/stable-diffusion-v1-5), a diffusers folder, "
    "or an SD1.5 .safetensors checkpoint (ComfyUI keeps them in models/checkpoints)",
    "controlnet": "give a hub id (e.g. lllyasviel/control_v11f1p_sd15_depth), a diffusers folder, "
    "or a ControlNet .safetensors file (ComfyUI keeps them in models/controlnet)",
    "depth": "give a transformers depth model: a hub id (e.g. depth-anything/Depth-Anything-V2-Small-hf) "
    "or a local folder with config.json",
    "tiny-vae": "give TAESD for SD1.5: a hub id (madebyollin/taesd), its diffusers folder, or taesd_decoder.safetensors "
    "with taesd_encoder.safetensors beside it (ComfyUI keeps them in models/vae_approx)",
    "music": "give a text-to-music model (MusicGen): a hub id (e.g. facebook/musicgen-small) or a local folder with "
    "config.json and its processor",
    "chat": "give a transformers chat model: a hub id (e.g. Qwen/Qwen2.5-0.5B-Instruct) or a local folder "
    "with config.json and a tokenizer that has a chat template",
}
#: The file a diffusers-layout folder of each kind must hold (and that the hub cache must have offline).
MARKER_FILE = {"pipeline": "model_index.json", "controlnet": "config.json", "depth": "config.json", "chat": "config.json",
               "tiny-vae": "config.json", "music": "config.json"}


@dataclass(frozen=True)
class ModelSource:
    """A resolved model location. `location` is a hub id or an absolute path."""

    kind: Literal["hub", "folder", "file"]
    location: str
    role: Kind

    @property
    def name(self) -> str:
        """A name safe to embed in metadata: the hub id, or the file/folder name (never a home path)."""
        return self.location if self.kind == "hub" else Path(self.location).name

    @property
    def is_pickle(self) -> bool:
        return self.kind == "file" and self.location.lower().endswith(PICKLE_EXTS)

    @property
    def files(self) -> tuple[str, ...]:
        """Where it is read from (a TAESD decoder file: its encoder beside it too), so that replacing any of them under
        the same name is seen by the held copies' and a host's cache keys."""
        encoder = encoder_beside(self.location) if self.kind == "file" and self.role == "tiny-vae" else None
        return (self.location, *((str(encoder),) if encoder is not None else ()))


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _looks_like_path(value: str) -> bool:
    return (
        value.startswith((".", "/", "~", "\\"))
        or value.lower().endswith(MODEL_EXTS)
        or "\\" in value
        or value.count("/") != 1
        or (len(value) > 1 and value[1] == ":")  # a Windows drive
    )


def encoder_beside(decoder: str | Path) -> Path | None:
    """The encoder file that goes with an original-layout decoder file (`taesd_decoder.X` -> `taesd_encoder.*`, the
    same extension first), or None."""
    decoder = Path(decoder)
    if "decoder" not in decoder.name:
        return None
    stem = "encoder".join(decoder.stem.rsplit("decoder", 1))
    for ext in (decoder.suffix, ".safetensors", *PICKLE_EXTS):
        candidate = decoder.with_name(stem + ext)
        if candidate.is_file():
            return candidate
    return None


def taesd_half(keys: list[str] | set[str]) -> str | None:
    """Which half of an original TAESD ("encoder" or "decoder") a file's keys are (numbered `nn.Sequential` layers;
    the decoder's layer 0 is a clamp without weights), else None."""
    if not keys or not all(re.match(r"\d+\.", k) for k in keys):
        return None
    return "encoder" if "0.weight" in keys else ("decoder" if "1.weight" in keys else None)


def safetensors_keys(path: str, input_name: str) -> dict[str, list[int]]:
    """Tensor names and shapes from a safetensors header; a clear error if the file is not one."""
    from safetensors import safe_open

    try:
        with safe_open(path, framework="pt") as f:
            return {k: list(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own error types, OSError or ValueError
        raise InputError(
            input_name,
            f"{Path(path).name} is not a readable .safetensors file ({first_line(exc, 120)})",
            "the file is corrupt or truncated: download it again",
        ) from exc


def _check_single_file(path: str, role: Kind, input_name: str, allow_pickle: bool) -> None:
    if role in TRANSFORMERS_ROLES:
        raise InputError(input_name, f"a {role} model must be a folder or hub id, not a single file", HOW_TO_GET[role])
    if role == "tiny-vae":
        _check_taesd_file(path, input_name, allow_pickle)
        return
    if path.lower().endswith(PICKLE_EXTS):
        refuse_pickle(path, input_name, allow_pickle)
        return
    if not path.lower().endswith(SAFE_EXTS):
        raise InputError(input_name, f"{Path(path).name} is not a model file", f"expected one of {', '.join(MODEL_EXTS)}")
    keys = safetensors_keys(path, input_name)
    if any("lora_down" in k or "lora_A" in k or ".lora." in k for k in keys):
        raise InputError(input_name, f"{Path(path).name} is a LoRA, not a full model", "pass it with --lora instead")
    wanted = {
        "pipeline": ("model.diffusion_model.", "conv_in.weight", "time_embedding.linear_1.weight"),
        "controlnet": ("control_model.", "input_hint_block.", "controlnet_cond_embedding."),
    }[role]
    if not any(k.startswith(wanted) for k in keys):
        raise InputError(
            input_name,
            f"{Path(path).name} does not look like a {'Stable Diffusion checkpoint' if role == 'pipeline' else 'ControlNet'}",
            HOW_TO_GET[role],
        )


def refuse_pickle(path: str, input_name: str, allow_pickle: bool) -> None:
    """Refuse a pickle file (it can run code when loaded) unless the user opted in."""
    if path.lower().endswith(PICKLE_EXTS) and not allow_pickle:
        raise InputError(
            input_name,
            f"{Path(path).name} is a pickle checkpoint, which can run code when loaded",
            "use a .safetensors file, or opt in with --allow-pickle if you trust its source",
        )


def _check_taesd_file(path: str, input_name: str, allow_pickle: bool) -> None:
    """An original-layout TAESD decoder with its encoder beside it (headers only)."""
    name = Path(path).name
    refuse_pickle(path, input_name, allow_pickle)
    if not path.lower().endswith(MODEL_EXTS):
        raise InputError(input_name, f"{name} is not a model file", HOW_TO_GET["tiny-vae"])
    if path.lower().endswith(SAFE_EXTS):
        half = taesd_half(list(safetensors_keys(path, input_name)))
        if half == "encoder":
            raise InputError(input_name, f"{name} is TAESD's encoder", "give the decoder file (taesd_decoder.safetensors); "
                             "the encoder is found beside it")
        if half is None:
            raise InputError(input_name, f"{name} does not look like a TAESD decoder", HOW_TO_GET["tiny-vae"])
    encoder = encoder_beside(path)
    if encoder is None:
        raise ModelNotFoundError(input_name, f"{name} needs its encoder beside it ({name.replace('decoder', 'encoder')})",
                                 "put the encoder file of the same TAESD release in the same folder")
    refuse_pickle(str(encoder), input_name, allow_pickle)
    if str(encoder).lower().endswith(SAFE_EXTS) and taesd_half(list(safetensors_keys(str(encoder), input_name))) != "encoder":
        raise InputError(input_name, f"{encoder.name} beside {name} is not a TAESD encoder", HOW_TO_GET["tiny-vae"])


#: Roles loaded by transformers from a flat folder of weights (the depth estimator, the local chat model).
TRANSFORMERS_ROLES = ("depth", "chat", "music")


def _check_weights(path: str, input_name: str, allow_pickle: bool) -> None:
    """A transformers folder with pickle weights only (pytorch_model.bin ...) is refused unless the user opted in: loading
    a pickle can run code. A folder with .safetensors weights loads those (see `safe_load_kwargs`)."""
    files = [f for f in sorted(os.listdir(path)) if os.path.isfile(os.path.join(path, f))]
    pickles = [f for f in files if f.lower().endswith(PICKLE_EXTS) and not f.startswith("training_args")]
    if pickles and not any(f.lower().endswith(SAFE_EXTS) for f in files) and not allow_pickle:
        raise InputError(input_name, f"{os.path.join(path, pickles[0])} is a pickle checkpoint (the folder has no .safetensors "
                         "weights), which can run code when loaded",
                         "use a safetensors copy of the model, or opt in with --allow-pickle if you trust its source")


def safe_load_kwargs(allow_pickle: bool) -> dict[str, Any]:
    """What transformers' `from_pretrained` is told: safetensors only, unless the user opted in to pickle files."""
    return {} if allow_pickle else {"use_safetensors": True}


def _check_folder(path: str, role: Kind, input_name: str, allow_pickle: bool = False) -> None:
    marker = MARKER_FILE[role]
    if not os.path.isfile(os.path.join(path, marker)):
        raise InputError(
            input_name,
            f"folder {path} has no {marker}, so it is not a diffusers/transformers model folder",
            HOW_TO_GET[role],
        )
    wanted = {"controlnet": "ControlNetModel", "tiny-vae": "AutoencoderTiny"}.get(role)
    if wanted:
        cfg = json.loads(Path(path, marker).read_text(encoding="utf-8"))
        if cfg.get("_class_name") not in (None, wanted):
            article = "an" if wanted[0] in "AEIOU" else "a"
            raise InputError(input_name, f"{path} holds a {cfg.get('_class_name')}, not {article} {wanted}", HOW_TO_GET[role])
    if role in TRANSFORMERS_ROLES:
        _check_weights(path, input_name, allow_pickle)


def _check_hub_id(repo_id: str, role: Kind, input_name: str) -> None:
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise InputError(input_name, f"{repo_id!r} is neither an existing path nor a valid hub id", HOW_TO_GET[role]) from exc
    cached = isinstance(try_to_load_from_cache(repo_id, MARKER_FILE[role]), str)
    if cached:
        return
    if hub_offline():
        raise ModelNotFoundError(
            input_name,
            f"{repo_id} is not in the local Hugging Face cache and HF_HUB_OFFLINE=1",
            "run once online to download it, or pass a local folder or .safetensors file",
        )
    endpoint = hub_endpoint()
    if not reachable(endpoint):  # one short check, instead of the hub client's retries before its own error
        raise ModelNotFoundError(
            input_name,
            f"{repo_id} is not in the local Hugging Face cache and the Hub ({endpoint}) cannot be reached",
            "connect once to download it, give a local file or folder, or try the whole chain offline with --tiny",
        )


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return os.environ.get("HF_ENDPOINT") or constants.ENDPOINT


#: The Hub's reachability, checked once per endpoint and process.
_REACHABLE: dict[str, bool] = {}
REACH_TIMEOUT = 3.0


def reachable(url: str, timeout: float = REACH_TIMEOUT) -> bool:
    """Whether a TCP connection to `url`'s host opens within `timeout` seconds (a proxy in the environment is trusted:
    the hub client goes through it)."""
    import socket
    from urllib.parse import urlparse

    if url not in _REACHABLE:
        if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")):
            _REACHABLE[url] = True
        else:
            parts = urlparse(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            try:
                socket.create_connection((parts.hostname, port), timeout=timeout).close()
                _REACHABLE[url] = True
            except OSError:
                _REACHABLE[url] = False
    return _REACHABLE[url]


def resolve_source(value: str, role: Kind, input_name: str, *, allow_pickle: bool = False) -> ModelSource:
    """Classify and check `value` (hub id, folder or file) for a model `role`, without loading it."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(input_name, "is empty", HOW_TO_GET[role])
    value = value.strip()
    path = os.path.abspath(os.path.expanduser(value))
    if os.path.isfile(path):
        _check_single_file(path, role, input_name, allow_pickle)
        return ModelSource("file", path, role)
    if os.path.isdir(path):
        _check_folder(path, role, input_name, allow_pickle)
        return ModelSource("folder", path, role)
    if _looks_like_path(value):
        raise ModelNotFoundError(input_name, f"no file or folder at {path}", HOW_TO_GET[role])
    _check_hub_id(value, role, input_name)
    return ModelSource("hub", value, role)
