"""GIF/PNG export: loops forever, shared palette, metadata without secrets, nothing half-written."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ghibli_core.errors import InputError
from ghibli_core.export import check_output_path, read_metadata, save_animation, write_png_frames


def frames(n=5, size=48):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    return [Image.fromarray(np.roll(base, 3 * i, axis=1)) for i in range(n)]


def test_gif_loops_forever_with_every_frame_and_duration(tmp_path):
    out = save_animation(frames(6), tmp_path / "a.gif", fps=10, metadata={"prompt": "p", "seed": 3})
    with Image.open(out) as im:
        assert im.n_frames == 6 and im.info["loop"] == 0 and im.info["duration"] == 100
        im.seek(5)
        assert im.size == (48, 48)
    assert read_metadata(out) == {"prompt": "p", "seed": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif"]
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask  # as if opened normally, not mkstemp's 0600


def gif_color_tables(data: bytes) -> tuple[bool, int, int]:
    """(has global table, image count, images with a local table), read from the GIF block structure."""
    flags = data[10]
    pos = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    images = local = 0
    while pos < len(data) and data[pos] != 0x3B:
        if data[pos] == 0x21:  # extension: label, then sub-blocks
            pos += 2
        else:  # 0x2C image descriptor
            images += 1
            packed = data[pos + 9]
            local += bool(packed & 0x80)
            pos += 10 + (3 * 2 ** ((packed & 7) + 1) if packed & 0x80 else 0) + 1  # + LZW min code size
        while data[pos] != 0:
            pos += data[pos] + 1
        pos += 1
    return bool(flags & 0x80), images, local


def test_gif_frames_share_one_palette(tmp_path):
    out = save_animation(frames(4), tmp_path / "a.gif", fps=8)
    assert gif_color_tables(out.read_bytes()) == (True, 4, 0)


def test_metadata_never_holds_keys_or_home_paths(tmp_path):
    home = str(Path.home())
    meta = {"prompt": "x", "api_key": "sk-secret", "nested": {"HF_TOKEN": "hf_abc", "file": f"{home}/models/a.safetensors"}}
    out = save_animation(frames(2), tmp_path / "a.gif", metadata=meta)
    raw = out.read_bytes()
    assert b"sk-secret" not in raw and b"hf_abc" not in raw and home.encode() not in raw
    assert read_metadata(out)["nested"] == {"file": "~/models/a.safetensors"}


class Boom(Exception):
    pass


class ExplodingImage:
    """A frame that fails while the GIF is being written (e.g. Ctrl-C mid-write)."""

    def convert(self, mode):
        raise Boom()


def test_a_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "a.gif"
    with pytest.raises(Boom):
        save_animation(frames(3) + [ExplodingImage()], target)
    assert list(tmp_path.iterdir()) == []
    save_animation(frames(2), target)
    before = target.read_bytes()
    with pytest.raises(Boom):
        save_animation(frames(3) + [ExplodingImage()], target)
    assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["a.gif"]


def test_png_frames_are_numbered_with_metadata(tmp_path):
    paths = write_png_frames(frames(3), tmp_path / "f", metadata={"seed": 1})
    assert [p.name for p in paths] == ["frame_0001.png", "frame_0002.png", "frame_0003.png"]
    assert read_metadata(paths[0]) == {"seed": 1}


def test_bad_output_paths(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "dir.gif").mkdir()
    cases = [
        (tmp_path / "a.avi", "unknown output format '.avi'"),
        (tmp_path / "noext", r"unknown output format '\(none\)'"),
        (tmp_path / "missing" / "a.gif", "folder .* does not exist"),
        (tmp_path / "file.txt" / "a.gif", "folder .*file.txt does not exist"),
        (tmp_path / "dir.gif", ".*dir.gif is a folder"),
    ]
    for path, match in cases:
        with pytest.raises(InputError, match=f"output: {match}"):
            check_output_path(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(InputError, match="not writable"):
        check_output_path(ro / "a.gif")


WORKFLOW = {"last_node_id": 2, "nodes": [{"id": 1, "type": "GhibliSaveAnimation", "title": "Sauvegarde é 日本"}], "links": [],
            "extra": {"note": "a:b:c"}}
PROMPT = {"1": {"class_type": "GhibliSaveAnimation", "inputs": {"filename_prefix": "ghibli/été", "fps": 8.0}}}


@pytest.mark.parametrize("ext", [".webp", ".png", ".mp4", ".webm"])
def test_every_format_but_gif_carries_the_workflow_where_the_front_end_reads_it(tmp_path, ext):
    """Read back with byte-level readers that look where ComfyUI's front end looks (not Pillow/PyAV), and with ours."""
    from frontend_readers import workflow_and_prompt

    ours = {"prompt": "a forest ü", "plan": ["a", "b"], "api_key": "sk-secret"}
    out = save_animation(frames(4), tmp_path / f"a{ext}", fps=8, metadata=ours, comfy={"prompt": PROMPT, "workflow": WORKFLOW})
    assert workflow_and_prompt(out.read_bytes(), ext) == (WORKFLOW, PROMPT)
    assert read_metadata(out) == {"prompt": "a forest ü", "plan": ["a", "b"], "workflow": WORKFLOW, "comfyui_prompt": PROMPT}
    assert b"sk-secret" not in out.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_animated_png_and_webm_play_every_frame(tmp_path):
    from ghibli_core.readers import load_frames

    for ext in (".png", ".webm"):
        out = save_animation(frames(5, size=47), tmp_path / f"a{ext}", fps=10)
        loaded, fps = load_frames(out)
        assert len(loaded) == 5 and loaded[0].shape[:2] in ((47, 47), (48, 48)) and fps == pytest.approx(10)
    with Image.open(tmp_path / "a.png") as im:
        assert im.format == "PNG" and im.n_frames == 5 and im.info.get("loop") == 0 and im.info["duration"] == 100
        im.seek(3)
        assert np.array_equal(np.asarray(im.convert("RGB")), np.asarray(frames(5, size=47)[3]))  # lossless


def test_gif_workflow_goes_to_a_sidecar_only_when_asked(tmp_path):
    comfy = {"prompt": PROMPT, "workflow": WORKFLOW}
    plain = save_animation(frames(2), tmp_path / "plain.gif", comfy=comfy)
    assert not plain.with_suffix(".json").exists()
    out = save_animation(frames(2), tmp_path / "a.gif", metadata={"seed": 1}, comfy=comfy, workflow_sidecar=True)
    assert json.loads(out.with_suffix(".json").read_text()) == WORKFLOW  # what a drop of the .json loads
    assert read_metadata(out) == {"seed": 1, "workflow": WORKFLOW}
    api_only = save_animation(frames(2), tmp_path / "api.gif", comfy={"prompt": PROMPT, "workflow": None}, workflow_sidecar=True)
    assert json.loads(api_only.with_suffix(".json").read_text()) == PROMPT
    assert read_metadata(api_only) == {"comfyui_prompt": PROMPT}


def test_files_of_the_earlier_layout_still_read(tmp_path):
    """Before the front-end tags, the graphs were inside our JSON (WebP XMP, MP4/GIF comment)."""
    old = {"prompt": "x", "workflow": WORKFLOW, "comfyui_prompt": PROMPT}
    for ext in (".gif", ".webp", ".mp4"):
        out = save_animation(frames(2), tmp_path / f"old{ext}", metadata=old)
        assert read_metadata(out) == old
    assert read_metadata(save_animation(frames(2), tmp_path / "none.webp")) is None


def webp_frame_rects(data: bytes) -> list[tuple[int, int]]:
    """(width, height) of every ANMF frame of an animated WebP, read from its RIFF chunks."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    rects, pos = [], 12
    while pos + 8 <= len(data):
        kind, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        if kind == b"ANMF":
            body = data[pos + 8:pos + 20]
            rects.append((int.from_bytes(body[6:9], "little") + 1, int.from_bytes(body[9:12], "little") + 1))
        pos += 8 + size + (size & 1)
    return rects


def test_webp_stores_what_changes_and_encodes_each_frame_once(tmp_path):
    """No key frames after the first (libwebp would otherwise encode frames near each key-frame slot twice and keep a
    whole-canvas copy): a frame that changes a corner stores that corner, and the frames come back at the quality set."""
    rng = np.random.default_rng(1)
    small = Image.fromarray(rng.integers(0, 255, (9, 9, 3), dtype=np.uint8))
    base = np.asarray(small.resize((144, 144), Image.Resampling.BICUBIC))  # smooth, as a painting is at this scale
    shots = []
    for i in range(12):
        frame = base.copy()
        frame[:16, :16] = 20 * i
        shots.append(Image.fromarray(frame))
    out = save_animation(shots, tmp_path / "a.webp", fps=12)
    rects = webp_frame_rects(out.read_bytes())
    assert len(rects) == 12 and rects[0] == (144, 144)
    assert all(w <= 32 and h <= 32 for w, h in rects[1:]), rects
    with Image.open(out) as im:
        for i in (0, 5, 11):
            im.seek(i)
            err = np.asarray(im.convert("RGB"), float) - np.asarray(shots[i], float)
            assert 10 * np.log10(255 ** 2 / max(np.mean(err ** 2), 1e-9)) > 35
