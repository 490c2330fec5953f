"""A tiny autoencoder (TAESD) in place of the model's VAE: loaded like any other model, used for every encode and decode."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from ghibli_core.animate import AnimationSettings
from ghibli_core.blend import MotionSettings
from ghibli_core.camera import CameraSettings
from ghibli_core.errors import InputError, ModelLoadError, ModelNotFoundError
from ghibli_core.export import read_metadata
from ghibli_core.models.pipelines import ModelSettings, load_pipelines
from ghibli_core.models.sources import encoder_beside, resolve_source, taesd_half
from ghibli_core.models.tiny_vae import check_fits, diffusers_to_original, load_tiny_vae, original_to_diffusers
from ghibli_core.render import render_animation


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_comfyuis_original_layout_and_the_diffusers_folder_are_the_same_model(tiny):
    folder = load_tiny_vae(resolve_source(str(tiny.tiny_vae_dir), "tiny-vae", "tiny-vae"))
    file = load_tiny_vae(resolve_source(str(tiny.taesd_decoder), "tiny-vae", "tiny-vae"))
    assert type(file).__name__ == "AutoencoderTiny" and _same_weights(folder, file)
    encoder, decoder = diffusers_to_original(folder.state_dict())
    assert "0.weight" in encoder and "0.weight" not in decoder and "1.weight" in decoder  # the decoder's layer 0: the clamp
    assert taesd_half(list(encoder)) == "encoder" and taesd_half(list(decoder)) == "decoder"
    back = original_to_diffusers(encoder, decoder)
    assert back.keys() == folder.state_dict().keys()
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(folder.decode(latents).sample, file.decode(latents).sample)


def test_a_hub_id_loads_from_the_hugging_face_cache(tiny, hf_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(hf_cache))
    src = resolve_source("tiny-org/tiny-taesd", "tiny-vae", "tiny-vae")
    assert src.kind == "hub"
    assert _same_weights(load_tiny_vae(src), load_tiny_vae(resolve_source(str(tiny.tiny_vae_dir), "tiny-vae", "tiny-vae")))
    with pytest.raises(ModelNotFoundError, match=r"^tiny-vae: madebyollin/taesd is not in the local Hugging Face cache"):
        resolve_source("madebyollin/taesd", "tiny-vae", "tiny-vae")


def test_bad_tiny_vaes_are_refused_by_name_before_anything_loads(tiny, tmp_path):
    encoder = tiny.taesd_decoder.with_name("taesd_encoder.safetensors")
    lone = tmp_path / "lone" / "taesd_decoder.safetensors"
    lone.parent.mkdir()
    shutil.copyfile(tiny.taesd_decoder, lone)
    pickled = tmp_path / "pth"
    pickled.mkdir()
    for half in ("decoder", "encoder"):
        from safetensors.torch import load_file

        torch.save(load_file(str(tiny.taesd_decoder.with_name(f"taesd_{half}.safetensors"))), pickled / f"taesd_{half}.pth")
    cases = [
        (encoder, InputError, r"tiny-vae: taesd_encoder\.safetensors is TAESD's encoder; give the decoder file"),
        (lone, ModelNotFoundError, r"tiny-vae: taesd_decoder\.safetensors needs its encoder beside it \(taesd_encoder"),
        (tiny.lora, InputError, r"tiny-vae: tiny-style\.safetensors does not look like a TAESD decoder; give TAESD for SD1\.5"),
        (tiny.controlnet_dir, InputError, r"tiny-vae: .* holds a ControlNetModel, not an AutoencoderTiny"),
        (pickled / "taesd_decoder.pth", InputError, r"tiny-vae: taesd_decoder\.pth is a pickle checkpoint.*--allow-pickle"),
        (tmp_path / "nowhere.safetensors", ModelNotFoundError, r"tiny-vae: no file or folder at"),
    ]
    for value, error, message in cases:
        with pytest.raises(error, match=message):
            ModelSettings(base=str(tiny.pipeline_dir), controlnet=str(tiny.controlnet_dir), depth_model=str(tiny.depth_dir),
                          tiny_vae=str(value)).resolve()
    # opted in, the .pth pair loads (torch's weights-only unpickler) into the same model
    src = resolve_source(str(pickled / "taesd_decoder.pth"), "tiny-vae", "tiny-vae", allow_pickle=True)
    assert _same_weights(load_tiny_vae(src, allow_pickle=True), load_tiny_vae(resolve_source(str(tiny.taesd_decoder), "tiny-vae", "tiny-vae")))
    assert encoder_beside(tiny.taesd_decoder) == encoder and encoder_beside(tiny.lora) is None


def test_a_tiny_vae_of_another_latent_space_is_refused(tiny):
    from diffusers import AutoencoderTiny

    unet = load_pipelines(tiny.model_settings(), progress=False).txt2img.unet
    with pytest.raises(ModelLoadError, match=r"tiny-vae: taef1 makes 16-channel latents, the model's UNet takes 4"):
        check_fits(AutoencoderTiny(latent_channels=16, encoder_block_out_channels=(8,) * 4, decoder_block_out_channels=(8,) * 4),
                   unet, "taef1")


class Calls:
    """Counts forward passes of a module's encoder and decoder."""

    def __init__(self, vae: torch.nn.Module) -> None:
        self.encode = self.decode = 0
        self._hooks = [vae.encoder.register_forward_hook(lambda *_: self._add("encode")),
                       vae.decoder.register_forward_hook(lambda *_: self._add("decode"))]

    def _add(self, what: str) -> None:
        setattr(self, what, getattr(self, what) + 1)

    def close(self) -> None:
        for h in self._hooks:
            h.remove()


def test_painting_with_a_camera_encodes_and_decodes_every_frame_with_the_tiny_vae(tiny, pipes):
    drafts = load_pipelines(tiny.model_settings(tiny_vae=str(tiny.taesd_decoder)), progress=False)
    assert type(drafts.txt2img.vae).__name__ == "AutoencoderTiny" and drafts.img2img.vae is drafts.txt2img.vae
    assert type(pipes.txt2img.vae).__name__ == "AutoencoderKL"  # off by default: the model's own VAE
    assert drafts.model_names()["tiny_vae"] == "taesd_decoder.safetensors" and "tiny_vae" not in pipes.model_names()
    tiny_calls, full_calls = Calls(drafts.txt2img.vae), Calls(pipes.txt2img.vae)
    try:
        settings = AnimationSettings(frames=3, width=64, height=64, steps=3, seed=1)
        out = render_animation(drafts, ["a forest at dawn"] * 3, settings, MotionSettings(cadence=1),
                               camera=CameraSettings("push-in"), progress=False)
    finally:
        tiny_calls.close()
        full_calls.close()
    assert len(out.painted) == 3 and all(np.asarray(f.image).std() > 0 for f in out.painted)
    # frame 1 decoded; frames 2 and 3 encoded (their moved start, and the revealed-area start) and decoded
    assert tiny_calls.decode == 3 and tiny_calls.encode >= 2
    assert full_calls.encode == full_calls.decode == 0


def test_the_command_line_paints_drafts_with_a_tiny_vae_and_says_so_in_the_file(tiny, tmp_path, run_cli):
    out = tmp_path / "draft.webp"
    res = run_cli(["--tiny", "a ghibli forest", "--frames", "2", "-o", str(out), "--tiny-vae", str(tiny.taesd_decoder), "--quiet"])
    assert res.returncode == 0, res.stderr
    assert read_metadata(out)["models"]["tiny_vae"] == "taesd_decoder.safetensors"
