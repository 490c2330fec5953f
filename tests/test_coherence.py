"""Long chains stay sharp: the steps before each img2img (contrast -> unsharp mask -> grain, after colour matching),
`auto` sharpening's feedback, and the evidence: a synthetic chain whose degrading operator stands in for img2img."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

from ghibli_core.animate import AnimationSettings
from ghibli_core.coherence import (AUTO_MAX_AMOUNT, SharpnessHold, adjust_contrast, auto_amount, degrade, grain,
                                   painted_texture, perlin_noise, prepare_init, run_chain, unsharp_mask)
from ghibli_core.metrics import rms_contrast, sharpness

OFF = dict(color_coherence=0.0, sharpen=0.0, noise=0.0, contrast=1.0)


@pytest.mark.parametrize("seed,blur,loss", [(0, 0.5, 0.025), (1, 0.6, 0.03), (2, 0.8, 0.05)])
def test_evidence_defaults_hold_sharpness_and_contrast_over_30_steps(seed, blur, loss):
    first = painted_texture(seed, 160)
    step = partial(degrade, blur=blur, contrast_loss=loss)
    kept = run_chain(first, AnimationSettings(frames=31), 30, step)
    lost = run_chain(first, AnimationSettings(frames=31, **OFF), 30, step)
    s0, c0 = sharpness(first), rms_contrast(first)
    assert len(kept) == len(lost) == 31
    # with the defaults: within 25 % of frame 1's after 30 steps
    assert abs(sharpness(kept[-1]) / s0 - 1) <= 0.25 and abs(rms_contrast(kept[-1]) / c0 - 1) <= 0.25
    # without them (no colour match, no sharpening, no grain): both fall by more than half
    assert sharpness(lost[-1]) / s0 < 0.5 and rms_contrast(lost[-1]) / c0 < 0.5


def test_a_chain_that_keeps_its_detail_is_not_sharpened():
    first = painted_texture(3, 128)
    frames = run_chain(first, AnimationSettings(frames=11, noise=0.0, color_coherence=0.0), 10, step=lambda image: image)
    assert all(np.array_equal(f, first) for f in frames)  # a lossless step: auto sharpening has nothing to undo


def test_auto_amount_reaches_the_target_in_closed_form():
    image = degrade(painted_texture(1, 128), blur=1.0, contrast_loss=0).astype(np.float32)
    target = sharpness(image) * 3
    amount = auto_amount(image, target)
    assert 0 < amount < AUTO_MAX_AMOUNT
    assert sharpness(unsharp_mask(image, amount)) == pytest.approx(target, rel=1e-3)
    assert auto_amount(image, sharpness(image) * 0.5) == 0.0  # already sharper than asked
    assert auto_amount(image, sharpness(image) * 1e6) == AUTO_MAX_AMOUNT  # capped


def test_prepare_applies_contrast_then_sharpen_then_noise():
    image = painted_texture(2, 96)
    out, applied = prepare_init(image, contrast=1.2, sharpen=0.3, noise=0.05, seed=9)
    expected = adjust_contrast(image.astype(np.float32), 1.2)
    expected = unsharp_mask(expected, 0.3) + grain(image.shape, 0.05, 9)
    assert np.array_equal(out, np.clip(expected, 0, 255).round().astype(np.uint8))
    assert applied == {"contrast": 1.2, "sharpen": 0.3, "noise": 0.05}
    same, _ = prepare_init(image, contrast=1.0, sharpen=0.0, noise=0.0, seed=9)
    assert np.array_equal(same, image)


def test_contrast_keeps_the_mean_and_scales_the_spread():
    image = painted_texture(4, 64).astype(np.float32)
    out = adjust_contrast(image, 1.5)
    assert out.mean() == pytest.approx(image.mean(), abs=1e-3)
    assert out.std() == pytest.approx(image.std() * 1.5, rel=1e-4)


def test_grain_is_perlin_shaped_seeded_and_sized():
    rng = np.random.default_rng(0)
    mask = perlin_noise(128, 96, rng)
    assert mask.shape == (128, 96) and mask.min() >= 0 and mask.max() <= 1 and mask.std() > 0.05
    # smooth: neighbouring values are strongly correlated (patches, not salt and pepper)
    assert np.corrcoef(mask[:, :-1].ravel(), mask[:, 1:].ravel())[0, 1] > 0.95
    a, b = grain((64, 64, 3), 0.1, 5), grain((64, 64, 3), 0.1, 5)
    assert np.array_equal(a, b) and not np.array_equal(a, grain((64, 64, 3), 0.1, 6))
    assert 0.02 * 255 < a.std() < 0.1 * 255  # std 0.1 where the mask is full, less elsewhere


def test_the_hold_integrates_and_stops_winding_up():
    hold = SharpnessHold(100.0)
    assert hold.next_target(100.0) == 100.0  # first link: frame 1's sharpness
    assert hold.next_target(50.0) == 200.0  # the painted frame fell to half: ask twice as much of the init
    hold.saturated = True
    assert hold.next_target(50.0) == 200.0  # at the cap: asking for more changes nothing, so it does not grow
    assert hold.next_target(400.0) == 100.0  # overshoot is brought down (at most by half a step)
    again = SharpnessHold.from_state(100.0, hold.state())
    assert (again.target, again.saturated) == (hold.target, hold.saturated)


# --- the same steps on a GPU run's device (coherence_torch.py; torch on the CPU here) ----------------------------------

#: torch devices here: the CPU, and a GPU where there is one (the device path is what a GPU run uses)
TORCH_DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


@pytest.mark.parametrize("device", TORCH_DEVICES)
def test_the_device_path_prepares_the_same_init_as_the_cpu_path(device):
    import cv2

    from ghibli_core import coherence_torch as dev

    image = painted_texture(seed=2, size=128)
    planar = torch.from_numpy(image).permute(2, 0, 1).float()
    assert torch.allclose(dev.gaussian_blur(planar, 5, 1.0), torch.from_numpy(
        cv2.GaussianBlur(image.astype(np.float32), (5, 5), 1.0)).permute(2, 0, 1), atol=1e-3)
    grey = dev.luminance(planar)
    assert torch.allclose(dev.laplacian(grey)[0], torch.from_numpy(cv2.Laplacian(grey[0].numpy(), cv2.CV_32F, ksize=1)), atol=1e-3)
    assert dev.sharpness(planar) == pytest.approx(sharpness(image), rel=1e-4)
    blurred = degrade(degrade(image))
    for kw in (dict(contrast=1.0, sharpen="auto", noise=0.02), dict(contrast=1.15, sharpen=0.6, noise=0.0),
               dict(contrast=0.9, sharpen="auto", noise=0.0)):
        hold_cpu, hold_dev = SharpnessHold(sharpness(image)), SharpnessHold(sharpness(image))
        for step in range(3):  # a short chain: the holds' memories must stay in step too
            cpu, applied_cpu = prepare_init(blurred, seed=step, hold=hold_cpu, **kw)
            on, applied_dev = dev.prepare_init_torch(blurred, seed=step, hold=hold_dev, device=device, **kw)
            assert applied_dev["sharpen"] == pytest.approx(applied_cpu["sharpen"], abs=2e-3), kw
            target = applied_cpu["sharpen_target"]
            assert applied_dev["sharpen_target"] == (pytest.approx(target, rel=1e-3) if target is not None else None)
            assert np.abs(cpu.astype(int) - on).max() <= 1 and np.mean(cpu != on) < 0.01, kw


@pytest.mark.parametrize("device", TORCH_DEVICES)
@pytest.mark.parametrize("mode", ["meanstd", "histogram"])
def test_the_device_path_matches_colours_as_the_cpu_path(mode, device):
    from ghibli_core.blend.color import match_color
    from ghibli_core.coherence_torch import match_color_torch

    reference = painted_texture(seed=1, size=96)
    frame = np.clip(painted_texture(seed=4, size=96).astype(int) * [1.2, 0.9, 0.7] + [10, 0, -5], 0, 255).astype(np.uint8)
    for strength in (0.5, 1.0):
        cpu, on = match_color(frame, reference, strength, mode), match_color_torch(frame, reference, strength, mode, device)
        diff = np.abs(cpu.astype(int) - on)
        # (the LAB levels of the two paths differ by one here and there; a histogram match moves such a pixel to a
        # neighbouring rank, so a few pixels land further off)
        assert diff.mean() < 0.6 and np.percentile(diff, 99) <= (3 if mode == "meanstd" else 5), (mode, strength, diff.mean())
    assert match_color_torch(frame, reference, 0.0, mode) is frame
