"""Tiny random text-to-image pipelines at the real repository ids ``train`` defaults to.

The same components as the generation tests' builders (:mod:`tests.tinypipelines`: a
two-block UNet and 32-wide CLIP text encoders for SDXL; a one-block FLUX.2 transformer over a
28-layer, 16-wide Qwen3), saved as the text-to-image pipelines training reads:
``StableDiffusionXLPipeline`` and the undistilled ``Flux2KleinPipeline`` (the "base"
checkpoints LoRAs are trained on). Qwen-Image: a two-block transformer over a two-layer,
16-wide Qwen2.5-VL and a three-level video VAE.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.hfcache import save_to_cache
from tests.tinypipelines import QWEN_EDIT_REPO as QWEN_EDIT_REPO
from tests.tinypipelines import QWEN_SPECIALS, qwen_tokenizer, sdxl_components

SDXL_REPO = "stabilityai/stable-diffusion-xl-base-1.0"
FLUX2_REPO = "black-forest-labs/FLUX.2-klein-base-4B"
QWEN_REPO = "Qwen/Qwen-Image"


def save_sdxl(hf_home: Path, repo_id: str = SDXL_REPO) -> Path:
    import diffusers

    # The base model's UNet takes 6 time ids (original size, crop, target size).
    pipeline = diffusers.StableDiffusionXLPipeline(**sdxl_components(time_ids=6))
    return save_to_cache(hf_home, repo_id, pipeline)


def save_flux2_klein_base(hf_home: Path, repo_id: str = FLUX2_REPO) -> Path:
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
        is_distilled=False,
    )
    return save_to_cache(hf_home, repo_id, pipeline)


def save_qwen_image(hf_home: Path, repo_id: str = QWEN_REPO) -> Path:
    import diffusers

    pipeline = diffusers.QwenImagePipeline(**qwen_image_components())
    return save_to_cache(hf_home, repo_id, pipeline)


def save_qwen_image_edit(hf_home: Path, repo_id: str = QWEN_EDIT_REPO) -> Path:
    """A QwenImageEditPlusPipeline laid out as the real repository: its ``processor/`` folder
    holds the Qwen2-VL image processor's config, ``model_index.json`` names the processor."""
    import json

    import diffusers
    import transformers as tf

    pipeline = diffusers.QwenImageEditPlusPipeline(processor=None, **qwen_image_components())
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
