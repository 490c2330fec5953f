"""A user's pictures as they are shown (readers.shown_rgb): upright by their EXIF orientation, deep greys scaled to 8
bits, wherever a picture comes in (an init image, a photo to move, a folder of frames, training images)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ghibli_core.job import open_init_image
from ghibli_core.readers import load_frames, shown_rgb

from photos import sideways


def test_a_folder_of_phone_photos_is_read_upright(tmp_path):
    upright = np.random.default_rng(0).integers(0, 255, (40, 64, 3), dtype=np.uint8)
    (tmp_path / "frames").mkdir()
    for i in range(2):
        sideways(upright, tmp_path / "frames" / f"f{i}.png")
    frames, _ = load_frames(tmp_path / "frames")
    assert all(np.array_equal(f, upright) for f in frames)


def test_an_init_image_is_upright(tmp_path):
    upright = np.random.default_rng(1).integers(0, 255, (24, 40, 3), dtype=np.uint8)
    assert np.asarray(open_init_image(sideways(upright, tmp_path / "p.jpg"))).shape == upright.shape
    assert np.array_equal(np.asarray(open_init_image(sideways(upright, tmp_path / "p.png"))), upright)


@pytest.mark.parametrize("kind", ["16-bit PNG", "float TIFF"])
def test_deep_grey_pictures_keep_their_tones(tmp_path, kind):
    """Pillow's own RGB conversion clips a 16-bit grey picture to white; its tones are kept, scaled to 8 bits."""
    ramp = np.linspace(0, 1, 64 * 32).reshape(32, 64)
    if kind == "16-bit PNG":
        path = tmp_path / "grey.png"
        Image.fromarray((ramp * 65535).round().astype(np.uint16)).save(path)
    else:
        path = tmp_path / "grey.tif"
        Image.fromarray(ramp.astype(np.float32), "F").save(path)
    image = np.asarray(open_init_image(path))
    assert image.shape == (32, 64, 3) and np.array_equal(image[..., 0], image[..., 2])
    assert np.abs(image[..., 0].astype(float) - ramp * 255).max() <= 1


def test_eight_bit_pictures_are_unchanged():
    rgb = np.random.default_rng(2).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    assert np.array_equal(np.asarray(shown_rgb(Image.fromarray(rgb))), rgb)
    grey = rgb[..., 0]
    assert np.array_equal(np.asarray(shown_rgb(Image.fromarray(grey)))[..., 1], grey)


def test_an_iphones_heic_photos_are_read(tmp_path):
    """HEIC is an iPhone's own photo format: read as an init image, a still to move, frames and training images."""
    from pillow_heif import register_heif_opener

    register_heif_opener()  # to write the test's photos (the readers register it themselves to read them)
    smooth = np.asarray(Image.fromarray(np.random.default_rng(3).integers(0, 255, (6, 8, 3), dtype=np.uint8))
                        .resize((64, 48), Image.Resampling.BICUBIC))
    (tmp_path / "roll").mkdir()
    for i in range(2):
        Image.fromarray(smooth).save(tmp_path / "roll" / f"IMG_{i}.HEIC", quality=95)
    image = np.asarray(open_init_image(tmp_path / "roll" / "IMG_0.HEIC"))
    assert image.shape == (48, 64, 3) and np.abs(image.astype(int) - smooth).mean() < 10  # lossy, 4:2:0 colour
    frames, _ = load_frames(tmp_path / "roll")
    assert len(frames) == 2 and frames[1].shape == (48, 64, 3)


def test_a_picture_too_large_to_open_safely_is_refused_in_one_line(tmp_path, monkeypatch):
    """Pillow refuses pictures past its decompression-bomb limit with its own exception, not an OSError."""
    from ghibli_core.errors import InputError

    Image.new("RGB", (64, 64)).save(tmp_path / "pano.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 64x64 is past twice this: Pillow's error, not its warning
    with pytest.raises(InputError, match=r"^init-image: pano\.png has more pixels than are opened safely .*scale it down"):
        open_init_image(tmp_path / "pano.png")
    (tmp_path / "frames").mkdir()
    Image.new("RGB", (64, 64)).save(tmp_path / "frames" / "f0.png")
    with pytest.raises(InputError, match=r"f0\.png has more pixels than are opened safely"):
        load_frames(tmp_path / "frames")
