"""What a LoRA training run does, checked before anything loads."""
from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass, field

from ..errors import InputError, check_range, check_choice
from .data import CROP_MODES

#: LR schedules of `diffusers.optimization.get_scheduler` that need nothing beyond warm-up and length.
LR_SCHEDULERS = ("constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts", "polynomial")
MIXED_PRECISION = ("auto", "no", "fp16", "bf16")
OPTIMIZERS = ("auto", "adamw", "adamw8bit")
#: peft target modules: the SD1.5 UNet's attention projections, and the CLIP text encoder's.
UNET_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
TEXT_ENCODER_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")


@dataclass(frozen=True)
class TrainSettings:
    """A style-LoRA run on SD1.5. Defaults are the common SD1.5 style-LoRA recipe (rank 16, lr 1e-4, 512²)."""

    rank: int = 16
    #: LoRA alpha; the update is scaled by alpha / rank. None = rank (scale 1).
    alpha: float | None = None
    dropout: float = 0.0
    #: also train LoRA layers on the text encoder's attention
    text_encoder: bool = False
    learning_rate: float = 1e-4
    #: learning rate of the text-encoder LoRA; None = `learning_rate`
    text_encoder_lr: float | None = None
    lr_scheduler: str = "constant_with_warmup"
    #: warm-up optimizer steps; None = 5 % of `max_steps`
    warmup_steps: int | None = None
    max_steps: int = 1000
    batch_size: int = 1
    gradient_accumulation: int = 1
    resolution: int = 512
    crop: str = "center"
    flip: bool = False
    gradient_checkpointing: bool = False
    #: "auto" = bf16 (fp16 where bf16 is missing) on CUDA, full precision elsewhere
    mixed_precision: str = "auto"
    #: min-SNR-γ loss weighting (5.0 is the paper's value); None = plain MSE
    snr_gamma: float | None = None
    #: probability that a caption is replaced by "" (keeps the LoRA working without its prompt)
    caption_dropout: float = 0.0
    #: words put in front of every caption that lacks them, and recorded in the file
    trigger_words: tuple[str, ...] = ()
    seed: int = 0
    max_grad_norm: float = 1.0
    #: "auto" = bitsandbytes' 8-bit AdamW on CUDA when installed, torch AdamW otherwise
    optimizer: str = "auto"
    #: save a resumable checkpoint every this many steps (0 = none); the last step is always kept when on
    checkpoint_every: int = 500
    #: keep only the newest N checkpoints (0 = all)
    keep_checkpoints: int = 0
    #: render this prompt at every checkpoint and at the end (fixed seed), to watch the style arrive
    sample_prompt: str | None = None
    sample_steps: int = 20
    device: str = "auto"
    #: names of the modules given LoRA layers
    unet_targets: tuple[str, ...] = field(default=UNET_TARGETS)

    def __post_init__(self) -> None:
        object.__setattr__(self, "trigger_words", tuple(w.strip() for w in self.trigger_words if w and w.strip()))
        object.__setattr__(self, "unet_targets", tuple(self.unet_targets))
        check_range("rank", self.rank, 1, 1024, integer=True)
        if self.alpha is not None:
            check_range("alpha", self.alpha, 0, 4096, lo_open=True)
        check_range("dropout", self.dropout, 0, 0.9)
        check_range("lr", self.learning_rate, 0, 1, lo_open=True)
        if self.text_encoder_lr is not None:
            check_range("text-encoder-lr", self.text_encoder_lr, 0, 1, lo_open=True)
        check_choice("lr-scheduler", self.lr_scheduler, LR_SCHEDULERS, "schedule")
        check_range("max-steps", self.max_steps, 1, 10_000_000, integer=True)
        if self.warmup_steps is not None:
            check_range("warmup-steps", self.warmup_steps, 0, self.max_steps, integer=True)
        check_range("batch-size", self.batch_size, 1, 1024, integer=True)
        check_range("gradient-accumulation", self.gradient_accumulation, 1, 1024, integer=True)
        if not isinstance(self.resolution, int) or self.resolution < 64 or self.resolution % 8:
            raise InputError("resolution", f"{self.resolution} is not a multiple of 8 of at least 64", "use e.g. 512 for SD1.5")
        check_choice("crop", self.crop, CROP_MODES, "mode")
        check_choice("mixed-precision", self.mixed_precision, MIXED_PRECISION, "mode")
        if self.snr_gamma is not None:
            check_range("snr-gamma", self.snr_gamma, 0, 100, lo_open=True)
        check_range("caption-dropout", self.caption_dropout, 0, 0.99)
        check_range("seed", self.seed, 0, 2**63 - 1, integer=True)
        check_range("max-grad-norm", self.max_grad_norm, 0, 1e6)
        check_choice("optimizer", self.optimizer, OPTIMIZERS, "optimizer")
        if self.optimizer == "adamw8bit" and importlib.util.find_spec("bitsandbytes") is None:
            raise InputError("optimizer", "adamw8bit needs bitsandbytes, which is not installed", "pip install bitsandbytes (CUDA), or use adamw")
        check_range("checkpoint-every", self.checkpoint_every, 0, 10_000_000, integer=True)
        check_range("keep-checkpoints", self.keep_checkpoints, 0, 1_000_000, integer=True)
        if self.sample_prompt is not None and not self.sample_prompt.strip():
            raise InputError("sample-prompt", "is empty", "give a prompt, or leave it out for no samples")
        check_range("sample-steps", self.sample_steps, 1, 200, integer=True)
        if not self.unet_targets:
            raise InputError("unet-targets", "is empty", f"use e.g. {', '.join(UNET_TARGETS)}")

    @property
    def lora_alpha(self) -> float:
        return float(self.rank if self.alpha is None else self.alpha)

    @property
    def warmup(self) -> int:
        return round(0.05 * self.max_steps) if self.warmup_steps is None else self.warmup_steps

    def replace(self, **changes) -> "TrainSettings":
        return dataclasses.replace(self, **changes)

    #: settings a resumed run must share with the run that wrote the checkpoint (the rest may change)
    RESUME_FIXED = ("rank", "lora_alpha", "dropout", "text_encoder", "resolution", "crop", "flip", "batch_size",
                    "gradient_accumulation", "caption_dropout", "trigger_words", "seed", "unet_targets")

    def resume_record(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k in self.RESUME_FIXED for v in [getattr(self, k)]}
