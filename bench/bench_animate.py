"""Speed of the presets against the original loop and against the same schedule written directly in diffusers.

    .venv/bin/python bench/bench_animate.py --quick --json r.json        # < 20 min on 2 CPU cores
    .venv/bin/python bench/bench_animate.py --device cuda --size 512 --frames 16   # 32 output frames at 512² on a GPU

Models: random weights of real SD1.5 size (UNet, depth ControlNet, VAE, CLIP text encoder; Depth-Anything-V2-Small
shaped depth model), built in memory once and shared by every row, so the rows differ only in their schedule.

Rows (all in one process, same weights, same prompts):
  seed            the original loop: txt2img 30 steps, then img2img strength 0.7 of 40 steps, guidance 9, depth
                  ControlNet, every output frame painted, no interpolation (plain diffusers)
  bare_diffusers  the balanced schedule written directly against diffusers + transformers + OpenCV, no engine
  quality, balanced, fast   the engine's presets through the engine's job path (`run_job`), with their step reuse
  balanced-noreuse          the balanced schedule with no step reuse (what bare_diffusers writes by hand; the
                            reference of the rows below)
  balanced+cache, balanced+controlnet-end, balanced+cfg-end   balanced-noreuse with one of balanced's reuse settings
                            alone (deep-feature caching with ControlNet residual reuse; the ControlNet for the first
                            part of the steps; guidance for the first part)
  fast-noreuse              the fast schedule with no step reuse (the reference of fast)
  balanced+camera           the balanced preset with a camera move (push-in:0.5): keyframes moved along the path,
                            camera-aware in-betweens; its time against balanced's is the camera's cost
  turbo+tiny-vae            turbo as `--preset turbo` runs it: with a TAESD-size tiny autoencoder (random weights)
  balanced+camera+behind    (asked for by name) balanced+camera with the work after painting (in-betweens, metrics) run
                            behind the painting of the next keyframe (overlap.py) whatever this machine's default
                            (on an accelerator, or with spare cores); the same frames as balanced+camera
  balanced+tiny-vae, fast+tiny-vae   (asked for by name) the preset with a TAESD-size tiny autoencoder (random weights)
                            for every encode and decode instead of the VAE, as `--tiny-vae` does; against the preset:
                            what the tiny autoencoder saves
  balanced-serial           (asked for by name, not run by default) balanced with the work after painting (in-betweens,
                            camera moves, metrics) on one thread instead of `ghibli_core.parallel`'s; against balanced:
                            what running the frame pairs side by side saves (most on a GPU, where that work is a large
                            share of the run)

Per row: output frames, UNet denoising steps, the engine's own seconds per output frame (camera, flow, in-betweens,
coherence, metrics, write: `timing.ENGINE_STAGES`), UNet and ControlNet forward calls (a classifier-free-guidance batch is
one call), seconds per output frame, peak resident memory, warp error and flicker of the output (lower warp error is
smoother), and for rows with a reference the mean absolute pixel difference from it (0..255: what the reuse changed).
Prints the speed-up of each row over `seed` and the engine's overhead over `bare_diffusers`. Every row runs in the
same dtype (`--dtype`), so the ratios compare schedules. Exits 1 if a target is missed: balanced >= 20x faster than
seed, <= 2.5 UNet steps per output frame, warp error no worse than seed's; the engine (balanced-noreuse) within 5 %
of bare_diffusers; the camera adding <= 5 % to balanced; turbo >= 2x faster per output frame than fast.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ghibli_core.models.speed import COMPILE_MODES, compile_regions  # noqa: E402
from ghibli_core.plan import make_plan  # noqa: E402
from ghibli_core.presets import PRESETS  # noqa: E402
from ghibli_core.timing import ENGINE_STAGES  # noqa: E402

IDEA = "a serene forest at dawn, sunlight through swaying trees"
DEFAULT_ROWS = ("seed", "bare_diffusers", "quality", "balanced-noreuse", "balanced+cache", "balanced+controlnet-end",
                "balanced+cfg-end", "balanced", "balanced+camera", "fast-noreuse", "fast", "turbo", "turbo+tiny-vae")
#: what a row's output is compared with (mean absolute pixel difference): the same schedule without step reuse
REFERENCES = {"balanced-serial": "balanced",  # same frames, so pixel diff 0: the threads change nothing
              "balanced": "balanced-noreuse", "balanced+cache": "balanced-noreuse", "balanced+controlnet-end": "balanced-noreuse",
              "balanced+cfg-end": "balanced-noreuse", "fast": "fast-noreuse",
              "balanced+tiny-vae": "balanced", "fast+tiny-vae": "fast", "turbo+tiny-vae": "turbo",
              "balanced+camera+behind": "balanced+camera"}  # the same frames: pixel diff 0
CAMERA_MOVE = "push-in:0.5"  # the balanced+camera row: keyframes moved along the path, camera in-betweens, seam back
NEGATIVE = "lowres, blurry"


# --- measuring ---------------------------------------------------------------------------------------------

class PeakMemory:
    """Peak resident set size (and peak CUDA allocation) while the block runs, sampled every 20 ms."""

    def __init__(self, device: torch.device) -> None:
        import psutil

        self.process, self.device = psutil.Process(), device
        self.peak_rss = 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_rss = max(self.peak_rss, self.process.memory_info().rss)

    def __enter__(self) -> "PeakMemory":
        self.peak_rss = self.process.memory_info().rss
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_rss = max(self.peak_rss, self.process.memory_info().rss)
        self.peak_gpu = torch.cuda.max_memory_allocated(self.device) if self.device.type == "cuda" else 0


class CallCounter:
    """Counts forward calls of a module (a CFG batch of 2 is one call)."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.calls = 0
        self._handle = module.register_forward_pre_hook(self._hook)

    def _hook(self, *_: Any) -> None:
        self.calls += 1

    def remove(self) -> None:
        self._handle.remove()


@dataclass
class Row:
    name: str
    output_frames: int
    unet_steps: int
    unet_calls: int
    controlnet_calls: int
    seconds: float
    peak_rss_mb: float
    peak_gpu_mb: float
    warp_error: float
    flicker: float
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "output_frames": self.output_frames,
            "unet_steps_per_output_frame": self.unet_steps / self.output_frames, "unet_calls": self.unet_calls,
            "controlnet_calls": self.controlnet_calls, "sec_per_output_frame": self.seconds / self.output_frames,
            "seconds": self.seconds, "peak_rss_mb": self.peak_rss_mb, "peak_gpu_mb": self.peak_gpu_mb,
            "warp_error": self.warp_error, "flicker": self.flicker, **self.extra,
            **({"engine_sec_per_output_frame": sum(self.extra["stages"].get(s, 0.0) for s in ENGINE_STAGES) / self.output_frames}
               if "stages" in self.extra else {}),
        }


def measure(name: str, pipe: Any, controlnet: Any, device: torch.device, run: Callable[[Callable], list[np.ndarray]],
            **extra: Any) -> tuple[Row, list[np.ndarray]]:
    """Time `run(count_step)` (which returns the output frames) and measure its steps, calls, memory and quality."""
    from ghibli_core.metrics import flicker, warp_error

    steps = [0]

    def count_step(*_: Any) -> None:
        steps[0] += 1

    from ghibli_core.timing import StageTimes, measuring

    unet, cnet = CallCounter(pipe.unet), CallCounter(controlnet)
    times = StageTimes(device)  # the engine's rows say where their time went (the bare rows measure nothing)
    try:
        with PeakMemory(device) as memory, measuring(times):
            _sync(device)
            started = time.perf_counter()
            frames = run(count_step)
            _sync(device)
            seconds = time.perf_counter() - started
    finally:
        unet.remove()
        cnet.remove()
    stages = {"stages": times.to_dict()} if times.seconds else {}
    row = Row(name, len(frames), steps[0], unet.calls, cnet.calls, seconds, memory.peak_rss / 2**20, memory.peak_gpu / 2**20,
              warp_error(frames), flicker(frames), {**extra, **stages})
    print(f"  {name}: {len(frames)} frames in {seconds:.1f} s", flush=True)
    return row, frames


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- the rows written directly against diffusers (no engine) --------------------------------------------------

class BareDepth:
    """transformers' depth pipeline, its map resized to the frame and min-max normalised (what the ControlNet wants)."""

    def __init__(self, model_dir: Path, device: torch.device, dtype: torch.dtype) -> None:
        from transformers import pipeline

        # as the engine does: transformers' depth pipeline cannot hand bf16 to numpy, so a bf16 run keeps it in fp32
        self.pipe = pipeline("depth-estimation", model=str(model_dir), device=device,
                             dtype=torch.float32 if dtype == torch.bfloat16 else dtype)

    @torch.inference_mode()
    def __call__(self, image):
        from PIL import Image

        depth = self.pipe(image)["predicted_depth"].float()
        depth = torch.nn.functional.interpolate(depth.reshape(1, 1, *depth.shape[-2:]), size=(image.height, image.width),
                                                mode="bicubic", align_corners=False)[0, 0]
        depth = (depth - depth.min()) / (depth.max() - depth.min()).clamp_min(1e-8)
        gray = (depth.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
        return Image.fromarray(np.stack([gray] * 3, -1))


def bare_midpoint(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The frame halfway between a and b: both warped halfway along DIS optical flow, averaged."""
    import cv2

    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    ga, gb = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
    f_ab, f_ba = dis.calc(ga, gb, None), dis.calc(gb, ga, None)
    h, w = ga.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    # backward warping: the midpoint pixel p comes from a at p - 0.5 f_ab(p) and from b at p - 0.5 f_ba(p)
    from_a = cv2.remap(a, gx - 0.5 * f_ab[..., 0], gy - 0.5 * f_ab[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    from_b = cv2.remap(b, gx - 0.5 * f_ba[..., 0], gy - 0.5 * f_ba[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return ((from_a.astype(np.uint16) + from_b) // 2).astype(np.uint8)


def run_seed(pipe, img2img, depth, prompts: list[str], size: int, count_step, scheduler_config: dict) -> list[np.ndarray]:
    """The original loop: every output frame painted, txt2img 30 steps then img2img 0.7 x 40 steps, CFG 9."""
    from diffusers import PNDMScheduler

    # SD1.5's own scheduler (PNDM), as the original notebook ran it
    pipe.scheduler = img2img.scheduler = PNDMScheduler.from_config(scheduler_config)
    frames, step = [], lambda p, i, t, kw: (count_step(), kw)[1]
    common = dict(negative_prompt=NEGATIVE, guidance_scale=9.0, height=size, width=size, callback_on_step_end=step)
    with torch.inference_mode():
        image = pipe(prompts[0], num_inference_steps=30, generator=torch.Generator().manual_seed(0), **common).images[0]
        frames.append(np.asarray(image))
        for prompt in prompts[1:]:
            image = img2img(prompt, image=image, control_image=depth(image), strength=0.7, num_inference_steps=40,
                            generator=torch.Generator().manual_seed(0), **common).images[0]
            frames.append(np.asarray(image))
    return frames


def run_bare_balanced(pipe, img2img, depth, prompts: list[str], size: int, count_step) -> list[np.ndarray]:
    """The balanced preset's schedule in plain diffusers: paint every 2nd planned frame, fill by flow, one in-between each."""
    from diffusers import DPMSolverMultistepScheduler

    preset = PRESETS["balanced"]
    assert preset.cadence == 2 and preset.interpolate == 1, "bare_diffusers is written for cadence 2, one in-between"
    scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    pipe.scheduler = img2img.scheduler = scheduler
    step = lambda p, i, t, kw: (count_step(), kw)[1]  # noqa: E731
    common = dict(negative_prompt=NEGATIVE, guidance_scale=7.5, height=size, width=size, callback_on_step_end=step,
                  num_inference_steps=preset.steps)
    keys = list(range(0, len(prompts), preset.cadence))
    painted = []
    with torch.inference_mode():
        image = pipe(prompts[0], generator=torch.Generator().manual_seed(0), **common).images[0]
        painted.append(np.asarray(image))
        for k in keys[1:]:
            image = img2img(prompts[k], image=image, control_image=depth(image), strength=preset.strength,
                            controlnet_conditioning_scale=preset.controlnet_scale, generator=torch.Generator().manual_seed(0),
                            **common).images[0]
            painted.append(np.asarray(image))
    timeline = []  # cadence fill: a midpoint after each painted frame (the last one toward frame 0: a loop)
    for i, frame in enumerate(painted):
        timeline += [frame, bare_midpoint(frame, painted[(i + 1) % len(painted)])]
    out = []  # one in-between after every frame, the seam included
    for i, frame in enumerate(timeline):
        out += [frame, bare_midpoint(frame, timeline[(i + 1) % len(timeline)])]
    return out


NO_REUSE = {"cache_interval": 1, "controlnet_end": 1.0, "cfg_end": 1.0}


def serial(run: Callable[[], list[np.ndarray]]) -> list[np.ndarray]:
    """`run` with the engine's per-pair work after painting on the calling thread only (`parallel.cpu_workers` -> 1)."""
    from ghibli_core import parallel

    saved = parallel.cpu_workers
    try:
        parallel.cpu_workers = lambda: 1
        return run()
    finally:
        parallel.cpu_workers = saved


def with_vae(pipes, vae, run: Callable[[], list[np.ndarray]]) -> list[np.ndarray]:
    """`run` with `vae` in place of both pipelines' VAE (as `--tiny-vae` loads them), the VAE put back after."""
    saved = pipes.txt2img.vae
    try:
        pipes.txt2img.vae = pipes.img2img.vae = vae
        return run()
    finally:
        pipes.txt2img.vae = pipes.img2img.vae = saved


def run_preset(pipes, name: str, prompts: list[str], size: int, count_step, camera: str | None = None,
               overlap: bool | None = None, **overrides: Any) -> list[np.ndarray]:
    """A preset through the engine's one path from plan to frames (`run_job`; no file written), with a camera move and
    painting values over the preset's."""
    from ghibli_core.camera import CameraSettings
    from ghibli_core.job import AnimationJob, run_job
    from ghibli_core.plan import Plan

    preset = PRESETS[name]
    job = AnimationJob(painting=preset.animation(frames=len(prompts), width=size, height=size, seed=0, negative_prompt=NEGATIVE,
                                                 **overrides),
                       motion=preset.motion(), plan=Plan(IDEA, list(prompts), "bench"), preset=name,
                       camera=CameraSettings(camera) if camera else None)
    result = run_job(job, pipes, on_progress=count_step, progress=False, overlap=overlap)
    return [np.asarray(f) for f in result.output_frames]


# --- main ------------------------------------------------------------------------------------------------------

def build(device: torch.device, dtype: torch.dtype, work: Path):
    """The shared models: a txt2img pipeline, the ControlNet img2img pipeline over the same modules, two depth
    estimators over the same weights file (the engine's and the bare one), and the engine's handle on them all."""
    from diffusers import StableDiffusionControlNetImg2ImgPipeline

    from ghibli_core.models.depth import DepthEstimator
    from ghibli_core.models.pipelines import ModelSettings, ResolvedModels, assemble_pipelines
    from ghibli_core.models.sources import ModelSource
    from random_sd15 import build_sd15, write_depth_anything_small

    started = time.perf_counter()
    pipe, controlnet = build_sd15()
    depth_dir = write_depth_anything_small(work / "depth-anything-small")
    settings = ModelSettings(base="random-sd15", controlnet="random-controlnet-depth", depth_model=str(depth_dir),
                             device=device.type, dtype={torch.float16: "fp16", torch.bfloat16: "bf16"}.get(dtype, "fp32"))
    resolved = ResolvedModels(settings, ModelSource("hub", "random-sd15", "pipeline"),
                              ModelSource("hub", "random-controlnet-depth", "controlnet"),
                              ModelSource("folder", str(depth_dir), "depth"), device, dtype)
    pipes = assemble_pipelines(pipe, controlnet, DepthEstimator(resolved.depth, device, dtype), resolved, progress=False)
    img2img = StableDiffusionControlNetImg2ImgPipeline.from_pipe(pipe, controlnet=controlnet, dtype=dtype)  # from_pipe casts
    img2img.set_progress_bar_config(disable=True)
    bare_depth = BareDepth(depth_dir, device, dtype)
    print(f"models built in {time.perf_counter() - started:.0f} s "
          f"(UNet {sum(p.numel() for p in pipe.unet.parameters()) / 1e6:.0f}M, "
          f"ControlNet {sum(p.numel() for p in controlnet.parameters()) / 1e6:.0f}M parameters)", flush=True)
    return pipe, img2img, controlnet, pipes, bare_depth


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--quick", action="store_true", help="fewer frames for seed (3) and quality (4 planned): under 20 min on 2 CPU cores")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="cpu (default) or cuda")
    p.add_argument("--dtype", default=None, choices=("fp32", "fp16", "bf16"), help="default fp32 on the CPU, fp16 on CUDA")
    p.add_argument("--size", type=int, default=256, help="frame width and height (default 256)")
    p.add_argument("--frames", type=int, default=8, help="planned frames for balanced, fast and bare_diffusers (default 8: a 16-frame loop)")
    p.add_argument("--seed-frames", type=int, default=None, help="output frames of the seed loop (default 5; 3 with --quick)")
    p.add_argument("--compile", default="off", choices=COMPILE_MODES,
                   help="torch.compile the shared UNet and ControlNet blocks, as the engine's --compile does (every row; "
                        "compiled during the warm-up, not charged to a row)")
    p.add_argument("--rows", default=",".join(DEFAULT_ROWS), help="comma-separated rows to run (default: all)")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)

    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    for lib in (diffusers_logging, transformers_logging):  # no loading bars or casting notes between the rows
        lib.set_verbosity_error()
        lib.disable_progress_bar()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA GPU is visible")
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[args.dtype or ("fp16" if device.type == "cuda" else "fp32")]
    rows_wanted = [r.strip() for r in args.rows.split(",") if r.strip()]
    seed_frames = args.seed_frames or (3 if args.quick else 5)
    quality_frames = 4 if args.quick else args.frames
    plan = make_plan(IDEA, max(args.frames, seed_frames, quality_frames)).frames

    print(f"bench_animate: {args.size}x{args.size}, {device} {str(dtype).replace('torch.', '')}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        pipe, img2img, controlnet, pipes, bare_depth = build(device, dtype, Path(tmp))
        if args.compile != "off":
            compile_regions(pipe.unet, controlnet, mode=None if args.compile == "default" else args.compile)
        # warm-up: first calls pay one-time kernel set-up (and compilation) that no row should be charged for
        with torch.inference_mode():
            warm = pipe(plan[0], num_inference_steps=1, height=args.size, width=args.size, output_type="pil").images[0]
            img2img(plan[0], image=warm, control_image=bare_depth(warm), strength=1.0, num_inference_steps=1)
        if args.compile != "off":  # the batch sizes step reuse makes (guidance stopped) compile here too
            started = time.perf_counter()
            run_preset(pipes, "fast", plan[:2], args.size, lambda *_: None)
            print(f"compiled ({args.compile}) in {time.perf_counter() - started:.0f} s", flush=True)
        runners = {
            "seed": lambda count: run_seed(pipe, img2img, bare_depth, plan[:seed_frames], args.size, count,
                                              pipes.default_scheduler_config),
            "bare_diffusers": lambda count: run_bare_balanced(pipe, img2img, bare_depth, plan[:args.frames], args.size, count),
            "quality": lambda count: run_preset(pipes, "quality", plan[:quality_frames], args.size, count),
            "balanced": lambda count: run_preset(pipes, "balanced", plan[:args.frames], args.size, count),
            "fast": lambda count: run_preset(pipes, "fast", plan[:args.frames], args.size, count),
            # the few-step schedule (LCM, 2 steps per img2img frame, one conditional batch); its speed LoRA is left out
            # here: an adapter costs little next to the schedule, and random weights have nothing to distil
            "turbo": lambda count: run_preset(pipes, "turbo", plan[:args.frames], args.size, count),
            "balanced+camera": lambda count: run_preset(pipes, "balanced", plan[:args.frames], args.size, count, CAMERA_MOVE),
            # the work after painting behind the painting (overlap.py) whatever this machine's default
            "balanced+camera+behind": lambda count: run_preset(pipes, "balanced", plan[:args.frames], args.size, count,
                                                               CAMERA_MOVE, overlap=True),
            "balanced-noreuse": lambda count: run_preset(pipes, "balanced", plan[:args.frames], args.size, count, **NO_REUSE),
            "fast-noreuse": lambda count: run_preset(pipes, "fast", plan[:args.frames], args.size, count, **NO_REUSE),
            "balanced-serial": lambda count: serial(lambda: run_preset(pipes, "balanced", plan[:args.frames], args.size, count)),
        }
        if any(r.endswith("+tiny-vae") for r in rows_wanted):
            from diffusers import AutoencoderTiny

            taesd = AutoencoderTiny().to(device=device, dtype=dtype)  # TAESD's own size, random weights
            if device.type == "cuda" or "vae" in pipes.speedups.get("channels_last", ()):
                taesd.to(memory_format=torch.channels_last)
            for name in ("balanced", "fast", "turbo"):
                runners[f"{name}+tiny-vae"] = lambda count, name=name: with_vae(
                    pipes, taesd, lambda: run_preset(pipes, name, plan[:args.frames], args.size, count))
        balanced = PRESETS["balanced"]
        for row, setting in (("balanced+cache", "cache_interval"), ("balanced+controlnet-end", "controlnet_end"),
                             ("balanced+cfg-end", "cfg_end")):
            alone = {**NO_REUSE, setting: getattr(balanced, setting)}
            runners[row] = lambda count, alone=alone: run_preset(pipes, "balanced", plan[:args.frames], args.size, count, **alone)
        unknown = [r for r in rows_wanted if r not in runners]
        if unknown:
            p.error(f"--rows: unknown {unknown}; use {', '.join(runners)}")
        measured = {name: measure(name, pipe, controlnet, device, runners[name]) for name in rows_wanted}
        rows = []
        for name, (row, frames) in measured.items():
            reference = REFERENCES.get(name)
            if reference in measured and len(measured[reference][1]) == len(frames):
                row.extra["pixel_diff_vs"] = reference
                row.extra["pixel_diff"] = float(np.mean([np.abs(a.astype(np.int16) - b).mean() for a, b in zip(frames, measured[reference][1])]))
            rows.append(row)

    result = {"rows": [r.as_json() for r in rows], "device": f"{device} ({_device_name(device)})", "torch": torch.__version__,
              "size": args.size, "dtype": str(dtype).replace("torch.", ""), "threads": torch.get_num_threads(), "quick": args.quick,
              "compile": args.compile}
    ok = report(result["rows"])
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0 if ok else 1


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())


def report(rows: list[dict[str, Any]]) -> bool:
    """Print the table and the targets; True when every target that can be checked is met."""
    by = {r["name"]: r for r in rows}
    seed = by.get("seed")
    print(f"\n{'row':<24}{'frames':>7}{'steps/frame':>12}{'UNet/CN calls':>14}{'s/frame':>9}{'engine s/f':>11}{'speed-up':>10}"
          f"{'peak RSS MB':>12}{'warp err':>10}{'flicker':>9}{'pixel diff':>11}")
    for r in rows:
        speed = f"{seed['sec_per_output_frame'] / r['sec_per_output_frame']:.1f}x" if seed else "-"
        diff = f"{r['pixel_diff']:.2f}" if "pixel_diff" in r else "-"
        print(f"{r['name']:<24}{r['output_frames']:>7}{r['unet_steps_per_output_frame']:>12.2f}"
              f"{str(r['unet_calls']) + '/' + str(r['controlnet_calls']):>14}{r['sec_per_output_frame']:>9.2f}"
              f"{r.get('engine_sec_per_output_frame', float('nan')):>11.3f}{speed:>10}"
              f"{r['peak_rss_mb']:>12.0f}{r['warp_error']:>10.4f}{r['flicker']:>9.3f}{diff:>11}")
    for r in rows:
        ref = by.get(REFERENCES.get(r["name"], ""))
        if ref and r["name"] == "balanced-serial":  # the reference is the faster one here: say it that way round
            print(f"  {ref['name']} (frame pairs side by side): {r['sec_per_output_frame'] / ref['sec_per_output_frame']:.2f}x "
                  f"over {r['name']}")
        elif ref:
            print(f"  {r['name']}: {ref['sec_per_output_frame'] / r['sec_per_output_frame']:.2f}x over {ref['name']}")
    checks = []
    bal, bare, plain = by.get("balanced"), by.get("bare_diffusers"), by.get("balanced-noreuse")
    if bal:
        checks.append(("balanced <= 2.5 UNet steps per output frame", bal["unet_steps_per_output_frame"] <= 2.5,
                       f"{bal['unet_steps_per_output_frame']:.2f}"))
    if bal and seed:
        speed = seed["sec_per_output_frame"] / bal["sec_per_output_frame"]
        checks.append(("balanced >= 20x faster per output frame than seed", speed >= 20, f"{speed:.1f}x"))
        checks.append(("balanced warp error no worse than seed's", bal["warp_error"] <= seed["warp_error"],
                       f"{bal['warp_error']:.4f} vs {seed['warp_error']:.4f}"))
    if plain and bare:  # the same schedule, no reuse: what the engine itself costs
        overhead = plain["sec_per_output_frame"] / bare["sec_per_output_frame"] - 1
        checks.append(("engine overhead (balanced-noreuse) over bare diffusers <= 5 %", overhead <= 0.05, f"{overhead * 100:+.1f} %"))
    fast, turbo = by.get("fast"), by.get("turbo+tiny-vae") or by.get("turbo")
    if fast and turbo:  # turbo as --preset turbo runs it (with its TAESD) when that row was run
        speed = fast["sec_per_output_frame"] / turbo["sec_per_output_frame"]
        checks.append((f"turbo ({turbo['name']}) >= 2x faster per output frame than fast", speed >= 2, f"{speed:.2f}x"))
    cam = by.get("balanced+camera")
    if bal and cam:
        cost = cam["sec_per_output_frame"] / bal["sec_per_output_frame"] - 1
        checks.append(("the camera adds <= 5 % to balanced", cost <= 0.05, f"{cost * 100:+.1f} %"))
    print()
    for what, ok, figure in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {what}: {figure}")
    return all(ok for _, ok, _ in checks)


if __name__ == "__main__":
    sys.exit(main())
