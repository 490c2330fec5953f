"""Painting with a camera (tiny models): keyframes start from the previous frame moved along the path, the ControlNet
sees the moved depth, revealed areas get more denoising, in-betweens follow the camera, the metadata records the
path; `ghibli-anim move` on exact synthetic scenes; bad camera input refused before any model loads."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image, ImageSequence

from ghibli_core.animate import AnimationSettings, paint_frame
from ghibli_core.painter import Painter
from ghibli_core.batch import load_jobs
from ghibli_core.blend import MotionSettings
from ghibli_core.camera import CameraSettings, step_matrix, z_to_inverse_depth
from ghibli_core.camera.scenes import PlaneScene
from ghibli_core.camera.view import control_image
from ghibli_core.cli import main
from ghibli_core.errors import InputError
from ghibli_core.export import read_metadata
from ghibli_core.job import AnimationJob, run_job
from ghibli_core.metrics import psnr
from ghibli_core.plan import Plan

from photos import sideways

TINY = dict(width=64, height=64)


def test_revealed_areas_change_more_than_the_rest(pipes):
    """A flat grey frame moved with a two-plane depth: revealed and kept areas start from the same grey, so only the
    per-pixel start decides how far each is repainted."""
    painter = Painter.of(pipes, "dpm++")
    camera = CameraSettings(near=2.0, far=6.0)
    _, z = PlaneScene.two_planes(1).render(np.eye(4), 64, 64, 40)
    grey = Image.new("RGB", (64, 64), (120, 130, 110))

    def change(boost: float) -> tuple[float, float]:
        out = []
        for seed in range(4):
            settings = AnimationSettings(frames=2, steps=12, strength=0.5, seed=seed, reveal_boost=boost, color_coherence=0, **TINY)
            frame = paint_frame(painter, settings, 1, "a forest", grey, view=(camera, step_matrix(tx=-0.4)),
                                 previous_depth=z_to_inverse_depth(z, 2.0, 6.0))
            d = np.abs(np.asarray(frame.image, float) - np.asarray(frame.moved, float)).mean(-1)
            assert 0.05 < frame.revealed.mean() < 0.5
            out.append((d[frame.revealed].mean(), d[~frame.revealed].mean()))
        return tuple(np.mean(out, 0))

    revealed, rest = change(AnimationSettings().reveal_boost)
    assert revealed > rest * 1.03
    plain_revealed, plain_rest = change(0.0)
    assert revealed / rest > plain_revealed / plain_rest + 0.05  # the boost is what makes the difference


def test_keyframes_start_from_the_moved_previous_frame_under_its_moved_depth(pipes):
    settings = AnimationSettings(frames=4, steps=6, strength=0.5, seed=3, **TINY)
    camera = CameraSettings("truck-right")
    job = AnimationJob(painting=settings, motion=MotionSettings(cadence=2, interpolate=1), camera=camera,
                       plan=Plan("a hill", [f"a hill {i}" for i in range(4)], "test"))
    result = run_job(job, pipes, progress=False)
    first, second = result.animation.painted
    assert first.moved is None and second.moved is not None and second.revealed is not None
    # what img2img started from is frame 0 moved by the path from frame 0 to frame 2, and the ControlNet saw its depth
    from ghibli_core.camera.view import move_frame

    moved = move_frame(first.image, second.previous_depth, camera.path(4).step(0, 2), camera)
    assert np.array_equal(np.asarray(moved.image), np.asarray(second.moved))
    assert np.array_equal(np.asarray(second.control), np.asarray(control_image(moved.depth)))
    assert not np.array_equal(np.asarray(second.moved), np.asarray(first.image))
    assert len(result.output_frames) == 8  # 4 planned, a loop, one in-between each


@pytest.mark.parametrize("move,closure", [("push-in:0.5", "seam"), ("sway", "returns")])
def test_the_metadata_holds_the_camera_and_its_path(pipes, tmp_path, move, closure):
    camera = CameraSettings(move, fov=50, near=1.5, far=12)
    job = AnimationJob(painting=AnimationSettings(frames=5, steps=4, strength=0.5, seed=1, **TINY), camera=camera,
                       motion=MotionSettings(cadence=2, interpolate=1), idea="a lantern festival", output=tmp_path / "c.webp")
    run_job(job, pipes, progress=False)
    meta = read_metadata(tmp_path / "c.webp")["camera"]
    assert meta["settings"] == json.loads(json.dumps(camera.to_dict()))
    assert meta["poses"] == json.loads(json.dumps(camera.path(5).to_list())) and len(meta["poses"]) == 5
    assert closure in meta["loop"]
    # the settings in the file rebuild the same path
    again = CameraSettings(move=meta["settings"]["move"], fov=meta["settings"]["fov"], near=meta["settings"]["near"],
                           far=meta["settings"]["far"], **{a: meta["settings"][a] for a in meta["settings"]["explicit_axes"]})
    assert np.allclose(again.path(5).poses, camera.path(5).poses)


def test_cli_camera_flags_reach_the_file(tmp_path, tiny):
    out = tmp_path / "pan.gif"
    assert main(["--tiny", "--tiny-dir", str(tiny.root), "a harbour", "--frames", "3", "--steps", "4", "--quiet", "-o", str(out),
                 "--rotation-y", "0:(0), 2:(4)", "--translation-x=-0.02", "--fov", "55"]) == 0
    settings = read_metadata(out)["camera"]["settings"]
    assert settings["rotation_y"] == "0:(0), 2:(4)" and settings["translation_x"] == "-0.02" and settings["fov"] == 55


def test_batch_rows_take_camera_fields(tmp_path):
    rows = [{"prompt": "a hill", "camera": "orbit-left:0.5", "fov": 50}, {"prompt": "a lake", "rotation_z": "0:(0), 5:(3)"},
            {"prompt": "plain"}]
    jobs_file = tmp_path / "jobs.jsonl"
    jobs_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    a, b, c = load_jobs(jobs_file)
    assert str(a.camera_settings().move) == "orbit-left:0.5" and a.camera_settings().fov == 50
    assert b.camera_settings().to_dict()["rotation_z"] == "0:(0), 5:(3)" and c.camera_settings() is None
    assert a.fingerprint({}) != a.__class__(**{**a.__dict__, "camera": ()}).fingerprint({})
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x", "camera": "zoom"}\n{"prompt": "y", "translation_z": "0:(__import__(1))"}\n{"prompt": "z", "near": 9, "far": 2}\n')
    with pytest.raises(InputError) as exc:
        load_jobs(bad)
    text = str(exc.value)
    assert "line 1: camera: unknown move 'zoom'" in text and "line 2: translation-z" in text and "line 3: near" in text


# --- ghibli-anim move ---------------------------------------------------------------------------------------------

def _scene_files(tmp_path, scene=None, size=(96, 80)):
    scene = scene or PlaneScene.two_planes(seed=2)
    image, z = scene.render(np.eye(4), *size, 40)
    Image.fromarray(image).save(tmp_path / "still.png")
    np.save(tmp_path / "still.npy", z)
    return scene


def test_move_renders_the_views_of_an_exact_scene(tmp_path, capsys):
    scene = _scene_files(tmp_path)
    argv = ["move", str(tmp_path / "still.png"), "--depth", str(tmp_path / "still.npy"), "--frames", "4", "--fov", "40",
            "--translation-x", "0.04", "--rotation-y", "0:(0), 3:(1)", "--frames-out", str(tmp_path / "views"),
            "--masks-out", str(tmp_path / "masks"), "-o", str(tmp_path / "move.webp"), "--no-fill"]
    assert main(argv) == 0
    assert "wrote" in capsys.readouterr().out
    views = sorted((tmp_path / "views").glob("frame_*.png"))
    masks = sorted((tmp_path / "masks").glob("mask_*.png"))
    assert [p.name for p in views] == [f"frame_{i:04d}.png" for i in range(1, 5)] and len(masks) == 4
    assert np.array_equal(np.asarray(Image.open(views[0]).convert("RGB")), np.asarray(Image.open(tmp_path / "still.png").convert("RGB")))
    path = CameraSettings(translation_x=0.04, rotation_y="0:(0), 3:(1)", fov=40).path(4)
    for k in range(1, 4):
        truth, _ = scene.render(path.poses[k], 96, 80, 40)
        got = np.asarray(Image.open(views[k]).convert("RGB"))
        seen = np.asarray(Image.open(masks[k])) < 128
        assert psnr(got[seen], truth[seen]) > 30
    meta = read_metadata(tmp_path / "move.webp")
    assert meta["camera_path"] == json.loads(json.dumps(path.to_list())) and meta["depth"] == "still.npy"


def test_move_without_a_camera_sways_and_loops_and_thumbnails_move_too(tmp_path, tiny, capsys):
    """No --camera and no axis: the default move (sway: a still that does not move is no 3D photo; it comes home, so
    the file loops); a lens alone keeps it. Thumbnail-sized pictures (10x10, 5x7, even 1x1) move instead of failing
    inside OpenCV's flow (both sides under 12 px) or transformers' depth post-processing (a 1-pixel side)."""
    from ghibli_core import defaults

    _scene_files(tmp_path)
    for extra in ([], ["--fov", "60"]):
        out = tmp_path / "sway.gif"
        assert main(["move", str(tmp_path / "still.png"), "--depth", str(tmp_path / "still.npy"), "--frames", "6",
                     "-o", str(out), *extra]) == 0
        meta = read_metadata(out)
        assert meta["camera"]["move"] == defaults.MOVE_CAMERA == "sway", meta["camera"]
        with Image.open(out) as im:
            frames = [np.asarray(f.convert("RGB")).astype(int) for f in ImageSequence.Iterator(im)]
        assert max(np.abs(f - frames[0]).mean() for f in frames) > 1.0  # the views differ
    for size in ((10, 10), (7, 5), (1, 1)):
        Image.new("RGB", size, (90, 140, 60)).save(tmp_path / "thumb.png")
        views = tmp_path / f"thumb{size[0]}x{size[1]}"
        assert main(["move", str(tmp_path / "thumb.png"), "--tiny", "--tiny-dir", str(tiny.root), "--camera", "push-in",
                     "--frames", "4", "--frames-out", str(views), "-o", str(tmp_path / "thumb.gif"), "-q"]) == 0
        assert "Loading" not in capsys.readouterr().err  # -q: not even the depth model's loading bar
        assert [Image.open(f).size for f in sorted(views.glob("frame_*.png"))] == [size] * 4


def test_bad_move_and_camera_inputs_are_one_line_before_any_model(tmp_path, capsys, tiny, no_model_loads):
    _scene_files(tmp_path)
    img, npy = str(tmp_path / "still.png"), str(tmp_path / "still.npy")
    small = tmp_path / "small.npy"
    np.save(small, np.ones((8, 8), np.float32))
    nan = tmp_path / "nan.npy"
    np.save(nan, np.full((80, 96), np.nan, np.float32))
    zero = tmp_path / "zero.npy"
    np.save(zero, np.zeros((80, 96), np.float32))
    (tmp_path / "junk.npy").write_bytes(b"junk")
    out = str(tmp_path / "x.gif")
    cases = [
        (["move", img, "--depth", npy, "-o", out, "--translation-x", "0:(abc"], "translation-x: unbalanced brackets"),
        (["move", img, "--depth", npy, "-o", out, "--rotation-y", "x:(1)"], "rotation-y: frame key 'x'"),
        (["move", img, "--depth", npy, "-o", out, "--rotation-z", "3:(1), -2:(0)"], "rotation-z: .*negative|rotation-z: .*not"),
        (["move", img, "--depth", npy, "-o", out, "--translation-z", "0:(__import__('os').system('x'))"], "translation-z: .*not an allowed function"),
        (["move", img, "--depth", npy, "-o", out, "--translation-y", "t.real"], "translation-y: .*not plain arithmetic"),
        (["move", img, "--depth", npy, "-o", out, "--camera", "dolly"], "camera: unknown move 'dolly'"),
        (["move", img, "--depth", npy, "-o", out, "--camera", "pan-left:7"], "camera: strength 7.0 of pan-left is out of range"),
        (["move", img, "--depth", npy, "-o", out, "--fov", "180"], "fov: 180.0 degrees is out of range"),
        (["move", img, "--depth", npy, "-o", out, "--near", "10", "--far", "2"], "near: near 10 is not closer than far 2"),
        (["move", img, "--depth", str(small), "-o", out], "depth: small.npy is 8x8 but the image is 96x80"),
        (["move", img, "--depth", str(nan), "-o", out], "depth: nan.npy holds NaN"),
        (["move", img, "--depth", str(zero), "-o", out], "depth: zero.npy holds zero or negative"),
        (["move", img, "--depth", str(tmp_path / "junk.npy"), "-o", out], "depth: junk.npy is not a readable .npy"),
        (["move", img, "--depth", npy], "output: nowhere to write"),
        (["move", str(tmp_path / "none.png"), "--depth", npy, "-o", out], "image: no file"),
        (["a forest", "--tiny", "--tiny-dir", str(tiny.root), "-o", out, "--camera", "sway:-1"], "camera: strength -1.0 of sway"),
        (["a forest", "--tiny", "--tiny-dir", str(tiny.root), "-o", out, "--translation-x", "1/(t-2)"], "translation-x: .*cannot be computed at t=2"),
        (["a forest", "--tiny", "--tiny-dir", str(tiny.root), "-o", out, "--fov", "0.5"], "fov: 0.5 degrees is out of range"),
    ]
    for argv, match in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("ghibli-anim: error: "), err
        assert re.search(match, err), (match, err)
    assert not list(tmp_path.glob("x.*"))


def test_the_headless_client_sets_the_camera_node():
    from ghibli_core.comfy_client import DEFAULT_WORKFLOW, load_workflow, patch_workflow

    graph = patch_workflow(load_workflow(DEFAULT_WORKFLOW), camera="orbit-left:0.5")
    cameras = [n for n in graph.values() if n["class_type"] == "GhibliCamera"]
    assert len(cameras) == 1 and cameras[0]["inputs"]["move"] == "orbit-left" and cameras[0]["inputs"]["strength"] == 0.5
    with pytest.raises(InputError, match="camera: unknown move 'spin'"):
        patch_workflow(graph, camera="spin")


def test_a_gpu_runs_own_work_goes_to_its_device(pipes, tmp_path, monkeypatch):
    """Where the painting device is an accelerator, the camera warps, colour matching, sharpening and grain run through
    the torch paths on it (torch on the CPU stands in for the device here): every one is used, and the run completes
    with the camera followed."""
    import ghibli_core.animate as animate_module
    import ghibli_core.render as render_module
    from ghibli_core.camera import warp_torch
    from ghibli_core.presets import get_preset

    used: set[str] = set()

    def spy(module, name):
        real = getattr(module, name)

        def wrapped(*args, **kwargs):
            used.add(name)
            assert kwargs.get("device") == "cpu"
            return real(*args, **kwargs)
        monkeypatch.setattr(module, name, wrapped)

    spy(warp_torch, "warp_view_torch")
    spy(animate_module, "prepare_init_torch")
    spy(animate_module, "match_color_torch")
    monkeypatch.setattr(animate_module, "work_device", lambda device: "cpu")
    monkeypatch.setattr(render_module, "work_device", lambda device: "cpu")
    preset = get_preset("balanced")
    job = AnimationJob(painting=preset.animation(frames=4, width=64, height=64, seed=5, steps=4, noise=0.02),
                       motion=preset.motion(cadence=1), idea="a windmill on a hill", camera=CameraSettings("truck-right"),
                       output=tmp_path / "gpu.webp")
    result = run_job(job, pipes, progress=False)
    assert used == {"warp_view_torch", "prepare_init_torch", "match_color_torch"}
    assert len(result.output_frames) == 8 and result.animation.painted[-1].revealed is not None


def test_a_phone_photo_is_moved_upright_as_it_is_shown(tmp_path):
    _scene_files(tmp_path)
    upright = np.asarray(Image.open(tmp_path / "still.png").convert("RGB"))
    photo = sideways(upright, tmp_path / "phone.png")
    argv = ["move", str(photo), "--depth", str(tmp_path / "still.npy"), "--frames", "2", "--translation-x", "0.02",
            "--frames-out", str(tmp_path / "views"), "-o", str(tmp_path / "move.webp")]
    assert main(argv) == 0  # the depth is 96x80, as the photo is shown
    first = np.asarray(Image.open(tmp_path / "views" / "frame_0001.png").convert("RGB"))
    assert np.array_equal(first, upright)
