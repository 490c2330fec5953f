"""LoRA training data: both dataset layouts, the transforms, and bad datasets refused with the fix."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ghibli_core.errors import InputError
from ghibli_core.train import CaptionedImages, dataset_fingerprint, scan_dataset


def _image(path, size=(96, 64), seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)


def _txt_set(root, n=3):
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        _image(root / f"img_{i}.png", seed=i)
        (root / f"img_{i}.txt").write_text(f"ghibli style, scene {i}\n")
    return root


def test_same_name_txt_captions(tmp_path):
    examples = scan_dataset(_txt_set(tmp_path / "d"))
    assert [e.image.name for e in examples] == ["img_0.png", "img_1.png", "img_2.png"]
    assert examples[1].caption == "ghibli style, scene 1"


def test_metadata_jsonl_the_imagefolder_convention(tmp_path):
    root = tmp_path / "d"
    root.mkdir()
    for i in range(2):
        _image(root / f"{i}.jpg", seed=i)
    lines = [{"file_name": "0.jpg", "text": "a hill"}, {"file_name": "1.jpg", "caption": "a river"}]
    (root / "metadata.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    assert [(e.image.name, e.caption) for e in scan_dataset(root)] == [("0.jpg", "a hill"), ("1.jpg", "a river")]


@pytest.mark.parametrize("break_it, words", [
    (lambda r: (r / "img_1.txt").unlink(), ["img_1.png has no caption", "img_1.txt"]),
    (lambda r: (r / "img_2.png").write_bytes(b"not an image"), ["img_2.png is not a readable image"]),
    (lambda r: [p.unlink() for p in r.iterdir()], ["holds no images"]),
    (lambda r: (r / "metadata.jsonl").write_text('{"file_name": "gone.png", "text": "x"}\n'), ["no image 'gone.png'"]),
    (lambda r: (r / "metadata.jsonl").write_text('{"file_name": "img_0.png"}\n'), ["lacks file_name or a text caption"]),
    (lambda r: (r / "metadata.jsonl").write_text("{oops\n"), ["line 1 is not JSON"]),
    (lambda r: (r / "metadata.jsonl").write_text('{"file_name": "../outside.png", "text": "x"}\n'), ["no image '../outside.png'"]),
])
def test_bad_datasets_are_refused_naming_the_problem(tmp_path, break_it, words):
    root = _txt_set(tmp_path / "d")
    _image(tmp_path / "outside.png")
    break_it(root)
    with pytest.raises(InputError) as exc:
        scan_dataset(root)
    assert str(exc.value).startswith("data: ") and all(w in str(exc.value) for w in words), str(exc.value)


def test_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(InputError, match="data: no folder at"):
        scan_dataset(tmp_path / "nope")


def test_images_become_square_tensors_in_minus_one_to_one(tmp_path):
    examples = scan_dataset(_txt_set(tmp_path / "d"))
    item = CaptionedImages(examples, 64)[0]
    px = item["pixel_values"]
    assert px.shape == (3, 64, 64) and px.dtype == torch.float32 and -1.0 <= px.min() and px.max() <= 1.0
    assert item["caption"] == "ghibli style, scene 0"
    # random crops and flips vary from pass to pass, and repeat for the same (seed, pass): resumable
    draws = CaptionedImages(examples, 64, crop="random", flip=True, seed=3)
    again = CaptionedImages(examples, 64, crop="random", flip=True, seed=3)
    passes = [draws.item(0, epoch)["pixel_values"] for epoch in range(6)]
    assert all(torch.equal(x, again.item(0, e)["pixel_values"]) for e, x in enumerate(passes))
    assert any(not torch.equal(passes[0], x) for x in passes[1:])
    again.set_epoch(4)
    assert torch.equal(again[0]["pixel_values"], passes[4])
    with pytest.raises(InputError, match="resolution"):
        CaptionedImages(examples, 100)
    with pytest.raises(InputError, match="crop"):
        CaptionedImages(examples, 64, crop="smart")


def test_the_dataset_hash_follows_images_and_captions(tmp_path):
    root = _txt_set(tmp_path / "d")
    before = dataset_fingerprint(scan_dataset(root))
    assert before == dataset_fingerprint(scan_dataset(root)) and len(before) == 64
    (root / "img_0.txt").write_text("another caption")
    assert dataset_fingerprint(scan_dataset(root)) != before
