"""Loading the SD1.5 pipelines once and sharing their weights.

`txt2img` (StableDiffusionPipeline) paints frame 1; `img2img` (StableDiffusionControlNetImg2ImgPipeline)
is made from it with `from_pipe`, so the UNet, VAE, text encoder and any LoRA adapters exist once.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch

from .. import defaults, registry
from ..device import resolve_device, resolve_dtype
from ..errors import InputError, ModelLoadError
from ..files import file_identity
from .configs import CONTROLNET_CONFIG_DIR, SD15_CONFIG_DIR, read_json
from .depth import DepthEstimator, held_depth_estimator, load_depth_estimator
from .edges import Detector, EdgeControl, check_annotators, load_detector, resolve_edge_controlnet
from .holder import HELD
from .lora import AdapterGate, LoraSpec, check_lora_file, use_loras
from .speed_lora import name_of as speed_name, resolve_speed_lora
from .sources import ModelSource, hub_offline, resolve_source
from .speed import apply_speedups
from .tiny_vae import check_fits, load_tiny_vae

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSettings:
    """Which models to load and where to run them. Checked with `resolve()` before anything loads."""

    base: str = defaults.BASE_MODEL
    controlnet: str = defaults.CONTROLNET
    depth_model: str = defaults.DEPTH_MODEL
    loras: tuple[LoraSpec, ...] = ()
    #: A few-step "speed" LoRA (LCM-LoRA, TCD, Hyper-SD) beside the style LoRAs, with its own weight: a file, or a hub
    #: repo holding pytorch_lora_weights.safetensors, or `org/repo/FILE.safetensors` (speed_lora.py).
    speed_lora: LoraSpec | None = None
    #: Edge controls painted under beside the depth ControlNet (each its own ControlNet and detector).
    edges: tuple[EdgeControl, ...] = ()
    annotators: str = defaults.ANNOTATORS
    device: str = "auto"
    dtype: str = "auto"
    allow_pickle: bool = False
    #: diffusers-layout config folder used for a single-file base (default: the shipped SD1.5 configs).
    base_config: str | None = None
    #: config folder used for a single-file ControlNet (default: the shipped SD1.5 depth ControlNet config).
    controlnet_config: str | None = None
    #: NHWC weights and activations; None = as measured (speed.channels_last_models): all on CUDA; on the CPU the VAE,
    #: and the UNet and ControlNet too in bf16.
    channels_last: bool | None = None
    #: torch.compile the UNet and ControlNet ("off", "default", "reduce-overhead", "max-autotune"); worth it on a GPU
    #: for long runs (the first frame pays the compile time).
    compile: str = "off"
    #: Decode (and encode) in overlapping tiles: large sizes in less memory, at a small cost in speed.
    vae_tiling: bool = False
    #: Decode a batch one image at a time (less peak memory for batched decodes).
    vae_slicing: bool = False
    #: A tiny autoencoder (TAESD) for every encode and decode instead of the model's VAE: fast drafts, softer detail.
    #: A hub id, a diffusers folder or an original-layout decoder file (see `tiny_vae.py`); None = the model's VAE.
    tiny_vae: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "loras", tuple(self.loras))
        object.__setattr__(self, "edges", tuple(EdgeControl.parse(e) if isinstance(e, str) else e for e in self.edges))
        kinds = [e.kind for e in self.edges]
        if len(set(kinds)) != len(kinds):
            raise InputError("control", f"{', '.join(sorted({k for k in kinds if kinds.count(k) > 1}))} given twice",
                             "give each control kind once")
        registry.check_all(self, "models", skip=("device",))  # a device may name its index (cuda:1): resolve_device checks it
        for cfg, name in ((self.base_config, "base-config"), (self.controlnet_config, "controlnet-config")):
            if cfg is not None and not Path(cfg, "config.json" if name == "controlnet-config" else "model_index.json").is_file():
                raise InputError(name, f"{cfg} is not a diffusers config folder", "point it at a folder with model_index.json / config.json")

    def replace(self, **changes: Any) -> "ModelSettings":
        return dataclasses.replace(self, **changes)

    def resolve(self) -> "ResolvedModels":
        """Check every source and LoRA file (headers only); raise `InputError` on the first bad one."""
        base = resolve_source(self.base, "pipeline", "model", allow_pickle=self.allow_pickle)
        controlnet = resolve_source(self.controlnet, "controlnet", "controlnet", allow_pickle=self.allow_pickle)
        depth = resolve_source(self.depth_model, "depth", "depth-model", allow_pickle=self.allow_pickle)
        tiny_vae = resolve_source(self.tiny_vae, "tiny-vae", "tiny-vae", allow_pickle=self.allow_pickle) if self.tiny_vae else None
        edges = tuple(resolve_edge_controlnet(e, self.allow_pickle) for e in self.edges)
        speed = resolve_speed_lora(self.speed_lora) if self.speed_lora is not None else None
        check_annotators(self.edges, self.annotators)
        cross, text = base_dims(base, single_file_config(base, self.base_config))
        for spec in (*self.loras, *((speed,) if speed else ())):
            check_lora_file(spec, cross_attention_dim=cross, text_hidden_size=text, allow_pickle=self.allow_pickle)
        device = resolve_device(self.device)
        return ResolvedModels(self, base, controlnet, depth, device, resolve_dtype(self.dtype, device), tiny_vae, edges, speed)


def single_file_config(src: ModelSource, explicit: str | None) -> Path:
    """The diffusers config folder a single-file model is read with.

    In order: the one given; a folder beside the file with the file's name minus its extension
    (`anime.safetensors` + `anime/model_index.json`), for checkpoints of another shape; the shipped SD1.5 configs.
    """
    marker, shipped = (("model_index.json", SD15_CONFIG_DIR) if src.role == "pipeline" else ("config.json", CONTROLNET_CONFIG_DIR))
    if explicit:
        return Path(explicit)
    if src.kind == "file":
        beside = Path(src.location).with_suffix("")
        if (beside / marker).is_file():
            return beside
    return shipped


def base_dims(base: ModelSource, single_file_config: Path) -> tuple[int, int]:
    """(UNet cross-attention dim, text-encoder width) of a base, read from configs only."""
    unet_cfg = text_cfg = None
    if base.kind == "folder":
        root = Path(base.location)
        unet_cfg, text_cfg = root / "unet" / "config.json", root / "text_encoder" / "config.json"
    elif base.kind == "file":
        unet_cfg, text_cfg = single_file_config / "unet" / "config.json", single_file_config / "text_encoder" / "config.json"
    else:
        from huggingface_hub import try_to_load_from_cache

        u = try_to_load_from_cache(base.location, "unet/config.json")
        t = try_to_load_from_cache(base.location, "text_encoder/config.json")
        unet_cfg = Path(u) if isinstance(u, str) else None
        text_cfg = Path(t) if isinstance(t, str) else None
    cross = read_json(unet_cfg)["cross_attention_dim"] if unet_cfg and unet_cfg.is_file() else 768
    text = read_json(text_cfg)["hidden_size"] if text_cfg and text_cfg.is_file() else 768
    return int(cross), int(text)


@dataclass(frozen=True)
class ResolvedModels:
    """Checked sources, ready to load."""

    settings: ModelSettings
    base: ModelSource
    controlnet: ModelSource
    depth: ModelSource
    device: torch.device
    dtype: torch.dtype
    tiny_vae: ModelSource | None = None
    #: The edge controls' ControlNets, in the order of `settings.edges`.
    edge_controlnets: tuple[ModelSource, ...] = ()
    #: The speed LoRA as a local file (a hub repo's file from the cache), at its weight.
    speed_lora: LoraSpec | None = None

    def with_edges(self, edges: tuple[EdgeControl, ...]) -> "ResolvedModels":
        """The same sources with the edge controls at other scales (their kinds and ControlNets must be these)."""
        assert [(e.kind, e.controlnet) for e in edges] == [(e.kind, e.controlnet) for e in self.settings.edges]
        return dataclasses.replace(self, settings=self.settings.replace(edges=tuple(edges)))

    @property
    def load_key(self) -> "ResolvedModels":
        """What the loaded weights depend on: the edge controls' scales left out (a scale is a painting value, so
        another scale paints with the weights already held)."""
        edges = self.settings.edges
        return self.with_edges(tuple(dataclasses.replace(e, scale=0.0) for e in edges)) if edges else self

    @property
    def sources(self) -> tuple[ModelSource, ...]:
        """Every model file or folder these settings load (their identities key the held copies)."""
        return (self.base, self.controlnet, self.depth, *((self.tiny_vae,) if self.tiny_vae else ()), *self.edge_controlnets,
                *((ModelSource("file", self.speed_lora.path, "pipeline"),) if self.speed_lora else ()))


@dataclass
class GhibliPipelines:
    """The loaded models of one animation setup; every pipeline shares the same weights."""

    txt2img: Any  # StableDiffusionPipeline
    img2img: Any  # StableDiffusionControlNetImg2ImgPipeline
    depth: DepthEstimator
    resolved: ResolvedModels
    #: The LoRAs this handle paints with; `with_loras` gives a handle with others over the same weights.
    loras: tuple[LoraSpec, ...] = ()
    #: Names of the active adapters (set by `activate_loras`).
    lora_adapters: list[str] = field(default_factory=list)
    #: The model's own scheduler config, from which each run builds the scheduler it asks for.
    default_scheduler_config: dict[str, Any] = field(default_factory=dict)
    #: Adapters loaded on the shared weights, by LoRA file identity; shared by every handle of these weights.
    loaded_adapters: dict[tuple, str] = field(default_factory=dict)
    #: The speed options in effect (attention, channels-last, compile, VAE tiling/slicing).
    speedups: dict[str, Any] = field(default_factory=dict)
    #: Who may paint now: runs with the same adapters at once, others in turn; shared by every handle of these weights.
    adapter_gate: AdapterGate = field(default_factory=AdapterGate, repr=False, compare=False)
    #: One detector per edge control (after the depth ControlNet in the img2img pipeline's MultiControlNet).
    edge_detectors: tuple[Detector, ...] = ()

    @property
    def edges(self) -> tuple[EdgeControl, ...]:
        return self.resolved.settings.edges

    @property
    def device(self) -> torch.device:
        return self.resolved.device

    @property
    def dtype(self) -> torch.dtype:
        return self.resolved.dtype

    def with_loras(self, loras: tuple[LoraSpec, ...] | list[LoraSpec]) -> "GhibliPipelines":
        """A handle on the same loaded weights that paints with `loras` (files checked now, loaded on use)."""
        unet, text = self.txt2img.unet.config, self.txt2img.text_encoder.config
        for spec in loras:
            check_lora_file(spec, cross_attention_dim=int(unet.cross_attention_dim), text_hidden_size=int(text.hidden_size),
                            allow_pickle=self.resolved.settings.allow_pickle)
        return dataclasses.replace(self, loras=tuple(loras), lora_adapters=[])

    @property
    def adapters(self) -> tuple[LoraSpec, ...]:
        """Every adapter this handle paints with: its style LoRAs, then the speed LoRA (kept by `with_loras`)."""
        speed = self.resolved.speed_lora
        return (*self.loras, *((speed,) if speed is not None else ()))

    def activate_loras(self) -> list[str]:
        """Make this handle's LoRAs, at their weights, the active adapters of the shared weights (a painting run does
        this through `adapter_gate`, so it never switches them under another run)."""
        self.lora_adapters = use_loras(self.txt2img, self.loaded_adapters, self.adapters)
        self.adapter_gate.forget()
        return self.lora_adapters

    def model_names(self) -> dict[str, Any]:
        """Model names for metadata: hub ids or file names, never local paths."""
        r = self.resolved
        return {
            "base": r.base.name,
            "controlnet": r.controlnet.name,
            "depth_model": getattr(self.depth, "source", r.depth).name,  # the estimator painting (a host may give another)
            "loras": [{"name": s.name, "weight": s.weight} for s in self.loras],
            **({"tiny_vae": r.tiny_vae.name} if r.tiny_vae is not None else {}),
            **({"speed_lora": {"name": speed_name(r.settings.speed_lora), "weight": r.speed_lora.weight}} if r.speed_lora else {}),
            **({"controls": [{**e.to_dict(), "controlnet": src.name} for e, src in zip(self.edges, r.edge_controlnets)]}
               if self.edges else {}),
        }


@contextlib.contextmanager
def quiet(logger_name: str) -> Iterator[None]:
    """Only errors from this logger while inside (for a library's notes that say nothing to a user)."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _load_base(src: ModelSource, config_dir: Path, dtype: torch.dtype, allow_pickle: bool) -> Any:
    from diffusers import StableDiffusionPipeline

    common: dict[str, Any] = dict(dtype=dtype, safety_checker=None, requires_safety_checker=False)
    try:
        if src.kind == "file":
            return StableDiffusionPipeline.from_single_file(src.location, config=str(config_dir), local_files_only=True, **common)
        return StableDiffusionPipeline.from_pretrained(
            src.location,
            use_safetensors=None if allow_pickle else True,
            local_files_only=src.kind == "folder" or hub_offline(),
            **common,
        )
    except Exception as exc:
        raise ModelLoadError(
            f"model: could not load {src.name} as a Stable Diffusion 1.5 pipeline ({_first_line(exc)}); "
            "check that it is a complete SD1.5 model (not SDXL/SD2, not a LoRA or VAE alone)"
        ) from exc


def load_base(src: ModelSource, *, base_config: str | None = None, dtype: torch.dtype = torch.float32,
              allow_pickle: bool = False, progress: bool = True) -> Any:
    """The base SD1.5 `StableDiffusionPipeline` alone, from a checked source (what LoRA training starts from)."""
    with loading_bars(progress):
        return _load_base(src, single_file_config(src, base_config), dtype, allow_pickle)


def _load_controlnet(src: ModelSource, config_dir: Path, dtype: torch.dtype, allow_pickle: bool) -> Any:
    from diffusers import ControlNetModel

    try:
        if src.kind == "file":
            return ControlNetModel.from_single_file(src.location, config=str(config_dir), local_files_only=True, dtype=dtype)
        return ControlNetModel.from_pretrained(
            src.location,
            dtype=dtype,
            use_safetensors=None if allow_pickle else True,
            local_files_only=src.kind == "folder" or hub_offline(),
        )
    except Exception as exc:
        raise ModelLoadError(
            f"controlnet: could not load {src.name} as an SD1.5 ControlNet ({_first_line(exc)}); "
            "pass a depth ControlNet for SD1.5, e.g. " + defaults.CONTROLNET
        ) from exc


@contextlib.contextmanager
def loading_bars(show: bool):
    """Hide diffusers' and transformers' loading bars for a quiet run, restoring the caller's choice after."""
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    before = (dlog.is_progress_bar_enabled(), tlog.is_progress_bar_enabled())
    if not show:
        dlog.disable_progress_bar()
        tlog.disable_progress_bar()
    try:
        yield
    finally:
        for enabled, mod in zip(before, (dlog, tlog)):
            mod.enable_progress_bar() if enabled else mod.disable_progress_bar()


def load_pipelines(settings: ModelSettings | ResolvedModels, *, progress: bool = True,
                   depth: DepthEstimator | None = None) -> GhibliPipelines:
    """Load base, ControlNet, depth model (unless `depth` is given) and LoRAs; return pipelines that share them. Nothing
    is kept: `HeldPipelines` keeps them for the hosts that reuse them."""
    with loading_bars(progress):
        return _load_pipelines(settings, progress, depth)


def _load_pipelines(settings: ModelSettings | ResolvedModels, progress: bool, depth: DepthEstimator | None) -> GhibliPipelines:
    resolved = settings if isinstance(settings, ResolvedModels) else settings.resolve()
    s = resolved.settings
    txt2img = _load_base(resolved.base, single_file_config(resolved.base, s.base_config), resolved.dtype, s.allow_pickle)
    controlnet = _load_controlnet(
        resolved.controlnet, single_file_config(resolved.controlnet, s.controlnet_config), resolved.dtype, s.allow_pickle
    )
    if resolved.edge_controlnets:  # depth first, then each edge control: MultiControlNet takes their images in that order
        from diffusers import MultiControlNetModel

        controlnet = MultiControlNetModel([controlnet, *(
            _load_controlnet(src, single_file_config(src, None), resolved.dtype, s.allow_pickle)
            for src in resolved.edge_controlnets)])
    if depth is None:
        depth = load_depth_estimator(resolved.depth, resolved.device, resolved.dtype, s.allow_pickle)
    if resolved.tiny_vae is not None:  # before assembling, so img2img shares it and the speed options apply to it
        with quiet("diffusers.configuration_utils"), quiet("diffusers.models.modeling_utils"):  # config and cast notes
            tiny = load_tiny_vae(resolved.tiny_vae, resolved.dtype, allow_pickle=s.allow_pickle)
        check_fits(tiny, txt2img.unet, resolved.tiny_vae.name)
        txt2img.vae = tiny
    return assemble_pipelines(txt2img, controlnet, depth, resolved, progress=progress)


def assemble_pipelines(txt2img: Any, controlnet: Any, depth: DepthEstimator, resolved: ResolvedModels, *,
                       progress: bool = True) -> GhibliPipelines:
    """Pipelines over already-built models (loaded by `load_pipelines`, or made in memory by a benchmark)."""
    from diffusers import StableDiffusionControlNetImg2ImgPipeline

    s = resolved.settings
    # models load on the CPU; move them once (a no-op when they are already there, in that dtype)
    with quiet("diffusers.models.modeling_utils"):  # AutoencoderKL's "keep in float32: []" note on a no-op cast
        txt2img.to(resolved.device, resolved.dtype)
        controlnet.to(device=resolved.device, dtype=resolved.dtype)
    speedups = apply_speedups(txt2img, controlnet, device=resolved.device, dtype=resolved.dtype, channels_last=s.channels_last,
                              compile_mode=s.compile, vae_tiling=s.vae_tiling, vae_slicing=s.vae_slicing)
    # from_pipe reuses every module of txt2img: no second copy of the UNet/VAE/text encoder. It casts the new pipeline,
    # and so every shared module, to `dtype` (float32 when none is given), so the run's dtype must be passed on.
    with quiet("diffusers.models.modeling_utils"):  # from_pipe's no-op dtype cast warns "keep in float32: []"
        # (the VAE passed on by name: from_pipe drops a component whose class differs from the signature's, and a
        # tiny autoencoder is not an AutoencoderKL)
        img2img = StableDiffusionControlNetImg2ImgPipeline.from_pipe(txt2img, controlnet=controlnet, vae=txt2img.vae,
                                                                     dtype=resolved.dtype)
    for pipe in (txt2img, img2img):
        pipe.set_progress_bar_config(disable=not progress, leave=False)
    pipes = GhibliPipelines(
        txt2img=txt2img, img2img=img2img, depth=depth, resolved=resolved, loras=s.loras,
        default_scheduler_config=dict(txt2img.scheduler.config), speedups=speedups,
        edge_detectors=tuple(load_detector(e.kind, s.annotators, resolved.device) for e in s.edges),
    )
    pipes.activate_loras()
    return pipes


@dataclass(frozen=True)
class HeldPipelines:
    """A handle on pipelines kept in `HELD`: cheap to keep (a host's cache may hold it for days), the models themselves
    released with every other held model and loaded again by the next `get()`."""

    resolved: ResolvedModels
    loras: tuple[LoraSpec, ...] = ()
    #: The model files' identities when the handle was made: a file replaced under the same name is loaded afresh.
    identity: tuple = ()

    @classmethod
    def of(cls, resolved: ResolvedModels) -> "HeldPipelines":
        return cls(resolved, resolved.settings.loras, tuple(file_identity(f) for s in resolved.sources for f in s.files))

    @property
    def key(self) -> tuple:
        """What the holder keeps these pipelines under."""
        return ("pipelines", self.resolved.load_key, self.identity)

    def get(self) -> GhibliPipelines:
        """The loaded pipelines (loading them if no one has, or they were released), painting with this handle's LoRAs and
        edge scales; the depth estimator is the held one (shared with every other held set that names it)."""
        r = self.resolved

        def load() -> GhibliPipelines:
            depth = held_depth_estimator(r.depth, r.device, r.dtype, r.settings.allow_pickle)
            return load_pipelines(r, progress=False, depth=depth)

        base = HELD.get(self.key, load,
                        label=f"pipelines: {r.base.name} + {' + '.join(c.name for c in (r.controlnet, *r.edge_controlnets))}"
                              f"{' + ' + r.tiny_vae.name if r.tiny_vae else ''} ({r.device}, {str(r.dtype).removeprefix('torch.')})")
        if base.edges != r.settings.edges:  # the held weights, under this handle's edge scales
            base = dataclasses.replace(base, resolved=r)
        return base if self.loras == base.loras else base.with_loras(self.loras)

    def release(self) -> bool:
        """Let these pipelines go (the shared depth estimator stays held); whether they were held."""
        return HELD.drop(self.key)

    def with_loras(self, loras: tuple[LoraSpec, ...] | list[LoraSpec]) -> "HeldPipelines":
        """A handle painting with `loras` over the same held weights (each file checked against the model now)."""
        self.get().with_loras(loras)
        return dataclasses.replace(self, loras=tuple(loras))
