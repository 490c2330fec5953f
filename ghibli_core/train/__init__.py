"""Style-LoRA fine-tuning on a folder of captioned images (`ghibli-anim train-lora`).

    data         scan_dataset(folder) -> [Example]; CaptionedImages(examples, 512) -> training tensors
    settings     TrainSettings(rank=16, max_steps=1000, ...), checked on creation
    trainer      train_lora(data, base, out, settings) -> TrainResult (prepare() checks every input first)
    lora_file    the kohya-layout .safetensors the run writes, read_lora_metadata(path)
    checkpoints  resumable step-N folders
"""
from __future__ import annotations

from .checkpoints import Checkpoint, default_checkpoint_dir, find_checkpoint, list_checkpoints
from .data import CROP_MODES, IMAGE_EXTS, CaptionedImages, Example, dataset_fingerprint, scan_dataset
from .lora_file import peft_to_kohya, read_lora_metadata, training_metadata, write_lora
from .settings import LR_SCHEDULERS, MIXED_PRECISION, OPTIMIZERS, TEXT_ENCODER_TARGETS, UNET_TARGETS, TrainSettings
from .trainer import LoraTrainer, TrainingPlan, TrainResult, prepare, train_lora

__all__ = [
    "CROP_MODES", "IMAGE_EXTS", "LR_SCHEDULERS", "MIXED_PRECISION", "OPTIMIZERS", "TEXT_ENCODER_TARGETS", "UNET_TARGETS",
    "CaptionedImages", "Checkpoint", "Example", "LoraTrainer", "TrainResult", "TrainSettings", "TrainingPlan",
    "dataset_fingerprint", "default_checkpoint_dir", "find_checkpoint", "list_checkpoints", "peft_to_kohya", "prepare",
    "read_lora_metadata", "scan_dataset", "train_lora", "training_metadata", "write_lora",
]
