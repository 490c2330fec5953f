"""Models held in one place a host can release: pipelines (through a handle), the depth estimator, the chat model.
Real tiny models; release is checked with weak references (the modules are really gone), and sizing against the
loaded modules' own bytes."""
from __future__ import annotations

import dataclasses
import gc
import os
import weakref

import numpy as np
import pytest
import torch
from PIL import Image

from ghibli_core.models.holder import HELD, release_models, source_numel, tensor_bytes, weights_bytes
from ghibli_core.models.pipelines import HeldPipelines
from ghibli_core.models.lora import LoraSpec
from ghibli_core.plan.local import held_chat_pipeline


@pytest.fixture
def released():
    release_models()
    yield
    release_models()


@pytest.mark.parametrize("single_file", [False, True])
def test_weights_are_sized_from_the_files_before_loading(tiny, released, single_file):
    resolved = tiny.model_settings(single_file=single_file).resolve()
    estimate = weights_bytes(resolved, fallback=10**12)
    assert HELD.keys() == []  # sizing read headers only
    pipes = HeldPipelines.of(resolved).get()
    loaded = tensor_bytes(pipes)
    assert 0.9 * loaded <= estimate <= 1.1 * loaded, (estimate, loaded)
    assert HELD.nbytes() == loaded  # the depth model inside the pipelines is the held one: counted once


def test_an_unknown_size_falls_back(tiny):
    from ghibli_core.models.sources import ModelSource

    resolved = tiny.model_settings().resolve()
    not_cached = ModelSource("hub", "someone/not-in-the-cache", "depth")
    assert source_numel(not_cached) is None
    unknown = weights_bytes(dataclasses.replace(resolved, depth=not_cached), fallback=123)
    assert unknown == weights_bytes(resolved, fallback=0) - source_numel(resolved.depth) * 4 + 123


def test_release_frees_every_held_model_and_a_kept_handle_loads_them_again(tiny, released):
    handle = HeldPipelines.of(tiny.model_settings().resolve())  # what ComfyUI's cache keeps
    lora = handle.with_loras((LoraSpec(str(tiny.lora), 0.7),))
    pipes = lora.get()
    assert pipes.loras == lora.loras and handle.get().loras == ()
    assert handle.get() is handle.get()  # loaded once
    chat = held_chat_pipeline(str(tiny.chat_dir), "cpu")
    held = HELD.summary()
    assert len(held["held"]) == 3 and held["bytes"] > 0
    assert {label.split(":")[0] for label in held["held"]} == {"pipelines", "depth", "chat"}
    assert not any("/" in label for label in held["held"])  # names, never local paths
    refs = [weakref.ref(m) for m in (pipes.txt2img.unet, pipes.img2img.controlnet, pipes.depth.pipe.model, chat.model)]
    del pipes, chat
    assert release_models() == 3
    gc.collect()
    assert [r() for r in refs] == [None] * 4 and HELD.released_alive() == 0 and HELD.keys() == []
    again = lora.get()  # the kept handle paints again: loaded afresh, with its LoRA
    assert again.txt2img.unet is not None and again.loras == lora.loras and len(HELD.keys()) == 2
    frame = again.depth(Image.fromarray(np.zeros((32, 32, 3), np.uint8)))
    assert frame.size == (32, 32)


def test_a_model_still_in_use_is_reported_alive_after_release(tiny, released):
    pipes = HeldPipelines.of(tiny.model_settings().resolve()).get()
    release_models()
    assert HELD.released_alive() > 0  # the caller still holds it: nothing can free it
    del pipes
    assert HELD.released_alive() == 0


def test_a_replaced_model_file_is_loaded_afresh(tiny, released, tmp_path):
    import shutil

    base = tmp_path / "base.safetensors"
    shutil.copyfile(tiny.checkpoint, base)
    settings = tiny.model_settings(single_file=True).replace(base=str(base))
    first = HeldPipelines.of(settings.resolve()).get()
    shutil.copyfile(tiny.checkpoint, tmp_path / "tmp.safetensors")
    (tmp_path / "tmp.safetensors").replace(base)  # same name, a new file
    second = HeldPipelines.of(settings.resolve()).get()
    assert second is not first
    assert torch.equal(next(second.txt2img.unet.parameters()), next(first.txt2img.unet.parameters()))


def test_a_replaced_taesd_encoder_is_seen_by_the_held_key(tiny, tmp_path):
    """TAESD comes as two files (the decoder named, the encoder found beside it): replacing either under the same name
    changes the held copies' key, so the next run loads the new file instead of painting with the old one."""
    import shutil

    folder = tmp_path / "vae_approx"
    folder.mkdir()
    for name in ("taesd_decoder.safetensors", "taesd_encoder.safetensors"):
        shutil.copyfile(tiny.taesd_decoder.with_name(name), folder / name)
    settings = tiny.model_settings().replace(tiny_vae=str(folder / "taesd_decoder.safetensors"))
    assert settings.resolve().tiny_vae.files == (str(folder / "taesd_decoder.safetensors"), str(folder / "taesd_encoder.safetensors"))
    before = HeldPipelines.of(settings.resolve()).key
    encoder = folder / "taesd_encoder.safetensors"
    shutil.copyfile(encoder, tmp_path / "new.safetensors")
    os.utime(tmp_path / "new.safetensors", ns=(encoder.stat().st_atime_ns, encoder.stat().st_mtime_ns + 10**9))
    (tmp_path / "new.safetensors").replace(encoder)  # same name, a new file
    assert HeldPipelines.of(settings.resolve()).key != before


def test_another_edge_scale_paints_with_the_held_weights(tiny, released):
    """An edge control's scale is a painting value: a handle at another scale (the Edge ControlNet node's strength
    changed, a batch row's --control canny:0.3) paints with the weights already held, each at its own scale; another
    kind of control is another model set."""
    canny = HeldPipelines.of(tiny.model_settings(edges=("canny:0.5",)).resolve())
    first = canny.get()
    softer = HeldPipelines.of(tiny.model_settings(edges=("canny:0.2",)).resolve())
    again = softer.get()
    assert len(HELD.keys()) == 2  # the pipelines and their depth estimator, once
    assert again.img2img.controlnet is first.img2img.controlnet and again.txt2img.unet is first.txt2img.unet
    assert [e.scale for e in first.edges] == [0.5] and [e.scale for e in again.edges] == [0.2]
    assert again.model_names()["controls"][0]["scale"] == 0.2 and canny.get().edges[0].scale == 0.5
    HeldPipelines.of(tiny.model_settings(edges=("softedge:0.5",)).resolve()).get()
    assert len(HELD.keys()) == 3
