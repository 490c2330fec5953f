"""The painter: one paint request in, one painted frame (and its latents) out. Every chain paints through here.

    painter = Painter(pipes.for_run("dpm++"))
    painted = painter.paint(PaintRequest(index=0, conditioning=Conditioning("a forest at dawn"), seed=7, steps=16,
                                         guidance=7.5, width=512, height=512))
    nxt = painter.paint(PaintRequest(..., init=painted.image, strength=0.45, controls=(Control(depth_map, 0.8),)))

A request says everything about one frame: the init (an image or latents; none for txt2img), the control images (one
per loaded ControlNet, each with its scale), an optional per-pixel start (pixels that evolve from the first step while
the rest join later: the camera's revealed areas, a clip's new pixels), strength, steps, guidance, seed, the text
conditioning and the step reuse. What a chain does around it (moving the previous frame, colour matching, keeping it
sharp) is the chain's business (chain.py); the painter only paints.

Each run paints through its own pipeline objects (`RunPipelines`): diffusers' `from_pipe` gives them the shared weights
without copying, and they hold the run's scheduler, guidance and step-reuse stand-ins, so two runs on two threads never
see each other's changes. LoRA adapters live on the shared weights: `AdapterGate` lets runs with the same adapters paint
side by side and makes a run with other adapters wait until they are done.
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image

from .conditioning import PromptMix, mix_embeddings
from .errors import Cancelled, InputError
from .models.reuse import ReuseRun, StepReuse
from .registry import SCHEDULERS
from .revealed import RevealedStart
from .timing import stage, time_module

from .models.pipelines import GhibliPipelines, quiet



@dataclass(frozen=True)
class Progress:
    """One denoising step done: `frame` (0-based) of `frames`, `step` (1-based) of `steps`; `latents` are the
    pipeline's latents after that step (scaled as the UNet sees them, batch of one), for a host's step previews."""

    frame: int
    frames: int
    step: int
    steps: int
    latents: Any = field(default=None, repr=False, compare=False)


ProgressCallback = Callable[[Progress], None]
CancelCheck = Callable[[], bool]


@dataclass(frozen=True)
class Control:
    """One ControlNet's input: its control image (at the frame's size) and its conditioning scale."""

    image: Image.Image
    scale: float = 1.0


@dataclass(frozen=True)
class StartMask:
    """A per-pixel start: pixels where `mask` is true evolve from the first step; the others are held at the init
    (re-noised to each step's level) for the first `share` of the steps (revealed.py). `noise_seed` seeds that noise."""

    mask: np.ndarray
    share: float
    noise_seed: int


@dataclass(frozen=True)
class Conditioning:
    """The text a frame is painted from: `prompt`, or with `mix` (the plan and a PromptMix) that blend of the plan's
    prompts; `negative_prompt` when guidance is on."""

    prompt: str
    negative_prompt: str = ""
    mix: tuple[Sequence[str], PromptMix] | None = None


@dataclass(frozen=True)
class PaintRequest:
    """Everything one painted frame depends on. `init` None paints from noise (txt2img); an image or latents
    (`[1, 4, h/8, w/8]`, as the UNet sees them) is repainted at `strength` (diffusers' meaning: 1.0 ignores it), which
    runs int(steps x strength) of the schedule's `steps`."""

    index: int
    conditioning: Conditioning
    seed: int
    steps: int
    guidance: float
    width: int
    height: int
    init: Image.Image | torch.Tensor | None = None
    strength: float = 1.0
    controls: tuple[Control, ...] = ()
    start: StartMask | None = None
    reuse: StepReuse = field(default_factory=StepReuse)

    @property
    def denoising_steps(self) -> int:
        """The UNet steps this request runs."""
        return self.steps if self.init is None else int(self.steps * self.strength)


@dataclass
class Painted:
    """A painted frame as the pipeline decoded it (`pixels`: [3, H, W] in 0..1, on the painting device, where later
    device-side stages may take it) and its final latents (before decoding, scaled as the UNet sees them). `image` is
    the PIL edge, made on first use exactly as diffusers makes its PIL output."""

    pixels: torch.Tensor
    latents: torch.Tensor | None = None
    _image: Image.Image | None = field(default=None, init=False, repr=False)

    @property
    def image(self) -> Image.Image:
        if self._image is None:
            array = self.pixels.detach().cpu().permute(1, 2, 0).float().numpy()
            self._image = Image.fromarray((array * 255).round().astype("uint8"))
        return self._image


def make_scheduler(config: dict[str, Any], name: str) -> Any:
    """A fresh scheduler of the named kind, built from the model's own scheduler config."""
    import diffusers

    if name not in SCHEDULERS:
        raise InputError("scheduler", f"{name!r} is not a scheduler", f"use one of {', '.join(SCHEDULERS)}")
    cls_name = SCHEDULERS[name] or config["_class_name"]
    return getattr(diffusers, cls_name).from_config(config)


class RunPipelines:
    """One run's own pipeline objects over the shared weights of `pipes` (diffusers' `from_pipe`: no weight is copied),
    with their own schedulers of the named kind."""

    def __init__(self, pipes: GhibliPipelines, scheduler: str = "default") -> None:
        from diffusers import StableDiffusionControlNetImg2ImgPipeline, StableDiffusionPipeline

        self.shared = pipes
        self.depth = pipes.depth
        config = pipes.default_scheduler_config
        with quiet("diffusers.models.modeling_utils"):  # from_pipe's no-op dtype cast warns "keep in float32: []"
            # the VAE by name: from_pipe drops a component whose class differs from the signature's (a tiny autoencoder)
            self.txt2img = StableDiffusionPipeline.from_pipe(pipes.txt2img, scheduler=make_scheduler(config, scheduler),
                                                             vae=pipes.txt2img.vae, dtype=pipes.dtype)
            self.img2img = StableDiffusionControlNetImg2ImgPipeline.from_pipe(
                pipes.img2img, scheduler=make_scheduler(config, scheduler), vae=pipes.img2img.vae, dtype=pipes.dtype)
        for own, base in ((self.txt2img, pipes.txt2img), (self.img2img, pipes.img2img)):
            own.set_progress_bar_config(**getattr(base, "_progress_bar_config", {}))
        for half in ("encoder", "decoder"):  # the VAE's time inside a pipeline call is its own stage when measured
            if isinstance(getattr(pipes.txt2img.vae, half, None), torch.nn.Module):
                time_module(getattr(pipes.txt2img.vae, half), "vae")

    @property
    def controlnets(self) -> int:
        """How many ControlNets the img2img pipeline holds (a MultiControlNet holds several)."""
        nets = getattr(self.img2img.controlnet, "nets", None)
        return len(nets) if nets is not None else 1

    def controls(self, depth_map: Image.Image, depth_scale: float, edges_of: Image.Image) -> tuple[Control, ...]:
        """One frame's control images, in the loaded ControlNets' order: the depth map at `depth_scale`, then each edge
        control's map of `edges_of` (the picture whose shapes the frame keeps: a clip's source frame, a chain's moved
        previous frame) at its own scale."""
        edges = zip(self.shared.edges, self.shared.edge_detectors)
        return (Control(depth_map, depth_scale), *(Control(detect(edges_of), e.scale) for e, detect in edges))

    @contextmanager
    def adapters(self) -> Iterator[None]:
        """While painting: this run's LoRAs are the active adapters of the shared weights."""
        pipes = self.shared
        key = tuple((s.name, s.weight, s.path) for s in pipes.adapters)
        with pipes.adapter_gate.use(key, pipes.activate_loras):
            yield


class PromptEmbeddings:
    """Text-encoder outputs per distinct text, so a plan encodes each prompt (and the negative prompt) once.

    Valid while the active LoRA adapters stay the same (a text-encoder LoRA changes the embeddings): one per run.
    """

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self._cache: dict[str, torch.Tensor] = {}

    def encode(self, text: str) -> torch.Tensor:
        if text not in self._cache:
            # Encoding a text as a positive prompt gives the same tensor as encoding it as the negative one
            # (same tokenisation and padding), so one cache serves both.
            with stage("text"):
                self._cache[text] = self.pipe.encode_prompt(text, self.pipe._execution_device, 1, False)[0]
        return self._cache[text]

    def pipeline_kwargs(self, conditioning: Conditioning, guidance: float) -> dict[str, Any]:
        """`prompt_embeds` (and `negative_prompt_embeds` when guidance is on) for a diffusers pipeline call."""
        if conditioning.mix is not None:
            plan, weights = conditioning.mix
            kwargs = {"prompt_embeds": mix_embeddings(weights, lambda i: self.encode(plan[i]))}
        else:
            kwargs = {"prompt_embeds": self.encode(conditioning.prompt)}
        if guidance > 1.0:  # diffusers runs classifier-free guidance only above 1
            kwargs["negative_prompt_embeds"] = self.encode(conditioning.negative_prompt or "")
        return kwargs

    def __len__(self) -> int:
        return len(self._cache)


class Painter:
    """Paints requests through one run's pipelines: progress per denoising step, cancel between steps."""

    def __init__(self, run: RunPipelines, *, on_progress: ProgressCallback | None = None,
                 should_cancel: CancelCheck | None = None) -> None:
        self.run = run
        self.embeddings = PromptEmbeddings(run.txt2img)
        self.on_progress = on_progress
        self.should_cancel = should_cancel

    @classmethod
    def of(cls, pipes: GhibliPipelines, scheduler: str = "default", **callbacks: Any) -> "Painter":
        """A painter over a new run of `pipes` with the named scheduler."""
        return cls(RunPipelines(pipes, scheduler), **callbacks)

    def paint(self, request: PaintRequest, *, progress_frame: int | None = None, total_frames: int = 1) -> Painted:
        """Paint `request`. Progress reports it as frame `progress_frame` (default its index) of `total_frames`."""
        r = request
        if r.init is None and r.controls:
            raise InputError("controls", "were given for a frame painted from noise", "give an init image with them")
        if r.init is not None and len(r.controls) != self.run.controlnets:
            raise InputError("controls", f"{len(r.controls)} control images for {self.run.controlnets} ControlNet(s)",
                             "give one control image per loaded ControlNet")
        steps = r.denoising_steps
        pipe = self.run.txt2img if r.init is None else self.run.img2img
        generator = torch.Generator(device="cpu").manual_seed(r.seed)
        reuse = ReuseRun(pipe, r.reuse, steps) if r.reuse.active else None
        start: RevealedStart | None = None
        last: dict[str, torch.Tensor] = {}
        shown = r.index if progress_frame is None else progress_frame

        def step_end(pipe: Any, step: int, timestep: Any, kwargs: dict) -> dict:
            if reuse is not None:
                kwargs = reuse.after_step(pipe, step, kwargs)
            if start is not None:
                kwargs["latents"] = start.apply(pipe, step, timestep, kwargs["latents"])
            last["latents"] = kwargs["latents"]
            if self.on_progress is not None:
                self.on_progress(Progress(shown, total_frames, min(step + 1, steps), steps, latents=kwargs["latents"][:1]))
            if self.should_cancel is not None and self.should_cancel():
                raise Cancelled(f"cancelled during frame {shown + 1} of {total_frames}")
            return kwargs

        with self.run.adapters(), torch.inference_mode():
            common = dict(
                num_inference_steps=r.steps, guidance_scale=r.guidance, generator=generator, height=r.height,
                width=r.width, callback_on_step_end=step_end,
                callback_on_step_end_tensor_inputs=reuse.tensor_inputs() if reuse is not None else ["latents"],
                **self.embeddings.pipeline_kwargs(r.conditioning, r.guidance),
            )
            if r.init is None:
                with reuse or nullcontext(), stage("unet"):
                    pixels = pipe(**common, output_type="pt").images[0]
                return Painted(pixels, last.get("latents"))
            init = r.init
            if r.start is not None and isinstance(init, Image.Image):
                # encodes the init exactly as the pipeline would (same generator draw) and hands back its latents
                start, init = RevealedStart.prepare(pipe, init, r.start.mask, height=r.height, width=r.width,
                                                    generator=generator, noise_seed=r.start.noise_seed, steps=steps,
                                                    share=r.start.share)
            one = len(r.controls) == 1
            with reuse or nullcontext(), stage("unet"):
                pixels = pipe(
                    image=init, strength=r.strength,
                    control_image=r.controls[0].image if one else [c.image for c in r.controls],
                    controlnet_conditioning_scale=r.controls[0].scale if one else [c.scale for c in r.controls],
                    output_type="pt", **common,
                ).images[0]
        return Painted(pixels, last.get("latents"))
