"""README is a door and docs/ the rooms behind it: README stays short, every link between them resolves (anchors
included), and every shell block marked `runnable` runs as written, offline on the tiny models, in a folder holding
the inputs the pages name (walk.mp4 with sound, song.wav, photo.png)."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import clips

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\S*)([^\n]*)\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def runnable_blocks() -> list[tuple[str, str]]:
    blocks = []
    for page in PAGES:
        for lang, info, body in FENCE.findall(page.read_text(encoding="utf-8")):
            if "runnable" in info.split():
                blocks.append((f"{page.relative_to(REPO)}:{len(blocks)}", body))
    return blocks


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_readme_is_a_door():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    for page in ("painting", "camera", "planning", "video", "sound", "comfyui", "batch", "training", "performance",
                 "tiny-models", "troubleshooting", "settings", "development"):
        assert f"(docs/{page}.md)" in text, page


def test_every_link_between_the_pages_resolves():
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for target in LINK.findall(FENCE.sub("", text)):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            path, _, fragment = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            assert file.exists(), f"{page.name}: {target}"
            if fragment and file.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", FENCE.sub("", file.read_text(encoding="utf-8")), re.M)
                assert fragment in {anchor(h) for h in headings}, f"{page.name}: {target}"


def test_runnable_blocks_use_the_tiny_models():
    blocks = runnable_blocks()
    assert len(blocks) >= 6
    for name, body in blocks:
        for line in body.strip().splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == "ghibli-anim" and words[1] not in ("plan", "audio-keys") and "--metrics-only" not in words:
                assert "--tiny" in words, f"{name}: {line}"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The inputs the pages name: a clip with sound, a song, a photo."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("docs")
    clips.write_clip(folder / "walk.mp4", clips.moving_frames(10, 64, 64), 8, sound=True)
    clips.write_audio_file(folder / "song.wav", seconds=2.0)
    Image.fromarray(clips.moving_frames(1, 96, 64)[0]).save(folder / "photo.png")
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("name,body", runnable_blocks(), ids=[n for n, _ in runnable_blocks()])
def test_the_runnable_blocks_run_as_written(name, body, workdir, tiny):
    env = dict(os.environ, HF_HUB_OFFLINE="1", GHIBLI_TINY_DIR=str(tiny.root),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", body], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, f"{name}\n{body}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
