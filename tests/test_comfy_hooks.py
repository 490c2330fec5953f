"""The pack's two hooks into ComfyUI (one message per problem at queue time; Unload Models releasing the pack's models)
and its precision choice are feature-detected: where ComfyUI's function is missing or its signature differs, the pack
logs one line and leaves ComfyUI's behaviour alone. Simulated here with stand-in modules; the real ComfyUI runs them in
test_comfyui.py."""
from __future__ import annotations

import importlib
import logging
import sys
import types

import pytest
import torch


@pytest.fixture
def fake_comfy(monkeypatch):
    """Stand-ins for the ComfyUI modules the hooks touch, and the pack's host module imported against them."""
    mm = types.ModuleType("comfy.model_management")
    comfy = types.ModuleType("comfy")
    comfy.model_management = mm
    execution = types.ModuleType("execution")
    folder_paths = types.ModuleType("folder_paths")
    for name, module in (("comfy", comfy), ("comfy.model_management", mm), ("execution", execution),
                         ("folder_paths", folder_paths)):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delitem(sys.modules, "nodes.host", raising=False)
    host = importlib.import_module("nodes.host")
    from nodes.validation import warn_once

    warn_once.cache_clear()
    yield types.SimpleNamespace(mm=mm, execution=execution, host=host)
    sys.modules.pop("nodes.host", None)


def test_unload_models_releases_the_packs_models_when_comfyui_has_the_function(fake_comfy, monkeypatch):
    calls = []
    fake_comfy.mm.unload_all_models = lambda: calls.append("comfyui")
    monkeypatch.setattr("ghibli_core.api.release_models", lambda: calls.append("pack") or 0)
    fake_comfy.host.release_with_comfyui()
    fake_comfy.host.release_with_comfyui()  # once only
    fake_comfy.mm.unload_all_models()
    assert calls == ["comfyui", "pack"]


@pytest.mark.parametrize("variant", ["missing", "takes an argument"])
def test_an_unknown_unload_models_is_left_alone_with_one_line(fake_comfy, caplog, variant):
    if variant == "takes an argument":
        def unload_all_models(device):  # a signature the pack does not know
            return device
        fake_comfy.mm.unload_all_models = unload_all_models
    before = getattr(fake_comfy.mm, "unload_all_models", None)
    with caplog.at_level(logging.WARNING):
        fake_comfy.host.release_with_comfyui()
        fake_comfy.host.release_with_comfyui()  # ComfyUI 0.14+ asks twice (on_load, the node list): still one line
    assert getattr(fake_comfy.mm, "unload_all_models", None) is before
    lines = [r for r in caplog.records if "Unload Models will not release" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None and "\n" not in lines[0].getMessage()


def test_queue_time_messages_are_regrouped_only_where_comfyui_validates_as_the_pack_knows(fake_comfy, caplog):
    from nodes import validation

    async def validate_inputs(prompt_id, prompt, item, validated):
        return True, [], item

    fake_comfy.execution.validate_inputs = validate_inputs
    validation.one_message_per_problem()
    assert fake_comfy.execution.validate_inputs is not validate_inputs
    assert fake_comfy.execution.validate_inputs.ghibli_one_message_per_problem

    def sync_validate(prompt, item):  # not a coroutine, other parameters: another ComfyUI
        return True, [], item

    fake_comfy.execution.validate_inputs = sync_validate
    with caplog.at_level(logging.WARNING):
        validation.one_message_per_problem()
        assert fake_comfy.execution.validate_inputs is sync_validate
        del fake_comfy.execution.validate_inputs
        validation.one_message_per_problem()
    assert not hasattr(fake_comfy.execution, "validate_inputs")
    lines = [r for r in caplog.records if "left as ComfyUI shows them" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None  # one line, however often it is asked


def test_auto_precision_follows_comfyuis_own_choice(fake_comfy):
    host, mm = fake_comfy.host, fake_comfy.mm
    asked = {}

    def unet_dtype(device=None, model_params=0, supported_dtypes=(), weight_dtype=None):
        asked.update(device=device, params=model_params, supported=supported_dtypes)
        return torch.float32 if device.type == "cpu" else torch.bfloat16  # as under --cpu / --bf16-unet

    mm.unet_dtype = unet_dtype
    assert host.torch_dtype("cpu") == "fp32" and asked["params"] == host.SD15_UNET_PARAMS
    assert torch.float8_e4m3fn not in asked["supported"]
    assert host.torch_dtype("cuda:0") == "bf16"
    mm.unet_dtype = lambda *a, **k: torch.float8_e4m3fn  # nothing the pipelines run: the engine's own choice
    assert host.torch_dtype("cpu") == "auto"
    mm.unet_dtype = lambda device: torch.float16  # an unknown signature
    assert host.torch_dtype("cpu") == "auto"
    del mm.unet_dtype
    assert host.torch_dtype("cpu") == "auto"
