"""Speech test material made here, nothing downloaded: real speech from Debian's espeak-ng and a
tiny Whisper in CTranslate2's format, cached under the repository id faster-whisper resolves.

A random Whisper writes random bytes, which no test could check. This one is built random and
then rigged (see :func:`_rig`) to say `` hello`` a fixed number of times per segment and stop.
The encoder, the cross-attention that places words in time, the feature extractor and every
file faster-whisper reads are the real ones; transcripts are "hello hello ...", placed in time
by CTranslate2's own word alignment (which, with random weights, bunches words together: tests
check layout, limits and flags, not where a sentence's words fall).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path
from typing import Any

import numpy as np

from tests.hfcache import snapshot_dir

RIGGED_WORD = "hello"
RIGGED_WORDS = 40
# Decoder positions before the words: <|startoftranscript|> <|en|> <|transcribe|> <|0.00|>.
PROMPT = 4
WHISPER_TIMESTAMPS = 1501  # <|0.00|> .. <|30.00|>


def espeak_wav(path: Path, text: str, voice: str = "en") -> Path:
    """``text`` spoken by espeak-ng into the WAV file ``path`` (22050 Hz mono 16-bit)."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng is not installed (.ci/run installs it with apt)")
    subprocess.run([espeak, "-v", voice, "-s", "160", "-w", str(path), text], check=True)
    return path


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """``(samples as float32 in [-1, 1], sample rate)`` of a 16-bit mono WAV file."""
    with wave.open(str(path), "rb") as handle:
        rate = handle.getframerate()
        frames = handle.readframes(handle.getnframes())
        channels = handle.getnchannels()
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    return samples.reshape(-1, channels).mean(axis=1), rate


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(pcm.tobytes())
    return path


def silence_between(parts: list[np.ndarray], rate: int, gap_s: float) -> np.ndarray:
    """``parts`` joined with ``gap_s`` seconds of silence before, between and after them."""
    gap = np.zeros(int(gap_s * rate), dtype=np.float32)
    pieces = [gap]
    for part in parts:
        pieces += [part.astype(np.float32), gap]
    return np.concatenate(pieces)


def whisper_tokenizer() -> Any:
    """A Whisper-shaped tokenizer: byte-level symbols, `` hello`` as one token, then Whisper's
    special tokens in Whisper's order (the timestamp tokens follow in the model's vocabulary)."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.pre_tokenizers import ByteLevel

    vocab: dict[str, int] = {}
    for symbol in sorted(ByteLevel.alphabet()):
        vocab[symbol] = len(vocab)
    vocab["Ġ" + RIGGED_WORD] = len(vocab)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|startoftranscript|>"]
    specials += [f"<|{code}|>" for code in _LANGUAGE_CODES]
    specials += ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>"]
    specials += ["<|nospeech|>", "<|notimestamps|>"]
    tokenizer.add_special_tokens([AddedToken(token, special=True) for token in specials])
    return tokenizer


def save_faster_whisper(
    hf_home: Path,
    repo_id: str = "Systran/faster-whisper-tiny",
    words: int = RIGGED_WORDS,
    width: int = 64,
    layers: int = 1,
    heads: int = 2,
) -> Path:
    """The rigged Whisper, converted to CTranslate2, at ``repo_id`` in ``hf_home``: tiny by
    default; the benchmark asks for whisper-tiny's real shape (384 wide, 4 layers, 6 heads)
    and a segment's worth of ``words``, so that both tools do a real model's work."""
    import ctranslate2
    import torch
    import transformers as tf

    tokenizer = whisper_tokenizer()
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "hf"
        source.mkdir()
        tokenizer.save(str(source / "tokenizer.json"))
        fast = tf.PreTrainedTokenizerFast(
            tokenizer_file=str(source / "tokenizer.json"),
            bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>",
        )  # fmt: skip
        fast.save_pretrained(source)
        token_count = tokenizer.get_vocab_size()
        sot = tokenizer.token_to_id("<|startoftranscript|>")
        eot = tokenizer.token_to_id("<|endoftext|>")
        config = tf.WhisperConfig(
            vocab_size=token_count + WHISPER_TIMESTAMPS, num_mel_bins=80, d_model=width,
            encoder_layers=layers, encoder_attention_heads=heads, decoder_layers=layers,
            decoder_attention_heads=heads, encoder_ffn_dim=4 * width, decoder_ffn_dim=4 * width,
            max_source_positions=1500, max_target_positions=448, decoder_start_token_id=sot,
            bos_token_id=eot, eos_token_id=eot, pad_token_id=eot, suppress_tokens=[],
            begin_suppress_tokens=[eot],
        )  # fmt: skip
        torch.manual_seed(0)
        model = tf.WhisperForConditionalGeneration(config)
        _rig(torch, model, tokenizer.token_to_id("Ġ" + RIGGED_WORD), eot, PROMPT + words)
        model.generation_config.suppress_tokens = []
        model.generation_config.begin_suppress_tokens = [eot]
        model.save_pretrained(source)
        folder = snapshot_dir(hf_home, repo_id)
        converter = ctranslate2.converters.TransformersConverter(str(source))
        converter.convert(str(folder), force=True)
        shutil.copy(source / "tokenizer.json", folder / "tokenizer.json")
    extractor = tf.WhisperFeatureExtractor(feature_size=80)
    (folder / "preprocessor_config.json").write_text(json.dumps(extractor.to_dict()))
    return folder


def _rig(torch: Any, model: Any, word_id: int, end_id: int, end: int) -> None:
    """Every segment reads `` hello`` until decoder position ``end``, then ends.

    The decoder layers add nothing to the residual stream (their output projections are
    zero), so what reaches the output is the token's embedding plus its position's. The
    positions before ``end`` point along the `` hello`` embedding, the later ones
    (harder) along the end-of-text one: the model says `` hello`` a few times and stops, so
    faster-whisper sees a short, plausible segment instead of a loop it would retry at every
    temperature. The cross-attention that word alignment reads is untouched.
    """
    decoder = model.model.decoder
    width = decoder.layer_norm.weight.shape[0]
    with torch.no_grad():
        word_dir, end_dir = torch.linalg.qr(torch.randn(width, 2))[0].T
        for layer in decoder.layers:
            for projection in (layer.self_attn.out_proj, layer.encoder_attn.out_proj, layer.fc2):
                projection.weight.zero_()
                if projection.bias is not None:
                    projection.bias.zero_()
        embeddings = model.get_output_embeddings().weight  # tied with the input embeddings
        embeddings.mul_(0.01)
        embeddings[word_id] = word_dir * 20.0
        embeddings[end_id] = end_dir * 20.0
        positions = decoder.embed_positions.weight
        positions[:end] = word_dir * 50.0
        positions[end:] = end_dir * 50.0
