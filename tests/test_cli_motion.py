"""Motion through the engine and the CLI: cadence, in-chain colour coherence, interpolation, metrics,
every output format, and `ghibli-anim blend` on frames made elsewhere."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ghibli_core import cli
from ghibli_core.animate import AnimationSettings, animate
from ghibli_core.blend import MotionSettings, interpolate_pair
from ghibli_core.blend.scenes import Scene
from ghibli_core.export import metrics_path, read_metadata
from ghibli_core.metrics import color_drift_series, psnr
from ghibli_core.readers import load_frames
from ghibli_core.render import render_animation

PLAN = [f"a ghibli forest, moment {i}" for i in range(8)]


def tiny_settings(**kw):
    base = dict(frames=8, steps=4, strength=0.5, width=64, height=64, seed=3, scheduler="euler")
    base.update(kw)
    return AnimationSettings(**base)


def test_cadence_paints_only_keyframes_and_keeps_the_count(pipes):
    anim = render_animation(pipes, PLAN, tiny_settings(), MotionSettings(cadence=4, interpolate=1), progress=False)
    assert anim.keyframes == [0, 4] and [f.index for f in anim.painted] == [0, 4]
    assert len(anim.output_frames) == 16  # 8 frames, loop closed, one in-between each
    assert np.array_equal(np.asarray(anim.output_frames[0]), np.asarray(anim.painted[0].image))
    assert np.array_equal(np.asarray(anim.output_frames[8]), np.asarray(anim.painted[1].image))  # frame 4 -> output 8
    opened = render_animation(pipes, PLAN, tiny_settings(), MotionSettings(cadence=4, loop=False), progress=False)
    assert opened.keyframes == [0, 4, 7] and len(opened.output_frames) == 8


def test_progress_counts_painted_frames(pipes):
    seen = []
    render_animation(pipes, PLAN, tiny_settings(), MotionSettings(cadence=4), on_progress=seen.append, progress=False)
    assert {p.frames for p in seen} == {2} and {p.frame for p in seen} == {0, 1}


def test_in_chain_colour_match_reduces_drift(pipes):
    loose = [np.asarray(f.image) for f in animate(pipes, PLAN, tiny_settings(color_coherence=0.0, strength=0.7), progress=False)]
    tight = [np.asarray(f.image) for f in animate(pipes, PLAN, tiny_settings(color_coherence=1.0, strength=0.7), progress=False)]
    assert np.array_equal(loose[0], tight[0])
    assert max(color_drift_series(tight)) < max(color_drift_series(loose))
    assert max(color_drift_series(tight)) < 1.0


@pytest.mark.slow
def test_done_when_tiny_run_with_interpolation_and_metrics(tmp_path, run_cli):
    out = tmp_path / "x.gif"
    res = run_cli(["--tiny", "a ghibli forest", "--frames", "4", "--interpolate", "3", "--metrics", "-o", str(out), "--seed", "1"])
    assert res.returncode == 0, res.stderr
    frames, fps = load_frames(out)
    assert len(frames) >= 13 and fps == pytest.approx(32, rel=0.05)
    for word in ("flicker", "warp error", "loop seam", "colour drift"):
        assert word in res.stdout
    saved = json.loads(metrics_path(out).read_text())
    assert saved["frames"] == len(frames) and saved["output"] == "x.gif"
    meta = read_metadata(out)
    assert meta["metrics"]["flicker"] == saved["flicker"] and meta["motion"]["interpolate"] == 3
    # the default preset (balanced) paints every 2nd frame; --interpolate given explicitly wins over its 1
    assert meta["preset"] == "balanced" and meta["motion"]["cadence"] == 2
    schedule = meta["schedule"]
    assert (schedule["painted"], schedule["keyframes"], schedule["output_frames"]) == (2, [0, 2], 16)
    # the 4 planned prompts all condition the 2 painted frames (1 and 3 shared by time between their neighbours)
    assert schedule["conditioning"] == [[[0, 0.5], [1, 0.25], [3, 0.25]], [[1, 0.25], [2, 0.5], [3, 0.25]]]
    # the offline plan directs the camera: each beat's move, and the path it gave
    assert len(meta["plan_camera"]) == 4 and meta["camera"]["settings"]["beats"] == meta["plan_camera"]


@pytest.mark.parametrize("ext", [".webp", ".mp4"])
def test_webp_and_mp4_outputs(tmp_path, tiny, ext, capsys):
    out = tmp_path / f"a{ext}"
    rc = cli.main(["--tiny", "--tiny-dir", str(tiny.root), "a forest", "--frames", "3", "--interpolate", "1", "--cadence", "2",
                   "-o", str(out), "--quiet", "--fps", "10"])
    assert rc == 0
    frames, fps = load_frames(out)
    assert len(frames) == 6 and fps == pytest.approx(10, rel=0.05)
    assert read_metadata(out)["schedule"]["painted"] == 2
    assert "quality: flicker" in capsys.readouterr().out


def _scene_folder(folder: Path, kind="parallax", n=4, seed=11) -> list[np.ndarray]:
    """Frames of a scene at s = 0, 1, 2, 3 (of 3), written as frame_1.png ... (truth at every quarter step)."""
    folder.mkdir()
    scene = Scene(kind, size=128, seed=seed, amount=3.0)
    full = scene.frames(4 * (n - 1) + 1)
    for i in range(n):
        Image.fromarray(full[4 * i]).save(folder / f"frame_{i + 1}.png")
    return full


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["rotate", "zoom"])
def test_done_when_blend_folder_of_four(tmp_path, run_cli, kind):
    truth = _scene_folder(tmp_path / "in", kind)
    res = run_cli(["blend", str(tmp_path / "in"), "--interpolate", "3", "--frames-out", str(tmp_path / "d")])
    assert res.returncode == 0, res.stderr
    written = sorted((tmp_path / "d").glob("frame_*.png"))
    assert len(written) == 13
    flow = [np.asarray(Image.open(p).convert("RGB")) for p in written]
    keys = [truth[i] for i in (0, 4, 8, 12)]
    cross = [f for a, b in zip(keys, keys[1:]) for f in [a, *interpolate_pair(a, b, 3, "crossfade")]] + [keys[-1]]
    between = [i for i in range(13) if i % 4]
    assert np.mean([psnr(flow[i], truth[i]) for i in between]) > np.mean([psnr(cross[i], truth[i]) for i in between]) + 3
    looped = run_cli(["blend", str(tmp_path / "in"), "--interpolate", "3", "--loop", "--frames-out", str(tmp_path / "l")])
    assert looped.returncode == 0 and len(list((tmp_path / "l").glob("*.png"))) == 16


def test_blend_an_animation_file_to_another_format(tmp_path, capsys):
    src = tmp_path / "in.gif"
    imgs = [Image.fromarray(f) for f in Scene("translate", size=64).frames(3)]
    imgs[0].save(src, save_all=True, append_images=imgs[1:], duration=250, loop=0)
    out = tmp_path / "out.webp"
    assert cli.main(["blend", str(src), "--interpolate", "1", "--color-match", "-o", str(out), "--metrics", "--dither"]) == 0
    frames, fps = load_frames(out)
    assert len(frames) == 5 and fps == pytest.approx(8, rel=0.05)  # 4 fps x 2
    text = capsys.readouterr().out
    assert "input:" in text and "quality:" in text
    assert read_metadata(out)["motion"]["color_match"] == 1.0


def test_blend_bad_inputs(tmp_path, capsys):
    one = tmp_path / "one"
    one.mkdir()
    Image.new("RGB", (16, 16)).save(one / "a.png")
    cases = [
        ([str(one), "--interpolate", "2"], "output: nowhere to write the result"),
        ([str(one), "--interpolate", "2", "-o", str(tmp_path / "o.gif")], "input: one holds one frame"),
        ([str(tmp_path / "none"), "-o", str(tmp_path / "o.gif")], "input: no file or folder"),
        ([str(one), "--interpolate", "-2", "-o", str(tmp_path / "o.gif")], "interpolate: -2 is out of range"),
        ([str(one), "--color-match", "3", "-o", str(tmp_path / "o.gif")], "color-match: 3.0 is out of range"),
        ([str(one), "-o", str(tmp_path / "o.mov")], "output: unknown output format '.mov'"),
        ([str(one), "-o", str(tmp_path / "o.gif"), "--fps", "500"], "fps: 500.0 is out of range"),
    ]
    for argv, match in cases:
        assert cli.main(["blend", *argv]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and match in err, err
    assert not (tmp_path / "o.gif").exists()


def test_generate_rejects_bad_motion_flags_before_loading(tmp_path, tiny, capsys, monkeypatch):
    monkeypatch.setattr("ghibli_core.models.pipelines.load_pipelines", lambda *a, **k: (_ for _ in ()).throw(AssertionError("loaded")))
    base = ["--tiny", "--tiny-dir", str(tiny.root), "idea", "-o", str(tmp_path / "x.gif")]
    for extra, match in ((["--cadence", "0"], "cadence: 0 is out of range"), (["--interpolate", "17"], "interpolate: 17"),
                         (["--color-match", "1.5"], "color-coherence: 1.5 is out of range")):
        assert cli.main(base + extra) == 2
        assert match in capsys.readouterr().err
