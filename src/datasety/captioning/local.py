"""Captions from a local Hugging Face image-to-text model (Florence-2 by default).

torch and transformers are imported here, inside functions, and nowhere else: the rest of the
CLI starts without them, and a missing one becomes a one-line install hint.

Any model that ``AutoProcessor`` plus ``AutoModelForImageTextToText`` (or, on older
transformers, ``AutoModelForVision2Seq``) can load and ``generate()`` with works:

* Florence-2 style processors (they have ``post_process_generation``) get the task token
  (``--prompt``, default ``<MORE_DETAILED_CAPTION>``) and their own answer parsing;
* processors with a chat template (SmolVLM, Qwen2-VL, ...) get ``--prompt`` as a user turn
  (a task token is replaced by a plain-language request);
* other captioners (BLIP, GIT, ViT+GPT2) get the images alone, or, where the processor
  takes text, ``--prompt`` as the start of the caption when it is not a task token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from datasety.captioning.text import clean_caption, natural_prompt
from datasety.core.errors import DatasetyError
from datasety.models.device import choose_device
from datasety.models.extras import torch_and_transformers
from datasety.models.loading import load_from_dir, model_dir

if TYPE_CHECKING:
    from PIL.Image import Image

FLORENCE_2_BASE = "microsoft/Florence-2-base"
FLORENCE_2_LARGE = "microsoft/Florence-2-large"

# Microsoft's own Florence-2 repositories hold remote code for old transformers; transformers'
# native Florence2 classes load the converted copies published beside them.
NATIVE_REPOS = {
    f"microsoft/Florence-2-{size}": f"florence-community/Florence-2-{size}"
    for size in ("base", "large", "base-ft", "large-ft")
}


@dataclass(frozen=True)
class LocalSettings:
    """Which model to run, where, and how to decode."""

    model: str = FLORENCE_2_BASE
    device: str = "auto"
    prompt: str = "<MORE_DETAILED_CAPTION>"
    num_beams: int = 3
    max_tokens: int = 300
    trust_remote_code: bool = False


def import_backend() -> tuple[Any, Any]:
    """``(torch, transformers)``, or a one-line hint on how to install them."""
    torch, transformers = torch_and_transformers("caption", purpose="local captioning")
    return torch, transformers


def is_task_token(prompt: str) -> bool:
    """True for Florence-style task prompts such as ``<MORE_DETAILED_CAPTION>``."""
    text = prompt.strip()
    return text.startswith("<") and text.endswith(">") and " " not in text


class LocalCaptioner:
    """A model loaded once; :meth:`caption` runs it on a batch of images."""

    def __init__(self, settings: LocalSettings) -> None:
        torch, transformers = import_backend()
        self.torch = torch
        self.settings = settings
        self.device = choose_device(torch, settings.device)
        self.dtype = self.device.dtype
        self.model_id = NATIVE_REPOS.get(settings.model, settings.model)
        self.folder = model_dir(self.model_id)
        processor = self._load(transformers.AutoProcessor)
        # A repository without a combined processor (ViT+GPT2 captioners) gives back only its
        # tokenizer or its image processor: load the two halves separately.
        self.combined = isinstance(processor, transformers.ProcessorMixin)
        if self.combined:
            self.processor, self.tokenizer = processor, processor.tokenizer
        else:
            self.processor = self._load(transformers.AutoImageProcessor)
            self.tokenizer = self._load(transformers.AutoTokenizer)
        self.model = self._load_model(transformers).to(self.device.name).eval()
        self.encoder_decoder = bool(getattr(self.model.config, "is_encoder_decoder", False))
        self.mode = self._mode()
        if self.mode in {"chat", "prefix"} and not self.encoder_decoder:
            # Decoder-only models continue the last token: pad prompts on the left.
            self.tokenizer.padding_side = "left"

    # -- loading ------------------------------------------------------------------------------

    def _load(self, auto_class: Any) -> Any:
        return load_from_dir(
            auto_class,
            self.folder,
            self.model_id,
            trust_remote_code=self.settings.trust_remote_code,
        )

    def _load_model(self, transformers: Any) -> Any:
        problems = []
        for name in ("AutoModelForImageTextToText", "AutoModelForVision2Seq"):
            auto_class = getattr(transformers, name, None)
            if auto_class is None:
                continue
            try:
                return auto_class.from_pretrained(
                    str(self.folder),
                    dtype=self.dtype,
                    trust_remote_code=self.settings.trust_remote_code,
                )
            except ValueError as exc:  # "Unrecognized configuration class ...": try the next
                problems.append(_first_line(exc))
            except (OSError, KeyError, TypeError) as exc:
                raise DatasetyError(
                    f"cannot load model {self.model_id!r}: {_first_line(exc)}"
                ) from exc
        raise DatasetyError(
            f"{self.model_id!r} is not an image-to-text model that transformers can load"
            + (f": {problems[0]}" if problems else "")
        )

    def _mode(self) -> str:
        if not self.combined:
            return "images"
        if hasattr(self.processor, "post_process_generation"):
            return "florence"
        if getattr(self.processor, "chat_template", None):
            return "chat"
        return "images" if is_task_token(self.settings.prompt) else "prefix"

    # -- running ------------------------------------------------------------------------------

    def caption(self, images: list[Image]) -> list[str]:
        """One caption per image, in order (call it under ``torch.inference_mode``)."""
        inputs = self._inputs(images).to(self.device.name)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        generated = self.model.generate(
            **inputs,
            max_new_tokens=self.settings.max_tokens,
            num_beams=self.settings.num_beams,
            do_sample=False,
        )
        if not self.encoder_decoder and "input_ids" in inputs:
            # Decoder-only models echo the prompt before the answer.
            generated = generated[:, inputs["input_ids"].shape[1] :]
        if self.mode == "florence":
            return self._florence_answers(generated, images)
        texts = self.tokenizer.batch_decode(generated, skip_special_tokens=True)
        return [clean_caption(text) for text in texts]

    def _inputs(self, images: list[Image]) -> Any:
        prompt = self.settings.prompt
        if self.mode == "florence":
            return self.processor(text=[prompt] * len(images), images=images, return_tensors="pt")
        if self.mode == "chat":
            request = natural_prompt(prompt)
            messages = [
                {
                    "role": "user",
                    "content": [{"type": "image"}, {"type": "text", "text": request}],
                }
            ]
            text = self.processor.apply_chat_template(messages, add_generation_prompt=True)
            return self.processor(
                text=[text] * len(images), images=images, return_tensors="pt", padding=True
            )
        if self.mode == "images":
            return self.processor(images=images, return_tensors="pt")
        return self.processor(  # "prefix": the prompt starts the caption (BLIP-style)
            text=[prompt] * len(images), images=images, return_tensors="pt", padding=True
        )

    def _florence_answers(self, generated: Any, images: list[Image]) -> list[str]:
        texts = self.processor.batch_decode(generated, skip_special_tokens=False)
        task = self.settings.prompt.strip()
        captions = []
        for text, image in zip(texts, images, strict=True):
            parsed = self.processor.post_process_generation(
                text, task=task, image_size=(image.width, image.height)
            )
            answer = parsed.get(task, "") if isinstance(parsed, dict) else parsed
            captions.append(clean_caption(answer if isinstance(answer, str) else str(answer)))
        return captions


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
