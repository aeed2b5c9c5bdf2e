"""Prompts for ``datasety character``: an LLM writes varied prompts for one character.

Four sources, one interface (``write(system, user, references) -> text``):

* ``--llm-api``: an OpenAI-compatible chat completions endpoint (``OPENAI_BASE_URL``,
  ``OPENAI_API_KEY``, ``OPENAI_MODEL``), reference images sent inline;
* ``--llm-ollama MODEL``: Ollama through its OpenAI-compatible endpoint (``OLLAMA_HOST``,
  default ``http://localhost:11434``);
* ``--llm-model REPO``: a local transformers causal LM from the Hugging Face cache;
* ``--llm-gguf FILE``: a GGUF model through llama-cpp-python, when it is installed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from datasety.core.errors import DatasetyError
from datasety.models.extras import MissingExtraError
from datasety.models.openai_api import Endpoint, RequestFailed, RetryingClient, message_text

SYSTEM_PROMPT = (
    "You are a prompt generator for AI image generation. Generate varied, creative prompts "
    "that describe a specific character in different poses, settings, expressions, and "
    "outfits. Each prompt should be a single line describing one image. Do NOT number the "
    "prompts. Output one prompt per line, nothing else."
)
DEFAULT_API_MODEL = "gpt-5-nano"  # as caption --llm-api
OLLAMA_DEFAULT_HOST = "http://localhost:11434"
MAX_NEW_TOKENS = 2048


def user_prompt(description: str | None, style: str | None, count: int, references: int) -> str:
    """What the LLM is asked for (the reference's wording, plus the reference images)."""
    parts = [f"Generate {count} varied image prompts"]
    if description:
        parts.append(f"for this character: {description}")
    if style:
        parts.append(f"in {style} style")
    if references:
        parts.append(f"The {references} attached image(s) show the character")
    parts.append(
        "Each prompt should describe a different scene, pose, expression, lighting, or outfit. "
        "One prompt per line."
    )
    return ". ".join(parts)


_NUMBERING = re.compile(r"^\s*(?:[-*\u2022]+\s*|\d{1,3}\s*[.):-]\s+)")
_THINKING = re.compile(r"<think>.*?</think>", re.DOTALL)


def parse_prompts(text: str) -> list[str]:
    """One prompt per non-empty line, numbering, bullets, quotes and thinking removed."""
    prompts = []
    for line in _THINKING.sub("", text).splitlines():
        line = _NUMBERING.sub("", line).strip().strip("\"'").strip()
        if line and line not in prompts:
            prompts.append(line)
    return prompts


def read_prompts_file(path: Path) -> list[str]:
    """``--prompts-file``: one prompt per non-empty line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetyError(f"--prompts-file {str(path)!r}: cannot read it: {exc}") from exc
    prompts = [line.strip() for line in text.splitlines() if line.strip()]
    if not prompts:
        raise DatasetyError(f"--prompts-file {str(path)!r} holds no prompts")
    return prompts


class PromptWriter(Protocol):
    def write(self, system: str, user: str, references: Sequence[Path]) -> str: ...


class ChatWriter:
    """An OpenAI-compatible chat completions endpoint (``--llm-api``, ``--llm-ollama``)."""

    def __init__(self, endpoint: Endpoint, model: str) -> None:
        self.endpoint = endpoint
        self.model = model

    def write(self, system: str, user: str, references: Sequence[Path]) -> str:
        from datasety.captioning.api import image_data_url

        content: list[dict[str, Any]] = [{"type": "text", "text": user}]
        for path in references:
            content.append({"type": "image_url", "image_url": {"url": image_data_url(path)}})
        body = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": content if references else user},
            ],
        }
        client = RetryingClient(self.endpoint)
        try:
            return message_text(client.post("chat/completions", lambda: {"json": body}), "prompt")
        except RequestFailed as exc:
            raise DatasetyError(f"{self.endpoint.base_url}: no prompts: {exc}") from exc
        finally:
            client.close()


class TransformersWriter:
    """A local causal LM (``--llm-model``), loaded from the Hugging Face cache."""

    def __init__(self, repo_id: str, device: str, note: Any) -> None:
        self.repo_id = repo_id
        self.device = device
        self.note = note

    def write(self, system: str, user: str, references: Sequence[Path]) -> str:
        from datasety.models.device import choose_device
        from datasety.models.extras import torch_and_transformers
        from datasety.models.loading import load_from_dir, model_dir

        torch, transformers = torch_and_transformers("generate", purpose="--llm-model")
        device = choose_device(torch, self.device)
        folder = model_dir(self.repo_id, self.note)
        tokenizer = load_from_dir(transformers.AutoTokenizer, folder, self.repo_id)
        model = load_from_dir(
            transformers.AutoModelForCausalLM, folder, self.repo_id, dtype=device.dtype
        ).to(device.name)
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        try:
            inputs = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            ).to(device.name)
        except ValueError as exc:  # a tokenizer without a chat template
            raise DatasetyError(f"--llm-model {self.repo_id}: {exc}") from exc
        with torch.inference_mode():
            output = model.generate(
                **inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=True, temperature=0.9
            )
        new_tokens = output[0][inputs["input_ids"].shape[1] :]
        return str(tokenizer.decode(new_tokens, skip_special_tokens=True))


class GgufWriter:
    """A GGUF model file through llama-cpp-python (``--llm-gguf``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, system: str, user: str, references: Sequence[Path]) -> str:
        if not self.path.is_file():
            raise DatasetyError(f"--llm-gguf {str(self.path)!r} is not a file")
        try:
            from llama_cpp import Llama  # type: ignore[import-not-found, unused-ignore]
        except ImportError as exc:
            raise MissingExtraError(
                "--llm-gguf needs llama-cpp-python, which is not installed (it builds "
                "llama.cpp for your machine): pip install llama-cpp-python"
            ) from exc
        llm = Llama(model_path=str(self.path), n_ctx=4096, verbose=False)
        answer = llm.create_chat_completion(
            messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            temperature=0.9,
        )
        return str(answer["choices"][0]["message"]["content"])


def prompt_writer(
    llm_api: bool,
    llm_ollama: str | None,
    llm_model: str | None,
    llm_gguf: str | None,
    device: str,
    note: Any,
) -> PromptWriter:
    """The one source the flags name (exactly one is required)."""
    chosen = [
        flag
        for flag, given in (
            ("--llm-api", llm_api),
            ("--llm-ollama", llm_ollama),
            ("--llm-model", llm_model),
            ("--llm-gguf", llm_gguf),
        )
        if given
    ]
    if len(chosen) != 1:
        what = "none" if not chosen else " and ".join(chosen)
        raise DatasetyError(
            f"prompts come from one of --llm-api, --llm-ollama, --llm-model, --llm-gguf or "
            f"--prompts-file (given: {what})"
        )
    if llm_api:
        model = os.environ.get("OPENAI_MODEL") or DEFAULT_API_MODEL
        return ChatWriter(Endpoint.from_env("--llm-api"), model)
    if llm_ollama:
        host = (os.environ.get("OLLAMA_HOST") or OLLAMA_DEFAULT_HOST).rstrip("/")
        if "://" not in host:
            host = f"http://{host}"
        return ChatWriter(Endpoint(base_url=f"{host}/v1", api_key=None), llm_ollama)
    if llm_model:
        return TransformersWriter(llm_model, device, note)
    return GgufWriter(Path(llm_gguf or ""))
