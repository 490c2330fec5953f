"""End-to-end: the pack inside a real ComfyUI (0.3.75, --cpu) with tiny models. No mocks.

ComfyUI comes from `make comfyui` (.comfyui/ComfyUI) or $COMFYUI_DIR. Without it these tests skip,
unless GHIBLI_REQUIRE_COMFYUI=1 (CI sets it), where a missing ComfyUI fails the run.
"""
from __future__ import annotations

import io
import json
from fractions import Fraction
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from comfy_server import REPO, SHIPPED, ComfyServer, comfyui_dir, newest_front_end
from ghibli_core.comfy_client import SAVER_FORMAT_BY_EXT, ComfyClient
from ghibli_core.export import read_metadata
from ghibli_core.plan.music import music_prompt

sys.path.insert(0, str(REPO / "scripts"))
from build_workflows import UI_NAMES, WIDGET_TYPES, input_specs, widget_values  # noqa: E402

GHIBLI_NODES = {"GhibliFramePlanner", "GhibliPlanFromText", "GhibliPipelineLoader", "GhibliLoraLoader", "GhibliEdgeControl", "GhibliCamera", "GhibliCameraMove",
                "GhibliSequentialImg2Img", "GhibliFrameBlender", "GhibliSaveAnimation"}
API = {name: REPO / "workflows" / "api" / f"{name}.json" for name in ("ghibli_animation", "ghibli_minimal", "ghibli_video")}
UI = {name: REPO / "workflows" / f"{UI_NAMES[name]}.json" for name in API}

pytestmark = pytest.mark.slow  # a real ComfyUI server and a headless browser


REQUIRED = os.environ.get("GHIBLI_REQUIRE_COMFYUI") == "1"


def _missing(what: str) -> None:
    if REQUIRED:
        pytest.fail(f"{what} (GHIBLI_REQUIRE_COMFYUI=1)")
    pytest.skip(what)


@pytest.fixture(scope="module")
def server(tiny, tmp_path_factory):
    """ComfyUI serving the newest front end (pinned by `make comfyui`)."""
    comfy = comfyui_dir()
    if comfy is None:
        _missing("ComfyUI is not installed: run `make comfyui` (or set COMFYUI_DIR)")
    front_end = newest_front_end(comfy)
    if front_end is None:
        _missing("the newest ComfyUI front end is not installed: run `make comfyui`")
    srv = ComfyServer(comfy, tmp_path_factory.mktemp("comfy"), tiny, front_end=front_end).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium driven by selenium (one per module; each test opens the page it needs)."""
    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver_bin = shutil.which("chromedriver")
    if not chromium or not driver_bin:
        _missing("chromium and chromedriver are needed (Debian: apt-get install chromium chromium-driver)")
    options = Options()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--window-size=1600,1000", f"--user-data-dir={tmp_path_factory.mktemp('profile')}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_bin), options=options)
    driver.set_script_timeout(120)
    yield driver
    driver.quit()


def open_canvas(driver, server: ComfyServer) -> None:
    """Load the front end and wait until its app and graph exist (the first-run templates dialog marked as seen)."""
    server.request("POST", "/settings/Comfy.TutorialCompleted", True)
    driver.get(server.url)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if driver.execute_script("return !!(window.app && window.app.graph && window.LiteGraph)"):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the front end did not start")
    clear_dialogs(driver)


def clear_dialogs(driver) -> None:
    """Close the first-run templates dialog (it opens late, over the canvas) before a screenshot."""
    driver.execute_script("document.querySelectorAll('.p-dialog-mask').forEach(d => d.remove());")


def artifacts_dir() -> Path:
    artifacts = Path(os.environ.get("GHIBLI_ARTIFACTS", REPO / "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    return artifacts


def small(graph: dict, *, sound: bool = False, **sampler) -> dict:
    """The graph at a tiny size, every frame painted in 4 steps (the shipped values are for real models); without
    `sound`, the animation's music is left out and the saver writes a GIF (what most tests read back)."""
    graph = json.loads(json.dumps(graph))
    if not sound:
        music = [k for k, v in graph.items() if v["class_type"] == "GhibliMusic"]
        for node_id in music:
            del graph[node_id]
        for node in graph.values():
            if node["class_type"] == "GhibliSaveAnimation" and node["inputs"].get("audio", [None])[0] in music:
                del node["inputs"]["audio"]
                node["inputs"]["format"] = "gif"
    for node in graph.values():
        if node["class_type"] == "GhibliSequentialImg2Img":
            node["inputs"].update({"width": 64, "height": 64, "preset": "custom", "steps": 4, "cadence": 1, **sampler})
        if node["class_type"] == "GhibliFramePlanner":
            node["inputs"]["frames"] = 3
        if node["class_type"] == "GhibliVideoStylize":
            node["inputs"].update({"preset": "custom", "steps": 4})
    return graph


def api(name: str = "ghibli_animation") -> dict:
    return json.loads(API[name].read_text())


def run(server: ComfyServer, graph: dict) -> dict:
    status, body = server.queue(graph)
    assert status == 200, body
    entry = server.wait_history(body["prompt_id"])
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[:3000]
    return entry


def queued_from_the_canvas(server: ComfyServer, before: set, timeout: float = 180.0) -> dict:
    """The history entry of the prompt the canvas queued (the first not in `before`), finished successfully."""
    deadline = time.monotonic() + timeout
    new: list = []
    while time.monotonic() < deadline and not new:
        new = [k for k in server.get("/history") if k not in before]
        time.sleep(0.2)
    assert new, "the canvas did not queue the workflow"
    entry = server.wait_history(new[0])
    assert entry["status"]["status_str"] == "success", entry["status"]
    return entry


def saved_animation(server: ComfyServer, entry: dict, node: str) -> tuple[dict, bytes]:
    file = entry["outputs"][node]["animations"][0]
    status, data = server.request("GET", f"/view?filename={file['filename']}&subfolder={file['subfolder']}&type={file['type']}")
    assert status == 200
    return file, data


def test_pack_imports_without_failure(server):
    log = server.log_text()
    assert f"custom_nodes/{'ghibli-anim'}" in log
    failed = [line for line in log.splitlines() if "IMPORT FAILED" in line and "ghibli" in line]
    assert not failed, failed
    assert "Ghibli Animation: the" not in log  # no node module failed on its own


def test_object_info_lists_every_node_with_tooltips(server):
    info = server.get("/object_info")
    assert GHIBLI_NODES <= set(info)
    for node_id in GHIBLI_NODES:
        node = info[node_id]
        assert node["description"].strip(), node_id
        assert node["category"].startswith("Ghibli/"), node_id
        for section in ("required", "optional"):
            for name, spec in node["input"].get(section, {}).items():
                assert len(spec) > 1 and spec[1].get("tooltip", "").strip(), f"{node_id}.{name} has no tooltip"
    assert info["GhibliSaveAnimation"]["output_node"] is True
    # the models the tests placed are listed, each in the folder ComfyUI keeps them in
    loader = info["GhibliPipelineLoader"]["input"]["required"]
    assert SHIPPED["checkpoint"] in loader["ckpt_name"][1]["options"]
    assert "tiny-sd15 [diffusers]" in loader["ckpt_name"][1]["options"]
    assert SHIPPED["depth"] in loader["depth_model"][1]["options"]
    assert SHIPPED["lora"] in info["GhibliLoraLoader"]["input"]["required"]["lora_name"][1]["options"]


def test_the_widgets_are_the_settings_tables(server):
    """Every painting setting the table gives a widget is on Sequential Img2Img, every motion one on Frame Blender, every
    camera one on Ghibli Camera, with the table's default (the default preset's where a preset sets it), a range inside
    the table's, and its choices (ghibli_core/registry.py: one definition of every setting)."""
    from ghibli_core import registry
    from ghibli_core.presets import DEFAULT_PRESET, PRESETS

    info = server.get("/object_info")
    nodes = {"painting": "GhibliSequentialImg2Img", "motion": "GhibliFrameBlender", "camera": "GhibliCamera",
             "models": "GhibliPipelineLoader", "planner": "GhibliFramePlanner"}
    # a node's own defaults, on purpose: the blender re-fills nothing unless asked; the canvas seed is a number; the
    # planner node tries an LLM and falls back (the command line plans offline unless told)
    own_defaults = {("GhibliFrameBlender", "cadence"): 1, ("GhibliSequentialImg2Img", "seed"): 0,
                    ("GhibliFramePlanner", "backend"): "hf", ("GhibliFramePlanner", "fallback"): True}
    for s in registry.SETTINGS.values():
        if s.widget_name is None:
            continue
        node = nodes[s.owner]
        inputs = {**info[node]["input"]["required"], **info[node]["input"].get("optional", {})}
        if s.owner == "models" and s.name == "annotators":  # the edge controls' detectors: the Edge ControlNet's input
            node, inputs = "GhibliEdgeControl", info["GhibliEdgeControl"]["input"]["optional"]
        assert s.widget_name in inputs, f"{node} has no widget for {s.name}"
        kind, spec = inputs[s.widget_name][0], inputs[s.widget_name][1]
        if s.owner == "models" and s.kind == "text":  # the loader lists the files in ComfyUI's model folders instead
            assert isinstance(spec.get("options", kind), list), (node, s.name)
            continue
        preset_value = getattr(PRESETS[DEFAULT_PRESET], s.name) if s.preset else None  # (guidance: set by turbo only)
        default = own_defaults.get((node, s.name), s.default if preset_value is None else preset_value)
        if s.kind == "text" and default is None:
            default = ""
        if s.kind in ("schedule", "amount"):
            default = "" if default is None else (f"{default:g}" if isinstance(default, float) else str(default))
        if s.owner == "camera" and s.kind == "schedule":
            default = ""
        assert spec.get("default") == default, (node, s.name, spec.get("default"), default)
        if s.kind == "choice":
            assert (spec.get("options") or kind) == list(s.choices), (node, s.name)
        if s.kind in ("int", "float"):
            assert spec["min"] >= s.lo and spec["max"] <= s.hi, (node, s.name, spec)
            assert not s.lo_open or spec["min"] > s.lo, (node, s.name)
            assert not s.hi_open or spec["max"] < s.hi, (node, s.name)


def test_template_browser_offers_the_canvas_workflows_with_thumbnails(server):
    """The template browser lists each canvas workflow by its file name, which reads as a title; its thumbnail is a
    picture (a JPEG of a camera move over a painted scene), not a screenshot of the graph."""
    from urllib.parse import quote

    templates = server.get("/workflow_templates")["ghibli-anim"]
    assert sorted(templates) == sorted(UI_NAMES.values())  # the API files live in workflows/api/, not in the browser
    for title in templates:
        assert "_" not in title and title[0].isupper() and title.count(" ") >= 2  # a title, not a file stem
        status, body = server.request("GET", f"/api/workflow_templates/ghibli-anim/{quote(title)}.jpg")
        assert status == 200 and body[:3] == b"\xff\xd8\xff"
        with Image.open(io.BytesIO(body)) as thumb:
            assert min(thumb.size) >= 256
        status, body = server.request("GET", f"/api/workflow_templates/ghibli-anim/{quote(title)}.json")
        assert status == 200 and json.loads(body)["nodes"]


@pytest.mark.parametrize("name", list(API))
def test_workflows_match_the_nodes_real_inputs(server, name):
    info = server.get("/object_info")
    graph, ui = api(name), json.loads(UI[name].read_text())
    for node_id, node in graph.items():
        spec = info[node["class_type"]]
        known = {n for n, *_ in input_specs(spec)}
        required = set(spec["input"]["required"])
        assert set(node["inputs"]) <= known, (node_id, set(node["inputs"]) - known)
        assert required <= set(node["inputs"]), (node_id, required - set(node["inputs"]))
        for input_name, kind, options, _ in input_specs(spec):
            value = node["inputs"].get(input_name)
            uploads = any(options.get(f"{what}_upload") for what in ("image", "video", "audio"))  # the user's own file
            if kind == "COMBO" and not isinstance(value, list) and value is not None and not uploads:
                assert value in options["options"], (node_id, input_name, value)
    # the canvas file holds the same nodes, widget values in the canvas' order, and the same links
    ui_nodes = {str(n["id"]): n for n in ui["nodes"]}
    assert set(ui_nodes) == set(graph)
    links = {link[0]: link for link in ui["links"]}
    for node_id, node in graph.items():
        ui_node = ui_nodes[node_id]
        assert ui_node["type"] == node["class_type"]
        assert ui_node["widgets_values"] == widget_values(info[node["class_type"]], node["inputs"]), node_id
        wanted = {k: v for k, v in node["inputs"].items() if isinstance(v, list)}
        got = {}
        for slot, entry in enumerate(ui_node["inputs"]):
            if entry.get("link") is not None:
                link = links[entry["link"]]
                assert link[3] == int(node_id) and link[4] == slot
                got[entry["name"]] = [str(link[1]), link[2]]
                assert link[5] == info[graph[str(link[1])]["class_type"]]["output"][link[2]]
                if entry["type"] in WIDGET_TYPES:
                    assert entry["widget"]["name"] == entry["name"]
        assert got == wanted, node_id
    loader = next(n for n in ui["nodes"] if n["type"] == "GhibliPipelineLoader")
    hints = {m["name"]: m for m in loader["properties"]["models"]}
    assert hints[SHIPPED["checkpoint"]]["directory"] == "checkpoints" and hints[SHIPPED["checkpoint"]]["url"].startswith("https://huggingface.co/")
    assert hints[SHIPPED["controlnet"]]["directory"] == "controlnet"


def test_the_shipped_animation_workflow_comes_with_its_music(server):
    """The LLM workflow as shipped writes an MP4 whose sound is Ghibli Music's track for the run: exactly as long as the
    frames, AAC, its story (model, plan's music prompt, seed) in the file's metadata."""
    import av

    entry = run(server, small(api(), sound=True))
    file, data = saved_animation(server, entry, "6")
    path = server.output / file["subfolder"] / file["filename"]
    assert file["filename"].endswith("_.mp4") and path.read_bytes() == data
    with av.open(str(path)) as c:
        video, audio = c.streams.video[0], c.streams.audio[0]
        assert audio.codec_context.name == "aac" and audio.rate == 32000
        assert audio.duration * audio.time_base == video.duration * video.time_base
    meta = read_metadata(path)
    assert meta["sound"]["generator"] == "facebook/musicgen-small" and meta["sound"]["seed"] == 7
    assert meta["sound"]["prompt"] == music_prompt(meta["prompt"]) and meta["sound"]["fit"] == "trim"  # made to measure


def test_api_workflow_makes_a_looping_gif_fetched_from_view(server):
    graph = small(api())  # the saver as a GIF, which carries no sound
    graph["1"]["inputs"]["idea"] += ", in autumn"  # planned afresh (not ComfyUI's cached plan), so its text is shown
    entry = run(server, graph)
    file, data = saved_animation(server, entry, "6")
    assert file["type"] == "output" and file["filename"].endswith("_.gif") and file["subfolder"] == "ghibli"
    path = server.output / "ghibli" / file["filename"]
    assert path.read_bytes() == data
    with Image.open(path) as im:
        assert im.format == "GIF" and im.n_frames == 6 and im.info.get("loop") == 0 and im.size == (64, 64)
    meta = read_metadata(path)
    assert meta["plan"] and len(meta["plan"]) == 3 and meta.get("workflow") is None  # API runs carry no canvas workflow
    # the painter's run reaches the saver: the file carries what the command line's carries (one finishing step)
    for key in ("seed", "preset", "settings", "motion", "schedule", "camera", "models", "plan_camera", "plan_backend", "metrics"):
        assert meta.get(key) is not None, key
    assert meta["generator"].endswith("(ComfyUI)") and meta["models"]["base"] and len(meta["camera"]["poses"]) == 3
    assert meta["schedule"]["output_frames"] == 3 and meta["saved_frames"] == 6  # the Frame Blender doubled them
    assert meta["metrics"]["frames"] == 6 and meta["metrics"]["flicker"] > 0
    assert meta["comfyui_prompt"]["4"]["class_type"] == "GhibliSequentialImg2Img"
    # a GIF cannot carry the graph: the API prompt is saved beside it, where a drop on the canvas loads it
    assert json.loads(path.with_suffix(".json").read_text())["4"]["class_type"] == "GhibliSequentialImg2Img"
    # the canvas preview is an animated WebP (the front end does not animate GIF previews)
    preview = entry["outputs"]["6"]["images"][0]
    assert preview["type"] == "temp" and preview["filename"].endswith(".webp")
    assert entry["outputs"]["6"]["animated"] == [True]
    status, webp = server.request("GET", f"/view?filename={preview['filename']}&subfolder={preview['subfolder']}&type=temp")
    assert status == 200
    with Image.open(io.BytesIO(webp)) as im:
        assert im.format == "WEBP" and im.n_frames == 6
    # depth maps come out as IMAGE too (the PreviewImage node saved one per img2img frame)
    assert len(entry["outputs"]["7"]["images"]) == 2
    # the plan text is shown on the planner node
    assert entry["outputs"]["1"]["text"][0].count("\n") == 2


def test_the_video_workflow_repaints_a_clip_with_its_sound(server):
    """The shipped video workflow through POST /prompt: ComfyUI's own Load Video feeds Ghibli Video Stylize, whose
    frames, sound, rate and run reach the saver: an MP4 of the clip's frame count and rate, with the clip's sound as
    long as the frames (in sync: the click 0.5 s in stays 0.5 s in), and the run's metadata. A phone's portrait clip
    comes out upright (the engine reads Load Video's file); frames from Get Video Components (IMAGE) work too."""
    import av

    import clips
    from ghibli_core.sound import read_sound

    (server.base / "input").mkdir(exist_ok=True)
    clips.write_clip(server.base / "input" / "walk.mp4", clips.moving_frames(12, 64, 64), 8, sound=True, click=0.5)
    entry = run(server, small(api("ghibli_video")))
    file, data = saved_animation(server, entry, "5")
    path = server.output / file["subfolder"] / file["filename"]
    assert file["filename"].endswith("_.mp4") and path.read_bytes() == data
    with av.open(str(path)) as c:
        video, audio = c.streams.video[0], c.streams.audio[0]
        assert video.frames == 12 and float(video.average_rate) == 8.0 and audio.codec_context.name == "aac"
        assert audio.duration * audio.time_base == video.duration * video.time_base == Fraction(3, 2)
    sound = read_sound(path)
    assert abs(np.argmax(np.abs(sound.samples[0])) / sound.rate - 0.5) < 0.01
    meta = read_metadata(path)
    assert meta["source"]["frames"] == 12 and meta["keyframes"][0] == 0 and meta["generator"].endswith("(ComfyUI)")
    assert meta["metrics"]["frames"] == 12 and "temporal_warp_error" in meta["metrics"] and "loop_seam" in meta["metrics"]
    assert meta["comfyui_prompt"]["4"]["class_type"] == "GhibliVideoStylize"
    assert meta["keyframe_settings"]["cross_frame"] is False
    # a phone's portrait clip (stored landscape, turned by its display matrix), with cross-frame attention on
    clips.write_clip(server.base / "input" / "phone.mp4", clips.moving_frames(12, 96, 64), 8, turn=(90, False, False))
    graph = small(api("ghibli_video"))
    graph["1"]["inputs"]["file"] = "phone.mp4"
    graph["4"]["inputs"].update(cross_frame=True, keyframe_max=4)
    file, _ = saved_animation(server, run(server, graph), "5")
    with av.open(str(server.output / file["subfolder"] / file["filename"])) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (64, 96)
    meta = read_metadata(server.output / file["subfolder"] / file["filename"])
    assert meta["keyframe_settings"]["cross_frame"] is True and len(meta["keyframes"]) >= 3
    assert meta["source"]["size"] == [64, 96]
    # the clip's frames, rate and sound from ComfyUI's Get Video Components instead (taken as they come)
    graph = small(api("ghibli_video"))
    graph["2"] = {"class_type": "GetVideoComponents", "inputs": {"video": ["1", 0]}}
    del graph["4"]["inputs"]["video"]
    graph["4"]["inputs"].update(images=["2", 0], fps=["2", 2], audio=["2", 1])
    file, _ = saved_animation(server, run(server, graph), "5")
    with av.open(str(server.output / file["subfolder"] / file["filename"])) as c:
        assert c.streams.video[0].frames == 12 and float(c.streams.video[0].average_rate) == 8.0 and c.streams.audio


def test_music_and_an_audio_schedule_drive_a_webm(server):
    """Ghibli Music writes a track; Ghibli Audio Schedule turns it into the camera's translation_z keyframes; the saver
    writes a WebM whose Opus sound (48 kHz) lasts exactly as long as the frames, looped from a shorter track."""
    import av

    graph = small(api(), sound=True)
    graph["9"]["inputs"].update(prompt="calm flute and strings", seconds=0.25, seed=3, model="tiny-musicgen")
    del graph["9"]["inputs"]["run"]
    graph["10"] = {"class_type": "GhibliAudioSchedule", "inputs": {"audio": ["9", 0], "feature": "onset", "fps": 8.0,
                                                                    "frames": 3, "scale": 0.05, "offset": 0.01}}
    graph["8"]["inputs"].update(move="static", translation_z=["10", 0])
    graph["6"]["inputs"].update(format="webm")
    entry = run(server, graph)
    file, _ = saved_animation(server, entry, "6")
    path = server.output / file["subfolder"] / file["filename"]
    from ghibli_core.sound import read_sound

    with av.open(str(path)) as c:
        audio = c.streams.audio[0]
        assert audio.codec_context.name == "opus" and audio.rate == 48000 and audio.start_time == 0
    seconds = 6 / 16  # 3 painted frames, doubled by the Frame Blender, at its 16 fps
    assert abs(read_sound(path).seconds - seconds) < 0.021  # to within one Opus packet (20 ms)
    meta = read_metadata(path)
    assert meta["sound"]["generator"] == "tiny-musicgen" and meta["sound"]["fit"] == "loop"  # 0.25 s looped to 0.375 s
    camera = meta["camera"]["settings"]
    assert "translation_z" in camera["explicit_axes"] and "0:(" in camera["translation_z"]
    poses = np.array(meta["camera"]["poses"], dtype=float)
    assert np.ptp(poses, axis=0).max() > 0  # the camera moved, by the sound's onsets


def test_camera_nodes_move_a_still_and_refuse_bad_schedules_at_queue_time(server):
    graph = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 48, "batch_size": 1, "color": 0x5080A0}},
        "2": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 48, "batch_size": 1, "color": 0x808080}},
        "3": {"class_type": "GhibliCamera", "inputs": {"move": "pan-left", "strength": 1.0, "fov": 40.0, "near": 1.0, "far": 10.0,
                                                      "translation_z": "0:(0), 4:(0.05)"}},
        "4": {"class_type": "GhibliCameraMove", "inputs": {"image": ["1", 0], "camera": ["3", 0], "length": 5, "depth": ["2", 0]}},
        "5": {"class_type": "PreviewImage", "inputs": {"images": ["4", 0]}},
    }
    entry = run(server, graph)
    assert len(entry["outputs"]["5"]["images"]) == 5
    for widget, value, words in (("translation_x", "0:(abc", "unbalanced"), ("rotation_y", "__import__('os').system('x')", "not an allowed"),
                                 ("move", "warp", "unknown"), ("fov", 180.0, "bigger than max")):
        bad = json.loads(json.dumps(graph))
        bad["3"]["inputs"][widget] = value
        status, body = server.queue(bad)
        named = {e["extra_info"].get("input_name") for e in body["node_errors"]["3"]["errors"]} if status == 400 else set()
        assert widget in named and words in _errors(body, "3"), (widget, body)
    # the depth from Ghibli Depth Loader alone (no SD pipeline); with no depth source at all, refused at queue time
    loaded = json.loads(json.dumps(graph))
    loaded["6"] = {"class_type": "GhibliDepthLoader", "inputs": {"depth_model": SHIPPED["depth"], "device": "auto", "dtype": "auto"}}
    del loaded["4"]["inputs"]["depth"]
    loaded["4"]["inputs"]["depth_model"] = ["6", 0]
    assert len(run(server, loaded)["outputs"]["5"]["images"]) == 5
    assert any(label.startswith("depth") for label in server.get("/ghibli/models")["held"])
    del loaded["4"]["inputs"]["depth_model"], loaded["6"]
    status, body = server.queue(loaded)
    errors = body["node_errors"]["4"]["errors"] if status == 400 else []
    assert [e["extra_info"]["input_name"] for e in errors] == ["depth"] and "Ghibli Depth Loader" in errors[0]["details"], body
    # the shipped workflows move a camera, and the painter takes it
    assert any(n["class_type"] == "GhibliCamera" for n in api("ghibli_minimal").values())
    assert api("ghibli_animation")["4"]["inputs"]["camera"] == ["8", 0]


def test_a_preset_sets_the_schedule_and_its_values_are_served(server):
    graph = small(api(), preset="fast", steps=99)  # the preset's own steps win over the widget
    graph["1"]["inputs"]["frames"] = 8
    entry = run(server, graph)
    _, data = saved_animation(server, entry, "6")
    with Image.open(io.BytesIO(data)) as im:
        assert im.n_frames == 16  # 8 planned frames, one in-between each
    assert len(entry["outputs"]["7"]["images"]) == 1  # fast paints frames 1 and 5: one img2img frame, one depth map
    from nodes.preset_widgets import preset_table

    table = server.get("/ghibli/presets")
    assert table == json.loads(json.dumps(preset_table())) and table["presets"]["fast"]["cadence"] == 4
    graph["4"]["inputs"]["preset"] = "warp-speed"
    status, body = server.queue(graph)
    assert status == 400 and "preset" in _errors(body, "4") and "balanced" in _errors(body, "4")


def test_loader_is_cached_between_runs_and_unload_models_releases_the_models(server):
    graph = small(api("ghibli_minimal"))
    seeds = iter(range(100, 200))

    def paint() -> list[str]:
        """Run the graph with a new seed; the ids of the nodes ComfyUI took from its cache."""
        graph["3"]["inputs"]["seed"] = next(seeds)
        entry = run(server, graph)
        return next(m[1]["nodes"] for m in entry["status"]["messages"] if m[0] == "execution_cached")

    def released(seconds: float = 12.0) -> dict:
        deadline = time.monotonic() + seconds
        while (held := server.get("/ghibli/models"))["held"] and time.monotonic() < deadline:
            time.sleep(0.1)
        return held

    def free(**flags) -> dict:
        """POST /free; what /ghibli/models says once the queue worker has applied the flags."""
        status, _ = server.request("POST", "/free", flags)
        assert status == 200
        # the queue worker applies /free's flags within 10 s of its last prompt, else after its next one: then
        # the same graph again, all of it cached (it touches no model and keeps the loader in ComfyUI's cache)
        held = released()
        if held["held"]:
            run(server, graph)
            held = released()
        return held

    paint()
    cached = paint()
    assert "2" in cached and "3" not in cached
    held = server.get("/ghibli/models")
    kinds = {label.split(":")[0] for label in held["held"]}
    assert {"depth", "pipelines"} <= kinds <= {"depth", "pipelines", "music"} and held["bytes"] > 0  # music: an earlier test's
    # the canvas' Unload Models: ComfyUI keeps its node cache, the pack's models go, music included (really freed)
    assert free(unload_models=True, free_memory=False) == {"held": [], "bytes": 0, "released_alive": 0}
    assert "2" in paint() and len(server.get("/ghibli/models")["held"]) == 2  # the cached loader's handle loads again
    # Free model and node cache: the loader itself runs again
    assert free(unload_models=True, free_memory=True)["held"] == []
    assert "2" not in paint()


def _errors(body: dict, node: str) -> str:
    return json.dumps(body["node_errors"][node])


def test_one_bad_value_gets_one_message_under_its_input_in_canvas_words(server):
    """One bad value per node, on every node of the pack: one message, under its input, in widget words. Numbers out of
    range are ComfyUI's own check; the nodes' own checks take several inputs at once (schedules, model names, inputs
    checked together), and the pack has ComfyUI list each problem they find once, under the input it concerns."""
    base = small(api())
    del base["7"]  # the depth preview: with it, a graph whose saver fails still runs for that output
    cases = [("1", "frames", 0, "smaller than min"), ("1", "backend", "telepathy", "openai"), ("1", "idea", "  ", "is empty"),
             ("1", "base_url", "localhost:11434", "http(s) URL"), ("4", "sharpen_kernel", 4, "odd"),
             ("6", "filename_prefix", "../../escape/anim", "outside ComfyUI's output folder"),
             ("2", "ckpt_name", "missing-model.safetensors", "models/checkpoints"),
             ("2", "depth_model", "no-such-depth", "models/depth"), ("2", "dtype", "fp8", "bf16"),
             ("3", "lora_name", "missing-style.safetensors", "models/loras"),
             ("4", "guidance", 99.0, "bigger than max"), ("4", "cadence", 0, "smaller than min"),
             ("4", "strength_schedule", "0:(0.5", "unbalanced"), ("4", "seed_schedule", "0:(__import__('os'))", "not an allowed"),
             ("4", "width", 100, "multiple of 8"), ("4", "preset", "warp-speed", "balanced"),
             ("5", "interpolate", -1, "smaller than min"), ("5", "blend", "smudge", "flow"),
             ("6", "fps", 0.0, "smaller than min"), ("6", "filename_prefix", "  ", "is empty"), ("6", "format", "tiff", "webp"),
             ("8", "fov", 0.0, "smaller than min"), ("8", "translation_x", "0:(abc", "unbalanced"), ("8", "move", "warp", "unknown")]
    for target, widget, value, words in cases:
        graph = json.loads(json.dumps(base))
        graph[target]["inputs"][widget] = value
        status, body = server.queue(graph)
        errors = body["node_errors"][target]["errors"] if status == 400 else []
        assert status == 400 and [e["extra_info"]["input_name"] for e in errors] == [widget], (widget, errors)
        assert words in json.dumps(errors) and "--" not in json.dumps(errors), (widget, errors)
        assert "press R" in errors[0]["details"] or "models/" not in words  # a missing model: where to put it
    # checked together: steps x strength, explained in widget words, once
    graph = small(api(), steps=2, strength=0.3)
    del graph["7"]
    status, body = server.queue(graph)
    errors = body["node_errors"]["4"]["errors"]
    assert status == 400 and len(errors) == 1 and errors[0]["extra_info"]["input_name"] in ("steps", "strength"), errors
    assert "runs no denoising step" in errors[0]["details"] and "raise steps or strength" in errors[0]["details"]
    # two problems in one node: two messages, each under its own input
    graph = json.loads(json.dumps(base))
    graph["2"]["inputs"].update(ckpt_name="missing-model.safetensors", controlnet_name="missing-depth-net.safetensors")
    status, body = server.queue(graph)
    errors = body["node_errors"]["2"]["errors"]
    assert sorted(e["extra_info"]["input_name"] for e in errors) == ["ckpt_name", "controlnet_name"], errors
    assert all(e["details"].split(" - ")[0] == e["extra_info"]["input_name"] for e in errors), errors
    # every problem at once, each under its input: a bad size and a bad schedule on the painter, two bad camera schedules
    graph = json.loads(json.dumps(base))
    graph["4"]["inputs"].update(width=500, strength_schedule="x:(1)")
    graph["8"]["inputs"].update(translation_x="0:(abc", rotation_y="1:(2")
    status, body = server.queue(graph)
    assert status == 400
    for node, widgets in (("4", ["strength_schedule", "width"]), ("8", ["rotation_y", "translation_x"])):
        errors = body["node_errors"][node]["errors"]
        assert sorted(e["extra_info"]["input_name"] for e in errors) == widgets, errors
        assert all(e["details"].split(" - ")[0] == e["extra_info"]["input_name"] for e in errors), errors
    assert server.get("/queue")["queue_running"] == []


def test_turbo_paints_with_the_loaders_speed_lora(server):
    """The loader's speed LoRA from models/loras and the painter's turbo preset: the file names the speed LoRA and the
    few-step schedule (lcm, guidance 1); a speed LoRA that is not there is refused when queued, under its input."""
    graph = small(api("ghibli_minimal"))
    graph["2"]["inputs"].update(speed_lora="tiny-lcm.safetensors", speed_lora_strength=0.9)
    graph["3"]["inputs"].update(preset="turbo")
    file, _ = saved_animation(server, run(server, graph), "4")
    meta = read_metadata(server.output / file["subfolder"] / file["filename"])
    assert meta["models"]["speed_lora"] == {"name": "tiny-lcm.safetensors", "weight": 0.9}
    assert meta["preset"] == "turbo" and (meta["settings"]["scheduler"], meta["settings"]["guidance"]) == ("lcm", 1.0)
    graph["2"]["inputs"]["speed_lora"] = "missing-lcm.safetensors"
    status, body = server.queue(graph)
    errors = body["node_errors"]["2"]["errors"] if status == 400 else []
    assert [e["extra_info"]["input_name"] for e in errors] == ["speed_lora"] and "models/loras" in errors[0]["details"], body


def test_the_loader_paints_drafts_with_a_taesd_from_vae_approx(server):
    """The loader offers the TAESD decoders in models/vae_approx; picked, the run paints with it (the held models name
    it beside the checkpoint), and a name that is not there is refused at queue time under tiny_vae."""
    options = server.get("/object_info/GhibliPipelineLoader")["GhibliPipelineLoader"]["input"]["optional"]["tiny_vae"]
    assert "none" in json.dumps(options) and "tiny-taesd_decoder.safetensors" in json.dumps(options)
    graph = small(api("ghibli_minimal"))
    graph["2"]["inputs"]["tiny_vae"] = "tiny-taesd_decoder.safetensors"
    entry = run(server, graph)
    file = entry["outputs"]["4"]["animations"][0]
    meta = read_metadata(server.output / file["subfolder"] / file["filename"])
    assert meta["comfyui_prompt"]["2"]["inputs"]["tiny_vae"] == "tiny-taesd_decoder.safetensors"
    assert any("+ tiny-taesd_decoder.safetensors (" in label for label in server.get("/ghibli/models")["held"])
    graph["2"]["inputs"]["tiny_vae"] = "taesdxl_decoder.safetensors"
    status, body = server.queue(graph)
    assert status == 400, body
    errors = body["node_errors"]["2"]["errors"]
    assert len(errors) == 1 and errors[0]["extra_info"]["input_name"] == "tiny_vae" and "models/vae_approx" in errors[0]["details"]


def test_an_edge_controlnet_holds_the_painting_to_the_frames_outlines(server):
    """Ghibli Edge ControlNet between the LoRA loader and the painter: the run paints under the depth and the edge
    ControlNets (the file names both, with the edge's scale; the LoRA is kept); two kinds chain; another strength
    loads nothing more; a ControlNet that is not there, or a kind that does not exist, is refused when queued, under
    its input."""
    info = server.get("/object_info/GhibliEdgeControl")["GhibliEdgeControl"]["input"]
    assert "tiny-annotators" in json.dumps(info["optional"]["annotators"]) and "lineart_anime" in json.dumps(info["required"]["kind"])
    graph = small(api("ghibli_minimal"))
    graph["6"] = {"class_type": "GhibliLoraLoader", "inputs": {"pipeline": ["2", 0], "lora_name": SHIPPED["lora"], "strength": 0.7}}
    graph["7"] = {"class_type": "GhibliEdgeControl", "inputs": {"pipeline": ["6", 0], "kind": "canny", "strength": 0.4,
                                                                "controlnet_name": "tiny-controlnet-canny [diffusers]"}}
    graph["8"] = {"class_type": "GhibliEdgeControl", "inputs": {"pipeline": ["7", 0], "kind": "softedge", "strength": 0.3,
                                                                "controlnet_name": "tiny-controlnet-canny [diffusers]",
                                                                "annotators": "tiny-annotators"}}
    graph["3"]["inputs"]["pipeline"] = ["8", 0]
    file, _ = saved_animation(server, run(server, graph), "4")
    models = read_metadata(server.output / file["subfolder"] / file["filename"])["models"]
    assert [(c["kind"], c["scale"]) for c in models["controls"]] == [("canny", 0.4), ("softedge", 0.3)]
    assert models["loras"] == [{"name": SHIPPED["lora"], "weight": 0.7}]
    held = server.get("/ghibli/models")["held"]
    graph["7"]["inputs"]["strength"] = 0.9  # a new strength paints with the weights already held
    file, _ = saved_animation(server, run(server, graph), "4")
    models = read_metadata(server.output / file["subfolder"] / file["filename"])["models"]
    assert [c["scale"] for c in models["controls"]] == [0.9, 0.3] and server.get("/ghibli/models")["held"] == held
    graph["7"]["inputs"].update(controlnet_name="control_v11p_sd15_canny.safetensors", kind="sobel")
    status, body = server.queue(graph)
    assert status == 400, body
    errors = {e["extra_info"]["input_name"]: e["details"] for e in body["node_errors"]["7"]["errors"]}
    assert set(errors) == {"controlnet_name", "kind"} and "models/controlnet" in errors["controlnet_name"], errors


def test_a_loader_given_other_models_lets_the_set_it_gave_before_go(server):
    """Trying one model setting after another on the same loader node holds one model set, not one per try."""
    def sets() -> list[str]:
        return [label for label in server.get("/ghibli/models")["held"] if label.startswith("pipelines:")]

    graph = small(api("ghibli_minimal"))
    graph["2"]["inputs"]["vae_tiling"] = True  # a setting no other test loads, so no other node gives this set
    run(server, graph)
    first = sets()
    graph["2"]["inputs"]["tiny_vae"] = "tiny-taesd_decoder.safetensors"  # another set, from the same node
    run(server, graph)
    after = sets()
    assert len(after) == len(first), (first, after)  # the new set in, the one the node gave before out
    assert sum("tiny-taesd" in label for label in after) == sum("tiny-taesd" in label for label in first) + 1


def test_bad_graphs_get_http_400_with_node_errors(server):
    # an unknown combo value (ComfyUI does not check V3 combos; the node does)
    graph = small(api("ghibli_minimal"))
    graph["3"]["inputs"]["scheduler"] = "warp-drive"
    status, body = server.queue(graph)
    assert status == 400 and "scheduler" in _errors(body, "3") and "dpm++" in _errors(body, "3")
    # a model that is not installed names the folder to put it in
    graph = small(api("ghibli_minimal"))
    graph["2"]["inputs"]["ckpt_name"] = "missing-model.safetensors"
    status, body = server.queue(graph)
    assert status == 400 and "missing-model.safetensors" in _errors(body, "2") and "models/checkpoints" in _errors(body, "2")
    # a size the engine refuses, before any model loads
    graph = small(api("ghibli_minimal"), width=100)
    status, body = server.queue(graph)
    assert status == 400 and "multiple of 8" in _errors(body, "3")
    # a missing link target and a missing required input: ComfyUI's own checks
    graph = small(api("ghibli_minimal"))
    del graph["3"]["inputs"]["plan"]
    status, body = server.queue(graph)
    assert status == 400 and "3" in body["node_errors"]
    # nothing was run for any of them
    assert server.get("/queue")["queue_running"] == []


def test_interrupt_mid_run_keeps_the_server_alive_and_writes_nothing(server):
    before = sorted(server.output.rglob("*"))
    graph = api("ghibli_minimal")
    graph["1"]["inputs"]["frames"] = 40
    graph["3"]["inputs"].update(width=128, height=128, preset="custom", steps=30, cadence=1, seed=5)
    graph["4"]["inputs"]["filename_prefix"] = "ghibli/interrupted"
    client = ComfyClient(server.url)
    ws = client.connect(timeout=120)
    try:
        status, body = server.queue(graph, client.client_id)
        assert status == 200
        prompt_id = body["prompt_id"]
        # wait on the websocket until the painter has reported a few denoising steps: it is inside the painting loop
        steps = 0
        while steps < 3:
            message = ws.recv()
            if isinstance(message, str):
                event = json.loads(message)
                steps += event["type"] == "progress" and event["data"].get("node") == "3"
    finally:
        ws.close()
    assert server.request("POST", "/interrupt", {})[0] == 200
    entry = server.wait_history(prompt_id, timeout=120)
    kinds = [m[0] for m in entry["status"]["messages"]]
    assert "execution_interrupted" in kinds, kinds
    assert server.alive() and server.get("/system_stats")
    assert not list(server.output.rglob("interrupted*")) and sorted(server.output.rglob("*")) == before
    assert not [p for p in server.output.rglob("*") if ".tmp" in p.name]
    run(server, small(api("ghibli_minimal")))  # and it still works


def test_headless_client_renders_through_the_websocket(server, tmp_path):
    out = tmp_path / "catbus.webp"
    proc = subprocess.run(
        [sys.executable, "-m", "ghibli_core.cli", "comfy", "--server", server.url, "a cat bus in the rain", "--frames", "3",
         "--size", "64x64", "--steps", "4", "--seed", "3", "-o", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    # per-step progress from the websocket: --steps 4 switches to the custom preset; the workflow's cadence 2 paints
    # frames 1 and 3: 4 txt2img steps + int(4 x 0.45) = 1 img2img step
    assert "Sequential Img2Img with Depth ControlNet: 5/5" in proc.stderr
    with Image.open(out) as im:
        assert im.format == "WEBP" and im.n_frames == 6
    assert f"wrote {out}" in proc.stdout
    # a server without the pack's nodes, or a refused graph, is a clear error and no file
    bad = tmp_path / "bad.gif"
    proc = subprocess.run([sys.executable, "-m", "ghibli_core.cli", "comfy", "--server", server.url, "x", "--size", "100x64", "-o", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "multiple of 8" in proc.stderr and not bad.exists()
    proc = subprocess.run([sys.executable, "-m", "ghibli_core.cli", "comfy", "--server", "http://127.0.0.1:9", "x", "-o", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no ComfyUI answers" in proc.stderr and not bad.exists()


def test_step_previews_use_comfyuis_own_previewer(server, tiny, tmp_path):
    """With --preview-method taesd and a TAESD decoder in models/vae_approx, every denoising step sends a preview
    (decoded by ComfyUI's previewer from the step's latents) besides each painted frame; by default only the frames."""
    import uuid

    import websocket

    from comfy_server import write_models_dir, write_taesd_decoder

    def previews(srv: ComfyServer) -> list[tuple[int, int]]:
        client = uuid.uuid4().hex
        ws = websocket.create_connection(f"ws://127.0.0.1:{srv.port}/ws?clientId={client}", timeout=300)
        try:
            graph = small(api("ghibli_minimal"), steps=4, strength=0.5)
            status, body = srv.queue(graph, client_id=client)
            assert status == 200, body
            sizes = []
            while True:
                message = ws.recv()
                if isinstance(message, bytes):
                    if int.from_bytes(message[:4], "big") in (1, 4):  # PREVIEW_IMAGE (with metadata from 0.3.4x on)
                        start = message.find(b"\xff\xd8")
                        with Image.open(io.BytesIO(message[start:])) as im:
                            sizes.append(im.size)
                    continue
                event = json.loads(message)
                if event["type"] == "executing" and event["data"].get("node") is None and event["data"].get("prompt_id") == body["prompt_id"]:
                    return sizes
                if event["type"] == "execution_error":
                    pytest.fail(json.dumps(event["data"])[:2000])
        finally:
            ws.close()

    frames_only = previews(server)
    # 3 planned frames at cadence 1: 4 txt2img steps + 2 x int(4 x 0.5) img2img steps, and the 3 painted frames
    assert frames_only == [(64, 64)] * 3  # frames at their own size (not scaled up to 512)
    root = tmp_path / "taesd"
    root.mkdir()
    write_models_dir(tiny, root)
    write_taesd_decoder(server.comfy, root / "models" / "vae_approx" / "taesd_decoder.safetensors")
    taesd = ComfyServer(server.comfy, root, tiny, extra_args=("--preview-method", "taesd")).start()
    try:
        stepped = previews(taesd)
        assert "could not find models/vae_approx" not in taesd.log_text()
    finally:
        taesd.stop()
    assert len(stepped) == 4 + 2 * 2 + 3, stepped


def test_comfy_cli_runs_the_shipped_api_workflow(server, tmp_path):
    """`comfy run --workflow` on workflows/api/ghibli_animation.json exactly as shipped (512x512, 8 frames)."""
    comfy = shutil.which("comfy", path=str(Path(sys.executable).parent))
    assert comfy, "comfy-cli is not installed (make comfyui installs it)"
    home = tmp_path / "home"
    home.mkdir()
    before = set(server.output.rglob("*.mp4"))
    proc = subprocess.run(
        [comfy, "--skip-prompt", "--no-enable-telemetry", "run", "--workflow", str(API["ghibli_animation"]), "--host", "127.0.0.1",
         "--port", str(server.port), "--wait", "--timeout", "600"],
        capture_output=True, text=True, timeout=900, env={**os.environ, "HOME": str(home)}, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    new = set(server.output.rglob("*.mp4")) - before
    assert len(new) == 1
    import av

    with av.open(str(new.pop())) as c:
        video = c.streams.video[0]
        assert video.frames == 16 and (video.width, video.height) == (512, 512) and c.streams.audio  # with its music


@pytest.mark.parametrize("front_end", ["newest", "bundled"])
def test_ui_workflow_loads_in_the_real_front_end(server, browser, tiny, tmp_path, front_end):
    """Headless Chromium loads each canvas workflow into the real front end (the newest, and the one ComfyUI 0.3.75
    bundles): no missing node types; the preset script fills the widgets; a run from the canvas shows its preview."""
    srv = server
    if front_end == "bundled":
        srv = ComfyServer(server.comfy, tmp_path / "bundled", tiny).start()
    try:
        _canvas_checks(srv, browser, front_end)
    finally:
        if srv is not server:
            srv.stop()


def _canvas_checks(server: ComfyServer, driver, front_end: str) -> None:
    open_canvas(driver, server)
    artifacts = artifacts_dir()
    for name, path in UI.items():
        workflow = json.loads(path.read_text())
        result = driver.execute_async_script(
            """
            const [wf, done] = arguments;
            (async () => {
              await window.app.loadGraphData(wf, true, true, 'test');
              await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));  // drawn once
              const nodes = window.app.graph._nodes || window.app.graph.nodes;
              const missing = nodes.filter(n => !window.LiteGraph.registered_node_types[n.type]).map(n => n.type);
              const dialogs = [...document.querySelectorAll('.p-dialog')].map(d => d.innerText).filter(t => /missing/i.test(t));
              // every widget's label and value fit side by side at the node's width (the front end cuts the label
              // first when they do not: its drawTruncatingText, with the widgets' own margins)
              const ctx = document.createElement("canvas").getContext("2d");
              ctx.font = `${window.LiteGraph.NODE_SUBTEXT_SIZE}px ${window.LiteGraph.NODE_FONT || "Arial"}`;
              const cut = [];
              for (const node of nodes) {
                for (const w of node.widgets || []) {
                  const value = w._displayValue;  // drawn widgets only (the newest front end); DOM widgets draw themselves
                  if (typeof value !== "string" || w.element) continue;
                  const margin = w.constructor.margin ?? 15, gap = w.constructor.labelValueGap ?? 5;
                  const room = node.size[0] - (margin * 2 + 5) - 2 * margin - 20;
                  const need = ctx.measureText(w.label || w.name).width + gap + ctx.measureText(value).width;
                  if (need > room) cut.push([node.type, w.name, Math.round(need), Math.round(room)]);
                }
              }
              done({count: nodes.length, types: nodes.map(n => n.type), missing, dialogs, cut,
                    widgets: nodes.map(n => [n.type, (n.widgets || []).length])});
            })().catch(e => done({error: String(e)}));
            """,
            workflow,
        )
        assert "error" not in result, result
        assert result["missing"] == [] and not [d for d in result["dialogs"] if "node" in d.lower()], result
        assert result["cut"] == [], f"{name}: widget labels cut at the node's width (node, widget, needs, has): {result['cut']}"
        assert sorted(result["types"]) == sorted(n["type"] for n in workflow["nodes"])
        driver.execute_script(  # close the first-run dialogs and frame the graph for the screenshot
            "document.querySelectorAll('.p-dialog-mask').forEach(d => d.remove());"
            "const c = window.app.canvas; c.ds.scale = 0.7; c.ds.offset = [110, 140]; c.setDirty(true, true);")
        driver.execute_async_script("const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(done));")  # drawn
        shot = artifacts / f"{name}-{front_end}.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
    _preset_widgets_follow_the_preset(driver)
    _run_from_the_canvas(server, driver, artifacts, front_end)


def _preset_widgets_follow_the_preset(driver) -> None:
    """The pack's canvas script: picking a preset fills in its widgets; editing one of them switches to custom."""
    from ghibli_core.presets import PRESETS

    result = driver.execute_async_script(
        """
        const done = arguments[0];
        (async () => {
          const node = window.LiteGraph.createNode("GhibliSequentialImg2Img");
          const w = name => node.widgets.find(x => x.name === name);
          const plain = w("preset").callback;
          window.app.graph.add(node);
          // the script fetches /ghibli/presets, then hooks the widgets: poll for the hook
          for (let i = 0; i < 200 && w("preset").callback === plain; i++) await new Promise(r => setTimeout(r, 50));
          const pick = (name, value) => { w(name).value = value; w(name).callback(value); };
          pick("preset", "fast");
          const fast = Object.fromEntries(["steps", "strength", "scheduler", "controlnet_scale", "cadence", "cache_interval",
                                           "controlnet_end", "cfg_end"].map(k => [k, w(k).value]));
          const stillFast = w("preset").value;
          pick("steps", 7);
          const afterEdit = w("preset").value;
          pick("strength", 0.1);  // 7 x 0.1 < 1: explained on the node before anything is queued
          const warned = [...(node.ghibliWarnings || [])];
          pick("steps", 20);
          const cleared = [...(node.ghibliWarnings || [])];
          pick("preset", "turbo");
          const turbo = [w("scheduler").value, w("guidance").value];
          pick("preset", "balanced");  // turbo's guidance 1 does not stay behind under a preset that leaves it alone
          done({fast, stillFast, afterEdit, warned, cleared, turbo, guidanceAfter: w("guidance").value});
          window.app.graph.remove(node);
        })().catch(e => done({error: String(e)}));
        """
    )
    assert "error" not in result, result
    fast = PRESETS["fast"]
    assert result["fast"] == {k: v for k, v in fast.values().items() if k != "interpolate"} and result["stillFast"] == "fast"
    assert result["afterEdit"] == "custom"
    assert len(result["warned"]) == 1 and "raise steps or strength" in result["warned"][0] and result["cleared"] == []
    assert result["turbo"] == ["lcm", 1.0] and result["guidanceAfter"] == 7.5, result


def _run_from_the_canvas(server: ComfyServer, driver, artifacts: Path, front_end: str) -> None:
    """Press Run on the minimal workflow (at a tiny size): the saved GIF embeds the canvas workflow."""
    workflow = json.loads(UI["ghibli_minimal"].read_text())
    for node in workflow["nodes"]:
        if node["type"] == "GhibliSequentialImg2Img":
            node["widgets_values"][:4] = ["custom", 64, 64, 4]
        if node["type"] == "GhibliFramePlanner":
            node["widgets_values"][1] = 3
        if node["type"] == "GhibliSaveAnimation":
            node["widgets_values"][0] = "ghibli/from-canvas"
    before = set(server.get("/history"))
    driver.execute_async_script(
        "const [wf, done] = arguments;"
        "window.app.loadGraphData(wf, true, true, 'run').then(() => window.app.queuePrompt(0, 1)).then(() => done(true))"
        ".catch(e => done(String(e)));",
        workflow,
    )
    entry = queued_from_the_canvas(server, before)
    gif = server.output / "ghibli" / entry["outputs"]["4"]["animations"][0]["filename"]
    assert {n["type"] for n in read_metadata(gif)["workflow"]["nodes"]} == {n["type"] for n in workflow["nodes"]}
    # the saver's animated preview has loaded (polled: its image on the node, or a media element on the page)
    shown = driver.execute_async_script(
        """
        const done = arguments[0];
        (async () => {
          const ready = () => (window.app.graph._nodes || window.app.graph.nodes).some(n => n.type === "GhibliSaveAnimation"
            && ((n.imgs || []).some(i => i.complete && i.naturalWidth) || n.videoContainer))
            || [...document.querySelectorAll("img, video")].some(e => /ghibli/.test(e.src || ""));
          for (let i = 0; i < 200 && !ready(); i++) await new Promise(r => setTimeout(r, 50));
          window.app.canvas.setDirty(true, true);
          requestAnimationFrame(() => requestAnimationFrame(() => done(ready())));
        })();
        """
    )
    driver.save_screenshot(str(artifacts / f"ghibli_minimal_after_run-{front_end}.png"))
    assert shown, f"the saver's animated preview did not load in the {front_end} front end"


def test_disable_metadata_writes_no_workflow_or_plan(server, tiny, tmp_path):
    """ComfyUI started with --disable-metadata: the animation carries nothing but its frames."""
    other = ComfyServer(server.comfy, tmp_path, tiny, extra_args=("--disable-metadata",)).start()
    try:
        entry = run(other, small(api("ghibli_minimal")))
        gif = other.output / "ghibli" / entry["outputs"]["4"]["animations"][0]["filename"]
        with Image.open(gif) as im:
            assert im.n_frames == 3 and "comment" not in im.info
        assert read_metadata(gif) is None and not gif.with_suffix(".json").exists()
    finally:
        other.stop()


def test_plans_carry_camera_moves_and_schedules_reach_the_painter(server):
    """Plan From Text lines ending in `| MOVE` drive the camera (no Camera node); per-frame schedule widgets paint; a bad
    schedule is refused at queue time under its widget's name."""
    graph = {
        "1": {"class_type": "GhibliPipelineLoader", "inputs": {**api()["2"]["inputs"]}},
        "2": {"class_type": "GhibliPlanFromText", "inputs": {"prompts": "a hill at dawn | push-in:0.5\na hill at noon | pull-back:0.5\n"
                                                                         "a hill at dusk", "idea": "a hill"}},
        "3": {"class_type": "GhibliSequentialImg2Img", "inputs": {
            "pipeline": ["1", 0], "plan": ["2", 0], "preset": "custom", "width": 64, "height": 64, "steps": 4, "strength": 0.5,
            "guidance": 7.5, "controlnet_scale": 0.8, "seed": 1, "seed_policy": "fixed", "scheduler": "default",
            "negative_prompt": "", "color_match": 0.5, "color_mode": "meanstd", "cadence": 1, "loop": True,
            "prompt_travel": True, "strength_schedule": "0:(0.5), 2:(0.75)", "seed_schedule": "3+t", "sharpen": "auto", "noise": "0.02",
            "cache_interval": 2, "controlnet_end": 0.5, "cfg_end": 0.5}},
        "4": {"class_type": "GhibliSaveAnimation", "inputs": {"images": ["3", 0], "plan": ["2", 0], "filename_prefix": "ghibli/plan",
                                                             "fps": 8.0, "format": "gif", "dither": False}},
    }
    assert api()["2"]["class_type"] == "GhibliPipelineLoader"
    entry = run(server, graph)
    _, data = saved_animation(server, entry, "4")
    with Image.open(io.BytesIO(data)) as im:
        meta = json.loads(im.info["comment"])
    assert meta["plan_camera"] == ["push-in:0.5", "pull-back:0.5", "static"]
    for node, widget, value, words in (("3", "strength_schedule", "0:(0.5), 2:(1.5)", "out of range"),
                                       ("3", "seed_schedule", "__import__('os')", "not an allowed"), ("3", "sharpen", "lots", "sharpen"),
                                       ("2", "prompts", "# only a comment\n\n", "one frame prompt per line"), ("2", "prompts", "a hill | warp-drive", "warp-drive")):
        bad = json.loads(json.dumps(graph))
        bad[node]["inputs"][widget] = value
        status, body = server.queue(bad)
        errors = body["node_errors"][node]["errors"] if status == 400 else []
        assert [e["extra_info"]["input_name"] for e in errors] == [widget] and words in errors[0]["details"], (widget, body)


def build_graph(browser, body: str, *args):
    """Run `body` (JavaScript, awaited) in the canvas on a cleared graph; `add(type, pos, widgetValues)` adds a node,
    `show(scale, offset)` frames the canvas for a screenshot, `args` holds the arguments and `done(value)` answers."""
    return browser.execute_async_script(
        """
        const args = [...arguments], done = args.pop();
        (async () => {
          const app = window.app;
          app.graph.clear();
          const add = (type, pos, values = {}) => {
            const node = window.LiteGraph.createNode(type);
            node.pos = pos;
            app.graph.add(node);
            Object.entries(values).forEach(([k, v]) => node.widgets.find(x => x.name === k).value = v);
            return node;
          };
          const show = async (scale, offset) => {
            app.canvas.ds.scale = scale; app.canvas.ds.offset = offset; app.canvas.setDirty(true, true);
            await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
          };
"""
        + body
        + """
        })().catch(e => done({error: String(e)}));
        """,
        *args,
    )


SAVER_FORMATS = {"gif": "image/gif", "webp": "image/webp", "apng": "image/png", "mp4": "video/mp4", "webm": "video/webm"}


def test_dropped_outputs_bring_their_workflow_back_in_the_newest_front_end(server, browser):
    """Run EmptyImage -> saver from the canvas in every format; drop each saved file (a GIF's .json beside it) through the
    front end's own file handling: the graph that comes back is the one that made it, and the file holds the API prompt."""
    offered = server.get("/object_info/GhibliSaveAnimation")["GhibliSaveAnimation"]["input"]["required"]["format"]
    options = set(offered[1]["options"] if offered[0] == "COMBO" else offered[0])
    assert options == set(SAVER_FORMATS) == set(SAVER_FORMAT_BY_EXT.values())  # a new format gets tested here
    open_canvas(browser, server)
    artifacts = artifacts_dir()
    for fmt, mime in SAVER_FORMATS.items():
        before = set(server.get("/history"))
        original = build_graph(browser, """
              const [fmt] = args;
              const image = add("EmptyImage", [60, 120], {width: 64, height: 48, batch_size: 3, color: 0x4a7f3c});
              const save = add("GhibliSaveAnimation", [420, 120], {format: fmt, filename_prefix: "ghibli/drop-" + fmt});
              image.connect(0, save, 0);
              const original = app.graph.serialize();
              await app.queuePrompt(0, 1);
              done(original);
            """, fmt)
        assert "error" not in original, original
        deadline = time.monotonic() + 120
        new = []
        while time.monotonic() < deadline and not new:
            new = [k for k in server.get("/history") if k not in before]
            time.sleep(0.2)
        assert new, f"{fmt}: the canvas did not queue the graph"
        entry = server.wait_history(new[0])
        assert entry["status"]["status_str"] == "success", entry["status"]
        saver_id = next(k for k, v in entry["prompt"][2].items() if v["class_type"] == "GhibliSaveAnimation")
        file = entry["outputs"][saver_id]["animations"][0]
        shown = _saver_preview(browser, file["filename"])
        # the saved file is the preview, as ComfyUI's own savers do (a video as video); a GIF gets an animated WebP copy
        assert [x for x in shown if file["filename"] in x] if fmt != "gif" else [x for x in shown if "ghibli-preview" in x], (fmt, shown)
        assert entry["outputs"][saver_id]["images"][0] == file or fmt == "gif", entry["outputs"][saver_id]
        name = file["filename"] if fmt != "gif" else file["filename"].rsplit(".", 1)[0] + ".json"
        restored = browser.execute_async_script(
            """
            const [name, subfolder, mime, done] = arguments;
            (async () => {
              const app = window.app;
              const url = `/view?filename=${encodeURIComponent(name)}&subfolder=${encodeURIComponent(subfolder)}&type=output`;
              const blob = await (await fetch(url)).blob();
              const file = new File([blob], name, {type: mime});
              const found = await window.comfyAPI.parser.getWorkflowDataFromFile(file);
              app.graph.clear();
              await app.handleFile(file);  // what a drop on the canvas calls
              await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
              done({graph: app.graph.serialize(), found});
            })().catch(e => done({error: String(e)}));
            """,
            name, file["subfolder"], "application/json" if fmt == "gif" else mime,
        )
        assert "error" not in restored, restored
        _same_graph(restored["graph"], original, fmt)
        found = {k: json.loads(v) if isinstance(v, str) else v for k, v in restored["found"].items() if k in ("workflow", "prompt")}
        _same_graph(found["workflow"], original, fmt)
        if fmt != "gif":  # the API prompt the server ran comes back too
            assert found["prompt"] == entry["prompt"][2], fmt
        clear_dialogs(browser)
        browser.execute_script("const c = window.app.canvas; c.ds.scale = 1.2; c.ds.offset = [40, 40]; c.setDirty(true, true);")
        browser.save_screenshot(str(artifacts / f"drop-restore-{fmt}.png"))


def test_saved_files_carry_the_queued_workflow_and_prompt_where_the_front_end_reads_them(server):
    """Through the API, as a script would: EmptyImage -> saver with `extra_pnginfo.workflow`, for every format the
    saver offers but gif, one frame and several; the file the history names (`images`, as ComfyUI's own savers) read
    the way the newest front end reads a dropped file gives back both the workflow and the API prompt."""
    from frontend_readers import workflow_and_prompt

    offered = server.get("/object_info/GhibliSaveAnimation")["GhibliSaveAnimation"]["input"]["required"]["format"]
    formats = [f for f in (offered[1]["options"] if offered[0] == "COMBO" else offered[0]) if f != "gif"]
    workflow = {"nodes": [{"id": 1, "type": "EmptyImage"}, {"id": 2, "type": "GhibliSaveAnimation"}], "links": [],
                "version": 0.4, "extra": {"note": "Totoro \u2602 t\u00e9a"}}
    for fmt in formats:
        for batch in (1, 3):
            prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 48, "batch_size": batch, "color": 0x3060A0}},
                      "2": {"class_type": "GhibliSaveAnimation",  # dither (GIF only) left out
                            "inputs": {"images": ["1", 0], "filename_prefix": f"api/{fmt}", "fps": 8.0, "format": fmt}}}
            status, body = server.request("POST", "/prompt", {"prompt": prompt, "extra_data": {"extra_pnginfo": {"workflow": workflow}}})
            assert status == 200, body
            entry = server.wait_history(json.loads(body)["prompt_id"])
            file = entry["outputs"]["2"]["images"][0]
            assert file["type"] == "output" and file["filename"].endswith("." + {"apng": "png"}.get(fmt, fmt)), file
            status, data = server.request("GET", "/view?" + urllib.parse.urlencode({k: file[k] for k in ("filename", "subfolder", "type")}))
            assert status == 200 and workflow_and_prompt(data, Path(file["filename"]).suffix) == (workflow, prompt), (fmt, batch)


def _saver_preview(browser, filename: str) -> list[str]:
    """The sources of the saver's loaded preview in the canvas: its images, or the videos on the page (polled)."""
    return browser.execute_async_script(
        """
        const [filename, done] = arguments;
        (async () => {
          const shown = () => {
            const saver = (window.app.graph._nodes || window.app.graph.nodes).find(n => n.type === "GhibliSaveAnimation");
            const imgs = ((saver && saver.imgs) || []).filter(i => i.complete && i.naturalWidth).map(i => i.src);
            const videos = [...document.querySelectorAll("video")].filter(v => v.readyState >= 1).map(v => v.currentSrc || v.src);
            return [...imgs, ...videos].map(decodeURIComponent);
          };
          for (let i = 0; i < 200 && !shown().length; i++) await new Promise(r => setTimeout(r, 50));
          done(shown());
        })().catch(e => done([String(e)]));
        """,
        filename,
    )


def test_planner_warnings_reach_the_canvas(server, browser):
    """The hf planner offline (the test server runs with HF_HUB_OFFLINE=1; fallback on) plans with the offline rules:
    the canvas shows why, on the node."""
    open_canvas(browser, server)
    result = build_graph(browser, """
          const planner = add("GhibliFramePlanner", [40, 80], {idea: "a kite over the sea", frames: 3, backend: "hf", fallback: true});
          const image = add("EmptyImage", [40, 520], {width: 64, height: 64, batch_size: 2});
          const save = add("GhibliSaveAnimation", [480, 200], {filename_prefix: "ghibli/warned"});
          image.connect(0, save, 0);
          planner.connect(0, save, "plan");
          await app.queuePrompt(0, 1);
          for (let i = 0; i < 600 && !(planner.ghibliWarnings || []).length; i++) await new Promise(r => setTimeout(r, 100));
          await show(1, [20, 20]);
          // the notification: any page text holding the warning (the node itself is drawn on the canvas, not in the page;
          // the toast's markup differs between front ends: PrimeVue's p-toast, later Reka's)
          const toastTexts = () => [...document.querySelectorAll("body *")]
            .filter(e => !e.children.length && /offline plan/.test(e.textContent)).map(e => e.textContent);
          for (let i = 0; i < 50 && !toastTexts().some(t => /offline plan/.test(t)); i++) await new Promise(r => setTimeout(r, 100));
          const toasts = toastTexts();
          const inside = planner.size[1] >= planner.computeSize()[1] + planner.ghibliWarningHeight && planner.ghibliWarningHeight > 0;
          // switching tabs or reopening the workflow: the node is made again from the saved graph, its warning kept
          const saved = app.graph.serialize();
          app.graph.clear();
          await app.loadGraphData(saved, true, true, "reopened");
          const again = (app.graph._nodes || app.graph.nodes).find(n => n.type === "GhibliFramePlanner");
          done({warnings: planner.ghibliWarnings || [], toasts, inside, kept: again.ghibliWarnings || [],
                grown: again.size[1] >= again.computeSize()[1] + again.ghibliWarningHeight});
        """)
    assert "error" not in result, result
    warnings = result["warnings"]
    assert len(warnings) == 1 and "used the offline plan" in warnings[0], result
    assert result["inside"] and result["kept"] == warnings and result["grown"], result  # drawn inside the grown node
    assert any("used the offline plan" in t for t in result["toasts"]), result  # and in the notification area
    clear_dialogs(browser)
    browser.save_screenshot(str(artifacts_dir() / "planner-warning.png"))


def test_the_savers_preview_shows_only_the_latest_runs_kind(server, browser):
    """WebM then GIF, APNG then MP4, from the canvas of the newest front end: after each run the saver shows that run's
    kind only (no stale video player above an image, no stale image above a video)."""
    open_canvas(browser, server)
    for first, second in (("webm", "gif"), ("apng", "mp4")):
        shown = build_graph(browser, """
              const [first, second] = args;
              const image = add("EmptyImage", [40, 80], {width: 64, height: 48, batch_size: 2, color: 0x3a6f9c});
              const save = add("GhibliSaveAnimation", [420, 80], {format: first, filename_prefix: "ghibli/kind"});
              image.connect(0, save, 0);
              const videos = () => [...document.querySelectorAll("video")].filter(v => v.isConnected && v.offsetParent !== null);
              const images = () => (save.imgs || []).filter(i => i.complete && i.naturalWidth);
              const state = () => ({videos: videos().length, images: images().length});
              const wait = async (ok) => {  // the canvas loads a node's preview images when it draws the node
                for (let i = 0; i < 300 && !ok(); i++) { app.canvas.setDirty(true, true); await new Promise(r => setTimeout(r, 100)); }
              };
              const video = f => f === "mp4" || f === "webm";
              await app.queuePrompt(0, 1);
              await wait(() => video(first) ? videos().length : images().length);
              const after1 = state();
              save.widgets.find(w => w.name === "format").value = second;
              image.widgets.find(w => w.name === "color").value = 0x9c6f3a;  // a new run, not ComfyUI's cached one
              await app.queuePrompt(0, 1);
              await wait(() => video(second) ? videos().length && !images().length : images().length && !videos().length);
              await show(1, [20, 20]);
              done({after1, after2: state()});
            """, first, second)
        assert "error" not in shown, shown
        video = {"mp4", "webm"}
        after2 = shown["after2"]
        assert (after2["videos"] > 0) == (second in video) and (after2["images"] > 0) == (second not in video), (first, second, shown)
        browser.save_screenshot(str(artifacts_dir() / f"saver-preview-{first}-then-{second}.png"))


def test_a_bad_value_queued_from_the_canvas_is_marked_once_under_its_input(server, browser):
    """Queued from the newest front end with a malformed schedule on the camera (a node that checks ten inputs at once):
    the front end gets one error for the node, under that input, in widget words."""
    open_canvas(browser, server)
    result = build_graph(browser, """
          const image = add("EmptyImage", [40, 80], {width: 64, height: 48, batch_size: 1});
          const camera = add("GhibliCamera", [40, 320], {translation_x: "0:(0), 4:(1"});
          const move = add("GhibliCameraMove", [460, 80]);
          image.connect(0, move, "image"); image.connect(0, move, "depth"); camera.connect(0, move, "camera");
          move.connect(0, add("PreviewImage", [820, 80]), 0);
          await app.queuePrompt(0, 1);
          const errors = () => (app.lastNodeErrors || {})[String(camera.id)];
          for (let i = 0; i < 100 && !errors(); i++) await new Promise(r => setTimeout(r, 50));
          await show(0.9, [20, 20]);
          done({camera: errors() || null, all: Object.keys(app.lastNodeErrors || {})});
        """)
    assert "error" not in result and result["camera"], result
    errors = result["camera"]["errors"]
    assert [e["extra_info"]["input_name"] for e in errors] == ["translation_x"], errors
    assert "unbalanced" in errors[0]["details"] and "--" not in errors[0]["details"] and result["all"] == [result["all"][0]]
    browser.save_screenshot(str(artifacts_dir() / "bad-value-once-under-its-input.png"))
    clear_dialogs(browser)


def _same_graph(got: dict, want: dict, label: str) -> None:
    def shape(graph):
        return ({n["id"]: (n["type"], n.get("widgets_values"), [i["link"] for i in n.get("inputs") or [] if i.get("link") is not None])
                 for n in graph["nodes"]},
                sorted(map(tuple, (link[:6] for link in graph["links"]))))

    assert shape(got) == shape(want), label


def test_the_music_workflow_plays_with_sound_in_the_canvas_and_restores_on_drop(server, browser):
    """The shipped LLM workflow, queued from the canvas of the newest front end (at a tiny size): the saver's preview is
    the MP4, which the browser plays with an audio track (the music); dropping the file brings the workflow back, music
    node and all."""
    open_canvas(browser, server)
    workflow = json.loads(UI["ghibli_animation"].read_text())
    before = set(server.get("/history"))
    queued = browser.execute_async_script(
        """
        const [wf, done] = arguments;
        (async () => {
          const app = window.app;
          await app.loadGraphData(wf, true, true, 'music');
          const nodes = app.graph._nodes || app.graph.nodes;
          const set = (type, values) => nodes.filter(n => n.type === type).forEach(n =>
            Object.entries(values).forEach(([k, v]) => { const w = n.widgets.find(x => x.name === k); if (w) w.value = v; }));
          set("GhibliSequentialImg2Img", {preset: "custom", width: 64, height: 64, steps: 4, cadence: 1});
          set("GhibliFramePlanner", {frames: 3});
          set("GhibliSaveAnimation", {filename_prefix: "ghibli/music-canvas"});
          const original = app.graph.serialize();
          await app.queuePrompt(0, 1);
          done(original);
        })().catch(e => done({error: String(e)}));
        """,
        workflow,
    )
    assert "error" not in queued, queued
    entry = queued_from_the_canvas(server, before)
    file = entry["outputs"]["6"]["animations"][0]
    assert file["filename"].endswith(".mp4")
    played = browser.execute_async_script(
        """
        const [name, done] = arguments;
        (async () => {
          let video = null;
          for (let i = 0; i < 400 && !video; i++) {
            video = [...document.querySelectorAll("video")].find(v => decodeURIComponent(v.currentSrc || v.src).includes(name));
            if (!video) await new Promise(r => setTimeout(r, 50));
          }
          if (!video) return done({error: "no video preview"});
          for (let i = 0; i < 200 && video.readyState < 1; i++) await new Promise(r => setTimeout(r, 50));
          video.muted = true;
          await video.play().catch(() => null);
          const tracks = video.captureStream().getAudioTracks().length;
          for (let i = 0; i < 100 && !(video.webkitAudioDecodedByteCount > 0); i++) await new Promise(r => setTimeout(r, 50));
          done({tracks, decoded: video.webkitAudioDecodedByteCount, duration: video.duration});
        })().catch(e => done({error: String(e)}));
        """,
        file["filename"],
    )
    assert "error" not in played, played
    assert played["tracks"] == 1 and played["decoded"] > 0, played
    browser.save_screenshot(str(artifacts_dir() / "music-workflow-after-run.png"))
    restored = browser.execute_async_script(
        """
        const [name, subfolder, done] = arguments;
        (async () => {
          const app = window.app;
          const url = `/view?filename=${encodeURIComponent(name)}&subfolder=${encodeURIComponent(subfolder)}&type=output`;
          const file = new File([await (await fetch(url)).blob()], name, {type: "video/mp4"});
          app.graph.clear();
          await app.handleFile(file);  // what a drop on the canvas calls
          await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
          done(app.graph.serialize());
        })().catch(e => done({error: String(e)}));
        """,
        file["filename"], file["subfolder"],
    )
    assert "error" not in restored, restored
    _same_graph(restored, queued, "music mp4")
    assert "GhibliMusic" in {n["type"] for n in restored["nodes"]}
