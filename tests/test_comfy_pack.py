"""The pack's parts that need no running ComfyUI: IMAGE conversion, the headless client's workflow
handling, and the engine features the nodes stand on (LoRA handles, side-by-side configs, text plans)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ghibli_core.animate import AnimationSettings
from ghibli_core.blend import MotionSettings, blend_frames
from ghibli_core.comfy_client import DEFAULT_WORKFLOW, SAVER_FORMAT_BY_EXT, ComfyClient, load_workflow, patch_workflow, saver_format
from ghibli_core.errors import InputError
from ghibli_core.export import FORMATS
from ghibli_core.models.lora import LoraSpec
from ghibli_core.models.pipelines import ModelSettings, load_pipelines, single_file_config
from ghibli_core.models.sources import resolve_source
from ghibli_core.plan import parse_plan_text
from ghibli_core.render import denoising_steps, render_animation
from nodes.images import to_arrays, to_image_batch, to_pil
from nodes.validation import CUSTOM_FAILURE, one_entry_per_problem, report


# --- queue-time messages --------------------------------------------------------------------------
def _as_comfyui_lists(result, taken: list[str]) -> list[dict]:
    """What ComfyUI 0.3.75 makes of a validate_inputs result: the same entry under every input the function took."""
    return [{"type": CUSTOM_FAILURE, "message": "Custom validation failed for node", "details": f"{x} - {result}",
             "extra_info": {"input_name": x}} for x in taken]


def test_each_problem_a_node_finds_is_listed_once_under_the_input_it_names():
    taken = ["translation_x", "rotation_y", "near", "far"]
    inputs = [*taken, "move", "fov"]
    result = report(["rotation_y: '0:(abc' has unbalanced brackets; write frame:(value) pairs", "move: unknown 'warp'; use one of a, b"])
    ours = one_entry_per_problem(_as_comfyui_lists(result, taken), inputs)
    assert [(e["extra_info"]["input_name"], e["details"]) for e in ours] == [
        ("rotation_y", "rotation_y - '0:(abc' has unbalanced brackets; write frame:(value) pairs"),
        ("move", "move - unknown 'warp'; use one of a, b")]
    assert all(e["type"] == CUSTOM_FAILURE and e["message"] == "Custom validation failed for node" for e in ours)
    assert one_entry_per_problem(ours, inputs) == ours  # ComfyUI hands a node's cached result back: regrouped once
    # ComfyUI's own errors stay as they are, in order; a problem naming no input stays under the first it came under
    own = {"type": "value_bigger_than_max", "message": "Value 180 bigger than max of 179", "details": "fov",
           "extra_info": {"input_name": "fov"}}
    ours = one_entry_per_problem([own, *_as_comfyui_lists(report(["the camera: needs a depth map"]), taken)], inputs)
    assert ours[0] is own and [(e["extra_info"]["input_name"], e["details"]) for e in ours[1:]] == [
        ("translation_x", "translation_x - the camera: needs a depth map")]
    # a bare False (no message) is left as ComfyUI made it; a multi-line problem is one line
    bare = [{"type": CUSTOM_FAILURE, "details": x, "extra_info": {"input_name": x}} for x in taken]
    assert one_entry_per_problem(bare, inputs) == bare
    assert report([]) is True and report(["near: a\nb"]) == "near: a b"


# --- IMAGE <-> frames ---------------------------------------------------------------------------
def test_image_batches_round_trip_exactly():
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (24, 40, 3), dtype=np.uint8) for _ in range(3)]
    batch = to_image_batch(frames)
    assert batch.shape == (3, 24, 40, 3) and batch.dtype == torch.float32 and 0 <= batch.min() and batch.max() <= 1
    assert all(np.array_equal(a, b) for a, b in zip(to_arrays(batch), frames))
    assert [im.size for im in to_pil(batch)] == [(40, 24)] * 3


def test_grey_and_alpha_batches_become_rgb():
    grey = torch.full((2, 8, 8, 1), 0.5)
    assert to_arrays(grey)[0].shape == (8, 8, 3)
    rgba = torch.rand(1, 8, 8, 4)
    assert to_arrays(rgba)[0].shape == (8, 8, 3)


@pytest.mark.parametrize("bad", [torch.rand(8, 8, 3), torch.rand(0, 8, 8, 3), torch.rand(1, 8, 8, 5), "frames"])
def test_bad_image_inputs_name_the_input(bad):
    with pytest.raises(InputError, match="^init_image:"):
        to_arrays(bad, "init_image")


def test_frames_of_different_sizes_are_refused():
    with pytest.raises(InputError, match="differ in size"):
        to_image_batch([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 16, 3), np.uint8)])


# --- headless client: workflows -------------------------------------------------------------------
def test_shipped_api_workflow_patches_the_idea_and_settings():
    graph = load_workflow(DEFAULT_WORKFLOW)
    patched = patch_workflow(graph, idea="a cat bus in the rain", frames=5, seed=11, width=256, height=192, steps=9, output_format="webp")
    by_type = {n["class_type"]: n["inputs"] for n in patched.values()}
    assert by_type["GhibliFramePlanner"]["idea"] == "a cat bus in the rain" and by_type["GhibliFramePlanner"]["frames"] == 5
    assert (by_type["GhibliSequentialImg2Img"]["seed"], by_type["GhibliSequentialImg2Img"]["width"]) == (11, 256)
    assert by_type["GhibliSaveAnimation"]["format"] == "webp"
    assert patch_workflow(graph, output_format=saver_format("x.png"))["6"]["inputs"]["format"] == "apng"
    assert set(SAVER_FORMAT_BY_EXT) == set(FORMATS)  # every format the engine writes can be asked of the saver
    with pytest.raises(InputError, match="output: unknown output format '.avi'"):
        saver_format("x.avi")
    assert graph != patched and load_workflow(DEFAULT_WORKFLOW) == graph  # the original is untouched
    # the shipped workflow writes an MP4 with its music; a format without sound leaves the music out
    assert "GhibliMusic" not in by_type and "audio" not in by_type["GhibliSaveAnimation"]
    with_music = {n["class_type"]: n["inputs"] for n in patch_workflow(graph, output_format="webm").values()}
    assert with_music["GhibliSaveAnimation"]["audio"][0] in {k for k, n in graph.items() if n["class_type"] == "GhibliMusic"}


def test_workflow_errors_say_what_to_do(tmp_path):
    ui = tmp_path / "canvas.json"
    ui.write_text(json.dumps({"nodes": [], "links": []}))
    with pytest.raises(InputError, match="UI-format.*Export \\(API\\)"):
        load_workflow(ui)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(InputError, match="^workflow: broken.json is not valid JSON"):
        load_workflow(broken)
    with pytest.raises(InputError, match="^workflow: no file"):
        load_workflow(tmp_path / "absent.json")
    no_saver = {"1": {"class_type": "GhibliFramePlanner", "inputs": {}}}
    with pytest.raises(InputError, match="no GhibliSaveAnimation"):
        patch_workflow(no_saver, idea="x")
    with pytest.raises(InputError, match="no GhibliSequentialImg2Img node to set seed"):
        patch_workflow(no_saver, seed=1)


def test_client_refuses_bad_urls_and_absent_servers():
    with pytest.raises(InputError, match="^server:"):
        ComfyClient("ftp://example.org")
    with pytest.raises(InputError, match="no ComfyUI answers at http://127.0.0.1:9"):
        ComfyClient("127.0.0.1:9", timeout=2).get_json("/object_info")


# --- engine features the nodes use --------------------------------------------------------------------
def test_lora_handles_share_weights_and_switch_without_reloading(tiny):
    pipes = load_pipelines(tiny.model_settings(), progress=False)  # its own: this test loads adapters onto it
    settings = AnimationSettings(frames=2, steps=4, width=64, height=64, seed=3)
    plan = ["a forest, Studio Ghibli style", "the forest at noon, Studio Ghibli style"]

    def paint(handle):
        return [np.asarray(f) for f in render_animation(handle, plan, settings, progress=False).output_frames]

    plain = paint(pipes)
    styled_handle = pipes.with_loras([LoraSpec(str(tiny.lora), 1.0)])
    assert styled_handle.txt2img is pipes.txt2img and pipes.loras == ()
    styled = paint(styled_handle)
    assert any(not np.array_equal(a, b) for a, b in zip(plain, styled))
    loaded = len(pipes.loaded_adapters)
    assert all(np.array_equal(a, b) for a, b in zip(paint(pipes), plain))  # the LoRA is off again for the plain handle
    assert all(np.array_equal(a, b) for a, b in zip(paint(styled_handle), styled))  # and back on, not loaded twice
    assert len(pipes.loaded_adapters) == loaded == 1
    both = pipes.with_loras([LoraSpec(str(tiny.lora), 0.5), LoraSpec(str(tiny.lora_kohya), 0.5)])
    paint(both)
    assert len(pipes.loaded_adapters) == 2 and sorted(both.lora_adapters) == sorted(pipes.loaded_adapters.values())
    with pytest.raises(InputError, match="same LoRA file is applied twice"):
        paint(pipes.with_loras([LoraSpec(str(tiny.lora)), LoraSpec(str(tiny.lora))]))
    with pytest.raises(InputError, match="^lora:"):
        pipes.with_loras([LoraSpec(str(tiny.checkpoint))])  # a full model is not a LoRA: refused at once


def test_single_file_reads_the_config_folder_beside_it(tiny, tmp_path):
    ckpt = tmp_path / "my-model.safetensors"
    ckpt.symlink_to(tiny.checkpoint)
    src = resolve_source(str(ckpt), "pipeline", "model")
    assert single_file_config(src, None).name == "sd15"  # nothing beside it: the shipped SD1.5 configs
    shutil.copytree(tiny.pipeline_dir, tmp_path / "my-model", ignore=shutil.ignore_patterns("*.safetensors"))
    assert single_file_config(src, None) == tmp_path / "my-model"
    assert str(single_file_config(src, "/explicit")) == "/explicit"
    resolved = ModelSettings(base=str(ckpt), controlnet=str(tiny.controlnet_dir), depth_model=str(tiny.depth_dir)).resolve()
    assert resolved.base.kind == "file"


def test_text_plans_from_the_prompts_box():
    plan = parse_plan_text("# my plan\nfirst  frame\n\n second frame \n", "the prompts box", input_name="prompts", idea="a hill")
    assert plan.frames == ["first frame", "second frame"] and plan.idea == "a hill" and plan.backend == "file"
    plan = parse_plan_text(json.dumps({"idea": "cats", "frames": ["a", "b", "c"]}), "the prompts box", input_name="prompts")
    assert plan.frames == ["a", "b", "c"] and plan.idea == "cats"
    with pytest.raises(InputError, match="^prompts: the prompts box holds no frames"):
        parse_plan_text("# only a comment\n", "the prompts box", input_name="prompts")
    with pytest.raises(InputError, match="^prompts: frame 2 in the prompts box is not text"):
        parse_plan_text('["a", 3]', "the prompts box", input_name="prompts")


def test_blender_cadence_keeps_keyframes_and_resynthesises_the_rest():
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(7)]
    out = blend_frames(frames, MotionSettings(cadence=3, loop=False, blend="crossfade"))
    assert len(out) == 7
    for i in (0, 3, 6):
        assert np.array_equal(out[i], frames[i])
    assert not np.array_equal(out[1], frames[1])
    mid = (frames[0].astype(float) * 2 + frames[3]) / 3
    assert np.abs(out[1].astype(float) - mid).max() <= 1.0


def test_denoising_steps_counts_the_progress_ticks(pipes):
    settings = AnimationSettings(frames=5, steps=6, strength=0.5, width=64, height=64, seed=1)
    motion = MotionSettings(cadence=2, loop=False)
    ticks = []
    render_animation(pipes, ["a hill, Studio Ghibli style"] * 5, settings, motion, on_progress=ticks.append, progress=False)
    assert len(ticks) == denoising_steps(settings, motion) == 6 + 2 * 3
    init = Image.new("RGB", (64, 64), (90, 120, 60))
    ticks.clear()
    render_animation(pipes, ["a hill"] * 5, settings, motion, init_image=init, on_progress=ticks.append, progress=False)
    assert len(ticks) == denoising_steps(settings, motion, init_image=True) == 3 * 3


def test_comfyui_audio_becomes_the_engines_sound_and_back():
    from nodes.audio import to_audio, to_sound

    wave = torch.linspace(-0.5, 0.5, 2 * 800).reshape(1, 2, 800)
    sound = to_sound({"waveform": wave, "sample_rate": 8000})
    assert sound.rate == 8000 and sound.samples.shape == (2, 800) and sound.samples.dtype == np.float32
    back = to_audio(sound)
    assert back["sample_rate"] == 8000 and torch.equal(back["waveform"], wave)
    six = to_sound({"waveform": torch.ones(1, 6, 10) * 0.3, "sample_rate": 48000})
    assert six.channels == 2  # 5.1 down-mixed to stereo, as for files
    for bad in (None, {"waveform": torch.zeros(2, 10), "sample_rate": 8000}, {"waveform": torch.zeros(1, 2, 0), "sample_rate": 8000}):
        with pytest.raises(InputError, match="^audio: "):
            to_sound(bad)


class _FileVideo:
    """ComfyUI's VideoFromFile as the node sees it: 0.3.75 has `get_stream_source`; newer versions keep a trim too."""

    def __init__(self, source, trim: tuple[float, float] | None = None):
        self.source, self.trim = source, trim
        if trim is not None:
            self.get_active_trim_window = lambda: self.trim

    def get_stream_source(self):
        return self.source

    def get_components(self):  # ComfyUI's own decode: every frame as float32, as stored (not turned)
        import av
        from fractions import Fraction
        from types import SimpleNamespace

        with av.open(self.source) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
            rate = Fraction(c.streams.video[0].average_rate)
        return SimpleNamespace(images=torch.from_numpy(np.stack(frames)).float() / 255, frame_rate=rate, audio=None)


def test_a_comfyui_video_file_is_read_by_the_engine_as_players_show_it_within_its_trim(tmp_path):
    """A VIDEO backed by a file reaches the engine as that file (a phone's portrait clip comes out upright), within
    the trim newer ComfyUI keeps on it; a VIDEO held in memory is taken from its components; IMAGE frames at `fps`."""
    import io

    import clips
    from ghibli_core.video import InMemoryClip, probe
    from nodes.clips import clip_source

    phone = clips.write_clip(tmp_path / "phone.mp4", clips.moving_frames(24, 96, 64), 8, sound=True, turn=(90, False, False))
    clip, settings = clip_source(video=_FileVideo(str(phone)), max_side=512)
    info = probe(clip, settings)
    assert clip == str(phone) and info.size == (64, 96) and info.frames == 24 and info.audio is not None
    clip, settings = clip_source(video=_FileVideo(str(phone), trim=(1.0, 1.0)), max_side=512)
    info = probe(clip, settings)
    assert (settings.start, settings.duration) == (1.0, 1.0) and info.frames == 8 and info.times[0] == pytest.approx(1.0)
    clip, settings = clip_source(video=_FileVideo(str(phone), trim=(1.0, 0.0)), max_side=512)  # 0: to the end
    assert settings.duration is None and probe(clip, settings).frames == 16
    in_memory = _FileVideo(io.BytesIO(phone.read_bytes()))
    in_memory.get_components = _FileVideo(str(phone)).get_components
    clip, _ = clip_source(video=in_memory, max_side=512)
    assert isinstance(clip, InMemoryClip) and clip.fps == 8 and clip.frames[0].shape == (64, 96, 3)  # as stored
    frames = torch.rand(3, 16, 24, 3)
    clip, _ = clip_source(images=frames, fps=12.0, audio={"waveform": torch.zeros(1, 1, 800), "sample_rate": 8000})
    assert isinstance(clip, InMemoryClip) and clip.fps == 12.0 and len(clip.frames) == 3 and clip.sound.rate == 8000
    with pytest.raises(InputError, match="^images: nothing is connected"):
        clip_source()


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "workflows").glob("*.json")), ids=lambda p: p.stem)
def test_shipped_canvas_layouts_have_no_overlapping_nodes(path):
    """Each node's rectangle on the canvas (its title bar, drawn above `pos`, included) overlaps no other, and stays
    clear of the links' gutters: every node starts to the right of the nodes it takes inputs from."""
    TITLE = 30
    workflow = json.loads(path.read_text())
    boxes = {n["id"]: (n["pos"][0], n["pos"][1] - TITLE, n["pos"][0] + n["size"][0], n["pos"][1] + n["size"][1])
             for n in workflow["nodes"]}
    ids = sorted(boxes)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = boxes[a], boxes[b]
            assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, f"nodes {a} and {b} overlap in {path.name}"
    for _link, src, _slot, dst, _in, _type in workflow["links"]:
        assert boxes[src][2] < boxes[dst][0], f"{path.name}: node {dst} is not right of its input {src}"
