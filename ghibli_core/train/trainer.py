"""Style-LoRA training on SD1.5: peft LoRA layers on the UNet's attention (optionally the text encoder's), trained
on the noise-prediction objective with the base model's own noise schedule.

    result = train_lora("my_images/", "runwayml/stable-diffusion-v1-5", "ghibli.safetensors",
                        TrainSettings(rank=16, max_steps=1500, trigger_words=("ghbli style",)))

Everything that can be wrong with the inputs (dataset, base, output path, resume checkpoint) is checked before a
model loads. The result is one kohya-layout `.safetensors` (see `lora_file`) that the engine, diffusers and ComfyUI
load. A run stopped at any point leaves the previous output and the last complete checkpoint intact, and
`resume="latest"` continues it exactly: the data order, crops, noise and dropout are functions of the seed and step.
"""
from __future__ import annotations

import contextlib
import functools
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ..device import resolve_device
from ..errors import GhibliError, InputError
from ..export import check_output_path
from ..models.sources import ModelSource, resolve_source
from .checkpoints import Checkpoint, default_checkpoint_dir, find_checkpoint, save_checkpoint
from .data import CaptionedImages, Example, dataset_fingerprint, scan_dataset
from .lora_file import peft_to_kohya, training_metadata, write_lora
from .settings import TEXT_ENCODER_TARGETS, TrainSettings


@dataclass
class TrainResult:
    """What a finished run wrote and how it went."""

    path: Path
    steps: int
    resumed_from: int
    #: mean loss of each optimizer step of this run (a resumed run starts at `resumed_from`)
    losses: list[float]
    seconds: float
    checkpoints: list[Path] = field(default_factory=list)
    samples: list[Path] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingPlan:
    """A run's inputs, every one checked: made by `prepare`, before any model loads."""

    examples: list[Example]
    dataset_sha256: str
    base: ModelSource
    out: Path
    checkpoint_dir: Path
    resume: Checkpoint | None
    settings: TrainSettings

    def run_record(self) -> dict[str, Any]:
        return {"base_model": self.base.name, "dataset_sha256": self.dataset_sha256, **self.settings.resume_record()}


def prepare(data: str | Path, base: str, out: str | Path, settings: TrainSettings, *, checkpoint_dir: str | Path | None = None,
            resume: str | None = None, allow_pickle: bool = False) -> TrainingPlan:
    """Check every input of a run; raise `InputError` naming the first bad one and its fix."""
    out_path = check_output_path(out, "out", (".safetensors",))
    examples = scan_dataset(data)
    source = resolve_source(base, "pipeline", "base", allow_pickle=allow_pickle)
    folder = Path(checkpoint_dir).expanduser() if checkpoint_dir else default_checkpoint_dir(out_path)
    sha = dataset_fingerprint(examples)
    plan = TrainingPlan(examples, sha, source, out_path, folder, None, settings)
    if resume:
        ckpt = find_checkpoint(resume, folder)
        saved, now = ckpt.run, plan.run_record()
        changed = [k for k in now if saved.get(k) != now[k]]
        if changed:
            what = ", ".join("data (its images or captions changed)" if k == "dataset_sha256" else f"{k} ({saved.get(k)!r} then, {now[k]!r} now)"
                             for k in changed[:3])
            raise InputError("resume", f"{ckpt.path.name} was trained with other settings or data: {what}",
                             "resume with the same data, base and LoRA settings, or start fresh without --resume")
        if ckpt.step >= settings.max_steps:
            raise InputError("resume", f"{ckpt.path.name} is already at step {ckpt.step} of --max-steps {settings.max_steps}",
                             "raise --max-steps to train further")
        plan = TrainingPlan(examples, sha, source, out_path, folder, ckpt, settings)
    return plan


def _precision(settings: TrainSettings, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for full precision."""
    mode = settings.mixed_precision
    if mode == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if mode == "no":
        return None
    if mode == "fp16" and device.type != "cuda":
        raise InputError("mixed-precision", f"fp16 training needs a CUDA GPU (device is {device.type})", "use --mixed-precision no or bf16")
    return torch.float16 if mode == "fp16" else torch.bfloat16


class LoraTrainer:
    """One training run over a loaded base pipeline; `train_lora` is the usual way in."""

    def __init__(self, pipe: Any, plan: TrainingPlan, *, progress: bool = True) -> None:
        from diffusers import DDPMScheduler

        self.plan, self.settings, self.progress = plan, plan.settings, progress
        s = self.settings
        self.device = resolve_device(s.device)
        self.autocast_dtype = _precision(s, self.device)
        self.pipe = pipe
        self.unet, self.vae, self.text_encoder, self.tokenizer = pipe.unet, pipe.vae, pipe.text_encoder, pipe.tokenizer
        # the base model's own noise schedule (betas, prediction type), in its training form
        self.noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        self.dataset = CaptionedImages(plan.examples, s.resolution, crop=s.crop, flip=s.flip, seed=s.seed)
        self.step = 0
        self.generator = torch.Generator().manual_seed(s.seed)  # noise, timesteps, caption dropout
        torch.manual_seed(s.seed)  # LoRA dropout
        self._attach_lora()
        self.optimizer = self._optimizer()
        self.lr_scheduler = self._lr_scheduler()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.autocast_dtype == torch.float16)

    # -- set-up ---------------------------------------------------------------------------------------------------
    def _attach_lora(self) -> None:
        from diffusers.training_utils import cast_training_params
        from peft import LoraConfig

        s = self.settings
        weights_dtype = self.autocast_dtype or torch.float32
        for model in (self.unet, self.vae, self.text_encoder):
            model.requires_grad_(False)
            model.to(self.device)
        # the SD1.5 VAE overflows in fp16, so it stays in fp32 (it runs once per batch, without gradients)
        if weights_dtype != torch.float32:
            self.unet.to(dtype=weights_dtype)
            self.text_encoder.to(dtype=weights_dtype)
        config = dict(r=s.rank, lora_alpha=s.lora_alpha, lora_dropout=s.dropout, init_lora_weights="gaussian")
        self.unet.add_adapter(LoraConfig(target_modules=list(s.unet_targets), **config))
        trained = [self.unet]
        if s.text_encoder:
            self.text_encoder.add_adapter(LoraConfig(target_modules=list(TEXT_ENCODER_TARGETS), **config))
            trained.append(self.text_encoder)
        cast_training_params(trained, dtype=torch.float32)  # base weights may be half; the LoRA trains in fp32
        if s.gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()
            if s.text_encoder:  # transformers 5 renamed it; 4.x has only the old name
                enable = getattr(self.text_encoder, "activation_checkpointing_enable", None)
                (enable or self.text_encoder.gradient_checkpointing_enable)()

    def _params(self, model: torch.nn.Module) -> list[torch.nn.Parameter]:
        return [p for p in model.parameters() if p.requires_grad]

    def _optimizer(self) -> torch.optim.Optimizer:
        s = self.settings
        groups = [{"params": self._params(self.unet), "lr": s.learning_rate}]
        if s.text_encoder:
            groups.append({"params": self._params(self.text_encoder), "lr": s.text_encoder_lr or s.learning_rate})
        want_8bit = s.optimizer == "adamw8bit" or (s.optimizer == "auto" and self.device.type == "cuda")
        if want_8bit:
            try:
                import bitsandbytes as bnb

                return bnb.optim.AdamW8bit(groups, lr=s.learning_rate, weight_decay=1e-2)
            except ImportError:
                if s.optimizer == "adamw8bit":
                    raise InputError("optimizer", "adamw8bit needs bitsandbytes", "pip install bitsandbytes, or use adamw") from None
        return torch.optim.AdamW(groups, lr=s.learning_rate, weight_decay=1e-2)

    def _lr_scheduler(self):
        from diffusers.optimization import get_scheduler

        s = self.settings
        return get_scheduler(s.lr_scheduler, self.optimizer, num_warmup_steps=s.warmup, num_training_steps=s.max_steps)

    # -- data -----------------------------------------------------------------------------------------------------
    @functools.lru_cache(maxsize=4)
    def _order(self, epoch: int) -> list[int]:
        g = torch.Generator().manual_seed(self.settings.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.dataset), generator=g).tolist()

    def micro_batch(self, k: int) -> dict[str, Any]:
        """Micro-batch `k` of the run: the k-th slice of a stream of shuffled passes over the data (a pure
        function of seed and k, so a resumed run reads exactly what the uninterrupted run would have)."""
        size, n = self.settings.batch_size, len(self.dataset)
        items = [self.dataset.item(self._order(pos // n)[pos % n], pos // n) for pos in range(k * size, (k + 1) * size)]
        return {"pixel_values": torch.stack([i["pixel_values"] for i in items]), "captions": [i["caption"] for i in items]}

    def caption(self, text: str) -> str:
        missing = [w for w in self.settings.trigger_words if w.lower() not in text.lower()]
        return ", ".join([*missing, text]) if text else ", ".join(missing)

    # -- objective ------------------------------------------------------------------------------------------------
    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def encode_text(self, captions: list[str]) -> torch.Tensor:
        ids = self.tokenizer(captions, padding="max_length", max_length=self.tokenizer.model_max_length, truncation=True,
                             return_tensors="pt").input_ids.to(self.device)
        return self.text_encoder(ids, return_dict=False)[0]

    def loss(self, batch: dict[str, Any], generator: torch.Generator, *, dropout: bool = True) -> torch.Tensor:
        """The SD1.5 objective on one batch: predict the noise (or velocity) added at a random timestep,
        mean squared error, optionally min-SNR-γ weighted. All randomness is drawn from `generator`."""
        from diffusers.training_utils import compute_snr

        s, sched = self.settings, self.noise_scheduler
        captions = [self.caption(c) for c in batch["captions"]]
        if dropout and s.caption_dropout:
            drop = torch.rand(len(captions), generator=generator) < s.caption_dropout
            captions = ["" if d else c for c, d in zip(captions, drop.tolist())]
        with torch.no_grad():
            pixels = batch["pixel_values"].to(self.device, torch.float32)
            latents = self.vae.encode(pixels).latent_dist.sample(generator=generator) * self.vae.config.scaling_factor
        noise = torch.randn(latents.shape, generator=generator).to(self.device)
        t = torch.randint(0, sched.config.num_train_timesteps, (latents.shape[0],), generator=generator).to(self.device)
        noisy = sched.add_noise(latents, noise, t)
        prediction = sched.config.prediction_type
        if prediction == "epsilon":
            target = noise
        elif prediction == "v_prediction":
            target = sched.get_velocity(latents, noise, t)
        else:
            raise InputError("base", f"the base model predicts {prediction!r}", "train on an SD1.5 (epsilon) or v-prediction base")
        with self._autocast():
            with contextlib.nullcontext() if s.text_encoder else torch.no_grad():
                hidden = self.encode_text(captions)
            pred = self.unet(noisy.to(self.unet.dtype), t, hidden, return_dict=False)[0]
        per_example = F.mse_loss(pred.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
        if s.snr_gamma:
            snr = compute_snr(sched, t)
            weight = torch.clamp(snr, max=s.snr_gamma) / (snr + 1 if prediction == "v_prediction" else snr)
            per_example = per_example * weight
        return per_example.mean()

    # -- state ----------------------------------------------------------------------------------------------------
    def lora_layers(self) -> dict[str, dict[str, torch.Tensor]]:
        from peft.utils import get_peft_model_state_dict

        layers = {"unet": get_peft_model_state_dict(self.unet)}
        if self.settings.text_encoder:
            layers["text_encoder"] = get_peft_model_state_dict(self.text_encoder)
        return layers

    def kohya_tensors(self) -> dict[str, torch.Tensor]:
        layers = self.lora_layers()
        return peft_to_kohya(layers["unet"], layers.get("text_encoder"), self.settings.lora_alpha)

    def metadata(self, steps: int) -> dict[str, str]:
        s, p = self.settings, self.plan
        return training_metadata(
            base_model=p.base.name, rank=s.rank, alpha=s.lora_alpha, steps=steps, resolution=s.resolution,
            dataset_size=len(p.examples), dataset_sha256=p.dataset_sha256, trigger_words=list(s.trigger_words),
            learning_rate=s.learning_rate, batch_size=s.batch_size * s.gradient_accumulation, text_encoder=s.text_encoder,
            title=p.out.stem, extra={"lr_scheduler": s.lr_scheduler, "snr_gamma": s.snr_gamma, "seed": s.seed,
                                     "caption_dropout": s.caption_dropout, "targets": list(s.unet_targets)},
        )

    def state_dict(self) -> dict[str, Any]:
        state = {
            "step": self.step, "lora": self.lora_layers(), "optimizer": self.optimizer.state_dict(),
            "lr_scheduler": self.lr_scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "generator": self.generator.get_state(), "torch_rng": torch.get_rng_state(),
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        from peft.utils import set_peft_model_state_dict

        set_peft_model_state_dict(self.unet, state["lora"]["unet"])
        if self.settings.text_encoder:
            set_peft_model_state_dict(self.text_encoder, state["lora"]["text_encoder"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.lr_scheduler.load_state_dict(state["lr_scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.step = int(state["step"])

    def save_checkpoint(self) -> Checkpoint:
        return save_checkpoint(self.plan.checkpoint_dir, self.step, lora=self.kohya_tensors(), lora_metadata=self.metadata(self.step),
                               state=self.state_dict(), run=self.plan.run_record(), keep=self.settings.keep_checkpoints)

    # -- loop -----------------------------------------------------------------------------------------------------
    def train_step(self) -> float:
        """One optimizer step over `gradient_accumulation` micro-batches; returns their mean loss."""
        s = self.settings
        self.unet.train()
        if s.text_encoder:
            self.text_encoder.train()
        total = 0.0
        for micro in range(s.gradient_accumulation):
            batch = self.micro_batch(self.step * s.gradient_accumulation + micro)
            loss = self.loss(batch, self.generator) / s.gradient_accumulation
            self.scaler.scale(loss).backward()
            total += loss.item()
        if not math.isfinite(total):
            raise GhibliError(f"train-lora: the loss became {total} at step {self.step + 1}; nothing was written for this step "
                              "(lower --lr, or use --mixed-precision no)")
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        self.scaler.unscale_(self.optimizer)
        if s.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(params, s.max_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.lr_scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return total

    @torch.no_grad()
    def sample(self, path: Path) -> Path:
        """Render the sample prompt with the LoRA as it is now (fixed seed: samples compare across steps)."""
        from ..files import atomic_path

        s = self.settings
        self.unet.eval()
        self.text_encoder.eval()
        self.pipe.set_progress_bar_config(disable=True)
        with self._autocast():
            image = self.pipe(self.caption(s.sample_prompt), num_inference_steps=s.sample_steps, height=s.resolution,
                              width=s.resolution, generator=torch.Generator().manual_seed(s.seed)).images[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            image.save(tmp, format="PNG")
        return path

    def run(self, on_step: Callable[[int, float], None] | None = None) -> TrainResult:
        from tqdm.auto import tqdm

        s, plan = self.settings, self.plan
        resumed_from = 0
        if plan.resume is not None:
            self.load_state_dict(plan.resume.state(self.device))
            resumed_from = self.step
        started, losses, checkpoints, samples = time.perf_counter(), [], [], []
        samples_dir = plan.checkpoint_dir / "samples"
        bar = tqdm(total=s.max_steps, initial=self.step, desc="train-lora", unit="step", disable=not self.progress, dynamic_ncols=True)
        smooth = None
        try:
            while self.step < s.max_steps:
                loss = self.train_step()
                losses.append(loss)
                smooth = loss if smooth is None else 0.9 * smooth + 0.1 * loss
                bar.update(1)
                bar.set_postfix(loss=f"{smooth:.4f}", lr=f"{self.lr_scheduler.get_last_lr()[0]:.2e}")
                if on_step:
                    on_step(self.step, loss)
                at_checkpoint = s.checkpoint_every and (self.step % s.checkpoint_every == 0 or self.step == s.max_steps)
                if at_checkpoint:
                    checkpoints.append(self.save_checkpoint().path)
                    if s.sample_prompt:
                        samples.append(self.sample(samples_dir / f"step-{self.step:06d}.png"))
        finally:
            bar.close()
        if s.sample_prompt and not s.checkpoint_every:
            samples.append(self.sample(samples_dir / f"step-{self.step:06d}.png"))
        metadata = self.metadata(self.step)
        write_lora(plan.out, self.kohya_tensors(), metadata)
        return TrainResult(plan.out, self.step, resumed_from, losses, time.perf_counter() - started, checkpoints, samples, metadata)


def train_lora(data: str | Path, base: str, out: str | Path, settings: TrainSettings = TrainSettings(), *,
               checkpoint_dir: str | Path | None = None, resume: str | None = None, base_config: str | None = None,
               allow_pickle: bool = False, progress: bool = True,
               on_step: Callable[[int, float], None] | None = None) -> TrainResult:
    """Train a style LoRA on the captioned images in `data` over `base`, and write it to `out` (.safetensors)."""
    from ..models.pipelines import load_base

    plan = prepare(data, base, out, settings, checkpoint_dir=checkpoint_dir, resume=resume, allow_pickle=allow_pickle)
    _precision(settings, resolve_device(settings.device))  # refuse fp16-on-CPU before the load
    pipe = load_base(plan.base, base_config=base_config, allow_pickle=allow_pickle, progress=progress)
    return LoraTrainer(pipe, plan, progress=progress).run(on_step)
