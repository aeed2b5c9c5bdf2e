"""What a folder holds, for ``--type auto``: the server's own dataset types, plus models.

The media types come from :func:`datasety.core.layout.dataset_type`, the rule the server uses when
a dataset is registered, so a folder is the same kind in the web UI and on the Hub. Two kinds
only an upload needs come on top: ``model`` (weights such as a ``.safetensors`` LoRA make up
most of the bytes) and ``document`` (PDFs and no media).
"""

from __future__ import annotations

from collections.abc import Sequence

from datasety.core import layout
from datasety.hub.files import LocalFile

UPLOAD_TYPES = ("auto", "image", "audio", "video", "document", "generic", "model")
MODEL_EXTENSIONS = frozenset({".safetensors", ".gguf", ".ckpt", ".pt", ".pth", ".onnx"})
DOCUMENT_EXTENSIONS = frozenset({".pdf"})


def is_model_file(name: str) -> bool:
    return layout.extension(name) in MODEL_EXTENSIONS


def detect_type(files: Sequence[LocalFile]) -> str:
    """``image``, ``audio``, ``video``, ``document``, ``model`` or ``generic``."""
    weights = sum(f.size for f in files if is_model_file(f.repo_path))
    # A LoRA folder often has sample images beside the weights; the weights still dominate.
    if weights and weights * 2 >= sum(f.size for f in files):
        return "model"
    kind = layout.dataset_type([f.repo_path for f in files])
    if kind == "generic" and any(
        layout.extension(f.repo_path) in DOCUMENT_EXTENSIONS for f in files
    ):
        return "document"
    return kind


def repo_type_for(upload_type: str) -> str:
    """The Hub's repository type: ``model`` for models, ``dataset`` for everything else."""
    return "model" if upload_type == "model" else "dataset"
