"""Revealed areas painted fresh, at no extra cost: a per-pixel start over the img2img chain's own steps.

When the camera moves, parts of the new view were never seen (behind an edge, or outside the old frame). They are
filled in plausibly first (inpainting), but that fill is a smear: it needs more denoising than the rest. Running the
frame from a higher strength would cost extra steps; instead, for the first `boost` steps only the revealed areas
evolve, while every other latent pixel is put back to the moved frame noised to the next step's level (as in
differential diffusion). The revealed areas get all the chain's steps, the rest joins `boost` steps later.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass
class RevealedStart:
    """Holds the moved frame's clean latents, the latent-resolution mask and a fixed noise, and re-noises the
    not-revealed latents after each of the first `boost` steps (`apply`, called from the step callback)."""

    clean: torch.Tensor
    mask: torch.Tensor  # 1 = revealed (evolves from the start), 0 = joins after `boost` steps
    noise: torch.Tensor
    boost: int

    @classmethod
    def prepare(cls, pipe: Any, image: Any, revealed: np.ndarray, *, height: int, width: int, generator: torch.Generator,
                noise_seed: int, steps: int, share: float) -> tuple["RevealedStart | None", Any]:
        """(the helper, the image to pass to the pipeline). The image is encoded here exactly as the pipeline would
        (same preprocessing, same generator draw), so the run is unchanged apart from the re-noising; without
        revealed pixels or boost steps: (None, image)."""
        from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import retrieve_latents

        boost = boost_steps(steps, share)
        if boost < 1 or not revealed.any():
            return None, image
        device, dtype = pipe._execution_device, pipe.vae.dtype
        pixels = pipe.image_processor.preprocess(image, height=height, width=width).to(device=device, dtype=dtype)
        # diffusers' own helper: a VAE's sampled latent, or a tiny autoencoder's latents (which it returns directly)
        latents = retrieve_latents(pipe.vae.encode(pixels), generator) * pipe.vae.config.scaling_factor
        h, w = latents.shape[-2:]
        cells = torch.from_numpy(revealed.astype(np.float32))[None, None]
        mask = torch.nn.functional.adaptive_max_pool2d(cells, (h, w)).to(device=device, dtype=latents.dtype)  # any revealed pixel
        noise = torch.randn(latents.shape, generator=torch.Generator("cpu").manual_seed(noise_seed)).to(device, latents.dtype)
        return cls(latents, mask, noise, boost), latents

    def apply(self, pipe: Any, step: int, timestep: Any, latents: torch.Tensor) -> torch.Tensor:
        """After step `step` (0-based, at `timestep`): for the first `boost` steps, the not-revealed latents are the
        moved frame noised to the next step's level."""
        if step >= self.boost:
            return latents
        timesteps = pipe.scheduler.timesteps
        at = int((timesteps == timestep).nonzero()[0, 0]) if (timesteps == timestep).any() else step
        nxt = timesteps[min(at + 1, len(timesteps) - 1)].reshape(1)
        # (schedulers that track their step index, like DPM++ and Euler, take the next step's level from it)
        held = pipe.scheduler.add_noise(self.clean, self.noise, nxt)
        return self.mask * latents + (1 - self.mask) * held.to(latents.dtype)


def boost_steps(steps: int, share: float) -> int:
    """Steps the revealed areas get on their own, of an img2img frame's `steps`."""
    return min(steps - 1, max(1, math.floor(steps * share + 0.5))) if share > 0 and steps > 1 else 0
