"""The quality figures every run reports: sharpness, contrast and saturation drift, and camera fidelity (the picture's
measured motion against the camera path's), on synthetic frames whose truth is known."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from ghibli_core.animate import AnimationSettings
from ghibli_core.blend import MotionSettings
from ghibli_core.camera import CameraSettings
from ghibli_core.camera.scenes import PlaneScene
from ghibli_core.coherence import painted_texture
from ghibli_core.job import AnimationJob, run_job
from ghibli_core.metrics import camera_fidelity, compute_metrics, rms_contrast, saturation, sharpness, stored_metrics, summary_line, table
from ghibli_core.plan import Plan


def test_drift_figures_follow_a_blurring_fading_greying_sequence():
    first = painted_texture(0, 96)
    frames = [first]
    for _ in range(5):
        f = cv2.GaussianBlur(frames[-1], (0, 0), 0.8).astype(np.float32)
        grey = f.mean(-1, keepdims=True)
        f = grey + (f - grey) * 0.8  # less saturated
        f = f.mean() + (f - f.mean()) * 0.9  # less contrast
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
    m = compute_metrics(frames)
    assert m["sharpness_drift"] < 0.2 and 0.4 < m["contrast_drift"] < 0.75 and m["saturation_drift"] < 0.5
    assert m["sharpness_drift"] == pytest.approx(sharpness(frames[-1]) / sharpness(first), abs=1e-3)
    assert len(m["sharpness_per_frame"]) == len(m["contrast_per_frame"]) == len(m["saturation_per_frame"]) == 6
    held = compute_metrics([first] * 3)
    assert (held["sharpness_drift"], held["contrast_drift"], held["saturation_drift"]) == (1.0, 1.0, 1.0)
    kept = stored_metrics(m)
    assert "sharpness_drift" in kept and not any(k.endswith("_per_frame") for k in kept)
    assert "sharpness x" in summary_line(m) and "saturation" in table(m)


def test_metric_definitions():
    flat = np.full((32, 32, 3), 128, np.uint8)
    assert sharpness(flat) == 0 and rms_contrast(flat) == 0 and saturation(flat) == 0
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    assert saturation(red) == 1.0
    half = np.zeros((10, 10, 3), np.uint8)
    half[:5] = 255
    assert rms_contrast(half) == pytest.approx(0.5, abs=1e-3)


@pytest.mark.parametrize("move", ["truck-right", "push-in", "pan-left", "orbit-right", "crane-up"])
def test_camera_fidelity_is_high_when_the_picture_follows_the_camera(move):
    camera = CameraSettings(move, near=2.0, far=6.0)
    path = camera.path(7)  # steps of a few pixels, which optical flow measures well
    scene = PlaneScene.two_planes(3)
    views = [scene.render(pose, 128, 112, camera.fov) for pose in path.poses]
    follows = [(views[i][0], views[i + 1][0], views[i][1], path.step(i, i + 1)) for i in range(4)]
    good = camera_fidelity(follows, camera.fov)
    assert good["camera_fidelity"] > 0.85 and good["camera_flow_error_px"] < 0.25 * good["camera_motion_px"]
    still = [(views[0][0], views[0][0], views[0][1], path.step(i, i + 1)) for i in range(4)]  # a morph in place
    assert camera_fidelity(still, camera.fov)["camera_fidelity"] < 0.1
    backwards = [(views[i + 1][0], views[i][0], views[i + 1][1], path.step(i, i + 1)) for i in range(4)]
    assert camera_fidelity(backwards, camera.fov)["camera_fidelity"] < 0.1


def test_camera_fidelity_of_large_frames_is_measured_on_a_copy_in_the_frames_own_pixels():
    camera = CameraSettings("truck-right", near=2.0, far=6.0)
    path = camera.path(7)
    scene = PlaneScene.two_planes(3)
    views = [scene.render(pose, 512, 448, camera.fov) for pose in path.poses]
    pairs = [(views[i][0], views[i + 1][0], views[i][1], path.step(i, i + 1)) for i in range(3)]
    copy, full = camera_fidelity(pairs, camera.fov), camera_fidelity(pairs, camera.fov, side=None)
    assert copy["camera_fidelity"] > 0.85 and full["camera_fidelity"] > 0.85
    assert copy["camera_motion_px"] == pytest.approx(full["camera_motion_px"], rel=0.02)  # pixels of the 512 px frames


def test_no_camera_motion_no_fidelity_figure():
    view, z = PlaneScene.two_planes(1).render(np.eye(4), 64, 64, 40)
    assert camera_fidelity([(view, view, z, np.eye(4))], 40) is None


def test_a_run_with_a_camera_reports_its_fidelity(pipes):
    job = AnimationJob(painting=AnimationSettings(frames=4, steps=4, seed=2, width=64, height=64),
                       motion=MotionSettings(cadence=1, interpolate=0), camera=CameraSettings("truck-right:2"),
                       plan=Plan("a hill", [f"a hill {i}" for i in range(4)], "test"))
    result = run_job(job, pipes, progress=False)
    assert 0 <= result.metrics["camera_fidelity"] <= 1 and result.metrics["camera_motion_px"] > 0.25
    assert len(result.metrics["camera_flow_error_per_pair"]) <= 3
    assert "camera_fidelity" in result.metadata["metrics"] and "camera_flow_error_per_pair" not in result.metadata["metrics"]


# --- measured on a copy of long side 256 unless asked for the frames themselves ----------------------------------------

def test_large_frames_are_measured_on_a_256_px_copy_and_small_ones_as_they_are():
    from ghibli_core.blend.scenes import Scene
    from ghibli_core.metrics import measured_copy

    big = [np.ascontiguousarray(f[:384]) for f in Scene("translate", size=512, seed=3).frames(4)]  # 512 wide, 384 high
    fast, full = compute_metrics(big), compute_metrics(big, side=None)
    assert fast["measured_size"] == [256, 192] and full["measured_size"] == [512, 384]
    copies = [cv2.resize(f, (256, 192), interpolation=cv2.INTER_AREA) for f in big]
    assert compute_metrics(copies, side=None) == {**fast, "measured_size": [256, 192]}  # exactly the copy's figures
    # the same story: a smooth move scores far better than unrelated frames at either size
    jumpy = [np.ascontiguousarray(Scene("translate", size=512, seed=s).frame(0)[:384]) for s in range(4)]
    assert compute_metrics(jumpy)["warp_error"] > 10 * fast["warp_error"]
    assert compute_metrics(jumpy, side=None)["warp_error"] > 10 * full["warp_error"]
    assert fast["color_drift"] == pytest.approx(full["color_drift"], abs=0.2)
    small = Scene("zoom", size=160, seed=1).frames(3)
    assert compute_metrics(small) == compute_metrics(small, side=None) and measured_copy(small[0], 256) is small[0]


def test_metrics_full_on_the_command_line_measures_the_frames_themselves(tmp_path, capsys):
    from PIL import Image

    from ghibli_core import cli
    from ghibli_core.blend.scenes import Scene

    src = tmp_path / "in.gif"
    imgs = [Image.fromarray(f) for f in Scene("translate", size=320).frames(3)]
    imgs[0].save(src, save_all=True, append_images=imgs[1:], duration=250, loop=0)
    import json

    for flag, size in ((["--metrics"], [256, 256]), (["--metrics", "full"], [320, 320]), ([], [256, 256])):
        out = tmp_path / f"out{len(flag)}.webp"
        assert cli.main(["blend", str(src), "--interpolate", "1", "-o", str(out), *flag]) == 0
        assert json.loads(out.with_suffix(".metrics.json").read_text())["measured_size"] == size
        printed = capsys.readouterr().out
        assert ("measured at" in printed) == bool(flag), printed
    with pytest.raises(SystemExit) as bad:
        cli.main(["blend", str(src), "-o", str(tmp_path / "x.webp"), "--metrics", "half"])
    assert bad.value.code == 2
    err = capsys.readouterr().err
    assert "--metrics" in err and "full" in err and len(err.strip().splitlines()) == 1
