"""Real-use defaults, written in one place (shown in `--help` and README)."""
from __future__ import annotations

#: Stable Diffusion 1.5 base weights (diffusers layout on the Hugging Face hub).
BASE_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"
#: The depth ControlNet for SD1.5 (v1.1, trained on MiDaS/LeReS/ZoeDepth maps).
CONTROLNET = "lllyasviel/control_v11f1p_sd15_depth"
#: A small, fast monocular depth model loadable by transformers' depth-estimation pipeline.
DEPTH_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"
#: The ControlNet v1.1 model of each edge control kind (`--control KIND`), beside the depth ControlNet.
EDGE_CONTROLNETS = {
    "canny": "lllyasviel/control_v11p_sd15_canny",
    "softedge": "lllyasviel/control_v11p_sd15_softedge",
    "lineart": "lllyasviel/control_v11p_sd15_lineart",
    "lineart_anime": "lllyasviel/control_v11p_sd15s2_lineart_anime",
}
#: An edge control's conditioning scale when none is written (`--control canny` = `canny:0.5`).
EDGE_SCALE = 0.5
#: Where the learned edge detectors' weights come from (ControlNet's annotator files: ControlNetHED.pth, sk_model.pth...).
ANNOTATORS = "lllyasviel/Annotators"
#: Where the model files ComfyUI workflows name by default come from: file name -> (ComfyUI model folder, download URL).
MODEL_DOWNLOADS = {
    "v1-5-pruned-emaonly-fp16.safetensors": (
        "checkpoints", "https://huggingface.co/Comfy-Org/stable-diffusion-v1-5-archive/resolve/main/v1-5-pruned-emaonly-fp16.safetensors"),
    "control_v11f1p_sd15_depth_fp16.safetensors": (
        "controlnet", "https://huggingface.co/comfyanonymous/ControlNet-v1-1_fp16_safetensors/resolve/main/control_v11f1p_sd15_depth_fp16.safetensors"),
    "Depth-Anything-V2-Small-hf": ("depth", "https://huggingface.co/depth-anything/Depth-Anything-V2-Small-hf"),
}

#: The text-to-music model `--music` uses (transformers' MusicGen; its weights are licensed CC-BY-NC 4.0).
MUSIC_MODEL = "facebook/musicgen-small"
#: MusicGen's classifier-free guidance (its own generation config's default).
MUSIC_GUIDANCE = 3.0

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

# --- the schedule -------------------------------------------------------------------------------------------
#: The named presets' values (presets.py builds `Preset`s from them; `AnimationSettings()` takes the default's).
#: cache_interval / controlnet_end / cfg_end reuse work across denoising steps (models/reuse.py): quality reuses none.
PRESET_VALUES = {
    "quality": {"steps": 25, "strength": 0.55, "scheduler": "dpm++", "controlnet_scale": 0.8, "cadence": 1, "interpolate": 1,
                "cache_interval": 1, "controlnet_end": 1.0, "cfg_end": 1.0},
    "balanced": {"steps": 16, "strength": 0.45, "scheduler": "dpm++", "controlnet_scale": 0.8, "cadence": 2, "interpolate": 1,
                 "cache_interval": 2, "controlnet_end": 0.5, "cfg_end": 0.5},
    "fast": {"steps": 10, "strength": 0.5, "scheduler": "dpm++", "controlnet_scale": 0.7, "cadence": 4, "interpolate": 1,
             "cache_interval": 3, "controlnet_end": 0.5, "cfg_end": 0.4},
    # few-step sampling: 4 LCM steps x strength 0.5 = 2 per img2img frame, one conditional batch (guidance 1), every 4th
    # frame painted; made for a speed LoRA (--speed-lora), without which LCM's few steps paint blurred frames
    "turbo": {"steps": 4, "strength": 0.5, "scheduler": "lcm", "controlnet_scale": 0.7, "cadence": 4, "interpolate": 1,
              "cache_interval": 2, "controlnet_end": 1.0, "cfg_end": 1.0, "guidance": 1.0},
}
#: Models a preset paints with unless the command names others (`none` drops one): turbo's few-step LoRA (LCM-LoRA for
#: SD1.5) and, for its drafts, TAESD encoding and decoding instead of the model's VAE (the VAE would be half its time).
PRESET_MODELS: dict[str, dict[str, str]] = {
    "turbo": {"speed_lora": "latent-consistency/lcm-lora-sdv1-5", "tiny_vae": "madebyollin/taesd"},
}
#: The speed LoRA --speed-lora names when given a bare keyword, and the file a hub repo of one holds.
SPEED_LORA_FILE = "pytorch_lora_weights.safetensors"
DEFAULT_PRESET = "balanced"


def preset_value(name: str) -> object:
    """The default preset's value of a setting (steps, strength, scheduler, controlnet_scale, cadence, interpolate,
    cache_interval, controlnet_end, cfg_end)."""
    return PRESET_VALUES[DEFAULT_PRESET][name]


#: Planned frames when neither --frames nor a plan file says.
FRAMES = 8
#: Frame size for real models (SD1.5 is trained at 512) and for the tiny random ones.
SIZE = 512
TINY_SIZE = 64


def size(tiny: bool = False) -> tuple[int, int]:
    """(width, height) when no size is given."""
    side = TINY_SIZE if tiny else SIZE
    return side, side


GUIDANCE = 7.5
#: Quality figures are measured on a copy scaled to this long side (smaller frames as they are), so measuring never
#: costs like painting; `--metrics full` measures the frames themselves.
METRICS_SIDE = 256
#: With a camera, the share of an img2img frame's steps that newly revealed areas get before the rest joins.
REVEAL_BOOST = 0.25
COLOR_MATCH = 0.5
COLOR_MODE = "meanstd"
SEED_POLICY = "fixed"
#: Frame rate of painted frames; in-betweens multiply it (schedule.default_fps), up to GIF's practical ceiling.
BASE_FPS = 8.0
MAX_DEFAULT_FPS = 50.0
#: Planner sampling temperature and seconds per request.
TEMPERATURE = 0.7
PLAN_TIMEOUT = 60.0

#: The camera's lens (horizontal field of view, degrees) and the scene depth of the nearest and farthest points of a
#: relative depth map (camera/depth.py): camera moves are measured in those units.
CAMERA_FOV = 40.0
CAMERA_NEAR = 1.0
CAMERA_FAR = 10.0

#: `ghibli-anim move`: frames of a camera move over a still, and their rate.
MOVE_FRAMES = 24
MOVE_FPS = 12.0
#: ... and its move when none is given (no --camera, no axis): a gentle sway that comes home, so the file loops.
MOVE_CAMERA = "sway"

# --- long chains (coherence.py): what is done to a frame before it seeds the next img2img step -------------------
#: Luminance contrast factor (1 = unchanged: colour matching already holds frame 1's contrast).
CONTRAST = 1.0
#: Unsharp mask: `auto` holds frame 1's sharpness (measured each step), or a fixed amount (Deforum's default is 0.1).
SHARPEN = "auto"
SHARPEN_KERNEL = 5
SHARPEN_SIGMA = 1.0
#: Perlin-shaped grain, standard deviation on the 0..1 scale (about 5 grey levels).
NOISE = 0.02
