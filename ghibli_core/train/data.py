"""Training data: images with captions, in either of the two layouts people already have.

- a folder of images, each with a same-name `.txt` caption (`forest_01.png` + `forest_01.txt`), or
- a `metadata.jsonl` beside the images, one `{"file_name": ..., "text": ...}` per line (the Hugging Face
  `imagefolder` convention, so the same folder loads with `datasets.load_dataset("imagefolder", data_dir=...)`).

Every image is opened and every caption read when the folder is scanned, so a bad dataset is refused before
any model loads.
"""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from ..errors import InputError, check_choice
from ..readers import open_picture

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".heic", ".heif")
CROP_MODES = ("center", "random")
#: Caption columns accepted in metadata.jsonl, in order of preference.
CAPTION_KEYS = ("text", "caption", "prompt")


@dataclass(frozen=True)
class Example:
    """One training image and its caption."""

    image: Path
    caption: str


def _read_jsonl(root: Path) -> list[Example]:
    meta = root / "metadata.jsonl"
    examples = []
    for n, line in enumerate(meta.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError("data", f"metadata.jsonl line {n} is not JSON ({exc.msg})", 'write one {"file_name": ..., "text": ...} per line') from exc
        name = row.get("file_name") if isinstance(row, dict) else None
        caption = next((row[k] for k in CAPTION_KEYS if isinstance(row, dict) and isinstance(row.get(k), str)), None)
        if not isinstance(name, str) or caption is None:
            raise InputError("data", f"metadata.jsonl line {n} lacks file_name or a text caption", 'write {"file_name": "a.png", "text": "..."}')
        path = (root / name).resolve()
        if root.resolve() not in path.parents or not path.is_file():
            raise InputError("data", f"metadata.jsonl line {n}: no image {name!r} in {root}", "fix the file_name or add the image")
        examples.append(Example(path, caption.strip()))
    return examples


def _read_txt_pairs(root: Path) -> list[Example]:
    images = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
    missing = [p.name for p in images if not p.with_suffix(".txt").is_file()]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise InputError("data", f"{', '.join(missing[:3])}{more} has no caption",
                         f"add a same-name .txt next to each image (e.g. {Path(missing[0]).with_suffix('.txt').name}), or a metadata.jsonl")
    return [Example(p, p.with_suffix(".txt").read_text(encoding="utf-8").strip()) for p in images]


def scan_dataset(root: str | Path) -> list[Example]:
    """The examples of a dataset folder, every image checked readable; an `InputError` names the first problem."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise InputError("data", f"no folder at {root}", "give a folder of images with same-name .txt captions")
    examples = _read_jsonl(root) if (root / "metadata.jsonl").is_file() else _read_txt_pairs(root)
    if not examples:
        raise InputError("data", f"{root} holds no images", f"add {'/'.join(IMAGE_EXTS)} images with same-name .txt captions or a metadata.jsonl")
    for ex in examples:  # every picture read now, so a bad one fails before any model loads
        open_picture(ex.image, "data", "remove or replace it")
    return examples


def dataset_fingerprint(examples: list[Example]) -> str:
    """sha256 over every image's bytes and caption, in order: the dataset hash stored in the LoRA's metadata."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(ex.image.read_bytes())
        digest.update(b"\0" + ex.caption.encode("utf-8") + b"\0")
    return digest.hexdigest()


class CaptionedImages(torch.utils.data.Dataset):
    """Images scaled so the short side is `resolution`, cropped square (centre or random), optionally flipped;
    `pixel_values` in [-1, 1] as the SD VAE expects, with the caption."""

    def __init__(self, examples: list[Example], resolution: int = 512, *, crop: str = "center", flip: bool = False,
                 seed: int = 0) -> None:
        check_choice("crop", crop, CROP_MODES, "mode")
        if resolution < 64 or resolution % 8:
            raise InputError("resolution", f"{resolution} is not a multiple of 8 of at least 64", "use e.g. 512")
        self.examples, self.resolution, self.crop, self.flip, self.seed = list(examples), resolution, crop, flip, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.examples)

    def set_epoch(self, epoch: int) -> None:
        """Draw the crops and flips of pass `epoch` over the data."""
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict:
        return self.item(index, self.epoch)

    def item(self, index: int, epoch: int) -> dict:
        """Example `index` as augmented in pass `epoch`: a pure function of (seed, epoch, index), so a resumed
        run sees exactly the crops an uninterrupted one would have."""
        ex = self.examples[index]
        rng = random.Random(f"{self.seed}:{epoch}:{index}")
        image = open_picture(ex.image, "data", "remove or replace it")
        size = self.resolution
        scale = size / min(image.size)
        image = image.resize((max(size, round(image.width * scale)), max(size, round(image.height * scale))), Image.Resampling.BICUBIC)
        if self.crop == "center":
            left, top = (image.width - size) // 2, (image.height - size) // 2
        else:
            left, top = rng.randint(0, image.width - size), rng.randint(0, image.height - size)
        image = image.crop((left, top, left + size, top + size))
        if self.flip and rng.random() < 0.5:
            image = ImageOps.mirror(image)
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1).contiguous()
        return {"pixel_values": pixels, "caption": ex.caption}
