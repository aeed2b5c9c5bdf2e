"""Tiny random text-to-image pipelines at the real repository ids ``train`` defaults to.

The same components as the generation tests' builders (:mod:`tests.tinypipelines`: a
two-block UNet and 32-wide CLIP text encoders for SDXL; a one-block FLUX.2 transformer over a
28-layer, 16-wide Qwen3), saved as the text-to-image pipelines training reads:
``StableDiffusionXLPipeline`` and the undistilled ``Flux2KleinPipeline`` (the "base"
checkpoints LoRAs are trained on).
"""

from __future__ import annotations

from pathlib import Path

from tests.hfcache import save_to_cache
from tests.tinymodels import clip_tokenizer
from tests.tinypipelines import qwen_tokenizer

SDXL_REPO = "stabilityai/stable-diffusion-xl-base-1.0"
FLUX2_REPO = "black-forest-labs/FLUX.2-klein-base-4B"


def save_sdxl(hf_home: Path, repo_id: str = SDXL_REPO) -> Path:
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
        projection_class_embeddings_input_dim=6 * 8 + 32, cross_attention_dim=64,
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
    tokenizer.model_max_length = 77
    text = dict(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
        pad_token_id=1, projection_dim=32, hidden_act="gelu",
    )  # fmt: skip
    pipeline = diffusers.StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=tf.CLIPTextModel(tf.CLIPTextConfig(**text)),
        text_encoder_2=tf.CLIPTextModelWithProjection(tf.CLIPTextConfig(**text)),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=scheduler,
    )
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
