"""Style-LoRA fine-tuning on a folder of captioned images (work in progress: the dataset side is here;
the training loop and `ghibli-anim train-lora` follow)."""
from __future__ import annotations

from .data import CROP_MODES, IMAGE_EXTS, CaptionedImages, Example, dataset_fingerprint, scan_dataset

__all__ = ["CROP_MODES", "IMAGE_EXTS", "CaptionedImages", "Example", "dataset_fingerprint", "scan_dataset"]
