"""`ghibli-anim train-lora`: fine-tune a style LoRA on a folder of captioned images."""
from __future__ import annotations

import argparse
from typing import Sequence

from .. import defaults
from ..device import DEVICES
from ..train.settings import LR_SCHEDULERS, MIXED_PRECISION, OPTIMIZERS, TrainSettings
from .common import Parser, PROG as MAIN

PROG = f"{MAIN} train-lora"
_D = TrainSettings()

EXAMPLES = f"""
data: a folder of images with same-name .txt captions (forest_01.png + forest_01.txt), or images plus a
metadata.jsonl with one {{"file_name": "forest_01.png", "text": "..."}} per line (Hugging Face imagefolder).

examples:
  {PROG} --data my_ghibli_set/ --out ghibli_style.safetensors --trigger "ghbli style"
  {PROG} --data my_ghibli_set/ --base ~/ComfyUI/models/checkpoints/v1-5-pruned-emaonly.safetensors \\
      --out ~/ComfyUI/models/loras/ghibli_style.safetensors --rank 32 --max-steps 2000 --snr-gamma 5 \\
      --sample-prompt "ghbli style, a windy hill" --checkpoint-every 250
  {PROG} --data my_ghibli_set/ --out ghibli_style.safetensors --resume          # continue from the last checkpoint
  {PROG} --data tests_set/ --tiny --out tiny-style.safetensors --max-steps 20   # offline, tiny random base
then:
  ghibli-anim "a cat bus in the rain" --lora ghibli_style.safetensors:0.8 -o catbus.gif
  (or drop the file into ComfyUI's models/loras and pick it in the Ghibli LoRA Loader node)
"""


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog=PROG, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a style LoRA for SD1.5 on captioned images. Writes one kohya-layout .safetensors that "
        "ghibli-anim, diffusers' load_lora_weights and ComfyUI's LoRA loaders all read, with the training record "
        "(base, rank, alpha, steps, resolution, dataset size and hash, trigger words) in its header.",
    )
    io = p.add_argument_group("inputs and output")
    io.add_argument("--data", required=True, help="folder of images with captions (see below)")
    base = io.add_mutually_exclusive_group()
    base.add_argument("--base", "--model", dest="base", help=f"SD1.5 base: hub id, diffusers folder or single .safetensors (default {defaults.BASE_MODEL})")
    base.add_argument("--tiny", action="store_true", help="tiny random-weight base (offline tests; default resolution 64)")
    io.add_argument("--out", required=True, help="the LoRA file to write (.safetensors), atomically")
    io.add_argument("--base-config", help="diffusers config folder for a single-file base of another shape")
    io.add_argument("--allow-pickle", action="store_true", help="allow a .ckpt base (pickle can run code)")
    io.add_argument("--trigger", action="append", default=[], metavar="WORDS",
                    help="trigger words put in front of captions that lack them and stored in the file (repeatable)")

    lora = p.add_argument_group("LoRA")
    lora.add_argument("--rank", type=int, default=_D.rank, help="LoRA rank (default %(default)s)")
    lora.add_argument("--alpha", type=float, default=None, help="LoRA alpha; the update is scaled by alpha/rank (default: rank)")
    lora.add_argument("--dropout", type=float, default=_D.dropout, help="LoRA dropout (default %(default)s)")
    lora.add_argument("--text-encoder", action="store_true", help="also train LoRA layers on the text encoder")

    opt = p.add_argument_group("optimisation")
    opt.add_argument("--max-steps", type=int, default=_D.max_steps, help="optimizer steps (default %(default)s)")
    opt.add_argument("--lr", type=float, default=_D.learning_rate, help="learning rate (default %(default)g)")
    opt.add_argument("--text-encoder-lr", type=float, help="text-encoder learning rate (default: --lr)")
    opt.add_argument("--lr-scheduler", choices=LR_SCHEDULERS, default=_D.lr_scheduler, help="(default %(default)s)")
    opt.add_argument("--warmup-steps", type=int, help="learning-rate warm-up steps (default: 5%% of --max-steps)")
    opt.add_argument("--batch-size", type=int, default=_D.batch_size, help="(default %(default)s)")
    opt.add_argument("--gradient-accumulation", type=int, default=_D.gradient_accumulation, help="micro-batches per step (default %(default)s)")
    opt.add_argument("--snr-gamma", type=float, help="min-SNR-γ loss weighting (5 is typical; default off)")
    opt.add_argument("--caption-dropout", type=float, default=_D.caption_dropout, help="chance a caption is dropped (default %(default)s)")
    opt.add_argument("--optimizer", choices=OPTIMIZERS, default=_D.optimizer, help="auto = 8-bit AdamW on CUDA with bitsandbytes, else AdamW")
    opt.add_argument("--max-grad-norm", type=float, default=_D.max_grad_norm, help="gradient clipping (0 = off; default %(default)s)")
    opt.add_argument("--seed", type=int, default=_D.seed, help="(default %(default)s)")

    data = p.add_argument_group("images")
    data.add_argument("--resolution", type=int, help="square training size, a multiple of 8 (default 512; 64 with --tiny)")
    data.add_argument("--random-crop", action="store_true", help="random square crops (default: centre)")
    data.add_argument("--flip", action="store_true", help="random horizontal flips")

    run = p.add_argument_group("run")
    run.add_argument("--device", choices=DEVICES, default="auto")
    run.add_argument("--mixed-precision", choices=MIXED_PRECISION, default=_D.mixed_precision, help="auto = bf16/fp16 on CUDA, fp32 elsewhere")
    run.add_argument("--gradient-checkpointing", action="store_true", help="less memory, ~20%% slower")
    run.add_argument("--checkpoint-every", type=int, default=_D.checkpoint_every, help="steps between resumable checkpoints (0 = none; default %(default)s)")
    run.add_argument("--keep-checkpoints", type=int, default=_D.keep_checkpoints, help="keep only the newest N (0 = all)")
    run.add_argument("--checkpoint-dir", help="where checkpoints go (default: OUT's name + -checkpoints/)")
    run.add_argument("--resume", nargs="?", const="latest", help="continue from the newest checkpoint, or from the step-N folder given")
    run.add_argument("--sample-prompt", help="render this prompt (fixed seed) at every checkpoint and at the end")
    run.add_argument("--sample-steps", type=int, default=_D.sample_steps, help="(default %(default)s)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return p


def settings_from_args(args: argparse.Namespace) -> TrainSettings:
    return TrainSettings(
        rank=args.rank, alpha=args.alpha, dropout=args.dropout, text_encoder=args.text_encoder, learning_rate=args.lr,
        text_encoder_lr=args.text_encoder_lr, lr_scheduler=args.lr_scheduler, warmup_steps=args.warmup_steps,
        max_steps=args.max_steps, batch_size=args.batch_size, gradient_accumulation=args.gradient_accumulation,
        resolution=args.resolution or defaults.size(tiny=args.tiny)[0], crop="random" if args.random_crop else "center",
        flip=args.flip, gradient_checkpointing=args.gradient_checkpointing, mixed_precision=args.mixed_precision,
        snr_gamma=args.snr_gamma, caption_dropout=args.caption_dropout, trigger_words=tuple(args.trigger), seed=args.seed,
        max_grad_norm=args.max_grad_norm, optimizer=args.optimizer, checkpoint_every=args.checkpoint_every,
        keep_checkpoints=args.keep_checkpoints, sample_prompt=args.sample_prompt, sample_steps=args.sample_steps,
        device=args.device,
    )


def run_train_lora(argv: Sequence[str]) -> int:
    from ..train.trainer import train_lora

    args = build_parser().parse_args(argv)
    settings = settings_from_args(args)
    if args.tiny:
        from ..tiny import ensure_tiny

        base = str(ensure_tiny().pipeline_dir)
    else:
        base = args.base or defaults.BASE_MODEL
    result = train_lora(args.data, base, args.out, settings, checkpoint_dir=args.checkpoint_dir, resume=args.resume,
                        base_config=args.base_config, allow_pickle=args.allow_pickle, progress=not args.quiet)
    meta = result.metadata
    first, last = result.losses[:10], result.losses[-10:]
    trend = f"loss {sum(first) / len(first):.4f} -> {sum(last) / len(last):.4f} (mean of first/last {len(last)} steps)" if first else "no new steps"
    resumed = f", resumed at step {result.resumed_from}" if result.resumed_from else ""
    print(f"wrote {result.path} ({result.path.stat().st_size // 1024} KiB; rank {settings.rank}, alpha {settings.lora_alpha:g}, "
          f"{result.steps} steps at {settings.resolution}px on {meta['ghibli_anim.dataset_size']} images{resumed}; "
          f"{trend}; {result.seconds:.1f}s)")
    for path in result.checkpoints[-1:]:
        print(f"last checkpoint: {path} (continue with --resume)")
    for path in result.samples[-1:]:
        print(f"last sample: {path}")
    print(f"use it: ghibli-anim \"your idea\" --lora {result.path}:0.8 -o out.gif   (ComfyUI: put it in models/loras)")
    return 0
