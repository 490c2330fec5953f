"""Photos the tests make as cameras and scanners store them: sideways with an EXIF orientation, 16-bit grey."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def sideways(image: np.ndarray, path: Path) -> Path:
    """`image` stored as a phone stores a portrait photo: the pixels a quarter turn counter-clockwise, and an EXIF
    orientation (6) saying to turn them a quarter clockwise to show them."""
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(image, 1)))
    exif = stored.getexif()
    exif[0x0112] = 6
    stored.save(path, exif=exif)
    return path
