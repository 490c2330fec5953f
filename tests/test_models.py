"""Model loading: every source kind, weight sharing, LoRA layouts, and refusals before loading."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from ghibli_core.device import cpu_has_bf16, resolve_device, resolve_dtype
from ghibli_core.errors import InputError, ModelLoadError, ModelNotFoundError
from ghibli_core.models.depth import load_depth_estimator
from ghibli_core.models.lora import LoraSpec, inspect_lora
from ghibli_core.models.pipelines import ModelSettings, load_pipelines
from ghibli_core.models.sources import resolve_source


def _base_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's own weights: a LoRA another test painted with stays loaded (inactive) as peft layers on the shared
    session weights, wrapping each layer it touches; its own tensors are left out and the wrapped names unwrapped."""
    return {k.replace(".base_layer.", "."): v for k, v in module.state_dict().items() if ".lora_" not in k}


def _state_equal(a: torch.nn.Module, b: torch.nn.Module) -> list[str]:
    sa, sb = _base_state(a), _base_state(b)
    assert sa.keys() == sb.keys()
    return [k for k in sa if not torch.equal(sa[k], sb[k])]


def _image(pipe, seed=3, **kw):
    from diffusers import DDIMScheduler

    # Pin the sampler: other tests switch the shared session pipeline's scheduler.
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    g = torch.Generator("cpu").manual_seed(seed)
    out = pipe(prompt="a ghibli forest", num_inference_steps=3, height=64, width=64, generator=g, output_type="np", **kw)
    return out.images[0]


def test_single_file_checkpoints_load_the_same_weights_as_folders(tiny, pipes):
    single = load_pipelines(tiny.model_settings(single_file=True), progress=False)
    for name in ("unet", "vae", "text_encoder"):
        assert _state_equal(getattr(pipes.txt2img, name), getattr(single.txt2img, name)) == [], name
    assert _state_equal(pipes.img2img.controlnet, single.img2img.controlnet) == []
    assert single.resolved.base.kind == "file" and single.resolved.controlnet.kind == "file"
    assert single.model_names()["base"] == "tiny-sd15.safetensors"


def test_hub_ids_load_from_the_hugging_face_cache(hf_cache, monkeypatch, pipes):
    monkeypatch.setenv("HF_HUB_CACHE", str(hf_cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(hf_cache))
    settings = ModelSettings(base="tiny-org/tiny-sd15", controlnet="tiny-org/tiny-controlnet-depth", depth_model="tiny-org/tiny-dpt")
    resolved = settings.resolve()
    assert (resolved.base.kind, resolved.controlnet.kind, resolved.depth.kind) == ("hub", "hub", "hub")
    hub = load_pipelines(resolved, progress=False)
    assert _state_equal(hub.txt2img.unet, pipes.txt2img.unet) == []
    assert hub.model_names()["base"] == "tiny-org/tiny-sd15"


def test_hub_id_missing_from_offline_cache_is_refused_before_loading(tmp_path, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelNotFoundError, match=r"model: someone/not-cached is not in the local Hugging Face cache.*HF_HUB_OFFLINE"):
        resolve_source("someone/not-cached", "pipeline", "model")


def test_txt2img_and_controlnet_img2img_share_every_weight(pipes):
    for name in ("unet", "vae", "text_encoder"):
        a, b = getattr(pipes.txt2img, name), getattr(pipes.img2img, name)
        assert a is b
        assert all(p.data_ptr() == q.data_ptr() for p, q in zip(a.parameters(), b.parameters()))
    # Nothing is held twice: distinct storages == distinct parameters over both pipelines.
    params = {id(p): p for pipe in (pipes.txt2img, pipes.img2img) for c in pipe.components.values()
              if isinstance(c, torch.nn.Module) for p in c.parameters()}
    assert len({p.untyped_storage().data_ptr() for p in params.values()}) == len(params)


def test_loading_keeps_nothing_and_the_holder_keeps_the_depth_estimator_once(tiny, pipes):
    from ghibli_core.models.depth import held_depth_estimator
    from ghibli_core.models.holder import HELD, release_models
    from ghibli_core.models.pipelines import HeldPipelines

    release_models()
    try:
        assert load_depth_estimator(pipes.depth.source, pipes.device, pipes.dtype) is not pipes.depth
        load_pipelines(tiny.model_settings(), progress=False)
        assert HELD.keys() == []  # loading has no side effect: only the holder keeps
        first = held_depth_estimator(pipes.depth.source, pipes.device, pipes.dtype)
        assert held_depth_estimator(pipes.depth.source, pipes.device, pipes.dtype) is first
        held = HeldPipelines.of(tiny.model_settings().resolve())
        assert held.get().depth is first and held.get() is held.get()
        assert held.release() and len(HELD.keys()) == 1  # the pipelines go; the shared depth estimator stays
    finally:
        release_models()


def test_depth_map_is_rgb_same_size_and_uses_full_range(pipes):
    from PIL import Image

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (72, 96, 3), dtype=np.uint8))
    depth = pipes.depth(img)
    arr = np.asarray(depth)
    assert depth.size == (96, 72) and depth.mode == "RGB"
    assert arr.min() == 0 and arr.max() == 255
    assert (arr[..., 0] == arr[..., 1]).all()


@pytest.mark.parametrize("layout", ["diffusers", "kohya"])
def test_lora_changes_output_and_weight_zero_gives_base(tiny, pipes, layout):
    path = tiny.lora if layout == "diffusers" else tiny.lora_kohya
    assert inspect_lora(str(path)).layout == layout
    base = _image(pipes.txt2img)
    with_lora = load_pipelines(tiny.model_settings(loras=(LoraSpec(str(path), 1.0),)), progress=False)
    assert with_lora.lora_adapters and set(inspect_lora(str(path)).targets) == {"unet", "text_encoder"}
    styled = _image(with_lora.txt2img)
    assert np.abs(styled - base).mean() > 1e-3
    with_lora.txt2img.set_adapters(with_lora.lora_adapters, adapter_weights=[0.0])
    assert np.array_equal(_image(with_lora.txt2img), base)
    # The LoRA is on the shared UNet, so the ControlNet img2img pipeline sees it too.
    assert with_lora.img2img.unet is with_lora.txt2img.unet


def test_kohya_and_diffusers_layouts_of_one_lora_paint_the_same(tiny):
    outs = []
    for path in (tiny.lora, tiny.lora_kohya):
        p = load_pipelines(tiny.model_settings(loras=(LoraSpec(str(path), 0.7),)), progress=False)
        outs.append(_image(p.txt2img))
    # Same tensors and the same alpha/rank in both files (alpha != rank, so a lost alpha would show).
    assert np.abs(outs[0] - outs[1]).max() < 1e-4


def test_several_loras_at_once_with_weights(tiny, pipes):
    specs = (LoraSpec(str(tiny.lora), 0.5), LoraSpec(str(tiny.lora_kohya), 0.25))
    p = load_pipelines(tiny.model_settings(loras=specs), progress=False)
    assert len(p.lora_adapters) == 2 and sorted(p.txt2img.get_active_adapters()) == sorted(p.lora_adapters)
    assert p.model_names()["loras"] == [{"name": "tiny-style.safetensors", "weight": 0.5}, {"name": "tiny-style-kohya.safetensors", "weight": 0.25}]
    assert np.abs(_image(p.txt2img) - _image(pipes.txt2img)).mean() > 1e-3


def _fake_lora(path, dim_ctx=768, sdxl=False):
    tensors = {
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight": torch.zeros(4, dim_ctx),
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight": torch.zeros(320, 4),
    }
    if sdxl:
        tensors["lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight"] = torch.zeros(4, 1280)
    save_file(tensors, str(path))
    return path


@pytest.mark.parametrize("dim,sdxl,match", [(2048, False, "cross-attention 2048 .SDXL"), (1024, False, r"SD2\.x"), (32, True, "made for SDXL")])
def test_lora_for_another_base_is_refused_before_loading(tiny, tmp_path, dim, sdxl, match):
    lora = _fake_lora(tmp_path / "other.safetensors", dim, sdxl)
    with pytest.raises(InputError, match=f"lora: other.safetensors.*{match}"):
        tiny.model_settings(loras=(LoraSpec(str(lora)),)).resolve()


def test_bad_lora_files_are_refused(tiny, tmp_path):
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    not_lora = tmp_path / "weights.safetensors"
    save_file({"conv.weight": torch.zeros(2, 2)}, str(not_lora))
    cases = [(corrupt, "not a readable .safetensors"), (not_lora, "holds no LoRA tensors"), (tmp_path / "missing.safetensors", "no file at")]
    for path, match in cases:
        with pytest.raises(InputError, match=f"lora: .*{match}"):
            tiny.model_settings(loras=(LoraSpec(str(path)),)).resolve()


def test_bad_model_sources_are_refused_with_the_fix(tiny, tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"garbage" * 10)
    pickle = tmp_path / "old.ckpt"
    pickle.write_bytes(b"\x80\x04")
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    cases = [
        (str(tmp_path / "nope.safetensors"), "pipeline", ModelNotFoundError, "no file or folder at"),
        ("./models/missing", "pipeline", ModelNotFoundError, "no file or folder"),
        (str(junk), "pipeline", InputError, "not a readable .safetensors"),
        (str(pickle), "pipeline", InputError, "pickle checkpoint.*--allow-pickle"),
        (str(empty_dir), "pipeline", InputError, "has no model_index.json"),
        (str(tiny.lora), "pipeline", InputError, "is a LoRA, not a full model.*--lora"),
        (str(tiny.checkpoint), "controlnet", InputError, "does not look like a ControlNet"),
        (str(tiny.pipeline_dir / "unet"), "controlnet", InputError, "UNet2DConditionModel, not a ControlNetModel"),
        ("", "pipeline", InputError, "is empty"),
        ("bad id with spaces/x", "pipeline", InputError, "neither an existing path nor a valid hub id"),
        (str(tiny.checkpoint), "depth", InputError, "depth model must be a folder or hub id"),
    ]
    for value, role, exc, match in cases:
        with pytest.raises(exc, match=match):
            resolve_source(value, role, "model")
    assert resolve_source(str(pickle), "pipeline", "model", allow_pickle=True).is_pickle


def test_wrong_shape_checkpoint_fails_to_load_with_a_clear_error(tiny):
    # The tiny single file against the real SD1.5 config: found, readable, but not that model.
    with pytest.raises(ModelLoadError, match=r"model: could not load tiny-sd15.safetensors as a Stable Diffusion 1.5 pipeline"):
        load_pipelines(ModelSettings(base=str(tiny.checkpoint), controlnet=str(tiny.controlnet_dir), depth_model=str(tiny.depth_dir)), progress=False)


@pytest.mark.parametrize("hardware,expected", [(True, torch.bfloat16), (False, torch.float32)])
def test_auto_dtype_on_the_cpu_follows_its_bf16_hardware(monkeypatch, hardware, expected):
    from ghibli_core.device import dtype_note

    monkeypatch.setattr("ghibli_core.device.cpu_has_bf16", lambda: hardware)
    assert resolve_dtype("auto", torch.device("cpu")) == expected
    assert resolve_dtype("fp32", torch.device("cpu")) == torch.float32  # full precision stays one flag away
    note = dtype_note("auto", torch.device("cpu"), expected)
    assert note.startswith("bf16 (auto: this CPU has bf16 hardware; --dtype fp32") if hardware else note == "fp32"


def test_device_and_dtype_resolution():
    device = resolve_device("auto")
    assert device.type in ("cuda", "mps", "cpu")
    assert resolve_dtype("auto", torch.device("cpu")) == (torch.bfloat16 if cpu_has_bf16() else torch.float32)
    assert resolve_dtype("auto", torch.device("cuda")) == torch.float16
    assert resolve_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(InputError, match="dtype: unknown dtype 'fp8'"):
        resolve_dtype("fp8", device)
    with pytest.raises(InputError, match="device: unknown device 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="device: cuda was asked for"):
            resolve_device("cuda")


def test_shipped_sd15_configs_are_the_standard_ones():
    from ghibli_core.models.configs import CONTROLNET_CONFIG_DIR, SD15_CONFIG_DIR

    unet = json.loads((SD15_CONFIG_DIR / "unet" / "config.json").read_text())
    assert unet["block_out_channels"] == [320, 640, 1280, 1280] and unet["cross_attention_dim"] == 768
    assert json.loads((CONTROLNET_CONFIG_DIR / "config.json").read_text())["conditioning_embedding_out_channels"] == [16, 32, 96, 256]
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(str(SD15_CONFIG_DIR / "tokenizer"))
    assert len(tok) == 49408 and tok.model_max_length == 77
    assert tok("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]


def test_the_chosen_dtype_reaches_every_shared_module(tiny):
    """diffusers' from_pipe casts the pipeline it makes (and so every module it shares) to float32 unless told the dtype:
    a bf16 run must stay bf16 in both pipelines."""
    pipes = load_pipelines(tiny.model_settings(dtype="bf16").resolve(), progress=False)
    for pipe in (pipes.txt2img, pipes.img2img):
        for name in ("unet", "vae", "text_encoder"):
            assert next(getattr(pipe, name).parameters()).dtype == torch.bfloat16, name
    assert next(pipes.img2img.controlnet.parameters()).dtype == torch.bfloat16


def test_an_uncached_hub_id_fails_fast_when_the_hub_cannot_be_reached(tmp_path, monkeypatch):
    """No retry storm: one short connection check, then one line with the ways out; a reachable Hub lets it through."""
    import socket
    import time

    from ghibli_core.models import sources

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(sources, "_REACHABLE", {})
    started = time.monotonic()
    with pytest.raises(ModelNotFoundError, match=r"^depth-model: some-org/some-depth is not in the local Hugging Face cache "
                                                 r"and the Hub \(http://127\.0\.0\.1:\d+\) cannot be reached; .*--tiny"):
        resolve_source("some-org/some-depth", "depth", "depth-model")
    assert time.monotonic() - started < sources.REACH_TIMEOUT + 1
    with socket.socket() as server:  # a Hub that answers: the id passes (transformers downloads it when it loads)
        server.bind(("127.0.0.1", 0))
        server.listen()
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        assert resolve_source("some-org/some-depth", "depth", "depth-model").kind == "hub"
