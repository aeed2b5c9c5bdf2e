"""Tiny random text-to-image pipelines at the real repository ids ``train`` defaults to.

The same components as the generation tests' builders (:mod:`tests.tinypipelines`: a
two-block UNet and 32-wide CLIP text encoders for SDXL; a one-block FLUX.2 transformer over a
28-layer, 16-wide Qwen3), saved as the text-to-image pipelines training reads:
``StableDiffusionXLPipeline`` and the undistilled ``Flux2KleinPipeline`` (the "base"
checkpoints LoRAs are trained on), and ``QwenImagePipeline`` over the components of the
tiny Qwen-Image-Edit-Plus (:func:`tests.tinypipelines.qwen_image_components`), which also
make the original Qwen-Image-Edit (``QwenImageEditPipeline``).
"""

from __future__ import annotations

from pathlib import Path

from tests.hfcache import save_to_cache
from tests.tinypipelines import (
    qwen_image_components,
    qwen_tokenizer,
    save_qwen_image_edit,
    sdxl_components,
)

SDXL_REPO = "stabilityai/stable-diffusion-xl-base-1.0"
FLUX2_REPO = "black-forest-labs/FLUX.2-klein-base-4B"
QWEN_REPO = "Qwen/Qwen-Image"
QWEN_EDIT_ORIGINAL_REPO = "Qwen/Qwen-Image-Edit"  # the first edit model: one reference image


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


def save_qwen_image_edit_original(hf_home: Path, repo_id: str = QWEN_EDIT_ORIGINAL_REPO) -> Path:
    """The original Qwen-Image-Edit (``QwenImageEditPipeline``) over the same tiny components."""
    return save_qwen_image_edit(hf_home, repo_id, "QwenImageEditPipeline")
