"""Draw the pack's pictures from a landscape painted in code (scripts/landscape.py) moved by the engine's own camera:
docs/camera_moves.png (README's frame strip of named moves), the template thumbnails beside the canvas workflows, and
docs/icon.png (the registry icon).

    .venv/bin/python scripts/make_art.py
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from build_workflows import UI_NAMES  # noqa: E402
from ghibli_core.camera import CameraSettings, inverse_depth_to_z, move_still  # noqa: E402
from landscape import paint_landscape  # noqa: E402

NEAR, FAR = 1.5, 12.0
MOVES = ("push-in", "pan-left", "truck-right:0.5", "orbit-right:0.5", "sway")
COLUMNS = (0, 4, 8, 11)
#: Each canvas workflow's thumbnail: the move it shows.
THUMBNAIL_MOVES = {"ghibli_animation": "orbit-right:0.4", "ghibli_minimal": "push-in", "ghibli_video": "truck-right:0.5"}


@functools.lru_cache(maxsize=4)
def landscape(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    return paint_landscape(w, h)


def frames_of(move: str, w: int, h: int, n: int = 12) -> list[np.ndarray]:
    image, depth = landscape(w, h)
    z = inverse_depth_to_z(depth, NEAR, FAR)
    return move_still(image, z, CameraSettings(move, near=NEAR, far=FAR).path(n)).frames


def camera_strip() -> Path:
    w, h, label = 220, 165, 100
    sheet = Image.new("RGB", (label + len(COLUMNS) * (w + 4), len(MOVES) * (h + 4) + 24), "white")
    draw = ImageDraw.Draw(sheet)
    for c, k in enumerate(COLUMNS):
        draw.text((label + c * (w + 4) + w // 2 - 20, 6), f"frame {k}", fill="black")
    for r, move in enumerate(MOVES):
        frames = frames_of(move, w, h)
        y = 24 + r * (h + 4)
        draw.text((8, y + h // 2 - 6), move, fill="black")
        for c, k in enumerate(COLUMNS):
            sheet.paste(Image.fromarray(frames[k]), (label + c * (w + 4), y))
    out = ROOT / "docs" / "camera_moves.png"
    sheet.save(out, optimize=True)
    return out


def thumbnail(move: str) -> Image.Image:
    """A large frame of the move above a strip of four frames of it (the template browser shows it as a card)."""
    size, strip = 512, 512 // 4
    frames = frames_of(move, size, size * 3 // 4)
    card = Image.new("RGB", (size, size * 3 // 4 + strip * 3 // 4), (250, 246, 236))
    card.paste(Image.fromarray(frames[6]), (0, 0))
    for c, k in enumerate(COLUMNS):
        small = Image.fromarray(frames[k]).resize((strip - 4, (strip - 4) * 3 // 4), Image.Resampling.LANCZOS)
        card.paste(small, (c * strip + 2, size * 3 // 4 + 2))
    return card


def icon() -> Path:
    image, _ = paint_landscape(384, 384, seed=5)
    out = ROOT / "docs" / "icon.png"
    Image.fromarray(image).save(out, optimize=True)
    return out


def main() -> None:
    print(f"wrote {camera_strip()}")
    for stem, move in THUMBNAIL_MOVES.items():
        out = ROOT / "workflows" / f"{UI_NAMES[stem]}.jpg"
        thumbnail(move).save(out, quality=88, optimize=True)
        print(f"wrote {out}")
    print(f"wrote {icon()}")


if __name__ == "__main__":
    main()
