"""Qwen-Image-Edit's prompt processor without torchvision.

Qwen-Image-Edit encodes its prompt together with the reference image through transformers'
``Qwen2VLProcessor``. That class declares a video processor, and transformers cannot even
check one without torchvision, whose PyPI wheel only imports beside the torch build it was
made for (not the CPU build datasety installs). The prompt needs no video: this processor is
the same class declaring only its image processor (the PIL one) and its tokenizer, so its
``__call__`` is transformers' own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# The edit pipelines whose prompt goes through this processor with the reference image.
QWEN_EDIT_PIPELINES = ("QwenImageEditPipeline", "QwenImageEditPlusPipeline")


def image_only_processor(processor_dir: Path, tokenizer: Any) -> Any:
    """A ``Qwen2VLProcessor`` over ``tokenizer`` and the image processor saved in
    ``processor_dir`` (a Qwen-Image-Edit repository's ``processor/`` folder)."""
    import transformers

    class ImageOnlyQwen2VLProcessor(transformers.Qwen2VLProcessor):
        @classmethod
        def get_attributes(cls) -> list[str]:
            return ["image_processor", "tokenizer"]

    image_processor = transformers.Qwen2VLImageProcessorPil.from_pretrained(processor_dir)
    return ImageOnlyQwen2VLProcessor(image_processor=image_processor, tokenizer=tokenizer)
