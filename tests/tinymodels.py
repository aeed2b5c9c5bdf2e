"""Tiny random models at real repository ids, built from configs (nothing is downloaded).

Random weights give meaningless masks and scores, so tests pick thresholds whose outcome does
not depend on them (0: everything passes; 1: nothing does) and check files, sizes, names and
counts. The loading, preprocessing, batching and writing code is the real one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.hfcache import save_to_cache

CLIP_SPECIALS = ["<|startoftext|>", "<|endoftext|>"]


def clip_tokenizer(transformers: Any) -> Any:
    """A CLIP BPE tokenizer over single bytes (every symbol also as a word end)."""
    from tokenizers.pre_tokenizers import ByteLevel

    vocab = {token: index for index, token in enumerate(CLIP_SPECIALS)}
    for symbol in sorted(ByteLevel.alphabet()):
        vocab.setdefault(symbol, len(vocab))
        vocab.setdefault(symbol + "</w>", len(vocab))
    return transformers.CLIPTokenizer(
        vocab=vocab,
        merges=[],
        unk_token="<|endoftext|>",
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )


def text_config(vocab_size: int, positions: int = 77) -> dict[str, Any]:
    return dict(
        vocab_size=vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=positions, bos_token_id=0,
        eos_token_id=1, pad_token_id=1, projection_dim=16,
    )  # fmt: skip


def vision_config(image_size: int, layers: int = 1) -> dict[str, Any]:
    return dict(
        hidden_size=16, intermediate_size=32, num_hidden_layers=layers, num_attention_heads=2,
        image_size=image_size, patch_size=8,
    )  # fmt: skip


def save_clipseg(torch: Any, tf: Any, hf_home: Path) -> Path:
    """``CIDAS/clipseg-rd64-refined``, 32x32 input."""
    tokenizer = clip_tokenizer(tf)
    config = tf.CLIPSegConfig(
        text_config=text_config(len(tokenizer)), vision_config=vision_config(32, layers=2),
        projection_dim=16, extract_layers=[1], reduce_dim=8, decoder_num_attention_heads=2,
        decoder_intermediate_size=16,
    )  # fmt: skip
    image_processor = tf.ViTImageProcessorPil(size={"height": 32, "width": 32})
    processor = tf.CLIPSegProcessor(image_processor=image_processor, tokenizer=tokenizer)
    torch.manual_seed(0)
    model = tf.CLIPSegForImageSegmentation(config)
    return save_to_cache(hf_home, "CIDAS/clipseg-rd64-refined", model, processor)


def save_clip(torch: Any, tf: Any, hf_home: Path) -> Path:
    """``openai/clip-vit-base-patch32``, 32x32 input."""
    tokenizer = clip_tokenizer(tf)
    config = tf.CLIPConfig(
        text_config=text_config(len(tokenizer)), vision_config=vision_config(32), projection_dim=16
    )
    image_processor = tf.CLIPImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    processor = tf.CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)
    torch.manual_seed(0)
    model = tf.CLIPModel(config)
    return save_to_cache(hf_home, "openai/clip-vit-base-patch32", model, processor)


def save_sam3(torch: Any, tf: Any, hf_home: Path) -> Path:
    """``facebook/sam3``: a two-layer ViT on 56x56 input, one-layer DETR, 8 queries."""
    tokenizer = clip_tokenizer(tf)
    width = 32
    backbone = tf.Sam3ViTConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        image_size=56, patch_size=14, window_size=2, global_attn_indexes=[1],
        pretrain_image_size=56,
    )  # fmt: skip
    small = dict(hidden_size=width, num_layers=1, num_attention_heads=2, intermediate_size=64)
    config = tf.Sam3Config(
        vision_config=dict(
            backbone_config=backbone, fpn_hidden_size=width,
            backbone_feature_sizes=[[16, 16], [8, 8], [4, 4]],
        ),
        text_config={**text_config(len(tokenizer), positions=32), "hidden_size": 32,
                     "intermediate_size": 64, "projection_dim": 32},
        geometry_encoder_config=small,
        detr_encoder_config=small,
        detr_decoder_config={**small, "num_queries": 8},
        mask_decoder_config=dict(hidden_size=width, num_upsampling_stages=3, num_attention_heads=2),
    )  # fmt: skip
    torch.manual_seed(0)
    model = tf.Sam3Model(config)
    folder = save_to_cache(hf_home, "facebook/sam3", model, tokenizer)
    # What the hub repository's preprocessor_config.json says, at this model's input size.
    (folder / "preprocessor_config.json").write_text(
        '{"do_resize": true, "size": {"height": 56, "width": 56}, "resample": 2,'
        ' "do_rescale": true, "rescale_factor": 0.00392156862745098, "do_normalize": true,'
        ' "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}'
    )
    return folder


def save_grounding_dino(torch: Any, tf: Any, hf_home: Path) -> Path:
    """``IDEA-Research/grounding-dino-base``: a two-stage Swin, one-layer BERT, 5 queries."""
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", *"abcdefghijklmnopqrstuvwxyz"]
    tokenizer = tf.BertTokenizer(vocab={word: index for index, word in enumerate(words)})
    image_processor = tf.GroundingDinoImageProcessorPil(
        size={"shortest_edge": 32, "longest_edge": 64}
    )
    processor = tf.GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer)
    swin = tf.SwinConfig(
        image_size=64, patch_size=4, embed_dim=8, depths=[1, 1], num_heads=[1, 1], window_size=2,
        out_features=["stage1", "stage2"],
    )  # fmt: skip
    bert = tf.BertConfig(
        vocab_size=len(words), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64,
    )  # fmt: skip
    config = tf.GroundingDinoConfig(
        backbone_config=swin, text_config=bert, d_model=32, num_queries=5, encoder_layers=1,
        decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=32, decoder_ffn_dim=32, num_feature_levels=2, encoder_n_points=2,
        decoder_n_points=2, max_text_len=32,
    )  # fmt: skip
    torch.manual_seed(0)
    model = tf.GroundingDinoForObjectDetection(config)
    return save_to_cache(hf_home, "IDEA-Research/grounding-dino-base", model, processor)


def save_sam2(torch: Any, tf: Any, hf_home: Path) -> Path:
    """``facebook/sam2-hiera-large``: a five-block Hiera on 64x64 input."""
    backbone = tf.Sam2HieraDetConfig(
        hidden_size=8, num_attention_heads=1, blocks_per_stage=[1, 1, 2, 1],
        embed_dim_per_stage=[8, 16, 32, 64], num_attention_heads_per_stage=[1, 1, 1, 1],
        window_size_per_stage=[4, 4, 4, 4], global_attention_blocks=[3], image_size=[64, 64],
        patch_stride=[4, 4],
    )  # fmt: skip
    config = tf.Sam2Config(
        vision_config=dict(
            backbone_config=backbone, fpn_hidden_size=16, backbone_channel_list=[64, 32, 16, 8],
            backbone_feature_sizes=[[16, 16], [8, 8], [4, 4]],
        ),
        prompt_encoder_config=dict(
            hidden_size=16, image_size=64, patch_size=16, mask_input_channels=4
        ),
        mask_decoder_config=dict(
            hidden_size=16, num_attention_heads=2, mlp_dim=32, iou_head_hidden_dim=16
        ),
    )  # fmt: skip
    torch.manual_seed(0)
    folder = save_to_cache(hf_home, "facebook/sam2-hiera-large", tf.Sam2Model(config))
    (folder / "preprocessor_config.json").write_text(
        '{"do_resize": true, "size": {"height": 64, "width": 64}, "resample": 2,'
        ' "do_rescale": true, "rescale_factor": 0.00392156862745098, "do_normalize": true,'
        ' "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}'
    )
    return folder
