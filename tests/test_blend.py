"""Motion: flow interpolation vs crossfade on scenes with known in-betweens, cadence, colour coherence,
loop closure, metrics, readers, and the WebP/MP4/GIF writers."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from ghibli_core.blend import MotionSettings, blend_frames, fill_cadence, interpolate_pair, interpolate_sequence, keyframe_indices, match_color
from ghibli_core.blend.scenes import SCENES, Scene
from ghibli_core.errors import InputError
from ghibli_core.export import read_metadata, save_animation
from ghibli_core.metrics import color_drift_series, compute_metrics, flicker, loop_seam, psnr, ssim, warp_error
from ghibli_core.readers import load_frames, natural_key


@pytest.mark.parametrize("kind", SCENES)
@pytest.mark.parametrize("seed", [7, 8])
def test_flow_beats_crossfade_by_3db_on_every_scene(kind, seed):
    scene = Scene(kind, size=160, seed=seed)
    a, b = scene.frame(0), scene.frame(1)
    truth = [scene.frame(t) for t in (0.25, 0.5, 0.75)]
    flow = interpolate_pair(a, b, 3, "flow")
    cross = interpolate_pair(a, b, 3, "crossfade")
    gain = np.mean([psnr(f, t) - psnr(c, t) for f, c, t in zip(flow, cross, truth)])
    assert gain >= 3.0, (kind, gain)
    assert np.mean([ssim(f, t) for f, t in zip(flow, truth)]) > np.mean([ssim(c, t) for c, t in zip(cross, truth)])


def test_farneback_also_beats_crossfade():
    scene = Scene("rotate", size=160, seed=3)
    a, b, mid = scene.frame(0), scene.frame(1), scene.frame(0.5)
    assert psnr(interpolate_pair(a, b, 1, "flow", "farneback")[0], mid) > psnr(interpolate_pair(a, b, 1, "crossfade")[0], mid) + 2


def test_counts_and_endpoints():
    frames = Scene("translate", size=64).frames(4)
    assert interpolate_sequence(frames, 0) == frames
    out = interpolate_sequence(frames, 3)
    assert len(out) == 13 and all(out[4 * i] is frames[i] for i in range(4))
    looped = interpolate_sequence(frames, 3, loop=True)
    assert len(looped) == 16 and MotionSettings(interpolate=3).output_count(4) == 16
    assert MotionSettings(interpolate=3, loop=False).output_count(4) == 13
    assert len(interpolate_sequence(frames[:1], 3, loop=True)) == 1


def test_cadence_keeps_the_frame_count_and_fills_by_flow():
    assert keyframe_indices(16, 4, loop=True) == [0, 4, 8, 12]
    assert keyframe_indices(16, 4, loop=False) == [0, 4, 8, 12, 15]
    assert keyframe_indices(5, 1, loop=True) == [0, 1, 2, 3, 4]
    assert keyframe_indices(3, 8, loop=False) == [0, 2]
    scene = Scene("zoom", size=128, seed=2)
    n = 9
    truth = scene.frames(n)
    keys = keyframe_indices(n, 4, loop=False)
    filled = fill_cadence({i: truth[i] for i in keys}, n, loop=False)
    assert len(filled) == n and all(filled[i] is truth[i] for i in keys)
    assert min(psnr(filled[i], truth[i]) for i in range(n) if i not in keys) > 28


def test_cadence_tail_of_a_loop_flows_into_frame_zero():
    frames = [np.full((32, 32, 3), v, np.uint8) for v in (0, 100)]
    filled = fill_cadence({0: frames[0], 2: frames[1]}, 4, loop=True, method="crossfade")
    assert [int(f.mean()) for f in filled] == [0, 50, 100, 50]


def _drifting(n=6):
    """Frames that move and drift warmer and darker, as long img2img chains do."""
    frames = Scene("translate", size=96, seed=4).frames(n)
    out = []
    for i, f in enumerate(frames):
        lab = cv2.cvtColor(f, cv2.COLOR_RGB2LAB).astype(np.float32)
        lab[..., 0] -= 6 * i
        lab[..., 1] += 4 * i
        out.append(cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB))
    return out


@pytest.mark.parametrize("mode", ["meanstd", "histogram"])
def test_colour_match_removes_drift_with_a_strength(mode):
    frames = _drifting()
    before = color_drift_series(frames)[-1]
    full = color_drift_series([frames[0]] + [match_color(f, frames[0], 1.0, mode) for f in frames[1:]])[-1]
    half = color_drift_series([frames[0]] + [match_color(f, frames[0], 0.5, mode) for f in frames[1:]])[-1]
    assert before > 8 and full < 1.0 and full < half < before
    assert match_color(frames[3], frames[0], 0.0) is frames[3]


def test_blend_frames_colour_match_option():
    frames = _drifting(4)
    out = blend_frames(frames, MotionSettings(interpolate=1, color_match=1.0, loop=False))
    assert len(out) == 7 and max(color_drift_series(out)) < 1.5


def test_loop_closure_lowers_the_seam_error():
    frames = Scene("rotate", size=128, seed=5).frames(4)  # moves one way: last and first differ a lot
    open_ = interpolate_sequence(frames, 3, loop=False)
    closed = interpolate_sequence(frames, 3, loop=True)
    assert loop_seam(closed) < 0.5 * loop_seam(open_)
    assert compute_metrics(closed)["loop_seam"] < compute_metrics(open_)["loop_seam"]


def test_metrics_values():
    still = [np.full((48, 48, 3), 120, np.uint8)] * 3
    m = compute_metrics(still)
    assert m["flicker"] == 1.0 and m["warp_error"] == 0 and m["loop_seam"] == 0 and m["color_drift"] == 0
    frames = Scene("parallax", size=128, seed=1).frames(3)
    flow, cross = interpolate_sequence(frames, 2), interpolate_sequence(frames, 2, "crossfade")
    assert warp_error(flow) < warp_error(cross)
    assert flicker(flow) > flicker(frames)
    m = compute_metrics([Image.fromarray(f) for f in frames])  # PIL in, same numbers
    assert m["frames"] == 3 and set(m) >= {"flicker", "warp_error", "loop_seam", "color_drift", "color_drift_per_frame"}
    json.dumps(m)


@pytest.mark.parametrize("kw,match", [
    ({"interpolate": -1}, "interpolate: -1 is out of range"), ({"interpolate": 99}, "interpolate: 99"),
    ({"cadence": 0}, "cadence: 0 is out of range"), ({"blend": "morph"}, "blend: unknown value 'morph'"),
    ({"flow": "raft"}, "flow: unknown value 'raft'"), ({"color_match": 2}, "color-match: 2 is out of range"),
    ({"color_mode": "rgb"}, "color-mode: unknown mode 'rgb'"),
])
def test_bad_motion_settings(kw, match):
    with pytest.raises(InputError, match=match):
        MotionSettings(**kw)


# -- writers and readers ----------------------------------------------------------------------------

def _images(n=5, size=64):
    return [Image.fromarray(f) for f in Scene("translate", size=size, seed=9).frames(n)]


@pytest.mark.parametrize("ext", [".gif", ".webp", ".mp4"])
def test_every_format_round_trips_frames_fps_and_metadata(tmp_path, ext):
    out = tmp_path / f"a{ext}"
    meta = {"prompt": "x", "api_key": "sk-secret"}
    save_animation(_images(6), out, fps=12, metadata=meta)
    frames, fps = load_frames(out)
    assert len(frames) == 6 and frames[0].shape == (64, 64, 3)
    assert fps == pytest.approx(12, rel=0.05)
    assert read_metadata(out) == {"prompt": "x"}  # secrets dropped
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary left behind
    if ext == ".webp":
        with Image.open(out) as im:
            assert im.info["loop"] == 0 and im.n_frames == 6
    if ext == ".mp4":
        import av

        with av.open(str(out)) as c:
            assert c.streams.video[0].codec_context.name == "h264"


def test_mp4_pads_odd_sizes(tmp_path):
    imgs = [im.crop((0, 0, 63, 61)) for im in _images(3)]
    save_animation(imgs, tmp_path / "odd.mp4", fps=8)
    frames, _ = load_frames(tmp_path / "odd.mp4")
    assert frames[0].shape == (62, 64, 3) and len(frames) == 3


def test_gif_unchanged_area_optimisation_is_lossless_and_smaller(tmp_path):
    base = np.asarray(_images(1, 96)[0])
    frames = []
    for i in range(6):  # a still background, things moving in opposite corners (the changed box is the whole frame)
        f = base.copy()
        f[2 + 3 * i:12 + 3 * i, 2:12] = (250, 240, 30)
        f[80 - 3 * i:90 - 3 * i, 84:94] = (30, 60, 240)
        frames.append(Image.fromarray(f))
    from ghibli_core.export import write_gif

    write_gif(frames, tmp_path / "o.gif", fps=8, optimize=True)
    write_gif(frames, tmp_path / "p.gif", fps=8, optimize=False)
    assert (tmp_path / "o.gif").stat().st_size < 0.7 * (tmp_path / "p.gif").stat().st_size
    from ghibli_core.export import shared_palette

    palette = shared_palette(frames, colors=255)
    expected = [np.asarray(f.quantize(palette=palette, dither=Image.Dither.NONE).convert("RGB")) for f in frames]
    decoded, _ = load_frames(tmp_path / "o.gif")
    assert len(decoded) == 6 and all(np.array_equal(x, y) for x, y in zip(decoded, expected))  # lossless vs the palette
    with Image.open(tmp_path / "o.gif") as im:
        assert im.info["loop"] == 0 and "transparency" in im.info
    write_gif(frames, tmp_path / "d.gif", fps=8, dither=True)  # dithered: still every frame, still looping
    dithered, _ = load_frames(tmp_path / "d.gif")
    assert len(dithered) == 6 and not np.array_equal(dithered[0], decoded[0])


def test_folder_reader_natural_order_and_errors(tmp_path):
    for i in (10, 2, 1):
        Image.fromarray(np.full((16, 16, 3), i * 10, np.uint8)).save(tmp_path / f"frame_{i}.png")
    frames, fps = load_frames(tmp_path)
    assert [int(f[0, 0, 0]) for f in frames] == [10, 20, 100] and fps is None
    assert sorted(["f10", "f2", "F1"], key=natural_key) == ["F1", "f2", "f10"]
    Image.new("RGB", (8, 8)).save(tmp_path / "frame_11.png")
    with pytest.raises(InputError, match="input: frame_11.png is 8x8 but the first frame is 16x16"):
        load_frames(tmp_path)
    (tmp_path / "frame_11.png").write_text("not an image")
    with pytest.raises(InputError, match="input: frame_11.png is not a readable image"):
        load_frames(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="holds no images"):
        load_frames(empty)
    with pytest.raises(InputError, match="no file or folder"):
        load_frames(tmp_path / "nope")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(InputError, match="unknown input format '.txt'"):
        load_frames(tmp_path / "x.txt")
    (tmp_path / "bad.mp4").write_bytes(b"\0" * 100)
    with pytest.raises(InputError, match="bad.mp4 is not a readable video"):
        load_frames(tmp_path / "bad.mp4")


@pytest.mark.parametrize("seed", [7, 8])
def test_occlusion_handling_beats_naive_warping_where_content_enters(seed):
    """Content entering through the frame edge exists in one frame only; the naive two-way warp blends in garbage there."""
    from ghibli_core.blend.flow import warp
    from ghibli_core.blend.interpolate import FlowPair

    scene = Scene("translate", size=160, seed=seed)
    pair = FlowPair(scene.frame(0), scene.frame(1))
    gains = []
    for t in (0.25, 0.5, 0.75):
        ft0 = -(1 - t) * t * pair.f01 + t * t * pair.f10
        ft1 = (1 - t) ** 2 * pair.f01 - t * (1 - t) * pair.f10
        naive = ((1 - t) * warp(pair.a, ft0).astype(float) + t * warp(pair.b, ft1)).round().astype(np.uint8)
        truth = scene.frame(t)
        gains.append(psnr(pair.at(t), truth) - psnr(naive, truth))
    assert min(gains) > 0 and np.mean(gains) > 1.0, gains


def test_a_phones_portrait_clip_is_blended_upright(tmp_path):
    import clips

    frames = clips.moving_frames(4, 96, 64)
    path = clips.write_clip(tmp_path / "phone.mp4", frames, 8, turn=(-90, False, False))
    read, fps = load_frames(path)
    assert fps == 8 and len(read) == 4 and read[0].shape == (96, 64, 3)  # shown a quarter turn clockwise
    assert np.abs(read[0].astype(int) - np.rot90(frames[0], -1)).mean() < 8


def test_an_interlaced_clip_is_blended_deinterlaced(tmp_path):
    import clips

    path, stored = clips.write_interlaced_clip(tmp_path / "dv.mp4", 6)
    read, fps = load_frames(path)
    assert fps == 25 and len(read) == 6
    comb = lambda f: np.abs(f[1:-1].astype(float) - (f[:-2].astype(float) + f[2:]) / 2).mean()  # noqa: E731
    assert comb(read[3]) < comb(stored[3]) / 4


def test_flow_on_thumbnails_works_and_leaves_later_flows_alone():
    """OpenCV's DIS refuses pictures with both sides under 12 px and crashes the process on a side under 16 (a strip):
    such sides are padded (the flow keeps the picture's size), by a DIS object of their own, since one that has seen so
    small a picture computes other flows on larger ones afterwards."""
    from ghibli_core.blend.flow import compute_flow

    a, b = Scene("parallax", size=128, seed=3).frames(2)
    before = compute_flow(a, b)
    rng = np.random.default_rng(0)
    for h, w in ((10, 10), (5, 7), (1, 1), (11, 40), (12, 300), (300, 3), (15, 15)):
        tiny = (rng.random((h, w, 3)) * 255).astype(np.uint8)
        flow = compute_flow(tiny, np.roll(tiny, 1, 1))
        assert flow.shape == (h, w, 2) and np.isfinite(flow).all()
    assert np.array_equal(compute_flow(a, b), before)
