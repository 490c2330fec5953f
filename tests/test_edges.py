"""Edge controls beside depth (--control) and cross-frame attention, on the tiny models: the detectors give edge maps of
the frame's size, several ControlNets paint at once with their own scales, the models are named in metadata, bad
specs are refused in one line before anything loads; cross-frame attention changes only the keyframes after the
reference, and a resumed clip is still the same file."""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
from PIL import Image

from ghibli_core.cli import main
from ghibli_core.errors import InputError, ModelLoadError, ModelNotFoundError
from ghibli_core.export import read_metadata
from ghibli_core.models import edges as edges_mod
from ghibli_core.models.cross_frame import CrossFrameAttention, CrossFrameProcessor
from ghibli_core.models.edges import EdgeControl, LearnedDetector, canny
from ghibli_core.models.pipelines import load_pipelines
from ghibli_core.painter import Conditioning, PaintRequest, Painter
from ghibli_core.presets import get_preset
from ghibli_core.video.job import VideoJob, run_video_job
from ghibli_core.video.repaint import KeyframeSettings

import clips

pytest.importorskip("controlnet_aux")


@pytest.fixture(scope="module")
def edge_pipes(tiny):
    return load_pipelines(tiny.model_settings(edges=("canny:0.8", "softedge:0.6")), progress=False)


@pytest.fixture(scope="module")
def scene() -> Image.Image:
    frame = np.zeros((64, 64, 3), np.uint8)
    frame[16:48, 16:48] = (200, 120, 40)
    frame[24:40, 8:56, 2] = 255
    return Image.fromarray(frame)


def test_specs_parse_with_aliases_and_defaults():
    assert EdgeControl.parse("canny") == EdgeControl("canny", 0.5)
    assert EdgeControl.parse("HED:0.7") == EdgeControl("softedge", 0.7)
    spec = EdgeControl.parse("lineart-anime:1.2@/m/anime.safetensors")
    assert (spec.kind, spec.scale, spec.controlnet) == ("lineart_anime", 1.2, "/m/anime.safetensors")
    assert EdgeControl("lineart").controlnet == "lllyasviel/control_v11p_sd15_lineart"


@pytest.mark.parametrize("text,match", [("pose", "'pose' is not a ControlNet kind"), ("depth", "is not a ControlNet kind"),
                                        ("canny:x", "scale 'x' is not a number"), ("canny:3", "outside 0..2")])
def test_bad_specs_name_the_input_and_the_fix(text, match):
    with pytest.raises(InputError, match=match) as err:
        EdgeControl.parse(text)
    assert str(err.value).startswith("control: ")


def test_canny_is_opencvs_at_the_frames_size(scene):
    out = np.asarray(canny(scene))
    assert out.shape == (64, 64, 3) and np.array_equal(out[..., 0], cv2.Canny(np.asarray(scene), 100, 200))
    assert out.max() == 255 and (out > 0).mean() < 0.3  # outlines, not fill


@pytest.mark.parametrize("kind", ["softedge", "lineart"])
def test_learned_detectors_read_the_annotator_files_and_keep_the_size(tiny, kind):
    import torch

    detector = LearnedDetector(kind, str(tiny.annotators_dir), torch.device("cpu"))
    frame = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 72, 3), dtype=np.uint8))
    a, b = np.asarray(detector(frame)), np.asarray(detector(frame))
    assert a.shape == (40, 72, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert np.array_equal(a[..., 0], a[..., 2]) and a.std() > 0


@pytest.mark.slow
def test_the_anime_lineart_detector_loads_its_released_file_layout(tmp_path):
    """netG.pth as released (DataParallel's "module." prefixes), real shape, random weights."""
    import functools

    import torch
    from controlnet_aux.lineart_anime import UnetGenerator

    net = UnetGenerator(3, 1, 8, 64, norm_layer=functools.partial(torch.nn.InstanceNorm2d, affine=False), use_dropout=False)
    torch.save({f"module.{k}": v.half() for k, v in net.state_dict().items()}, tmp_path / "netG.pth")
    out = LearnedDetector("lineart_anime", str(tmp_path), torch.device("cpu"))(Image.new("RGB", (72, 40), (90, 140, 200)))
    assert out.size == (72, 40)


class _RunsCode:
    """What a malicious .pth holds: unpickling it would call os.system."""

    def __reduce__(self):
        import os

        return (os.system, ("echo ran > /dev/null",))


def test_a_pickle_that_holds_code_is_refused(tmp_path):
    import torch

    torch.save({"weight": _RunsCode()}, tmp_path / "ControlNetHED.pth")
    with pytest.raises(ModelLoadError, match=r"annotators: ControlNetHED\.pth is not a softedge detector"):
        LearnedDetector("softedge", str(tmp_path), torch.device("cpu"))


def test_missing_annotator_files_and_library_are_refused_before_loading(tiny, tmp_path, monkeypatch):
    with pytest.raises(ModelNotFoundError, match=r"^annotators: .* has no sk_model\.pth"):
        tiny.model_settings().replace(edges=(EdgeControl("lineart", 0.5, str(tiny.edge_controlnet_dir)),),
                                      annotators=str(tmp_path)).resolve()
    monkeypatch.setitem(__import__("sys").modules, "controlnet_aux.hed", None)
    with pytest.raises(InputError, match=r"softedge needs controlnet_aux.*pip install 'ghibli-anim\[edges\]'"):
        edges_mod._aux("softedge")
    assert edges_mod.load_detector("canny", "unused", None) is canny  # canny needs neither


def test_several_controlnets_paint_at_once_each_at_its_scale(edge_pipes, scene):
    painter = Painter.of(edge_pipes)
    assert painter.run.controlnets == 3  # depth, canny, softedge

    def paint(canny_scale: float, **kw) -> np.ndarray:
        controls = painter.run.controls(edge_pipes.depth(scene), 0.8, scene)
        controls = (controls[0], dataclasses.replace(controls[1], scale=canny_scale), controls[2])
        request = PaintRequest(index=1, conditioning=Conditioning("a house"), seed=5, steps=6, guidance=7.5, width=64,
                               height=64, init=scene, strength=0.6, controls=controls, **kw)
        return np.asarray(painter.paint(request).image)

    assert not np.array_equal(paint(0.0), paint(1.5))  # the edge ControlNet steers the painting
    assert np.array_equal(paint(0.8), paint(0.8))
    # step reuse's ControlNet cut-off and guidance cut-off slice every net's control image
    reuse = get_preset("balanced").animation(cfg_end=0.5, controlnet_end=0.5, cache_interval=2).reuse
    assert paint(0.8, reuse=reuse).shape == (64, 64, 3)


def test_the_command_paints_under_edge_controls_and_names_them(tiny_env, tmp_path, capsys):
    out = tmp_path / "edges.gif"
    assert main(["a forest at dawn", "--tiny", "--frames", "2", "--steps", "4", "--control", "canny:0.7",
                 "--control", "lineart", "-o", str(out), "--quiet"]) == 0
    controls = read_metadata(out)["models"]["controls"]
    assert [(c["kind"], c["scale"]) for c in controls] == [("canny", 0.7), ("lineart", 0.5)]
    assert controls[0]["controlnet"] == "tiny-controlnet-canny"


@pytest.mark.parametrize("args,match", [
    (["--control", "pose"], r"^control: 'pose' is not a ControlNet kind"),
    (["--control", "canny", "--control", "canny:0.3"], r"^control: canny given twice"),
    (["--control", "canny@/x/y.safetensors"], r"^tiny: cannot be combined with --control canny@"),
])
def test_bad_controls_are_one_line_before_any_model_loads(tiny_env, tmp_path, capsys, no_model_loads, args, match):
    import re

    assert main(["a forest", "--tiny", *args, "-o", str(tmp_path / "x.gif")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert re.search(match, err[-1].split("error: ", 1)[1]), err[-1]
    assert not (tmp_path / "x.gif").exists()


# --- cross-frame attention ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    return clips.write_clip(tmp_path_factory.mktemp("xattn") / "walk.mp4", clips.moving_frames(12, 64, 64), 8)


def _job(clip, **keys):
    return VideoJob(clip=clip, prompt="a quiet street", painting=get_preset("balanced").animation(seed=3, steps=6),
                    keys=KeyframeSettings(4, 4, **keys))


def test_cross_frame_attention_changes_only_the_keyframes_after_the_reference(pipes, walk):
    off = run_video_job(_job(walk), pipes, progress=False)
    painted = {}
    on = run_video_job(_job(walk, cross_frame=True), pipes, progress=False, on_keyframe=lambda k: painted.setdefault(k.index, k))
    assert on.log.keyframes == off.log.keyframes == [0, 4, 8]
    a, b = [np.asarray(f) for f in off.output_frames], [np.asarray(f) for f in on.output_frames]
    assert np.array_equal(a[0], b[0]) and not np.array_equal(a[4], b[4]) and not np.array_equal(a[8], b[8])
    assert on.job.keys.to_dict()["cross_frame"] is True


def test_the_processor_is_inert_outside_a_session_and_attends_inside(pipes, scene):
    unet = pipes.img2img.unet
    xattn = CrossFrameAttention(unet)
    wrapped = [p for p in unet.attn_processors.values() if isinstance(p, CrossFrameProcessor)]
    assert len(wrapped) == xattn.layers == sum(n.endswith("attn1.processor") for n in unet.attn_processors) > 0
    assert CrossFrameAttention(unet).layers == xattn.layers  # installed once, not wrapped twice
    painter = Painter.of(pipes)
    request = PaintRequest(index=1, conditioning=Conditioning("a house"), seed=5, steps=6, guidance=7.5, width=64, height=64,
                           init=scene, strength=0.5, controls=(painter.run.controls(pipes.depth(scene), 0.8, scene)))
    plain = np.asarray(painter.paint(request).image)
    with xattn.painting():
        recorded = np.asarray(painter.paint(request).image)
    assert np.array_equal(plain, recorded) and xattn.has_reference and xattn.attended == 0
    # another picture (not a mirror of the reference: attention over a permutation of its own tokens changes nothing)
    other = dataclasses.replace(request, init=Image.fromarray(clips.moving_frames(1, 64, 64, seed=5)[0]))
    alone = np.asarray(painter.paint(other).image)
    with xattn.painting():
        attending = np.asarray(painter.paint(other).image)
    assert xattn.attended > 0 and not np.array_equal(alone, attending)
    assert np.array_equal(alone, np.asarray(painter.paint(other).image))  # after the session: as before
    xattn.reset()
    assert not xattn.has_reference


def test_a_resumed_clip_with_cross_frame_attention_is_the_same_file(pipes, walk, tmp_path):
    from ghibli_core.errors import Cancelled

    def job(out):
        return dataclasses.replace(_job(walk, cross_frame=True), output=out, work_dir=tmp_path / "work", keep_work=True)

    whole = run_video_job(dataclasses.replace(_job(walk, cross_frame=True), output=tmp_path / "whole.mp4"), pipes, progress=False)
    seen = []

    def stop(key):
        seen.append(key.index)
        if len(seen) == 2:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        run_video_job(job(tmp_path / "resumed.mp4"), pipes, progress=False, on_keyframe=stop)
    resumed = run_video_job(job(tmp_path / "resumed.mp4"), pipes, progress=False)
    # the reference keyframe is painted again (its attention inputs are needed); the next one is taken as saved
    assert resumed.metrics["resumed_keyframes"] == 1 and resumed.log.keyframes == whole.log.keyframes
    assert [np.asarray(f).tobytes() for f in resumed.output_frames] == [np.asarray(f).tobytes() for f in whole.output_frames]
