"""The camera: schedules and their expression evaluator (hostile input included), named moves, poses, the depth
mapping and depth files, the 3D warp against exact renders of synthetic scenes (every axis, both signs), revealed
masks, and camera-aware in-betweens against flow-only ones."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from ghibli_core.blend import interpolate_pair
from ghibli_core.camera import (AXES, MOVES, CameraSettings, Intrinsics, Move, Schedule, inverse_depth_to_z, load_depth,
                                step_matrix, warp_view, z_to_inverse_depth)
from ghibli_core.camera.expressions import compile_expression
from ghibli_core.camera.inbetween import CameraTimeline, camera_frames, pose_between
from ghibli_core.camera.scenes import PlaneScene
from ghibli_core.errors import InputError
from ghibli_core.metrics import psnr

W, H, FOV = 192, 160, 40.0
#: torch devices here: the CPU, and a GPU where there is one (the torch path is what a GPU run uses)
TORCH_DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
#: the warp's paths: OpenCV/NumPy (device None: the CPU's) and torch on each device
PATHS = pytest.mark.parametrize("device", [None, *TORCH_DEVICES], ids=["opencv", *(f"torch-{d}" for d in TORCH_DEVICES)])


# --- schedules -----------------------------------------------------------------------------------------------------

def test_schedules_hold_interpolate_and_evaluate_expressions_in_t_and_max_f():
    assert Schedule.parse("0.5").series(3) == [0.5, 0.5, 0.5]
    assert Schedule.parse(2).series(2) == [2.0, 2.0]
    assert Schedule.parse("2:(1), 6:(3)").series(9) == [1, 1, 1, 1.5, 2, 2.5, 3, 3, 3]  # held before and after
    wave = Schedule.parse("0:(0.2*sin(2*pi*t/24))").series(25)
    assert wave[6] == pytest.approx(0.2) and wave[12] == pytest.approx(0, abs=1e-12) and wave[18] == pytest.approx(-0.2)
    assert Schedule.parse("0:(t/max_f)").series(4) == [0, 0.25, 0.5, 0.75]
    # between two expression keyframes both are evaluated at t and blended
    assert Schedule.parse("0:(t), 4:(2*t)").at(2, 10) == pytest.approx(2 + (4 - 2) * 0.5)
    assert Schedule.parse(" 10:(1) , 0:( 0 ) ").describe() == "0:(0), 10:(1)"
    assert Schedule.parse("-0.25").describe() == "-0.25" and Schedule.parse("min(t, 3) ** 2").series(5)[4] == 9


@pytest.mark.parametrize("text,match", [
    ("0:(abc", "unbalanced brackets"),
    ("x:(1)", "frame key 'x' .* not a whole number"),
    ("-1:(0)", "frame key '-1' .* negative"),
    ("1.5:(0)", "frame key '1.5' .* not a whole number"),
    ("0:(1), 0:(2)", "frame 0 is given twice"),
    ("0:(1) 5:(2)", "not ', F:\\(V\\)'"),
    ("0:(1),", "not ', F:\\(V\\)'"),
    ("", "is empty"),
    ("0:()", "empty value"),
    ("((1)", "not an expression"),
    ("__import__('os').system('x')", "not an allowed function"),
    ("().__class__", "not plain arithmetic"),
    ("t.real", "not plain arithmetic"),
    ("lambda: 1", "not a schedule"),
    ("0:(lambda x: x)", "not an expression|not plain arithmetic"),
    ("[1][0]", "not plain arithmetic"),
    ("'text'", "not a number"),
    ("t if t else 1", "not plain arithmetic"),
    ("open('x')", "not an allowed function"),
    ("sin(t, 2)", "takes 1 argument"),
    ("sin(x=1)", "plain arguments"),
    ("abc", "unknown name 'abc'"),
    ("1" + "+1" * 300, "too long"),
    ("(" * 40 + "1" + ")" * 40, "nested too deeply"),
    ("-" * 60 + "1", "nested too deeply"),
    ("9**9**9", "cannot be computed"),
    ("1/(t-2)", "cannot be computed at t=2"),
    ("log(t-5)", "cannot be computed"),
])
def test_bad_schedules_are_one_line_errors_naming_the_input(text, match):
    with pytest.raises(InputError) as exc:
        Schedule.parse(text, "translation-x").series(4)
    message = str(exc.value)
    assert message.startswith("translation-x: ") and "\n" not in message
    import re

    assert re.search(match, message), message


def test_the_evaluator_runs_no_python():
    marker = []
    import builtins

    builtins.__dict__["_ghibli_probe"] = marker.append
    try:
        with pytest.raises(InputError):
            compile_expression("_ghibli_probe(1)")
    finally:
        del builtins.__dict__["_ghibli_probe"]
    assert marker == []
    assert compile_expression("floor(2.7) + ceil(0.2) + round(1.4) + abs(-2) + max(1, 5, 3)")() == 2 + 1 + 1 + 2 + 5


# --- moves and poses --------------------------------------------------------------------------------------------------

def _content_motion(step: np.ndarray, point: tuple[float, float, float], k: Intrinsics) -> tuple[float, float]:
    """How the image of a 3D point (in the first camera's axes) moves on screen from the first camera to `step`."""
    p = np.asarray(point)
    x0, y0 = k.project(p[0], p[1], p[2])
    q = step[:3, :3].T @ (p - step[:3, 3])
    x1, y1 = k.project(q[0], q[1], q[2])
    return float(x1 - x0), float(y1 - y0)


@pytest.mark.parametrize("axis,sign", [(a, s) for a in AXES for s in (1, -1)])
def test_every_axis_and_sign_moves_the_content_as_documented(axis, sign):
    k = Intrinsics(W, H, FOV)
    amount = sign * (0.1 if axis.startswith("translation") else 3.0)
    step = step_matrix(**{{"translation_x": "tx", "translation_y": "ty", "translation_z": "tz", "rotation_x": "rx",
                           "rotation_y": "ry", "rotation_z": "rz"}[axis]: amount})
    near, far = (0.1, 0.05, 2.0), (0.5, 0.25, 10.0)  # the same screen spot, at two depths
    dx, dy = _content_motion(step, near, k)
    fdx, fdy = _content_motion(step, far, k)
    right = (0.4, 0.0, 2.0)  # a point right of centre
    if axis == "translation_x":  # camera right: content slides left, near faster than far
        assert sign * dx < 0 and abs(dx) > abs(fdx) * 3
    elif axis == "translation_y":  # camera up: content slides down
        assert sign * dy > 0 and abs(dy) > abs(fdy) * 3
    elif axis == "translation_z":  # forward: content grows away from the centre
        assert sign * dx > 0 and sign * dy > 0
    elif axis == "rotation_y":  # pan right: content slides left, near and far alike
        assert sign * dx < 0 and dx == pytest.approx(fdx, abs=0.05)
    elif axis == "rotation_x":  # tilt up: content slides down
        assert sign * dy > 0 and dy == pytest.approx(fdy, abs=0.05)
    else:  # roll clockwise: content turns counter-clockwise (a point right of centre goes up)
        assert sign * _content_motion(step, right, k)[1] < 0


def test_named_moves_parse_scale_and_loop():
    assert str(Move.parse("push-in:0.5")) == "push-in:0.5" and Move.parse("Sway").name == "sway"
    for name in MOVES:
        path = CameraSettings(name).path(12)
        assert len(path) == 12 and (name == "static") == path.is_static()
    assert CameraSettings("sway").path(16).closes() and CameraSettings("sway:2").path(7).closes()
    assert not CameraSettings("push-in").path(16).closes()
    full, half = CameraSettings("push-in").path(9).poses[-1], CameraSettings("push-in:0.5").path(17).poses[-1]
    assert full[2, 3] == pytest.approx(0.3) and half[2, 3] == pytest.approx(0.15)  # totals over the animation
    # orbit keeps looking at its pivot (the scene's middle depth): the pivot stays at the image centre
    k = Intrinsics(W, H, FOV)
    pivot = math.sqrt(1.0 * 10.0)
    orbit = CameraSettings("orbit-right").path(10)
    for pose in orbit.poses[1:]:
        assert _content_motion(pose, (0, 0, pivot), k) == pytest.approx((0, 0), abs=1e-3)
    assert orbit.to_list()[-1][4] == pytest.approx(-20)  # yawed left by the orbit's 20 degrees
    # an explicit axis replaces the move's value on that axis only
    mixed = CameraSettings("push-in", rotation_y="0:(0), 4:(2)").to_dict()
    assert mixed["rotation_y"] == "0:(0), 4:(2)" and mixed["translation_z"] != "0" and mixed["explicit_axes"] == ["rotation_y"]


@pytest.mark.parametrize("kwargs,match", [
    (dict(move="zoom"), "camera: unknown move 'zoom'"),
    (dict(move="push:1"), "did you mean 'push-in'"),
    (dict(move="push-in:9"), "strength 9.0 of push-in is out of range"),
    (dict(move="push-in:fast"), "strength 'fast'"),
    (dict(fov=0), "fov: 0 degrees is out of range"),
    (dict(fov=179), "fov: 179 degrees is out of range"),
    (dict(near=5, far=5), "near: near 5 is not closer than far 5"),
    (dict(near=0), "near: 0 is out of range"),
    (dict(rotation_z="0:(1), x:(2)"), "rotation-z: frame key 'x'"),
])
def test_bad_camera_settings(kwargs, match):
    with pytest.raises(InputError, match=match):
        CameraSettings(**kwargs)


# --- depth ---------------------------------------------------------------------------------------------------------

def test_inverse_depth_maps_to_near_and_far_and_back():
    d = np.array([0.0, 0.5, 1.0], np.float32)
    z = inverse_depth_to_z(d, 1.0, 10.0)
    assert z[0] == pytest.approx(10) and z[2] == pytest.approx(1) and 1 / z[1] == pytest.approx((1 + 0.1) / 2)
    assert np.allclose(z_to_inverse_depth(z, 1.0, 10.0), d, atol=1e-6)


def test_depth_files_and_their_errors(tmp_path):
    z = np.linspace(1, 5, 12 * 8, dtype=np.float32).reshape(8, 12)
    np.save(tmp_path / "z.npy", z)
    assert np.allclose(load_depth(tmp_path / "z.npy", (12, 8), near=1, far=10), z)
    cv2.imwrite(str(tmp_path / "mm.png"), (z * 1000).astype(np.uint16))
    assert np.allclose(load_depth(tmp_path / "mm.png", (12, 8), near=1, far=10, scale=0.001), z, atol=1e-3)
    Image.fromarray(np.full((8, 12), 255, np.uint8)).save(tmp_path / "inv.png")
    assert np.allclose(load_depth(tmp_path / "inv.png", (12, 8), near=2, far=10), 2)
    bad = {"nan.npy": np.where(z > 3, np.nan, z), "neg.npy": -z, "zero.npy": z * 0}
    for name, arr in bad.items():
        np.save(tmp_path / name, arr)
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    (tmp_path / "junk.png").write_bytes(b"not png")
    for name, match in [("nan.npy", "NaN"), ("neg.npy", "zero or negative"), ("zero.npy", "zero or negative"),
                        ("junk.npy", "not a readable .npy"), ("junk.png", "not a readable image"), ("none.npy", "no file")]:
        with pytest.raises(InputError, match=f"^depth: .*{match}"):
            load_depth(tmp_path / name, (12, 8), near=1, far=10)
    with pytest.raises(InputError, match="depth: z.npy is 12x8 but the image is 16x8"):
        load_depth(tmp_path / "z.npy", (16, 8), near=1, far=10)


# --- the warp ------------------------------------------------------------------------------------------------------

def _edges(z: np.ndarray, width: int = 2) -> np.ndarray:
    """Pixels within `width` of a depth edge of an exact render (bilinear sampling mixes both sides there)."""
    jump = np.zeros(z.shape, bool)
    jump[:, 1:] |= np.abs(np.diff(np.log(z), axis=1)) > 0.01
    jump[1:, :] |= np.abs(np.diff(np.log(z), axis=0)) > 0.01
    return cv2.dilate(jump.astype(np.uint8), np.ones((2 * width + 1,) * 2, np.uint8)).astype(bool)


def _truly_revealed(scene: PlaneScene, step: np.ndarray) -> np.ndarray:
    """New-view pixels whose surface point the first camera does not see (occluded, or outside its frame)."""
    _, z0 = scene.render(np.eye(4), W, H, FOV)
    _, z1 = scene.render(step, W, H, FOV)
    k = Intrinsics(W, H, FOV)
    rx, ry = k.rays()
    p = np.stack([z1 * rx, z1 * ry, z1], -1) @ step[:3, :3].T + step[:3, 3]
    u, v = k.project(p[..., 0], p[..., 1], p[..., 2])
    inside = (u >= -0.5) & (u <= W - 0.5) & (v >= -0.5) & (v <= H - 0.5)
    seen = cv2.remap(z0, np.clip(u, 0, W - 1).astype(np.float32), np.clip(v, 0, H - 1).astype(np.float32), cv2.INTER_NEAREST)
    return ~(inside & (np.abs(seen - p[..., 2]) < 0.02 * p[..., 2]))


STEPS = {
    "translation_x": [dict(tx=0.12), dict(tx=-0.12)], "translation_y": [dict(ty=0.1), dict(ty=-0.1)],
    "translation_z": [dict(tz=0.3), dict(tz=-0.3)], "rotation_x": [dict(rx=3), dict(rx=-3)],
    "rotation_y": [dict(ry=3), dict(ry=-3)], "rotation_z": [dict(rz=6), dict(rz=-6)],
}


@PATHS
@pytest.mark.parametrize("axis,sign", [(a, i) for a in AXES for i in (0, 1)])
def test_the_warp_is_exact_on_two_textured_planes_for_every_axis_and_sign(axis, sign, device):
    scene = PlaneScene.two_planes(seed=7)
    step = step_matrix(**STEPS[axis][sign])
    image, z = scene.render(np.eye(4), W, H, FOV)
    truth, truth_z = scene.render(step, W, H, FOV)
    out = warp_view(image, z, step, FOV, fill=False, device=device)
    check = ~out.revealed & ~_edges(truth_z)
    assert check.mean() > 0.6
    assert psnr(out.image[check], truth[check]) > 45  # sub-pixel: bilinear sampling of the exact source
    assert np.max(np.abs(out.depth[check] - truth_z[check]) / truth_z[check]) < 1e-3
    # revealed: every pixel the first view could not see is marked (away from edges), and little else
    truly = _truly_revealed(scene, step)
    border = cv2.dilate(truly.astype(np.uint8), np.ones((7, 7), np.uint8)) - cv2.erode(truly.astype(np.uint8), np.ones((7, 7), np.uint8))
    band = _edges(truth_z, 3) | border.astype(bool)  # within 3 px of an edge of the truth
    assert np.all(out.revealed[truly & ~band]), "a revealed pixel was filled from the wrong surface"
    assert np.mean(out.revealed & ~truly & ~band) < 0.002


@PATHS
def test_pure_rotation_is_exact_whatever_the_depth(device):
    scene = PlaneScene.wall(seed=2)
    image, z = scene.render(np.eye(4), W, H, FOV)
    for step in (step_matrix(ry=4, rx=-2), step_matrix(rz=10), step_matrix(ry=-3, rz=5)):
        truth, _ = scene.render(step, W, H, FOV)
        out = warp_view(image, z, step, FOV, fill=False, device=device)
        assert psnr(out.image[~out.revealed], truth[~out.revealed]) > 45
        # a rotation is a homography: depth plays no part (a wrong depth warps the same)
        other = warp_view(image, z * 3.0, step, FOV, fill=False, device=device)
        assert np.array_equal(other.revealed, out.revealed) and np.abs(other.image.astype(int) - out.image).max() <= 1


@PATHS
def test_nearer_surfaces_win_and_the_identity_changes_nothing(device):
    scene = PlaneScene.two_planes(seed=1)
    image, z = scene.render(np.eye(4), W, H, FOV)
    same = warp_view(image, z, np.eye(4), FOV, device=device)
    assert np.array_equal(same.image, image) and not same.revealed.any()
    step = step_matrix(tx=-0.2)  # the card slides right over the wall
    truth, truth_z = scene.render(step, W, H, FOV)
    out = warp_view(image, z, step, FOV, fill=True, device=device)
    card = (truth_z < 3) & ~_edges(truth_z)
    assert np.allclose(out.depth[card], truth_z[card], rtol=1e-3)  # the card, not the wall behind it
    assert not np.isnan(out.depth).any() and (out.depth > 0).all()


# --- in-betweens that follow the camera ----------------------------------------------------------------------------

@PATHS
@pytest.mark.parametrize("camera", [CameraSettings(translation_z=0.6), CameraSettings(translation_x=0.25),
                                    CameraSettings(rotation_y=6, translation_x=0.1)], ids=["push-in-30%", "truck", "pan+truck"])
def test_camera_inbetweens_beat_flow_by_3_db_on_large_moves(camera, device):
    scene = PlaneScene.two_planes(seed=4)
    path = camera.path(2)
    timeline = CameraTimeline(path, 2, loop=False)
    (a, za), (b, zb) = (scene.render(p, W, H, FOV) for p in path.poses)
    ours = camera_frames({0: (a, za), 1: (b, zb)}, timeline, 3, device=device)
    flow = [a, *interpolate_pair(a, b, 3, "flow"), b]
    truth = [scene.render(timeline.pose(s), W, H, FOV)[0] for s in timeline.times(3)]
    gain = np.mean([psnr(ours[i], truth[i]) - psnr(flow[i], truth[i]) for i in (1, 2, 3)])
    assert gain >= 3, gain


@pytest.mark.parametrize("device", TORCH_DEVICES)
@pytest.mark.parametrize("step", [dict(tx=0.15), dict(tz=0.35), dict(ry=-4, ty=0.05), dict(rz=8, tz=-0.2)])
def test_the_two_paths_agree_to_a_fraction_of_a_pixel(step, device):
    """The torch path (a GPU run's) against the OpenCV path on the same input: the same source positions within OpenCV's
    1/32 px sampling grid, the same revealed pixels but for a few on edges, the same picture and depth."""
    scene = PlaneScene.two_planes(seed=5)
    image, z = scene.render(np.eye(4), W, H, FOV)
    m = step_matrix(**step)
    cpu, dev = warp_view(image, z, m, FOV, fill=False), warp_view(image, z, m, FOV, fill=False, device=device)
    assert np.mean(cpu.revealed != dev.revealed) < 0.003
    both = ~cpu.revealed & ~dev.revealed
    assert np.nanmax(np.abs(cpu.source_x - dev.source_x)[both]) < 0.1 and np.nanmax(np.abs(cpu.source_y - dev.source_y)[both]) < 0.1
    assert np.max(np.abs(cpu.depth[both] - dev.depth[both]) / cpu.depth[both]) < 1e-3
    assert np.mean(np.abs(cpu.image[both].astype(int) - dev.image[both])) < 1.0
    filled = warp_view(image, z, m, FOV, fill=True, device=device)  # revealed areas filled from around them, on the device
    holes = filled.revealed
    assert holes.any() and np.array_equal(filled.image[~holes], dev.image[~holes])
    assert np.abs(filled.image[holes].astype(float).mean(0) - image.reshape(-1, 3).mean(0)).max() < 60
    assert np.isfinite(filled.depth).all() and (filled.depth > 0).all()
    opencv = warp_view(image, z, m, FOV, fill=True).depth  # the OpenCV path's fill: from the nearest, farther side
    seen = dev.depth[both]  # the new view's depths: a revealed pixel gets one of them
    assert seen.min() - 1e-4 <= filled.depth[holes].min() and filled.depth[holes].max() <= seen.max() + 1e-4
    assert abs(filled.depth[holes].mean() - opencv[holes].mean()) < 0.15 * opencv[holes].mean()


def test_runs_warp_on_their_painting_device_when_it_is_an_accelerator():
    import torch

    from ghibli_core.device import work_device

    assert work_device(torch.device("cpu")) is None and work_device("cpu") is None and work_device(None) is None
    assert work_device(torch.device("cuda", 0)) == torch.device("cuda", 0) and work_device("mps") == "mps"


def test_loop_seams_close_the_path():
    push = CameraTimeline(CameraSettings("push-in").path(4), 4, loop=True)
    assert not push.closes and np.allclose(push.pose(4), np.eye(4))
    assert push.pose(3.5)[2, 3] == pytest.approx(push.pose(3)[2, 3] / 2)  # halfway back through the seam
    sway = CameraTimeline(CameraSettings("sway").path(8), 8, loop=True)
    assert sway.closes and np.allclose(sway.pose(7.5), np.eye(4), atol=1e-9)
    a, b = step_matrix(ry=10, tx=1), step_matrix(rz=-20, tz=2)
    assert np.allclose(pose_between(a, b, 0), a) and np.allclose(pose_between(a, b, 1), b)
