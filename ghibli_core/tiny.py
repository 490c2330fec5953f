"""Random-weight, SD1.5-shaped tiny models in every real format, for tests and the offline demo.

`make_tiny(DIR)` writes, under a ComfyUI-like tree:
  diffusers/tiny-sd15/                   diffusers pipeline folder (UNet, VAE, CLIP text encoder + tokenizer, scheduler)
  controlnet/tiny-controlnet-depth/      diffusers ControlNet folder
  checkpoints/tiny-sd15.safetensors      original (LDM) single-file checkpoint of the same weights
  controlnet/tiny-control-depth.safetensors  original-layout single-file ControlNet
  loras/tiny-style.safetensors           LoRA, diffusers/peft layout (alpha != rank, kept in metadata)
  loras/tiny-style-kohya.safetensors     the same LoRA, kohya layout
  diffusers/tiny-taesd/                  diffusers AutoencoderTiny folder (a TAESD-shaped tiny autoencoder)
  vae_approx/taesd_decoder.safetensors   the same autoencoder in TAESD's original layout, as ComfyUI keeps it
  vae_approx/taesd_encoder.safetensors   (decoder and encoder halves)
  depth/tiny-dpt/                        transformers DPT depth model + image processor
  chat/tiny-chat/                        transformers Llama-shaped chat model + tokenizer with a chat template
  controlnet/tiny-controlnet-canny/      a second ControlNet (other random weights) for the edge controls (--control)
  annotators/tiny-annotators/            the soft-edge and lineart detectors' files at their real shapes, random fp16
                                         weights (ControlNetHED.pth as released, sk_model*.safetensors), when
                                         controlnet_aux is installed
  loras/tiny-lcm.safetensors             a second LoRA of the same layout, as the speed LoRA (--speed-lora, turbo)
  music/tiny-musicgen/                   transformers MusicGen (T5 text encoder, EnCodec at 32 kHz / 50 Hz, decoder) + its
                                         processor (a T5 tokenizer over a small word list)
The loaders take them through the same code paths as real weights.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from .defaults import TINY_SIZE
from .errors import InputError
from .models.configs import SD15_CONFIG_DIR
from .models.lora import LoraSpec
from .models.pipelines import ModelSettings

TINY_FORMAT_VERSION = 5  # 5: an edge ControlNet, annotators and a MusicGen; 4: a tiny TAESD (diffusers folder and vae_approx files); 3: kohya text-encoder keys
IMAGE_SIZE = TINY_SIZE  # a size the tiny models handle quickly (latents 8x8)
#: The stamp make_tiny writes last, listing every file it wrote: only those may be replaced by a rebuild.
STAMP = "tiny-models.json"
TOP_LEVEL = ("diffusers", "controlnet", "checkpoints", "loras", "vae_approx", "depth", "chat", "annotators", "music", STAMP)


@dataclass(frozen=True)
class TinyModels:
    """Paths of a tiny model set written by `make_tiny`."""

    root: Path

    @property
    def pipeline_dir(self) -> Path:
        return self.root / "diffusers" / "tiny-sd15"

    @property
    def controlnet_dir(self) -> Path:
        return self.root / "controlnet" / "tiny-controlnet-depth"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoints" / "tiny-sd15.safetensors"

    @property
    def controlnet_file(self) -> Path:
        return self.root / "controlnet" / "tiny-control-depth.safetensors"

    @property
    def lora(self) -> Path:
        return self.root / "loras" / "tiny-style.safetensors"

    @property
    def lora_kohya(self) -> Path:
        return self.root / "loras" / "tiny-style-kohya.safetensors"

    @property
    def tiny_vae_dir(self) -> Path:
        return self.root / "diffusers" / "tiny-taesd"

    @property
    def taesd_decoder(self) -> Path:
        """The original-layout decoder file (its encoder, taesd_encoder.safetensors, beside it)."""
        return self.root / "vae_approx" / "taesd_decoder.safetensors"

    @property
    def depth_dir(self) -> Path:
        return self.root / "depth" / "tiny-dpt"

    @property
    def chat_dir(self) -> Path:
        return self.root / "chat" / "tiny-chat"

    @property
    def edge_controlnet_dir(self) -> Path:
        """The ControlNet every edge control kind loads in the tiny set."""
        return self.root / "controlnet" / "tiny-controlnet-canny"

    @property
    def annotators_dir(self) -> Path:
        return self.root / "annotators" / "tiny-annotators"

    @property
    def speed_lora(self) -> Path:
        """A LoRA in the layout of LCM-LoRA (diffusers), for --speed-lora and the turbo preset."""
        return self.root / "loras" / "tiny-lcm.safetensors"

    @property
    def music_dir(self) -> Path:
        return self.root / "music" / "tiny-musicgen"

    def model_settings(self, *, single_file: bool = False, loras: tuple[LoraSpec, ...] = (), edges=(), **kw) -> ModelSettings:
        """Settings that load these models (folders, or the single files with the tiny configs); each edge control's
        ControlNet is the tiny one, its detector reads the tiny annotators."""
        if edges:
            from .models.edges import EdgeControl

            parsed = [EdgeControl.parse(e) if isinstance(e, str) else e for e in edges]
            kw.update(edges=tuple(EdgeControl(e.kind, e.scale, str(self.edge_controlnet_dir)) for e in parsed),
                      annotators=str(self.annotators_dir))
        if single_file:
            return ModelSettings(
                base=str(self.checkpoint), controlnet=str(self.controlnet_file), depth_model=str(self.depth_dir),
                base_config=str(self.pipeline_dir), controlnet_config=str(self.controlnet_dir), loras=loras, **kw,
            )
        return ModelSettings(base=str(self.pipeline_dir), controlnet=str(self.controlnet_dir), depth_model=str(self.depth_dir), loras=loras, **kw)

    def is_complete(self) -> bool:
        stamp = self.root / STAMP
        return stamp.is_file() and json.loads(stamp.read_text()).get("version") == TINY_FORMAT_VERSION


def default_tiny_dir() -> Path:
    """Where `--tiny` keeps its models: $GHIBLI_TINY_DIR, else the user cache folder."""
    if os.environ.get("GHIBLI_TINY_DIR"):
        return Path(os.environ["GHIBLI_TINY_DIR"]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "ghibli-anim" / f"tiny-v{TINY_FORMAT_VERSION}"


def ensure_tiny(root: Path | None = None) -> TinyModels:
    """The tiny models at `root` (default: `default_tiny_dir()`), built on first use."""
    tiny = TinyModels(Path(root) if root else default_tiny_dir())
    return tiny if tiny.is_complete() else make_tiny(tiny.root)


def _randomize_(params, std: float) -> None:
    for p in params:
        torch.nn.init.normal_(p, std=std)


def _save_file(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().clone() for k, v in tensors.items()}, str(path), metadata=metadata)


def _build_pipeline():
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    unet = UNet2DConditionModel(
        sample_size=IMAGE_SIZE // 8, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=2, norm_num_groups=32,
    )
    # Four VAE levels keep vae_scale_factor at 8, as in SD1.5 (the ControlNet hint encoder expects it).
    vae = AutoencoderKL(
        block_out_channels=(32, 32, 64, 64), down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=1, norm_num_groups=32,
        sample_size=IMAGE_SIZE,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=77, projection_dim=32, hidden_act="quick_gelu", bos_token_id=0, eos_token_id=2, pad_token_id=1,
    ))
    tokenizer = CLIPTokenizer.from_pretrained(str(SD15_CONFIG_DIR / "tokenizer"))
    scheduler = PNDMScheduler.from_pretrained(str(SD15_CONFIG_DIR / "scheduler"))
    return StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )


def _build_controlnet(unet):
    from diffusers import ControlNetModel

    return randomize_zero_convs(ControlNetModel.from_unet(unet))


def randomize_zero_convs(controlnet, std: float = 0.05):
    """A fresh ControlNet has zero output convs and hint-encoder last conv, so it ignores its control
    image; randomise them so the depth map really steers a random-weight model."""
    zero_init = [p for n, p in controlnet.named_parameters()
                 if n.startswith(("controlnet_down_blocks", "controlnet_mid_block", "controlnet_cond_embedding.conv_out"))]
    _randomize_(zero_init, std=std)
    return controlnet


def _write_annotators(out_dir: Path) -> None:
    """The soft-edge and lineart detector networks (controlnet_aux's classes, real shapes) with random fp16 weights:
    HED as the released .pth (read back with weights_only), lineart as safetensors. Skipped without controlnet_aux."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from controlnet_aux.hed import ControlNetHED_Apache2
            from controlnet_aux.lineart import Generator
    except ImportError:
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    half = lambda net: {k: v.half().contiguous() for k, v in net.state_dict().items()}
    torch.save(half(ControlNetHED_Apache2()), out_dir / "ControlNetHED.pth")
    for name in ("sk_model", "sk_model2"):
        _save_file(half(Generator(3, 1, 3)), out_dir / f"{name}.safetensors", metadata={"format": "pt"})


def _write_speed_lora(tiny: TinyModels) -> None:
    """The tiny style LoRA's layout with other weights (its up-projections negated and halved): a second adapter for
    the speed-LoRA path, without drawing on the random generator the other models were made with."""
    from safetensors import safe_open

    with safe_open(str(tiny.lora), framework="pt") as f:
        tensors = {k: (f.get_tensor(k) * -0.5 if "lora_B" in k or "lora.up" in k else f.get_tensor(k)) for k in f.keys()}
        metadata = f.metadata() or {}
    _save_file(tensors, tiny.speed_lora, metadata={**metadata, "note": "tiny LCM-style speed LoRA (random weights)"})


def _write_loras(pipe, out_dir: Path) -> None:
    from diffusers import StableDiffusionPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from .train.lora_file import peft_to_kohya

    unet_cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["to_q", "to_k", "to_v", "to_out.0"])
    text_cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "out_proj"])
    pipe.unet.add_adapter(unet_cfg)
    pipe.text_encoder.add_adapter(text_cfg)
    # A fresh LoRA has lora_B = 0 (a no-op): randomise it so the LoRA visibly changes the output.
    for model in (pipe.unet, pipe.text_encoder):
        _randomize_([p for n, p in model.named_parameters() if "lora_B" in n], std=0.2)
    unet_sd = get_peft_model_state_dict(pipe.unet)
    text_sd = get_peft_model_state_dict(pipe.text_encoder)
    out_dir.mkdir(parents=True, exist_ok=True)
    StableDiffusionPipeline.save_lora_weights(
        str(out_dir), unet_lora_layers=unet_sd, text_encoder_lora_layers=text_sd, weight_name="tiny-style.safetensors",
        unet_lora_adapter_metadata=unet_cfg.to_dict(), text_encoder_lora_adapter_metadata=text_cfg.to_dict(),
    )
    kohya = peft_to_kohya(unet_sd, text_sd, unet_cfg.lora_alpha)
    _save_file(kohya, out_dir / "tiny-style-kohya.safetensors", metadata={"ss_network_dim": "4", "ss_network_alpha": "8"})


def _write_tiny_vae(tiny: TinyModels) -> None:
    """A TAESD-shaped AutoencoderTiny, 8 channels wide: as a diffusers folder and as ComfyUI's two vae_approx files."""
    from diffusers import AutoencoderTiny

    from .models.tiny_vae import diffusers_to_original

    model = AutoencoderTiny(encoder_block_out_channels=(8,) * 4, decoder_block_out_channels=(8,) * 4)
    model.save_pretrained(str(tiny.tiny_vae_dir), safe_serialization=True)
    encoder, decoder = diffusers_to_original(model.state_dict())
    _save_file(encoder, tiny.taesd_decoder.with_name("taesd_encoder.safetensors"))
    _save_file(decoder, tiny.taesd_decoder)


def _write_depth_model(out_dir: Path) -> None:
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    config = DPTConfig(
        hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=37, image_size=32, patch_size=8,
        backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[16, 16, 32, 32], fusion_hidden_size=16,
        reassemble_factors=[4, 2, 1, 0.5], is_hybrid=False, head_in_index=-1,
    )
    DPTForDepthEstimation(config).save_pretrained(str(out_dir))
    DPTImageProcessor(
        do_resize=True, size={"height": 32, "width": 32}, keep_aspect_ratio=False, ensure_multiple_of=1,
        do_normalize=True, image_mean=[0.5] * 3, image_std=[0.5] * 3,
    ).save_pretrained(str(out_dir))


#: A ChatML-style template, the format most open chat models use.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_CHAT_WORDS = (
    '[ ] { } " , . : 1 2 3 4 frame frames a the of in and with at Studio Ghibli style forest dawn light mist river '
    "cat bus rain sky clouds wind leaves trees sun moon night hills field flowers lantern house spirit girl boy "
    "soft warm golden painted watercolor gentle slow pan drifting swaying"
).split()


def write_tiny_chat_model(out_dir: Path) -> None:
    """A random-weight causal LM with a word-level tokenizer and a chat template (for the planner's local backend)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<unk>", "<pad>", "<|im_start|>", "<|im_end|>"]
    vocab = {tok: i for i, tok in enumerate(specials + ["system", "user", "assistant"] + _CHAT_WORDS)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>", bos_token="<|im_start|>", eos_token="<|im_end|>",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(str(out_dir))
    config = LlamaConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=4096, pad_token_id=vocab["<pad>"], bos_token_id=vocab["<|im_start|>"],
        eos_token_id=vocab["<|im_end|>"], tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(str(out_dir))


#: The tiny MusicGen's words (its tokenizer knows these; others are <unk>).
_MUSIC_WORDS = ("gentle calm warm soft bright slow playful nostalgic dreamy piano strings flute harp guitar accordion "
                "music score orchestral with and a of in the forest sea wind rain night dawn morning festival").split()


def write_tiny_music_model(out_dir: Path) -> None:
    """A random-weight MusicGen of the real layout (T5 text encoder, EnCodec at 32 kHz with 50 frames a second and 4
    codebooks of 2048, decoder) and its processor, saved as transformers saves facebook/musicgen-small."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (EncodecConfig, EncodecFeatureExtractor, MusicgenConfig, MusicgenDecoderConfig,
                              MusicgenForConditionalGeneration, MusicgenProcessor, T5Config, T5TokenizerFast)
    from transformers.utils import logging as tlog

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -1.0)]
    pieces += [("\u2581" + w, -2.0 - i / 100) for i, w in enumerate(_MUSIC_WORDS)]
    backend = Tokenizer(models.Unigram(pieces, unk_id=2))
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    backend.decoder = decoders.Metaspace()
    tokenizer = T5TokenizerFast(tokenizer_object=backend, eos_token="</s>", pad_token="<pad>", unk_token="<unk>", extra_ids=0)
    features = EncodecFeatureExtractor(feature_size=1, sampling_rate=32000, padding_value=0.0)
    text = T5Config(vocab_size=len(pieces), d_model=16, d_ff=32, d_kv=8, num_layers=1, num_heads=2, pad_token_id=0,
                    eos_token_id=1, decoder_start_token_id=0)
    audio = EncodecConfig(sampling_rate=32000, audio_channels=1, upsampling_ratios=[8, 5, 4, 4], num_filters=4, hidden_size=16,
                          codebook_size=2048, codebook_dim=16, num_lstm_layers=1, target_bandwidths=[2.2],
                          norm_type="weight_norm", normalize=False, use_causal_conv=False, chunk_length_s=None, overlap=None)
    decoder = MusicgenDecoderConfig(vocab_size=2048, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, ffn_dim=32,
                                    num_codebooks=4, max_position_embeddings=2048, audio_channels=1, pad_token_id=2048,
                                    bos_token_id=2048)
    verbosity = tlog.get_verbosity()
    tlog.set_verbosity_error()  # pad/bos one past the codebook, as in MusicGen's own configs
    try:
        model = MusicgenForConditionalGeneration(MusicgenConfig(text_encoder=text.to_dict(), audio_encoder=audio.to_dict(),
                                                                decoder=decoder.to_dict()))
        for layer in model.audio_encoder.quantizer.layers:  # EnCodec's codebooks start at zero: every code would sound alike
            torch.nn.init.normal_(layer.codebook.embed)
            layer.codebook.embed_avg.copy_(layer.codebook.embed)
        g = model.generation_config
        g.decoder_start_token_id, g.pad_token_id, g.do_sample, g.guidance_scale, g.max_length = 2048, 2048, True, 3.0, 1500
        model.save_pretrained(str(out_dir), safe_serialization=True)
    finally:
        tlog.set_verbosity(verbosity)
    MusicgenProcessor(feature_extractor=features, tokenizer=tokenizer).save_pretrained(str(out_dir))


def _files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir()}


def check_tiny_target(root: Path) -> None:
    """Refuse to write over a folder that holds anything make_tiny did not write there (its stamp lists what it did)."""
    if root.exists() and not root.is_dir():
        raise InputError("dir", f"{root} is a file", "give a new or empty folder")
    if not root.is_dir() or not any(root.iterdir()):
        return
    fix = "give a new or empty folder; nothing was changed"
    stamp = root / STAMP
    if not stamp.is_file():
        raise InputError("dir", f"{root} already holds other files (and no {STAMP} of an earlier make-tiny)", fix)
    try:
        written = set(json.loads(stamp.read_text())["files"]) | {STAMP}
    except (ValueError, KeyError, TypeError, OSError):  # a stamp of an older version lists no files: keep to the known folders
        written = None
    foreign = sorted(f for f in _files_under(root) if (f not in written if written is not None else f.split("/")[0] not in TOP_LEVEL))
    if foreign:
        raise InputError("dir", f"{root} holds files an earlier make-tiny did not write ({', '.join(foreign[:3])}"
                         f"{', ...' if len(foreign) > 3 else ''})", fix)


def make_tiny(root: Path | str, *, seed: int = 0) -> TinyModels:
    """Write the tiny model set to `root` (atomically: built in a temp folder, then renamed over an earlier set).

    A folder holding anything else is refused untouched (`check_tiny_target`)."""
    from .models.ldm_layout import controlnet_to_ldm, text_encoder_to_ldm, unet_to_ldm, vae_to_ldm

    root = Path(root).expanduser().resolve()
    check_tiny_target(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory(dir=root.parent, prefix=f".{root.name}.tmp-") as tmp:
        tiny = TinyModels(Path(tmp))
        pipe = _build_pipeline()
        pipe.save_pretrained(str(tiny.pipeline_dir), safe_serialization=True)
        controlnet = _build_controlnet(pipe.unet)
        controlnet.save_pretrained(str(tiny.controlnet_dir), safe_serialization=True)
        single = (unet_to_ldm(pipe.unet.state_dict(), pipe.unet.config)
                  | vae_to_ldm(pipe.vae.state_dict(), pipe.vae.config)
                  | text_encoder_to_ldm(pipe.text_encoder.state_dict()))
        _save_file(single, tiny.checkpoint, metadata={"format": "pt", "note": "random weights, tiny SD1.5 shape"})
        _save_file(controlnet_to_ldm(controlnet.state_dict(), controlnet.config), tiny.controlnet_file, metadata={"format": "pt"})
        _write_loras(pipe, tiny.lora.parent)
        _write_tiny_vae(tiny)
        _write_depth_model(tiny.depth_dir)
        write_tiny_chat_model(tiny.chat_dir)
        # from the saved UNet: the pipeline's own now carries the LoRA adapters written above
        from diffusers import UNet2DConditionModel

        clean_unet = UNet2DConditionModel.from_pretrained(str(tiny.pipeline_dir / "unet"))
        _build_controlnet(clean_unet).save_pretrained(str(tiny.edge_controlnet_dir), safe_serialization=True)
        _write_annotators(tiny.annotators_dir)
        write_tiny_music_model(tiny.music_dir)
        _write_speed_lora(tiny)
        files = sorted(_files_under(tiny.root))
        (tiny.root / STAMP).write_text(json.dumps({"version": TINY_FORMAT_VERSION, "seed": seed, "image_size": IMAGE_SIZE,
                                                   "files": files}))
        if root.exists():  # empty, or an earlier tiny set (checked above): the stamp is written last, so it was complete
            shutil.rmtree(root)
        os.replace(tmp, root)
        os.makedirs(tmp, exist_ok=True)  # let TemporaryDirectory clean up without error
    return TinyModels(root)
