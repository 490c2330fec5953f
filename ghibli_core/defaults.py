"""Real-use defaults, written in one place (shown in `--help` and README)."""
from __future__ import annotations

#: Stable Diffusion 1.5 base weights (diffusers layout on the Hugging Face hub).
BASE_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"
#: The depth ControlNet for SD1.5 (v1.1, trained on MiDaS/LeReS/ZoeDepth maps).
CONTROLNET = "lllyasviel/control_v11f1p_sd15_depth"
#: A small, fast monocular depth model loadable by transformers' depth-estimation pipeline.
DEPTH_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"

#: Words every frame prompt carries so the look holds from frame to frame.
STYLE_TAG = "Studio Ghibli style"
STYLE_SUFFIX = f"{STYLE_TAG}, hand-painted anime background, soft watercolor textures, warm natural light"
NEGATIVE_PROMPT = (
    "photo, photorealistic, 3d render, lowres, blurry, jpeg artifacts, text, watermark, signature, "
    "deformed, extra limbs, oversaturated"
)

#: Chat models each plan backend uses when none is given.
PLAN_MODELS = {
    "hf": "mistralai/Mistral-7B-Instruct-v0.3",  # the original notebook's planner, via HF Inference Providers
    "openai": "gpt-4o-mini",
    "transformers": "Qwen/Qwen2.5-0.5B-Instruct",  # small enough for a CPU
}
