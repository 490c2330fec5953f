"""`ghibli-anim`: bad inputs refused in one line before any model loads; the real command end to end."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from ghibli_core import cli
from ghibli_core.defaults import BASE_MODEL, CONTROLNET, DEPTH_MODEL
from ghibli_core.export import read_metadata


@pytest.fixture
def bad_files(tmp_path):
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(os.urandom(256))
    sdxl_lora = tmp_path / "sdxl_lora.safetensors"
    save_file({"lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight": torch.zeros(4, 2048)}, str(sdxl_lora))
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    return {"corrupt": corrupt, "sdxl_lora": sdxl_lora, "not_image": text}


def bad_cases(tmp_path, files, tiny):
    out = str(tmp_path / "x.gif")
    t = ["--tiny", "--tiny-dir", str(tiny.root)]
    return [
        (["", "-o", out] + t, "prompt: is empty"),
        (["idea", "-o", out, "--model", str(tmp_path / "nope.safetensors")], "model: no file or folder at"),
        (["idea", "-o", out, "--model", str(files["corrupt"])], "model: corrupt.safetensors is not a readable .safetensors file"),
        (["idea", "-o", out, "--lora", str(files["corrupt"])] + t, "lora: corrupt.safetensors is not a readable .safetensors file"),
        (["idea", "-o", out, "--lora", str(files["sdxl_lora"])] + t, "lora: sdxl_lora.safetensors was made for a base with cross-attention 2048"),
        (["idea", "-o", out, "--lora", f"{tiny.lora}:heavy"] + t, "lora: .*weight 'heavy' is not a number"),
        (["idea", "-o", out, "--lora", f"{tiny.lora}:9"] + t, r"lora: weight 9.0 .* out of range"),
        (["idea", "-o", out, "--size", "500x500"] + t, "width: 500 is not a multiple of 8"),
        (["idea", "-o", out, "--size", "big"] + t, "size: 'big' is not WIDTHxHEIGHT"),
        (["idea", "-o", out, "--strength", "1.5"] + t, "strength: 1.5 is out of range"),
        (["idea", "-o", out, "--steps", "0"] + t, "steps: 0 is out of range"),
        (["idea", "-o", out, "--guidance", "99"] + t, "guidance: 99.0 is out of range"),
        (["idea", "-o", out, "--fps", "0"] + t, "fps: 0.0 is out of range"),
        (["idea", "-o", out, "--frames", "0"] + t, "frames: 0 is out of range"),
        (["idea", "-o", out, "--init-image", str(tmp_path / "none.png")] + t, "init-image: no file at"),
        (["idea", "-o", out, "--init-image", str(files["not_image"])] + t, "init-image: notes.png is not a readable image"),
        (["idea", "-o", str(tmp_path / "missing" / "x.gif")] + t, "output: folder .* does not exist"),
        (["idea", "-o", str(tmp_path / "x.avi")] + t, "output: unknown output format '.avi'"),
        (["idea", "-o", out, "--model", str(tiny.checkpoint)] + t, "tiny: cannot be combined with --model"),
        (["idea", "-o", out, "--tiny-vae", str(tiny.lora)] + t, "tiny-vae: tiny-style.safetensors does not look like a TAESD decoder"),
        (["idea", "-o", out, "--tiny-vae", str(tiny.taesd_decoder.with_name("taesd_encoder.safetensors"))] + t,
         "tiny-vae: taesd_encoder.safetensors is TAESD's encoder; give the decoder file"),
        (["idea", "-o", out, "--model", str(files["not_image"].with_suffix(".ckpt"))], "model: no file or folder"),
    ]


def test_every_bad_input_is_refused_in_one_line_before_loading(tmp_path, bad_files, tiny, no_model_loads, capsys):
    for argv, match in bad_cases(tmp_path, bad_files, tiny):
        rc = cli.main(argv)
        err = capsys.readouterr().err.strip()
        assert rc == 2, (argv, err)
        assert len(err.splitlines()) == 1 and err.startswith("ghibli-anim: error: "), err
        assert re.search(match, err), (match, err)
    assert list(tmp_path.glob("*.gif")) == []


def test_pickle_checkpoint_needs_opt_in(tmp_path, no_model_loads, capsys):
    ckpt = tmp_path / "old.ckpt"
    ckpt.write_bytes(b"\x80\x04")
    assert cli.main(["idea", "-o", str(tmp_path / "x.gif"), "--model", str(ckpt)]) == 2
    assert "--allow-pickle" in capsys.readouterr().err


def test_help_shows_real_defaults_and_examples(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for text in (BASE_MODEL, CONTROLNET, DEPTH_MODEL, "--lora FILE[:WEIGHT]", "examples:", "make-tiny"):
        assert text in out


def test_plan_command_json(capsys):
    assert cli.main(["plan", "a ghibli forest with flickering sunlight", "--frames", "7", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert len(plan["frames"]) == 7 and len(set(plan["frames"])) == 7


@pytest.mark.slow
def test_tiny_command_writes_a_looping_gif_with_metadata(tmp_path, tiny, run_cli):
    out = tmp_path / "x.gif"
    res = run_cli(["--tiny", "a ghibli forest", "--frames", "4", "-o", str(out), "--seed", "3", "--frames-dir", str(tmp_path / "f")])
    assert res.returncode == 0, res.stderr
    assert f"wrote {out}" in res.stdout
    with Image.open(out) as im:
        assert im.n_frames >= 4 and im.info["loop"] == 0 and im.size == (64, 64)
    meta = read_metadata(out)
    assert meta["seed"] == 3 and len(meta["plan"]) == 4 and meta["models"]["base"] == "tiny-sd15"
    assert str(Path.home()) not in json.dumps(meta) or str(Path.home()) == "/"
    # 4 planned frames, one flow in-between each (the balanced preset): 8 output frames
    assert len(list((tmp_path / "f").glob("frame_*.png"))) == 8 and "peak memory" in res.stdout
    # same command, same seed: the same file content
    again = run_cli(["--tiny", "a ghibli forest", "--frames", "4", "-o", str(tmp_path / "y.gif"), "--seed", "3", "--quiet"])
    assert again.returncode == 0 and (tmp_path / "y.gif").read_bytes() == out.read_bytes()


@pytest.mark.slow
def test_lora_and_init_image_through_the_cli(tmp_path, tiny, run_cli):
    init = tmp_path / "init.png"
    Image.new("RGB", (100, 80), (90, 140, 60)).save(init)
    out = tmp_path / "l.gif"
    res = run_cli(["--tiny", "idea", "--frames", "2", "-o", str(out), "--lora", f"{tiny.lora_kohya}:0.6",
                   "--init-image", str(init), "--quiet"])
    assert res.returncode == 0, res.stderr
    meta = read_metadata(out)
    assert meta["models"]["loras"] == [{"name": "tiny-style-kohya.safetensors", "weight": 0.6}] and meta["init_image"] == "init.png"


@pytest.mark.slow
def test_interrupted_run_leaves_no_file(tmp_path, tiny, cli_script):
    out = tmp_path / "long.gif"
    env = dict(os.environ, HF_HUB_OFFLINE="1", GHIBLI_TINY_DIR=str(tiny.root))
    proc = subprocess.Popen([str(cli_script), "--tiny", "idea", "--frames", "200", "--steps", "20", "-o", str(out)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    buf: list[str] = []

    def pump():
        while True:
            ch = proc.stderr.read(1)
            if not ch:
                return
            buf.append(ch)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    deadline = time.time() + 120
    # inside the painting loop: the frames bar has counted a painted frame (its text polled, not slept for)
    while not re.search(r"frames:[^\r\n]*\b[1-9]\d*/\d+", "".join(buf)) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    rc = proc.wait(timeout=60)
    assert rc == 130, "".join(buf)[-500:]
    assert "nothing was written" in "".join(buf)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_make_tiny_command(tmp_path, tiny, run_cli):
    res = run_cli(["make-tiny", str(tmp_path / "t")])
    assert res.returncode == 0, res.stderr
    for rel in ("diffusers/tiny-sd15/model_index.json", "checkpoints/tiny-sd15.safetensors", "controlnet/tiny-control-depth.safetensors",
                "loras/tiny-style.safetensors", "loras/tiny-style-kohya.safetensors", "depth/tiny-dpt/config.json"):
        assert (tmp_path / "t" / rel).is_file(), rel


@pytest.mark.parametrize("argv,expected", [
    (["x", "--translation-x", "-3:(1)", "-o", "x.gif"],
     "argument --translation-x: expected one argument; a value that starts with '-' needs --translation-x=VALUE"),
    (["x", "--frames", "abc", "-o", "x.gif"], "argument --frames: invalid int value: 'abc'"),
    (["video", "clip.mp4", "--start", "soon"], "argument --start: invalid float value: 'soon'"),
    (["move", "photo.png", "--rotation-y", "-2:(t/4)", "-o", "x.gif"], "needs --rotation-y=VALUE (e.g. --rotation-y=-3:(1))"),
])
def test_a_bad_value_is_one_line_with_the_hint_and_no_usage_dump(capsys, argv, expected):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and expected in err and "usage:" not in err


def test_an_unknown_flag_still_shows_the_usage(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["x", "--bogus", "-o", "x.gif"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "usage:" in err and "unrecognized arguments: --bogus" in err


def test_every_bad_flag_is_reported_at_once_before_any_model_loads(tiny_env, tmp_path, capsys, no_model_loads):
    """Independent bad flags: one line each, all at once (exit 2), nothing written."""
    out = tmp_path / "x.gif"
    assert cli.main(["a forest", "--tiny", "--size", "500x512", "--strength-schedule", "x:(1)", "--steps", "0",
                 "--translation-x=-3:1", "-o", str(out)]) == 2
    errors = [line.split("error: ", 1)[1] for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert sorted(e.split(":")[0] for e in errors) == ["steps", "strength-schedule", "translation-x", "width"], errors
    assert not out.exists()
