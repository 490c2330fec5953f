"""Speed presets and engine efficiency on tiny models: step budgets, prompt encoding once, speed switches."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ghibli_core import cli
from ghibli_core.animate import AnimationSettings, animate, paint_frame
from ghibli_core.painter import Conditioning, Painter, PromptEmbeddings
from ghibli_core.blend import MotionSettings
from ghibli_core.comfy_client import DEFAULT_WORKFLOW, load_workflow, patch_workflow
from ghibli_core.errors import InputError
from ghibli_core.export import read_metadata
from ghibli_core.models.pipelines import ModelSettings, load_pipelines
from ghibli_core.models.speed import apply_speedups, channels_last_models
from ghibli_core.presets import DEFAULT_PRESET, PRESETS, get_preset
from ghibli_core.render import denoising_steps, render_animation

TINY = dict(width=64, height=64, seed=5)


# --- presets ---------------------------------------------------------------------------------------------------

def test_balanced_needs_at_most_two_and_a_half_unet_steps_per_output_frame_of_a_16_frame_loop():
    balanced = PRESETS["balanced"]
    motion, settings = balanced.motion(), balanced.animation(frames=8)
    assert motion.output_count(8) == 16
    assert denoising_steps(settings, motion) / 16 <= 2.5
    assert balanced.steps_per_output_frame(8) == pytest.approx(37 / 16)
    # ordered: quality spends the most, fast the least; all far under the original loop's 28.4
    per_frame = {name: p.steps_per_output_frame(8) for name, p in PRESETS.items()}
    assert per_frame["quality"] > per_frame["balanced"] > per_frame["fast"] and per_frame["quality"] < 28.4 / 3


def test_balanced_is_the_default_everywhere():
    assert DEFAULT_PRESET == "balanced" and get_preset(None) is PRESETS["balanced"]
    plain, preset = AnimationSettings(), PRESETS["balanced"]
    assert (plain.steps, plain.strength, plain.scheduler, plain.controlnet_scale) == \
        (preset.steps, preset.strength, preset.scheduler, preset.controlnet_scale)
    args = cli.build_parser().parse_args(["idea", "-o", "x.gif"])
    assert args.preset == "balanced" and args.steps is None and args.cadence is None and args.interpolate is None


def test_explicit_values_win_over_the_preset_and_are_still_checked():
    fast = get_preset("fast")
    s = fast.animation(frames=4, steps=30, strength=None, **TINY)
    assert s.steps == 30 and s.strength == fast.strength and s.scheduler == fast.scheduler
    assert fast.motion(cadence=1, interpolate=None).cadence == 1 and fast.motion().interpolate == fast.interpolate
    with pytest.raises(InputError, match="preset.*unknown preset 'warp-speed'.*quality, balanced, fast, turbo"):
        get_preset("warp-speed")
    with pytest.raises(InputError, match="strength"):
        fast.animation(strength=1.5)


def test_cli_rejects_an_unknown_preset_before_loading_anything(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["idea", "--preset", "warp-speed", "-o", "x.gif"])
    assert exc.value.code == 2 and "invalid choice: 'warp-speed'" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_preset_fast_paints_every_fourth_frame(tmp_path, run_cli):
    out = tmp_path / "fast.gif"
    res = run_cli(["--tiny", "a windy hill", "--frames", "8", "--preset", "fast", "--seed", "2", "-o", str(out)])
    assert res.returncode == 0, res.stderr
    meta = read_metadata(out)
    assert meta["preset"] == "fast" and meta["settings"]["steps"] == PRESETS["fast"].steps
    schedule = meta["schedule"]
    assert (schedule["painted"], schedule["keyframes"], schedule["output_frames"]) == (2, [0, 4], 16)
    # with cadence 4 the 8 planned prompts all condition the 2 painted frames
    assert sorted({i for frame in schedule["conditioning"] for i, _ in frame}) == list(range(8))
    assert "preset fast (15 denoising steps for 16 output frames)" in res.stderr


def test_render_without_motion_uses_the_default_preset_schedule(pipes, recorder):
    rec = recorder
    anim = render_animation(pipes, [f"a hill, frame {i}" for i in range(8)], AnimationSettings(frames=8, steps=4, **TINY), progress=False)
    assert anim.keyframes == [0, 2, 4, 6] and len(anim.output_frames) == 16
    assert rec.unet_calls == denoising_steps(AnimationSettings(frames=8, steps=4, **TINY)) == 4 + 3 * 1


# --- prompt embeddings -------------------------------------------------------------------------------------------

def test_each_distinct_prompt_is_encoded_once_per_animation(pipes):
    calls = []
    handle = pipes.txt2img.text_encoder.register_forward_pre_hook(lambda m, a: calls.append(1))
    try:
        plan = ["a hill at dawn", "a hill at dawn", "a hill at noon", "a hill at dawn"]
        list(animate(pipes, plan, AnimationSettings(frames=4, steps=2, strength=0.5, **TINY), progress=False))
    finally:
        handle.remove()
    assert len(calls) == 3  # "dawn", "noon" and the negative prompt; the pipeline alone would encode 8 times


def test_cached_embeddings_paint_exactly_what_the_plain_pipeline_paints(pipes):
    settings = AnimationSettings(frames=2, steps=3, guidance=6.0, scheduler="default", cache_interval=1, controlnet_end=1.0,
                                 cfg_end=1.0, **TINY)  # no step reuse: the plain pipeline reuses nothing either
    ours = paint_frame(Painter.of(pipes, "default"), settings, 0, "a red hill").image
    import diffusers

    config = pipes.default_scheduler_config  # the model's own sampler (other tests switch the shared pipeline's)
    pipes.txt2img.scheduler = getattr(diffusers, config["_class_name"]).from_config(config)
    with torch.inference_mode():
        plain = pipes.txt2img(prompt="a red hill", negative_prompt=settings.negative_prompt, num_inference_steps=3, guidance_scale=6.0,
                              generator=torch.Generator().manual_seed(5), height=64, width=64).images[0]
    assert np.array_equal(np.asarray(ours), np.asarray(plain))
    # without guidance no negative prompt is encoded at all
    cache = PromptEmbeddings(pipes.txt2img)
    assert set(cache.pipeline_kwargs(Conditioning("a hill", "ugly"), guidance=1.0)) == {"prompt_embeds"} and len(cache) == 1


# --- speed switches ----------------------------------------------------------------------------------------------

def test_attention_runs_through_pytorch_sdpa(pipes):
    from diffusers.models.attention_processor import AttnProcessor2_0

    from ghibli_core.models.cross_frame import CrossFrameProcessor

    for model in (pipes.txt2img.unet, pipes.img2img.controlnet, pipes.txt2img.vae):
        # (a clip run with --cross-frame wraps the self-attention processors; the SDPA one still does the work)
        inner = [p.inner if isinstance(p, CrossFrameProcessor) else p for p in model.attn_processors.values()]
        assert all(isinstance(p, AttnProcessor2_0) for p in inner)
    chosen = pipes.speedups["channels_last"]
    assert pipes.speedups["attention"] == "sdpa" and chosen == list(channels_last_models(None, pipes.device, pipes.dtype))
    assert "vae" in chosen and pipes.txt2img.vae.decoder.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    unet_weight = pipes.img2img.unet.conv_in.weight  # the img2img pipeline shares it, memory format included
    assert unet_weight.is_contiguous(memory_format=torch.channels_last) == ("unet" in chosen)


def test_channels_last_follows_what_measured_faster():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert channels_last_models(None, cuda) == ("unet", "controlnet", "vae")
    assert channels_last_models(None, cpu, torch.float32) == ("vae",)
    assert channels_last_models(None, cpu, torch.bfloat16) == ("unet", "controlnet", "vae")
    assert channels_last_models(True, cpu) == ("unet", "controlnet", "vae") and channels_last_models(False, cuda) == ()


def test_speed_switches_apply_and_frames_still_paint(tiny):
    pipes = load_pipelines(tiny.model_settings(channels_last=True, vae_tiling=True, vae_slicing=True), progress=False)
    vae, unet = pipes.txt2img.vae, pipes.txt2img.unet
    assert vae.use_tiling and vae.use_slicing and pipes.speedups["vae_tiling"]
    conv = unet.conv_in.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    frame = paint_frame(Painter.of(pipes), AnimationSettings(frames=1, steps=3, **TINY), 0, "a hill")
    assert frame.image.size == (64, 64) and np.asarray(frame.image).std() > 0


def test_compile_compiles_the_repeated_blocks_of_the_shared_modules_in_place(tiny):
    pipes = load_pipelines(tiny.model_settings(), progress=False)
    applied = apply_speedups(pipes.txt2img, pipes.img2img.controlnet, device=torch.device("cpu"), compile_mode="reduce-overhead")
    assert applied["compile"] == "reduce-overhead"
    unet, controlnet = pipes.txt2img.unet, pipes.img2img.controlnet
    # Module.compile on each transformer block, UNet and ControlNet alike (shared by both pipelines)...
    blocks = [m for m in (*unet.modules(), *controlnet.modules()) if type(m).__name__ in unet._repeated_blocks]
    assert len(blocks) > 2 and all(m._compiled_call_impl is not None for m in blocks) and pipes.img2img.unet is unet
    # ...not on the models, whose deep blocks step reuse swaps for stand-ins on every call
    assert unet._compiled_call_impl is None and controlnet._compiled_call_impl is None
    with pytest.raises(InputError, match="compile.*unknown mode 'fastest'"):
        ModelSettings(compile="fastest")


REUSED = dict(cache_interval=2, controlnet_end=0.5, cfg_end=0.5)


def _paint_reused(pipes, frames: int = 3) -> list[np.ndarray]:
    settings = AnimationSettings(frames=frames, steps=6, strength=0.5, seed=4, width=64, height=64, **REUSED)
    return [np.asarray(f.image, dtype=np.float32) for f in animate(pipes, ["a hill", "a hill at noon", "a hill at dusk"][:frames],
                                                                   settings, progress=False)]


def _fresh_dynamo() -> None:
    """Dynamo with no compiled graph and its counters at zero."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()


def _dynamo_graphs() -> int:
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"]


def test_compiled_blocks_trace_the_same_frames_with_step_reuse_and_no_new_graph_per_call(tiny):
    """Dynamo's aot_eager backend runs the traced graphs with PyTorch's own kernels: the frames of a compiled run must
    equal eager ones bit for bit (the graphs mean the same), and a second run must add no graph (compiled whole, the
    UNet recompiled on every call, its stand-ins being new objects, and ran eager past Dynamo's limit)."""
    from ghibli_core.models.speed import compile_regions

    eager = _paint_reused(load_pipelines(tiny.model_settings(dtype="fp32"), progress=False))
    pipes = load_pipelines(tiny.model_settings(dtype="fp32"), progress=False)
    _fresh_dynamo()
    assert compile_regions(pipes.txt2img.unet, pipes.img2img.controlnet, backend="aot_eager") > 2
    traced = _paint_reused(pipes)
    graphs = _dynamo_graphs()
    assert all(np.array_equal(a, b) for a, b in zip(eager, traced)) and 0 < graphs <= 8
    assert torch._dynamo.config.recompile_limit >= 16  # SD1.5's blocks make 10 graphs (Dynamo's default limit: 8)
    _paint_reused(pipes)
    assert _dynamo_graphs() == graphs


@pytest.mark.slow  # inductor compiles C++ kernels on the CPU (about 20 s the first time)
def test_compile_default_paints_with_step_reuse_within_the_float_error(tiny):
    eager = _paint_reused(load_pipelines(tiny.model_settings(dtype="fp32"), progress=False))
    _fresh_dynamo()
    pipes = load_pipelines(tiny.model_settings(dtype="fp32", compile="default"), progress=False)
    compiled = _paint_reused(pipes)
    graphs = _dynamo_graphs()
    assert 0 < graphs <= 8 and pipes.speedups["compile"] == "default"
    assert all(np.array_equal(a, b) for a, b in zip(compiled, _paint_reused(pipes))) and _dynamo_graphs() == graphs
    # inductor reorders float sums; the tiny random models amplify that over a chain, a little
    assert max(np.abs(a - b).mean() for a, b in zip(eager, compiled)) < 2.0


def test_peak_memory_is_reported():
    from ghibli_core.device import peak_memory_mb

    assert peak_memory_mb(torch.device("cpu")) > 50


# --- ComfyUI side ----------------------------------------------------------------------------------------------

def test_patch_workflow_sets_a_preset_and_steps_switch_to_custom():
    graph = load_workflow(DEFAULT_WORKFLOW)
    fast = patch_workflow(graph, preset="fast")
    node = next(n for n in fast.values() if n["class_type"] == "GhibliSequentialImg2Img")["inputs"]
    assert node["preset"] == "fast" and node["steps"] == PRESETS["fast"].steps and node["cadence"] == PRESETS["fast"].cadence
    blender = next(n for n in fast.values() if n["class_type"] == "GhibliFrameBlender")["inputs"]
    assert blender["interpolate"] == PRESETS["fast"].interpolate
    custom = patch_workflow(graph, steps=7)
    node = next(n for n in custom.values() if n["class_type"] == "GhibliSequentialImg2Img")["inputs"]
    assert node["preset"] == "custom" and node["steps"] == 7
    with pytest.raises(InputError, match="preset"):
        patch_workflow(graph, preset="warp-speed")


def test_shipped_workflows_paint_with_the_default_preset():
    for name in ("ghibli_animation", "ghibli_minimal"):
        graph = json.loads((DEFAULT_WORKFLOW.parent / f"{name}.json").read_text())
        node = next(n for n in graph.values() if n["class_type"] == "GhibliSequentialImg2Img")["inputs"]
        assert node["preset"] == DEFAULT_PRESET
        assert {k: node[k] for k in ("steps", "strength", "scheduler", "controlnet_scale", "cadence", "cache_interval",
                                     "controlnet_end", "cfg_end")} == \
            {k: v for k, v in PRESETS[DEFAULT_PRESET].values().items() if k != "interpolate"}


def test_motion_settings_stay_neutral_for_frames_made_elsewhere():
    # the blend command and Frame Blender smooth any frames: no cadence re-fill unless asked
    assert MotionSettings().cadence == 1 and MotionSettings().interpolate == 0
