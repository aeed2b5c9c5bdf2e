"""How ComfyUI finds the weights a LoRA file patches: a small, faithful port of its key mapping.

ComfyUI is not a library on PyPI, so the test of "our LoRA loads in ComfyUI" applies ComfyUI's
own rules, ported here from its source (comfyanonymous/ComfyUI):

* ``comfy/lora.py`` at commit 41444b5236c613ee5ff7d09aa620f94b702f30eb:
  ``model_lora_keys_unet`` (which LoRA key names map to which model weight: kohya's
  ``lora_unet_<diffusers name with _>`` and diffusers' ``unet.<...>.processor.to_q`` for a
  UNet; ``transformer.<diffusers name>`` for every Flux model, ``comfy.model_base.Flux2``
  being a subclass of ``Flux``) and ``load_lora`` (the suffixes each format uses:
  ``.lora_up/.lora_down``, ``_lora.up/_lora.down``, ``.lora_B/.lora_A``, ``.lora.up/.lora.down``,
  ``.lora_linear_layer.up/.down``, and ``.alpha``; any other key is logged as
  "lora key not loaded" and ignored). ``comfy/lora_convert.py`` (same repository) only
  rewrites BFL control, Wan-Fun, USO and TwinFlow files, none of which applies here.
* ``comfy/utils.py``: ``unet_to_diffusers`` (diffusers UNet names -> the original LDM
  names ComfyUI's SDXL model has) and ``flux_to_diffusers`` (diffusers Flux names -> BFL
  names, ``to_q/to_k/to_v`` as slices of the fused ``qkv``), in the version with the FLUX.2
  single-block entries ``attn.to_qkv_mlp_proj -> linear1`` and ``attn.to_out -> linear2``.

Qwen-Image (and every Qwen-Image-Edit model: ``comfy/supported_models.py`` makes one
``comfy.model_base.QwenImage`` of each ``image_model: qwen_image`` checkpoint), from
Comfy-Org/ComfyUI (the repository's current home):

* ``comfy/lora.py`` at commit 17358c8f73b581a0d22facc3c385822f09b8bfb1,
  ``model_lora_keys_unet``, its ``isinstance(model, comfy.model_base.QwenImage)`` branch: every
  ``diffusion_model.<name>.weight`` is reached as ``<name>``, ``transformer.<name>`` and
  ``lycoris_<name with _>`` (no renaming of block names, unlike Flux). Its split of a fused
  ``img_mlp.gate_up`` applies to Qwen Image 2.1 checkpoints only, not ported.
* ``comfy/weight_adapter/lora.py`` (commit 6f98b150e065f1ffc788558574a887835068bd40),
  ``LoRAAdapter.load``: the same suffixes as above, plus Qwen's ``.lora_B.default.weight``.
* ``comfy/lora_convert.py`` (commit 2bffe2f4ce5763dcb83df6a670657b6d5c8f85a5), ``convert_lora``:
  besides the files above it only splits fused ``attn.to_qkv`` adapters (Krea2), which no file of
  ours has.
* comfyanonymous/ComfyUI ``comfy/ldm/qwen_image/model.py`` (commit
  01f4512bf804c9ff2489a6c1558340e58efc2d72): the model's modules carry diffusers' names
  (``transformer_blocks.N.attn.to_q``, ``img_mlp.net.0.proj``, ...), listed in
  :data:`QWEN_IMAGE_TOP` / :data:`QWEN_IMAGE_BLOCK`.

Only the LoRA ("lora" patch) part is ported; LoHa/LoKr/GLoRA and text-encoder keys are not.
ComfyUI's model state dict is the original-format checkpoint under ``diffusion_model.``;
:func:`ldm_unet_state` / :func:`bfl_transformer_state` / :func:`qwen_image_state` build it
from the diffusers model, and the test checks them against diffusers' own single-file
converters (Qwen-Image: against ComfyUI's parameter names, both ways).
"""

from __future__ import annotations

from typing import Any

Target = tuple[str, tuple[int, int, int] | None]  # (weight name, (dim, start, length) or None)

# comfy/utils.py: UNET_MAP_ATTENTIONS, TRANSFORMER_BLOCKS, UNET_MAP_RESNET, UNET_MAP_BASIC.
UNET_MAP_ATTENTIONS = {"proj_in.weight", "proj_in.bias", "proj_out.weight", "proj_out.bias",
                       "norm.weight", "norm.bias"}  # fmt: skip
TRANSFORMER_BLOCKS = {
    "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias", "norm3.weight", "norm3.bias",
    "attn1.to_q.weight", "attn1.to_k.weight", "attn1.to_v.weight", "attn1.to_out.0.weight",
    "attn1.to_out.0.bias", "attn2.to_q.weight", "attn2.to_k.weight", "attn2.to_v.weight",
    "attn2.to_out.0.weight", "attn2.to_out.0.bias", "ff.net.0.proj.weight",
    "ff.net.0.proj.bias", "ff.net.2.weight", "ff.net.2.bias",
}  # fmt: skip
UNET_MAP_RESNET = {
    "in_layers.2.weight": "conv1.weight", "in_layers.2.bias": "conv1.bias",
    "emb_layers.1.weight": "time_emb_proj.weight", "emb_layers.1.bias": "time_emb_proj.bias",
    "out_layers.3.weight": "conv2.weight", "out_layers.3.bias": "conv2.bias",
    "skip_connection.weight": "conv_shortcut.weight", "skip_connection.bias": "conv_shortcut.bias",
    "in_layers.0.weight": "norm1.weight", "in_layers.0.bias": "norm1.bias",
    "out_layers.0.weight": "norm2.weight", "out_layers.0.bias": "norm2.bias",
}  # fmt: skip
UNET_MAP_BASIC = {
    ("label_emb.0.0.weight", "add_embedding.linear_1.weight"),
    ("label_emb.0.0.bias", "add_embedding.linear_1.bias"),
    ("label_emb.0.2.weight", "add_embedding.linear_2.weight"),
    ("label_emb.0.2.bias", "add_embedding.linear_2.bias"),
    ("input_blocks.0.0.weight", "conv_in.weight"), ("input_blocks.0.0.bias", "conv_in.bias"),
    ("out.0.weight", "conv_norm_out.weight"), ("out.0.bias", "conv_norm_out.bias"),
    ("out.2.weight", "conv_out.weight"), ("out.2.bias", "conv_out.bias"),
    ("time_embed.0.weight", "time_embedding.linear_1.weight"),
    ("time_embed.0.bias", "time_embedding.linear_1.bias"),
    ("time_embed.2.weight", "time_embedding.linear_2.weight"),
    ("time_embed.2.bias", "time_embedding.linear_2.bias"),
}  # fmt: skip


def unet_to_diffusers(unet_config: dict[str, Any]) -> dict[str, str]:
    """comfy/utils.py ``unet_to_diffusers``: diffusers UNet key -> LDM key."""
    num_res_blocks = unet_config["num_res_blocks"]
    channel_mult = unet_config["channel_mult"]
    transformer_depth = unet_config["transformer_depth"][:]
    transformer_depth_output = unet_config["transformer_depth_output"][:]
    num_blocks = len(channel_mult)
    transformers_mid = unet_config.get("transformer_depth_middle")

    out: dict[str, str] = {}
    for x in range(num_blocks):
        n = 1 + (num_res_blocks[x] + 1) * x
        for i in range(num_res_blocks[x]):
            for b in UNET_MAP_RESNET:
                out[f"down_blocks.{x}.resnets.{i}.{UNET_MAP_RESNET[b]}"] = f"input_blocks.{n}.0.{b}"
            num_transformers = transformer_depth.pop(0)
            if num_transformers > 0:
                for b in UNET_MAP_ATTENTIONS:
                    out[f"down_blocks.{x}.attentions.{i}.{b}"] = f"input_blocks.{n}.1.{b}"
                for t in range(num_transformers):
                    for b in TRANSFORMER_BLOCKS:
                        out[f"down_blocks.{x}.attentions.{i}.transformer_blocks.{t}.{b}"] = (
                            f"input_blocks.{n}.1.transformer_blocks.{t}.{b}"
                        )
            n += 1
        for k in ["weight", "bias"]:
            out[f"down_blocks.{x}.downsamplers.0.conv.{k}"] = f"input_blocks.{n}.0.op.{k}"

    i = 0
    for b in UNET_MAP_ATTENTIONS:
        out[f"mid_block.attentions.{i}.{b}"] = f"middle_block.1.{b}"
    for t in range(transformers_mid):
        for b in TRANSFORMER_BLOCKS:
            out[f"mid_block.attentions.{i}.transformer_blocks.{t}.{b}"] = (
                f"middle_block.1.transformer_blocks.{t}.{b}"
            )
    for i, n in enumerate([0, 2]):
        for b in UNET_MAP_RESNET:
            out[f"mid_block.resnets.{i}.{UNET_MAP_RESNET[b]}"] = f"middle_block.{n}.{b}"

    num_res_blocks = list(reversed(num_res_blocks))
    for x in range(num_blocks):
        n = (num_res_blocks[x] + 1) * x
        length = num_res_blocks[x] + 1
        for i in range(length):
            c = 0
            for b in UNET_MAP_RESNET:
                out[f"up_blocks.{x}.resnets.{i}.{UNET_MAP_RESNET[b]}"] = f"output_blocks.{n}.0.{b}"
            c += 1
            num_transformers = transformer_depth_output.pop()
            if num_transformers > 0:
                c += 1
                for b in UNET_MAP_ATTENTIONS:
                    out[f"up_blocks.{x}.attentions.{i}.{b}"] = f"output_blocks.{n}.1.{b}"
                for t in range(num_transformers):
                    for b in TRANSFORMER_BLOCKS:
                        out[f"up_blocks.{x}.attentions.{i}.transformer_blocks.{t}.{b}"] = (
                            f"output_blocks.{n}.1.transformer_blocks.{t}.{b}"
                        )
            if i == length - 1:
                for k in ["weight", "bias"]:
                    out[f"up_blocks.{x}.upsamplers.0.conv.{k}"] = f"output_blocks.{n}.{c}.conv.{k}"
            n += 1

    for ldm, diffusers in UNET_MAP_BASIC:
        out[diffusers] = ldm
    return out


def flux_to_diffusers(config: dict[str, int], output_prefix: str = "") -> dict[str, Any]:
    """comfy/utils.py ``flux_to_diffusers``, its double- and single-block part (what a LoRA on
    attention targets): diffusers key -> BFL key, or (BFL key, (dim, start, length))."""
    hidden = config["hidden_size"]
    out: dict[str, Any] = {}
    for index in range(config["depth"]):
        src, dst = f"transformer_blocks.{index}", f"{output_prefix}double_blocks.{index}"
        for end in ("weight", "bias"):
            qkv = f"{dst}.img_attn.qkv.{end}"
            out[f"{src}.attn.to_q.{end}"] = (qkv, (0, 0, hidden))
            out[f"{src}.attn.to_k.{end}"] = (qkv, (0, hidden, hidden))
            out[f"{src}.attn.to_v.{end}"] = (qkv, (0, hidden * 2, hidden))
            qkv = f"{dst}.txt_attn.qkv.{end}"
            out[f"{src}.attn.add_q_proj.{end}"] = (qkv, (0, 0, hidden))
            out[f"{src}.attn.add_k_proj.{end}"] = (qkv, (0, hidden, hidden))
            out[f"{src}.attn.add_v_proj.{end}"] = (qkv, (0, hidden * 2, hidden))
        block_map = {
            "attn.to_out.0.weight": "img_attn.proj.weight",
            "attn.to_out.0.bias": "img_attn.proj.bias",
            "attn.to_add_out.weight": "txt_attn.proj.weight",
            "attn.to_add_out.bias": "txt_attn.proj.bias",
            "ff.linear_in.weight": "img_mlp.0.weight",
            "ff.linear_out.weight": "img_mlp.2.weight",
            "ff_context.linear_in.weight": "txt_mlp.0.weight",
            "ff_context.linear_out.weight": "txt_mlp.2.weight",
        }
        for k, v in block_map.items():
            out[f"{src}.{k}"] = f"{dst}.{v}"
    for index in range(config["depth_single_blocks"]):
        src, dst = f"single_transformer_blocks.{index}", f"{output_prefix}single_blocks.{index}"
        for end in ("weight", "bias"):
            qkv = f"{dst}.linear1.{end}"
            out[f"{src}.attn.to_q.{end}"] = (qkv, (0, 0, hidden))
            out[f"{src}.attn.to_k.{end}"] = (qkv, (0, hidden, hidden))
            out[f"{src}.attn.to_v.{end}"] = (qkv, (0, hidden * 2, hidden))
            out[f"{src}.proj_mlp.{end}"] = (qkv, (0, hidden * 3, hidden * 4))
        block_map = {
            "proj_out.weight": "linear2.weight",
            "proj_out.bias": "linear2.bias",
            "attn.to_qkv_mlp_proj.weight": "linear1.weight",  # FLUX.2
            "attn.to_out.weight": "linear2.weight",  # FLUX.2
        }
        for k, v in block_map.items():
            out[f"{src}.{k}"] = f"{dst}.{v}"
    return out


def model_lora_keys_unet(
    model_keys: list[str],
    unet_config: dict[str, Any] | None,
    flux_config: dict[str, int] | None,
    qwen_image: bool = False,
) -> dict[str, Any]:
    """comfy/lora.py ``model_lora_keys_unet``: LoRA module name -> weight it patches
    (a name, or (name, slice) for a part of a fused weight)."""
    key_map: dict[str, Any] = {}
    for k in model_keys:
        if k.startswith("diffusion_model.") and k.endswith(".weight"):
            key_lora = k[len("diffusion_model.") : -len(".weight")].replace(".", "_")
            key_map[f"lora_unet_{key_lora}"] = k
            key_map[k[: -len(".weight")]] = k  # generic format
    if unet_config is not None:
        for k, ldm in unet_to_diffusers(unet_config).items():
            if k.endswith(".weight"):
                unet_key = f"diffusion_model.{ldm}"
                key_lora = k[: -len(".weight")].replace(".", "_")
                key_map[f"lora_unet_{key_lora}"] = unet_key
                key_map[f"lycoris_{key_lora}"] = unet_key
                for prefix in ["", "unet."]:
                    name = prefix + k[: -len(".weight")].replace(".to_", ".processor.to_")
                    if name.endswith(".to_out.0"):
                        name = name[:-2]
                    key_map[name] = unet_key
    if flux_config is not None:  # isinstance(model, comfy.model_base.Flux): FLUX.1 and FLUX.2
        for k, to in flux_to_diffusers(flux_config, output_prefix="diffusion_model.").items():
            if k.endswith(".weight"):
                name = k[: -len(".weight")]
                key_map[f"transformer.{name}"] = to
                key_map[f"lycoris_{name.replace('.', '_')}"] = to
                key_map[f"lora_transformer_{name.replace('.', '_')}"] = to
                key_map[name] = to
    if qwen_image:  # isinstance(model, comfy.model_base.QwenImage): names kept as they are
        for k in model_keys:
            if k.startswith("diffusion_model.") and k.endswith(".weight"):
                name = k[len("diffusion_model.") : -len(".weight")]
                key_map[name] = k
                key_map[f"transformer.{name}"] = k
                key_map[f"lycoris_{name.replace('.', '_')}"] = k
    return key_map


LORA_SUFFIXES = [  # comfy/lora.py load_lora: (up, down) per format, in its order
    (".lora_up.weight", ".lora_down.weight"),
    ("_lora.up.weight", "_lora.down.weight"),
    (".lora_B.weight", ".lora_A.weight"),
    (".lora.up.weight", ".lora.down.weight"),
    (".lora_linear_layer.up.weight", ".lora_linear_layer.down.weight"),
    (".lora_B.default.weight", ".lora_A.default.weight"),  # weight_adapter/lora.py: Qwen's
]


def load_lora(
    lora: dict[str, Any], to_load: dict[str, Any]
) -> tuple[dict[str, tuple[Any, ...]], list[str]]:
    """comfy/lora.py ``load_lora`` (LoRA part): the patches per target weight, and the keys
    of the file ComfyUI would log as "lora key not loaded"."""
    patches: dict[str, tuple[Any, ...]] = {}
    loaded: set[str] = set()
    for x, target in to_load.items():
        alpha = None
        if f"{x}.alpha" in lora:
            alpha = lora[f"{x}.alpha"].item()
            loaded.add(f"{x}.alpha")
        for up, down in LORA_SUFFIXES:
            if x + up in lora:
                key = target if isinstance(target, str) else tuple(target)
                patches[str(key)] = (target, lora[x + up], lora[x + down], alpha)
                loaded.update({x + up, x + down})
                break
    return patches, [k for k in lora if k not in loaded]


def apply_patches(
    state: dict[str, Any], patches: dict[str, tuple[Any, ...]], strength: float = 1.0
) -> dict[str, Any]:
    """comfy/lora.py ``calculate_weight`` for "lora" patches: W (or its slice) +=
    strength * alpha / rank * up @ down."""
    import torch

    patched = {k: v.clone() for k, v in state.items()}
    for target, up, down, alpha in patches.values():
        name, offset = (target, None) if isinstance(target, str) else target
        weight = patched[name]
        if offset is not None:
            weight = weight.narrow(offset[0], offset[1], offset[2])
        scale = 1.0 if alpha is None else alpha / down.shape[0]
        diff = torch.mm(up.flatten(1).float(), down.flatten(1).float()).reshape(weight.shape)
        weight += strength * scale * diff.to(weight.dtype)
    return patched


def unet_config_of(config: Any) -> dict[str, Any]:
    """The ``unet_config`` ComfyUI's model detection reads off an SDXL checkpoint, from the
    diffusers UNet's config (transformer_depth_output lists the last output block first)."""
    levels = len(config.block_out_channels)
    layers = config.layers_per_block
    depths = config.transformer_layers_per_block
    depths = [depths] * levels if isinstance(depths, int) else list(depths)
    down = [
        d if "CrossAttn" in t else 0 for d, t in zip(depths, config.down_block_types, strict=True)
    ]
    up = [
        d if "CrossAttn" in t else 0
        for d, t in zip(reversed(depths), config.up_block_types, strict=True)
    ]
    return {
        "num_res_blocks": [layers] * levels,
        "channel_mult": [c // config.block_out_channels[0] for c in config.block_out_channels],
        "transformer_depth": [d for d in down for _ in range(layers)],
        "transformer_depth_output": [d for d in up for _ in range(layers + 1)][::-1],
        "transformer_depth_middle": depths[-1],
    }


def ldm_unet_state(diffusers_state: dict[str, Any], unet_config: dict[str, Any]) -> dict[str, Any]:
    """The UNet's weights under their LDM names (what ComfyUI's SDXL model holds)."""
    mapping = unet_to_diffusers(unet_config)
    return {f"diffusion_model.{mapping[k]}": v for k, v in diffusers_state.items()}


def flux_config_of(config: Any) -> dict[str, int]:
    return {
        "depth": config.num_layers,
        "depth_single_blocks": config.num_single_layers,
        "hidden_size": config.num_attention_heads * config.attention_head_dim,
    }


def bfl_transformer_state(
    diffusers_state: dict[str, Any], flux_config: dict[str, int]
) -> dict[str, Any]:
    """The transformer's mapped weights under their BFL names (slices concatenated into
    the fused weights), as ComfyUI's FLUX.2 model holds them."""
    import torch

    fused: dict[str, dict[int, Any]] = {}
    state: dict[str, Any] = {}
    for k, to in flux_to_diffusers(flux_config, output_prefix="diffusion_model.").items():
        if k not in diffusers_state:
            continue
        if isinstance(to, str):
            state[to] = diffusers_state[k]
        else:
            fused.setdefault(to[0], {})[to[1][1]] = diffusers_state[k]
    for name, parts in fused.items():
        state[name] = torch.cat([parts[start] for start in sorted(parts)], dim=0)
    return state


# comfy/ldm/qwen_image/model.py: the parameters of ComfyUI's QwenImageTransformer2DModel (the
# model outside its blocks, and one QwenImageTransformerBlock), by module path.
QWEN_IMAGE_TOP = (
    *(f"time_text_embed.timestep_embedder.linear_{n}.{end}" for n in (1, 2)
      for end in ("weight", "bias")),
    "txt_norm.weight", "img_in.weight", "img_in.bias", "txt_in.weight", "txt_in.bias",
    "norm_out.linear.weight", "norm_out.linear.bias", "proj_out.weight", "proj_out.bias",
)  # fmt: skip
QWEN_IMAGE_BLOCK = tuple(
    f"{module}.{end}"
    for module, ends in {
        "img_mod.1": ("weight", "bias"), "txt_mod.1": ("weight", "bias"),
        "attn.norm_q": ("weight",), "attn.norm_k": ("weight",),
        "attn.norm_added_q": ("weight",), "attn.norm_added_k": ("weight",),
        "attn.to_q": ("weight", "bias"), "attn.to_k": ("weight", "bias"),
        "attn.to_v": ("weight", "bias"), "attn.add_q_proj": ("weight", "bias"),
        "attn.add_k_proj": ("weight", "bias"), "attn.add_v_proj": ("weight", "bias"),
        "attn.to_out.0": ("weight", "bias"), "attn.to_add_out": ("weight", "bias"),
        "img_mlp.net.0.proj": ("weight", "bias"), "img_mlp.net.2": ("weight", "bias"),
        "txt_mlp.net.0.proj": ("weight", "bias"), "txt_mlp.net.2": ("weight", "bias"),
    }.items()
    for end in ends
)  # fmt: skip


def qwen_image_state(diffusers_state: dict[str, Any], num_layers: int) -> dict[str, Any]:
    """ComfyUI's Qwen-Image weights (every parameter its model declares, under
    ``diffusion_model.``), read from the diffusers transformer's state by the same name: a
    KeyError when diffusers names one differently."""
    names = [*QWEN_IMAGE_TOP]
    for index in range(num_layers):
        names += [f"transformer_blocks.{index}.{name}" for name in QWEN_IMAGE_BLOCK]
    return {f"diffusion_model.{name}": diffusers_state[name] for name in names}
