"""Draw docs/camera_moves.png: named camera moves over one still (a synthetic two-plane scene and its exact depth),
as `ghibli-anim move` makes them. Rows: moves; columns: frames 0, 4, 8, 11 of 12.

    .venv/bin/python scripts/make_camera_strip.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ghibli_core.camera import CameraSettings, move_still  # noqa: E402
from ghibli_core.camera.scenes import PlaneScene  # noqa: E402

MOVES = ("push-in", "truck-right", "orbit-right", "pan-left")
COLUMNS = (0, 4, 8, 11)
W, H, LABEL = 200, 150, 110


def main() -> None:
    image, z = PlaneScene.two_planes(seed=11).render(np.eye(4), W, H, 40)
    sheet = Image.new("RGB", (LABEL + len(COLUMNS) * (W + 4), len(MOVES) * (H + 4) + 24), "white")
    draw = ImageDraw.Draw(sheet)
    for c, k in enumerate(COLUMNS):
        draw.text((LABEL + c * (W + 4) + W // 2 - 20, 6), f"frame {k}", fill="black")
    for r, move in enumerate(MOVES):
        frames = move_still(image, z, CameraSettings(move, near=2.0, far=6.0).path(12)).frames
        y = 24 + r * (H + 4)
        draw.text((8, y + H // 2 - 6), move, fill="black")
        for c, k in enumerate(COLUMNS):
            sheet.paste(Image.fromarray(frames[k]), (LABEL + c * (W + 4), y))
    out = ROOT / "docs" / "camera_moves.png"
    sheet.save(out, optimize=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
