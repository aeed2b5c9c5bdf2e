"""What differs between the model families ``train`` knows: loading, encoding, the loss.

Each family encodes captions and images once (the results are cached on disk, see
:mod:`.cache`), then trains a LoRA on its denoiser (SDXL's UNet, FLUX.2's transformer) from
those cached tensors: the text encoders and the VAE are not even loaded when everything is
cached.

``sdxl``: epsilon (or v-) prediction on DDPM noise, size/crop conditioning from the bucket.
``flux2`` (FLUX.2-klein): rectified flow, velocity target ``noise - latents``.
``qwen`` (Qwen-Image): the same rectified flow on Qwen-Image's transformer; its caption
embeddings have each caption's own length, padded per batch with an attention mask.

Edit pairs (FLUX.2-klein, Qwen-Image-Edit): each control's clean latents are appended to the
noisy target's sequence as each family's pipeline appends its reference images (in order), and
the loss is on the target's tokens.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasety.core.errors import DatasetyError
from datasety.models.qwen_vl import QWEN_EDIT_PIPELINES

# Reference spellings first: `--family flux` is FLUX.2-klein there.
FAMILY_ALIASES = {"flux": "flux2", "flux2": "flux2", "flux2-klein": "flux2", "sdxl": "sdxl",
                  "qwen": "qwen", "qwen-image": "qwen"}  # fmt: skip
PIPELINE_FAMILIES = {
    "StableDiffusionXLPipeline": "sdxl",
    "StableDiffusionXLImg2ImgPipeline": "sdxl",
    "Flux2KleinPipeline": "flux2",
    "QwenImagePipeline": "qwen",
    "QwenImageEditPipeline": "qwen",
    "QwenImageEditPlusPipeline": "qwen",
}
# What `--family X` trains when --model is not given.
DEFAULT_MODELS = {
    "flux2": "black-forest-labs/FLUX.2-klein-base-4B",
    "sdxl": "stabilityai/stable-diffusion-xl-base-1.0",
    "qwen": "Qwen/Qwen-Image",
}
FAMILY_CHOICES = ("flux", "flux2", "sdxl", "qwen", "piper", "coqui", "f5-tts")


def normalize_family(name: str) -> str:
    """``flux2``, ``sdxl`` or ``qwen`` for a ``--family`` value, or a one-line error."""
    key = name.strip().lower()
    if key not in FAMILY_ALIASES:
        raise DatasetyError(f"--family {name!r}: choose one of {', '.join(FAMILY_CHOICES)}")
    return FAMILY_ALIASES[key]


def family_from_id(model: str) -> str | None:
    """The family a model id names (``...FLUX.2-klein...`` -> flux2), or None."""
    lowered = model.lower()
    if "flux.2" in lowered or "flux2" in lowered:
        return "flux2"
    if "xl" in lowered and ("stable-diffusion" in lowered or "sdxl" in lowered):
        return "sdxl"
    if "qwen-image" in lowered:
        return "qwen"
    return None


def family_from_config(model_dir: Path) -> str | None:
    """The family ``model_index.json`` names through its pipeline class, or None."""
    try:
        index = json.loads((model_dir / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return PIPELINE_FAMILIES.get(str(index.get("_class_name", "")))


def detect_family(model: str, model_dir: Path, requested: str | None) -> str:
    """``--family`` when given, else what the model's config or id says."""
    if requested:
        return normalize_family(requested)
    found = family_from_config(model_dir) or family_from_id(model)
    if found is None:
        raise DatasetyError(
            f"cannot tell the model family of {model}; pass --family flux2, sdxl or qwen"
        )
    return normalize_family(found)


@dataclass
class LossInputs:
    """What one training batch needs besides the denoiser: stacked cached features, the
    random generator, and the loss options."""

    features: dict[str, Any]
    generator: Any
    timestep_type: str
    noise_offset: float
    min_snr_gamma: float | None


def sample_u(torch: Any, count: int, timestep_type: str, generator: Any) -> Any:
    """Noise levels in (0, 1) for ``count`` samples, as the reference draws them: sigmoid of a
    standard normal, sigmoid of a half-scale normal (lognorm), or uniform (linear)."""
    if timestep_type == "linear":
        return torch.rand(count, generator=generator)
    scale = 0.5 if timestep_type == "lognorm" else 1.0
    u = torch.sigmoid(torch.randn(count, generator=generator) * scale)
    return u.clamp(0.001, 0.999)


def per_sample_mse(torch: Any, prediction: Any, target: Any) -> Any:
    error = torch.nn.functional.mse_loss(prediction.float(), target.float(), reduction="none")
    return error.mean(dim=tuple(range(1, error.ndim)))


def flow_min_snr(torch: Any, loss: Any, sigma: Any, gamma: float | None) -> Any:
    """Rectified-flow losses weighted by Min-SNR (``x_t = (1 - s) x + s n``: SNR is
    ``((1 - s) / s)²``), or as they are without ``gamma``."""
    if not gamma:
        return loss
    snr = ((1 - sigma) / sigma).float() ** 2
    return loss * (snr.clamp(max=gamma) / snr)


class Family:
    """The interface of one family (see the module docstring)."""

    name = ""
    pipeline_class = ""
    denoiser_name = ""  # the pipeline component that gets the LoRA, and the key prefix
    target_modules: tuple[str, ...] = ()
    # Trains on control/target pairs: the controls' latents (``control0_latents``,
    # ``control1_latents``, ...) condition the denoiser the way the family's pipeline passes
    # its reference images.
    trains_edits = False
    max_controls: int | None = None  # reference images the pipeline takes (None: several)
    requires_controls = False  # every caption is encoded with a reference image
    # The caption's embeddings depend on the pair's control images (its text encoder sees them).
    caption_sees_control = False
    lora_key_format = "diffusers"  # the saved file's keys (see lora_file)

    def __init__(self, torch: Any, diffusers: Any) -> None:
        self.torch = torch
        self.diffusers = diffusers

    def load_encoders(self, model_dir: Path, device: str, dtype: Any) -> Any:
        """The pipeline without its denoiser: what encodes captions and images."""
        cls = getattr(self.diffusers, self.pipeline_class)
        pipe = cls.from_pretrained(model_dir, dtype=dtype, **{self.denoiser_name: None})
        return pipe.to(device)

    def load_denoiser(self, model_dir: Path, dtype: Any) -> Any:
        cls = self.denoiser_class()
        model = cls.from_pretrained(model_dir, subfolder=self.denoiser_name, dtype=dtype)
        # Kept here: under several processes the model is wrapped (DDP) and hides its config.
        self.denoiser_config = model.config
        return model

    def denoiser_class(self) -> Any:
        raise NotImplementedError

    def load_training_constants(self, model_dir: Path) -> None:
        """Read what the loss needs from the model (its noise schedule)."""

    def encode_caption(self, pipe: Any, caption: str, controls: list[Any]) -> dict[str, Any]:
        """The caption's embeddings; ``controls`` (PIL images fitted to their buckets) are
        given only to a family whose :attr:`caption_sees_control` (else empty)."""
        raise NotImplementedError

    def collate(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """One batch from the samples' cached tensors (equal shapes: stacked)."""
        return {key: self.torch.stack([row[key] for row in rows]) for key in rows[0]}

    def encode_image(
        self, pipe: Any, pixels: Any, original: tuple[int, int], crop: tuple[int, int]
    ) -> dict[str, Any]:
        raise NotImplementedError

    def losses(self, denoiser: Any, inputs: LossInputs) -> Any:
        """One loss per sample of the batch (already weighted by --min-snr-gamma)."""
        raise NotImplementedError

    def control_latents(self, features: dict[str, Any]) -> list[Any]:
        """The batch's control latents, one tensor per control, in the pair's order."""
        found: list[Any] = []
        while f"control{len(found)}_latents" in features:
            found.append(features[f"control{len(found)}_latents"])
        return found

    def sampling_pipeline(self) -> str:
        """The pipeline class that renders sample images (an edit model's own)."""
        return self.pipeline_class

    def sample_inputs(self, prompt: dict[str, Any], empty: dict[str, Any]) -> dict[str, Any]:
        """The pipeline's embedding arguments for one cached prompt (unbatched tensors);
        ``empty`` is the empty caption's, the negative prompt of guidance."""
        raise NotImplementedError

    def noise(self, latents: Any, inputs: LossInputs) -> Any:
        torch = self.torch
        noise = torch.randn(latents.shape, generator=inputs.generator)
        if inputs.noise_offset:
            offset = torch.randn(
                latents.shape[0], latents.shape[1], 1, 1, generator=inputs.generator
            )
            noise = noise + inputs.noise_offset * offset
        return noise.to(latents.device, latents.dtype)


class SDXL(Family):
    name = "sdxl"
    pipeline_class = "StableDiffusionXLPipeline"
    denoiser_name = "unet"
    target_modules = ("to_q", "to_k", "to_v", "to_out.0")
    lora_key_format = "kohya"  # ComfyUI reads kohya's keys for a UNet, not PEFT's

    def denoiser_class(self) -> Any:
        return self.diffusers.UNet2DConditionModel

    def load_training_constants(self, model_dir: Path) -> None:
        config = self.diffusers.DDPMScheduler.load_config(model_dir, subfolder="scheduler")
        self.scheduler = self.diffusers.DDPMScheduler.from_config(config)

    def encode_caption(self, pipe: Any, caption: str, controls: list[Any]) -> dict[str, Any]:
        embeds, _, pooled, _ = pipe.encode_prompt(
            caption, device=pipe.device, num_images_per_prompt=1, do_classifier_free_guidance=False
        )
        return {"prompt_embeds": embeds[0], "pooled": pooled[0]}

    def encode_image(
        self, pipe: Any, pixels: Any, original: tuple[int, int], crop: tuple[int, int]
    ) -> dict[str, Any]:
        torch = self.torch
        vae = pipe.vae
        # SDXL's VAE overflows in float16: it encodes in float32.
        if vae.dtype != torch.float32:
            vae.to(torch.float32)
        latents = vae.encode(pixels.float()).latent_dist.mean
        latents = latents * vae.config.scaling_factor
        height, width = pixels.shape[-2:]
        time_ids = torch.tensor([original[1], original[0], crop[0], crop[1], height, width])
        return {"latents": latents[0], "time_ids": time_ids.float()}

    def losses(self, denoiser: Any, inputs: LossInputs) -> Any:
        torch = self.torch
        f = inputs.features
        latents = f["latents"]
        noise = self.noise(latents, inputs)
        total = self.scheduler.config.num_train_timesteps
        u = sample_u(torch, latents.shape[0], inputs.timestep_type, inputs.generator)
        timesteps = (u * total).long().clamp(0, total - 1).to(latents.device)
        noisy = self.scheduler.add_noise(latents, noise, timesteps)
        prediction = denoiser(
            noisy,
            timesteps,
            encoder_hidden_states=f["prompt_embeds"],
            added_cond_kwargs={"text_embeds": f["pooled"], "time_ids": f["time_ids"]},
            return_dict=False,
        )[0]
        v_prediction = self.scheduler.config.prediction_type == "v_prediction"
        target = self.scheduler.get_velocity(latents, noise, timesteps) if v_prediction else noise
        loss = per_sample_mse(torch, prediction, target)
        if inputs.min_snr_gamma:
            alphas = self.scheduler.alphas_cumprod.to(latents.device)[timesteps]
            snr = alphas / (1 - alphas)
            clipped = snr.clamp(max=inputs.min_snr_gamma)
            loss = loss * (clipped / (snr + 1) if v_prediction else clipped / snr)
        return loss

    def sample_inputs(self, prompt: dict[str, Any], empty: dict[str, Any]) -> dict[str, Any]:
        # Zeros as the negative prompt: what SDXL's pipeline uses for an empty one
        # (force_zeros_for_empty_prompt).
        torch = self.torch
        return {
            "prompt_embeds": prompt["prompt_embeds"],
            "pooled_prompt_embeds": prompt["pooled"],
            "negative_prompt_embeds": torch.zeros_like(prompt["prompt_embeds"]),
            "negative_pooled_prompt_embeds": torch.zeros_like(prompt["pooled"]),
        }


class Flux2(Family):
    name = "flux2"
    pipeline_class = "Flux2KleinPipeline"
    denoiser_name = "transformer"
    # Attention and the fused single-block projections, as the reference targets them.
    target_modules = ("to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj",
                      "add_v_proj", "to_add_out", "to_qkv_mlp_proj")  # fmt: skip
    trains_edits = True

    def denoiser_class(self) -> Any:
        return self.diffusers.Flux2Transformer2DModel

    def encode_caption(self, pipe: Any, caption: str, controls: list[Any]) -> dict[str, Any]:
        embeds, _ = pipe.encode_prompt(caption, device=pipe.device, num_images_per_prompt=1)
        return {"prompt_embeds": embeds[0]}

    def encode_image(
        self, pipe: Any, pixels: Any, original: tuple[int, int], crop: tuple[int, int]
    ) -> dict[str, Any]:
        latents = pipe._encode_vae_image(pixels.to(pipe.vae.dtype), generator=None)
        return {"latents": latents[0]}

    def losses(self, denoiser: Any, inputs: LossInputs) -> Any:
        torch = self.torch
        pipeline = getattr(self.diffusers, self.pipeline_class)
        f = inputs.features
        latents = f["latents"]
        embeds = f["prompt_embeds"]
        noise = self.noise(latents, inputs)
        sigma = sample_u(torch, latents.shape[0], inputs.timestep_type, inputs.generator)
        sigma = sigma.to(latents.device, latents.dtype)
        s = sigma.view(-1, 1, 1, 1)
        noisy = (1 - s) * latents + s * noise
        guidance = None
        if getattr(self.denoiser_config, "guidance_embeds", False):
            guidance = torch.ones(latents.shape[0], device=latents.device, dtype=latents.dtype)
        hidden = pipeline._pack_latents(noisy)
        ids = pipeline._prepare_latent_ids(latents)
        controls = self.control_latents(f)
        if controls:
            # As Flux2KleinPipeline passes its reference images: their clean latents join the
            # sequence after the noisy ones, at time coordinates 10, 20, ... (one per image).
            hidden = torch.cat([hidden, *(pipeline._pack_latents(c) for c in controls)], dim=1)
            control_ids = pipeline._prepare_image_ids([c[:1] for c in controls])
            ids = torch.cat([ids, control_ids.expand(latents.shape[0], -1, -1)], dim=1)
        prediction = denoiser(
            hidden_states=hidden,
            timestep=sigma,
            guidance=guidance,
            encoder_hidden_states=embeds,
            txt_ids=pipeline._prepare_text_ids(embeds).to(latents.device),
            img_ids=ids.to(latents.device),
            return_dict=False,
        )[0]
        target = pipeline._pack_latents(noise - latents)
        loss = per_sample_mse(torch, prediction[:, : target.shape[1]], target)
        return flow_min_snr(torch, loss, sigma, inputs.min_snr_gamma)

    def sample_inputs(self, prompt: dict[str, Any], empty: dict[str, Any]) -> dict[str, Any]:
        return {
            "prompt_embeds": prompt["prompt_embeds"],
            "negative_prompt_embeds": empty["prompt_embeds"],
        }


class QwenImage(Family):
    name = "qwen"
    pipeline_class = "QwenImagePipeline"
    denoiser_name = "transformer"
    # The joint blocks' image and text attention projections (what diffusers' Qwen-Image
    # LoRA examples target).
    target_modules = ("to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj",
                      "add_v_proj", "to_add_out")  # fmt: skip
    edit_class: str | None = None  # the edit pipeline of a Qwen-Image-Edit model

    def denoiser_class(self) -> Any:
        return self.diffusers.QwenImageTransformer2DModel

    def sampling_pipeline(self) -> str:
        return self.edit_class or self.pipeline_class

    def load_training_constants(self, model_dir: Path) -> None:
        # A Qwen-Image-Edit model trains edit pairs: its pipeline encodes the caption with
        # the reference image, and the image's latents join the transformer's sequence.
        try:
            index = json.loads((model_dir / "model_index.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            index = {}
        name = str(index.get("_class_name", ""))
        self.edit_class = name if name in QWEN_EDIT_PIPELINES else None
        self.trains_edits = self.caption_sees_control = self.edit_class is not None
        # The original Qwen-Image-Edit takes one reference image, and its prompt template
        # always holds one: it cannot encode a caption without it.
        original = self.edit_class == "QwenImageEditPipeline"
        self.max_controls = 1 if original else None
        self.requires_controls = original

    def load_encoders(self, model_dir: Path, device: str, dtype: Any) -> Any:
        if self.edit_class is None:
            return super().load_encoders(model_dir, device, dtype)
        from datasety.models.qwen_vl import image_only_processor

        cls = getattr(self.diffusers, self.edit_class)
        pipe = cls.from_pretrained(model_dir, dtype=dtype, transformer=None, processor=None)
        pipe.processor = image_only_processor(model_dir / "processor", pipe.tokenizer)
        return pipe.to(device)

    def encode_caption(self, pipe: Any, caption: str, controls: list[Any]) -> dict[str, Any]:
        # One caption: no padding, so its mask is all ones and is rebuilt per batch.
        if self.edit_class is None:
            embeds, _ = pipe.encode_prompt(caption, device=pipe.device, num_images_per_prompt=1)
        else:
            embeds, _ = pipe.encode_prompt(
                caption, image=self.condition_images(pipe, controls), device=pipe.device
            )
        return {"prompt_embeds": embeds[0]}

    def condition_images(self, pipe: Any, controls: list[Any]) -> Any:
        """What the edit pipeline shows its text encoder: Qwen-Image-Edit its one control as
        it denoises it; Qwen-Image-Edit-Plus (2509, 2511) each control at ~384² pixels."""
        if not controls:
            return None
        if self.edit_class == "QwenImageEditPipeline":
            return controls[0]
        from diffusers.pipelines.qwenimage import pipeline_qwenimage_edit_plus as plus

        resized = []
        for control in controls:
            width, height = plus.calculate_dimensions(
                plus.CONDITION_IMAGE_SIZE, control.width / control.height
            )
            resized.append(pipe.image_processor.resize(control, height, width))
        return resized

    def encode_image(
        self, pipe: Any, pixels: Any, original: tuple[int, int], crop: tuple[int, int]
    ) -> dict[str, Any]:
        # Qwen-Image's VAE is a video VAE: one frame in, one latent frame out, normalized
        # per channel as the pipelines do before denoising.
        torch = self.torch
        vae = pipe.vae
        latents = vae.encode(pixels[:, :, None].to(vae.dtype)).latent_dist.mode()
        mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1)
        std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1)
        latents = (latents - mean.to(latents)) / std.to(latents)
        return {"latents": latents[0, :, 0]}

    def collate(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Captions of different lengths padded with zeros, and a mask of the real tokens."""
        torch = self.torch
        embeds = [row["prompt_embeds"] for row in rows]
        longest = max(e.shape[0] for e in embeds)
        batch = super().collate([{k: v for k, v in row.items() if k != "prompt_embeds"}
                                 for row in rows])  # fmt: skip
        batch["prompt_embeds"] = torch.stack(
            [torch.nn.functional.pad(e, (0, 0, 0, longest - e.shape[0])) for e in embeds]
        )
        batch["prompt_mask"] = torch.stack(
            [(torch.arange(longest) < e.shape[0]).long() for e in embeds]
        )
        return batch

    def losses(self, denoiser: Any, inputs: LossInputs) -> Any:
        torch = self.torch
        pipeline = getattr(self.diffusers, self.pipeline_class)
        f = inputs.features
        latents = f["latents"]
        batch, channels, height, width = latents.shape
        noise = self.noise(latents, inputs)
        sigma = sample_u(torch, batch, inputs.timestep_type, inputs.generator)
        sigma = sigma.to(latents.device, latents.dtype)
        s = sigma.view(-1, 1, 1, 1)
        noisy = (1 - s) * latents + s * noise
        hidden = pipeline._pack_latents(noisy, batch, channels, height, width)
        shapes = [(1, height // 2, width // 2)]
        for control in self.control_latents(f):
            # As the edit pipelines pass their reference images: each one's clean latents
            # after the noisy ones, its shape after theirs for the positions.
            control_height, control_width = control.shape[-2:]
            packed = pipeline._pack_latents(control, batch, channels, control_height, control_width)
            hidden = torch.cat([hidden, packed], dim=1)
            shapes.append((1, control_height // 2, control_width // 2))
        prediction = denoiser(
            hidden_states=hidden,
            timestep=sigma,
            encoder_hidden_states=f["prompt_embeds"],
            encoder_hidden_states_mask=f["prompt_mask"],
            img_shapes=[shapes] * batch,
            return_dict=False,
        )[0]
        target = pipeline._pack_latents(noise - latents, batch, channels, height, width)
        loss = per_sample_mse(torch, prediction[:, : target.shape[1]], target)
        return flow_min_snr(torch, loss, sigma, inputs.min_snr_gamma)

    def sample_inputs(self, prompt: dict[str, Any], empty: dict[str, Any]) -> dict[str, Any]:
        # Captions are cached unpadded: every token is real. The empty caption as the negative
        # prompt turns on the pipeline's true classifier-free guidance.
        torch = self.torch
        embeds, negative = prompt["prompt_embeds"], empty["prompt_embeds"]
        return {
            "prompt_embeds": embeds,
            "prompt_embeds_mask": torch.ones(embeds.shape[0], dtype=torch.long),
            "negative_prompt_embeds": negative,
            "negative_prompt_embeds_mask": torch.ones(negative.shape[0], dtype=torch.long),
        }


FAMILIES: dict[str, type[Family]] = {"sdxl": SDXL, "flux2": Flux2, "qwen": QwenImage}
