"""Tiny random diffusers pipelines at real repository ids, built from configs.

Each builder makes the real pipeline class from components a few kilobytes large and saves it
(``model_index.json`` and one folder per component) where a download of the real repository
would lie in the Hugging Face cache. Random weights make noise, not edits: tests check files,
sizes, names, counts and that a seed repeats its bytes; the loading, calling and writing code
is the real one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.hfcache import byte_level_vocab, save_to_cache, snapshot_dir
from tests.tinymodels import clip_tokenizer

SDXL_REPO = "stabilityai/stable-diffusion-xl-refiner-1.0"
FLUX2_KLEIN_REPO = "black-forest-labs/FLUX.2-klein-4B"
QWEN_EDIT_REPO = "Qwen/Qwen-Image-Edit-2509"


def save_sdxl_img2img(hf_home: Path, repo_id: str = SDXL_REPO) -> Path:
    """A StableDiffusionXLImg2ImgPipeline with a two-block UNet and 32-wide text encoders."""
    import diffusers

    # The refiner's UNet takes 5 time ids (the aesthetic score replaces the target size).
    pipeline = diffusers.StableDiffusionXLImg2ImgPipeline(
        **sdxl_components(time_ids=5), requires_aesthetics_score=True
    )
    return save_to_cache(hf_home, repo_id, pipeline)


def sdxl_components(time_ids: int) -> dict[str, Any]:
    """The components of a tiny SDXL pipeline (seeded): a two-block UNet whose added time
    embedding takes ``time_ids`` ids, a two-block VAE and two 32-wide CLIP text encoders."""
    import diffusers
    import torch
    import transformers as tf

    torch.manual_seed(0)
    unet = diffusers.UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=8, in_channels=4,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
        use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=time_ids * 8 + 32, cross_attention_dim=64,
    )  # fmt: skip
    vae = diffusers.AutoencoderKL(
        block_out_channels=[32, 64], in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
        sample_size=32,
    )  # fmt: skip
    scheduler = diffusers.EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, steps_offset=1, beta_schedule="scaled_linear",
        timestep_spacing="leading",
    )  # fmt: skip
    tokenizer = clip_tokenizer(tf)
    tokenizer.model_max_length = 77  # the pipeline pads prompts to it
    text = dict(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
        pad_token_id=1, projection_dim=32, hidden_act="gelu",
    )  # fmt: skip
    return {
        "vae": vae,
        "text_encoder": tf.CLIPTextModel(tf.CLIPTextConfig(**text)),
        "text_encoder_2": tf.CLIPTextModelWithProjection(tf.CLIPTextConfig(**text)),
        "tokenizer": tokenizer,
        "tokenizer_2": tokenizer,
        "unet": unet,
        "scheduler": scheduler,
    }


def save_flux2_klein(hf_home: Path, repo_id: str = FLUX2_KLEIN_REPO) -> Path:
    """A Flux2KleinPipeline: a one-block transformer over a 28-layer, 16-wide Qwen3 (the
    pipeline reads hidden states 9, 18 and 27 of its text encoder)."""
    import diffusers
    import torch
    import transformers as tf

    torch.manual_seed(0)
    text_encoder = tf.Qwen3ForCausalLM(
        tf.Qwen3Config(
            vocab_size=300, hidden_size=16, intermediate_size=32, num_hidden_layers=28,
            num_attention_heads=2, num_key_value_heads=1, head_dim=8,
            max_position_embeddings=512,
        )
    )  # fmt: skip
    transformer = diffusers.Flux2Transformer2DModel(
        patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=3 * 16, timestep_guidance_channels=32,
        axes_dims_rope=(4, 4, 4, 4), guidance_embeds=False,
    )  # fmt: skip
    vae = diffusers.AutoencoderKLFlux2(
        block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=4,
        layers_per_block=1, sample_size=32,
    )  # fmt: skip
    pipeline = diffusers.Flux2KleinPipeline(
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=qwen_tokenizer(tf),
        transformer=transformer,
        is_distilled=True,
    )
    return save_to_cache(hf_home, repo_id, pipeline)


QWEN_SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|image_pad|>", "<|video_pad|>",
]  # fmt: skip


def qwen_tokenizer(tf: Any) -> Any:
    """A Qwen2 byte-level tokenizer with the chat and vision special tokens, no merges."""
    vocab = byte_level_vocab(QWEN_SPECIALS)
    tokenizer = tf.Qwen2Tokenizer(
        vocab=vocab, merges=[], unk_token=None, bos_token=None, eos_token="<|im_end|>",
        pad_token="<|endoftext|>", model_max_length=512,
    )  # fmt: skip
    tokenizer.chat_template = (
        "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
        "{{ message['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    return tokenizer


def save_qwen_image_edit(
    hf_home: Path, repo_id: str = QWEN_EDIT_REPO, pipeline_class: str = "QwenImageEditPlusPipeline"
) -> Path:
    """A Qwen-Image-Edit pipeline (Plus: 2509/2511; ``QwenImageEditPipeline``: the original)
    laid out as the real repository: its ``processor/`` folder holds the Qwen2-VL image
    processor's config, ``model_index.json`` names the processor."""
    import json

    import diffusers
    import transformers as tf

    cls = getattr(diffusers, pipeline_class)
    pipeline = cls(processor=None, **qwen_image_components())
    folder = save_to_cache(hf_home, repo_id, pipeline)
    tf.Qwen2VLImageProcessorPil().save_pretrained(folder / "processor")
    index = json.loads((folder / "model_index.json").read_text())
    index["processor"] = ["transformers", "Qwen2VLProcessor"]
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder


def qwen_image_components() -> dict[str, Any]:
    """A tiny Qwen-Image (seeded): two-block transformer, two-layer Qwen2.5-VL (its vision
    tower two blocks deep), a VAE that downsamples 4x (latents stay a multiple of 2 for the
    transformer's 2x2 patches at 64-pixel buckets)."""
    import diffusers
    import torch
    import transformers as tf

    torch.manual_seed(0)
    tokenizer = qwen_tokenizer(tf)
    # The real tokenizer has the vision markers as special tokens: the edit pipelines' image
    # placeholder must stay one token.
    tokenizer.add_special_tokens({"additional_special_tokens": QWEN_SPECIALS})
    tokenizer.model_max_length = 4096  # no merges: every byte of the prompt template a token
    token = tokenizer.convert_tokens_to_ids
    text = {
        "hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 2,
        "num_attention_heads": 2, "num_key_value_heads": 2, "vocab_size": 300,
        "bos_token_id": token("<|endoftext|>"), "eos_token_id": token("<|im_end|>"),
        "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default"},
    }  # fmt: skip
    config = tf.Qwen2_5_VLConfig(
        text_config=text, hidden_size=16, vocab_size=300,
        vision_config={"depth": 2, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2,
                       "out_hidden_size": 16},
        vision_start_token_id=token("<|vision_start|>"),
        vision_end_token_id=token("<|vision_end|>"),
        image_token_id=token("<|image_pad|>"), video_token_id=token("<|video_pad|>"),
    )  # fmt: skip
    transformer = diffusers.QwenImageTransformer2DModel(
        patch_size=2, in_channels=16, out_channels=4, num_layers=2, attention_head_dim=16,
        num_attention_heads=3, joint_attention_dim=16, axes_dims_rope=(8, 4, 4),
    )  # fmt: skip
    vae = diffusers.AutoencoderKLQwenImage(
        base_dim=24, z_dim=4, dim_mult=[1, 2, 4], num_res_blocks=1,
        temperal_downsample=[False, True], latents_mean=[0.0] * 4, latents_std=[1.0] * 4,
    )  # fmt: skip
    return {
        "scheduler": diffusers.FlowMatchEulerDiscreteScheduler(),
        "vae": vae,
        "text_encoder": tf.Qwen2_5_VLForConditionalGeneration(config),
        "tokenizer": tokenizer,
        "transformer": transformer,
    }


def model_folder(hf_home: Path, repo_id: str) -> Path:
    return snapshot_dir(hf_home, repo_id)


def save_sdxl_lora(hf_home: Path, folder: Path, repo_id: str = SDXL_REPO) -> Path:
    """A random rank-2 LoRA over the tiny SDXL UNet's attention (``B`` not zero, so it
    changes the output), saved as diffusers saves one: ``pytorch_lora_weights.safetensors``."""
    import diffusers
    import torch
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(1)
    unet = diffusers.UNet2DConditionModel.from_pretrained(snapshot_dir(hf_home, repo_id) / "unet")
    modules = ["to_q", "to_k", "to_v", "to_out.0"]
    unet.add_adapter(LoraConfig(r=2, lora_alpha=2, target_modules=modules, init_lora_weights=False))
    diffusers.StableDiffusionXLImg2ImgPipeline.save_lora_weights(
        folder, unet_lora_layers=get_peft_model_state_dict(unet)
    )
    return folder / "pytorch_lora_weights.safetensors"
