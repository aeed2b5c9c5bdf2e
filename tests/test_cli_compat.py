"""Our command line against the reference tool's: every reference flag, as users' scripts use it.

The tables below are copied verbatim from the reference's flag list (shared/reference/
cli-flags.md, outside this repository so CI cannot read it): one row per flag, columns
``flag | short | type | default | choices | repeatable/required``. Each cell is the text
between ``| `` and `` |``, so the default of ``--separator`` is one space, as in the reference.
Every row is checked through click's public API on the command registry; where we differ on
purpose, the difference is listed in DELIBERATE with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest

from datasety.commands import commands

REFERENCE_TABLES = {
    "audio": """
| --input | -i | str |  |  | required |
| --output | -o | str |  |  | required |
| --sample-rate |  | int | 22050 |  |  |
| --metadata |  | flag |  |  |  |
| --template |  | str |  |  |  |
| --demucs |  | flag |  |  |  |
| --demucs-model |  | str | htdemucs |  |  |
| --whisper-model |  | str | base |  |  |
| --language |  | str |  |  |  |
| --device |  | str | auto |  |  |
| --vad |  | flag |  |  |  |
| --min-duration |  | float | 1.5 |  |  |
| --max-duration |  | float | 30.0 |  |  |
| --merge-gap |  | float | 0.0 |  |  |
| --normalize-numbers |  | flag |  |  |  |
| --no-clean-text |  | flag |  |  |  |
| --phoneme-map |  | str |  |  |  |
| --keep-temp |  | str |  |  |  |
| --resume |  | flag |  |  |  |
| --overwrite |  | flag |  |  |  |
| --dry-run |  | flag |  |  |  |
| --verbose | -V | flag |  |  |  |
| --workers |  | int | 1 |  |  |
""",
    "video": """
| --input | -i | str |  |  | required |
| --output | -o | str |  |  | required |
| --demucs |  | flag |  |  |  |
| --demucs-model |  | str | htdemucs |  |  |
| --whisper-model |  | str | base |  |  |
| --language |  | str |  |  |  |
| --device |  | str | auto |  |  |
| --vad |  | flag |  |  |  |
| --min-duration |  | float | 1.5 |  |  |
| --max-duration |  | float | 30.0 |  |  |
| --merge-gap |  | float | 0.0 |  |  |
| --re-encode |  | flag |  |  |  |
| --normalize-numbers |  | flag |  |  |  |
| --no-clean-text |  | flag |  |  |  |
| --template |  | str |  |  |  |
| --resume |  | flag |  |  |  |
| --overwrite |  | flag |  |  |  |
| --dry-run |  | flag |  |  |  |
| --verbose | -V | flag |  |  |  |
| --workers |  | int | 1 |  |  |
""",
    "filter": """
| --input | -i | str |  |  | required |
| --output | -o | str |  |  |  |
| --query | -q | str |  |  |  |
| --labels | -l | str |  |  |  |
| --model |  | str | clip | clip,nudenet |  |
| --action |  | str | move | move,copy,delete,keep |  |
| --threshold |  | float | 0.5 |  |  |
| --device |  | str | auto | auto,cpu,cuda,mps |  |
| --invert |  | flag |  |  |  |
| --confirm |  | flag |  |  |  |
| --preserve-structure |  | flag |  |  |  |
| --log |  | str |  |  |  |
| --progress |  | flag |  |  |  |
| --dry-run |  | flag |  |  |  |
| --recursive | -R | flag |  |  |  |
""",
    "mask": """
| --input | -i | str |  |  |  |
| --output | -o | str |  |  |  |
| --input-image |  | str |  |  |  |
| --output-image |  | str |  |  |  |
| --keywords | -k | str |  |  | required |
| --model |  | str | sam3 | sam3,sam2,clipseg |  |
| --device |  | str | auto | auto,cpu,cuda,mps |  |
| --threshold |  | float | 0.3 |  |  |
| --padding |  | int | 0 |  |  |
| --blur |  | int | 0 |  |  |
| --invert |  | flag |  |  |  |
| --naming |  | str | folder | folder,suffix |  |
| --output-format |  | str | png | png,jpg,webp |  |
| --dry-run |  | flag |  |  |  |
| --recursive | -R | flag |  |  |  |
| --progress |  | flag |  |  |  |
| --skip-existing |  | flag |  |  |  |
""",
    "resize": """
| --input | -i | str |  |  |  |
| --output | -o | str |  |  |  |
| --input-image |  | str |  |  |  |
| --output-image |  | str |  |  |  |
| --resolution | -r | str |  |  |  |
| --megapixel |  | float |  |  |  |
| --aspect-ratio |  | str |  |  |  |
| --crop-position |  | str | center | top,center,bottom,left,right |  |
| --input-format |  | str | jpg,jpeg,png,webp |  |  |
| --output-format |  | str | jpg | jpg,png,webp |  |
| --output-name-numbers |  | flag |  |  |  |
| --recursive | -R | flag |  |  |  |
| --upscale |  | flag |  |  |  |
| --min-resolution |  | str |  |  |  |
| --workers |  | int | 1 |  |  |
| --progress |  | flag |  |  |  |
| --dry-run |  | flag |  |  |  |
""",
    "degrade": """
| --input | -i | str |  |  |  |
| --output | -o | str |  |  |  |
| --input-image |  | str |  |  |  |
| --output-image |  | str |  |  |  |
| --type | -t | str |  |  | repeatable |
| --intensity |  | float | 0.5 |  |  |
| --intensity-range |  | str |  |  |  |
| --chain |  | flag |  |  |  |
| --num-variants |  | int | 1 |  |  |
| --paired |  | flag |  |  |  |
| --seed |  | int |  |  |  |
| --output-format |  | str | png | png,jpg,webp |  |
| --recursive | -R | flag |  |  |  |
| --workers |  | int | 1 |  |  |
| --progress |  | flag |  |  |  |
| --skip-existing |  | flag |  |  |  |
| --dry-run |  | flag |  |  |  |
""",
    "align": """
| --target | -t | str |  |  | required |
| --control | -c | str |  |  | required |
| --multiple-of |  | int | 32 |  |  |
| --output-format |  | str |  | jpg,png,webp, |  |
| --dry-run |  | flag |  |  |  |
| --recursive | -R | flag |  |  |  |
""",
    "shuffle": """
| --input | -i | str |  |  | required |
| --output | -o | str |  |  | required |
| --group | -g | str |  |  | repeatable |
| --separator |  | str |   |  |  |
| --seed |  | int |  |  |  |
| --dry-run |  | flag |  |  |  |
| --show-distribution |  | flag |  |  |  |
| --recursive | -R | flag |  |  |  |
""",
    "caption": """
| --input | -i | str |  |  |  |
| --output | -o | str |  |  |  |
| --input-image |  | str |  |  |  |
| --output-caption |  | str |  |  |  |
| --device |  | str | auto | auto,cpu,cuda,mps |  |
| --template |  | str |  |  |  |
| --prompt |  | str | <MORE_DETAILED_CAPTION> |  |  |
| --model |  | str |  |  |  |
| --num-beams |  | int | 3 |  |  |
| --llm-api |  | flag |  |  |  |
| --max-tokens |  | int | 300 |  |  |
| --temperature |  | float | 0.3 |  |  |
| --recursive | -R | flag |  |  |  |
| --florence-2-base |  | flag |  |  |  |
| --florence-2-large |  | flag |  |  |  |
| --dry-run |  | flag |  |  |  |
| --progress |  | flag |  |  |  |
| --skip-existing |  | flag |  |  |  |
| --append |  | str |  |  |  |
| --prepend |  | str |  |  |  |
""",
    "workflow": """
| --file | -f | str |  |  |  |
| --dry-run |  | flag |  |  |  |
""",
    "server": """
| --port |  | int | 8080 |  |  |
""",
    "train": """
| --input | -i | str |  |  | required |
| --output | -o | str | lora.safetensors |  |  |
| --model | -m | str | black-forest-labs/FLUX.2-klein-base-4B |  |  |
| --family |  | str |  |  |  |
| --steps |  | int | 100 |  |  |
| --lr |  | float | 0.0001 |  |  |
| --lora-rank |  | int | 16 |  |  |
| --lora-alpha |  | float | 16.0 |  |  |
| --lora-dropout |  | float | 0.0 |  |  |
| --image-size |  | int | 512 |  |  |
| --device |  | str | auto | auto,cpu,cuda,mps |  |
| --seed |  | int | 42 |  |  |
| --save-every |  | int |  |  |  |
| --resume |  | str |  |  |  |
| --validation-split |  | float | 0.0 |  |  |
| --timestep-type |  | str | sigmoid | sigmoid,lognorm,linear |  |
| --caption-dropout |  | float | 0.05 |  |  |
| --gradient-checkpointing |  | flag |  |  |  |
| --optimizer |  | str | adamw | adamw,adamw8bit |  |
| --lr-scheduler |  | str | constant | constant,cosine,linear |  |
| --lr-warmup-steps |  | int | 0 |  |  |
| --gradient-accumulation-steps |  | int | 1 |  |  |
| --min-snr-gamma |  | float |  |  |  |
| --noise-offset |  | float | 0.0 |  |  |
| --backend |  | str | piper | piper,coqui,f5-tts |  |
| --test-text |  | str |  |  |  |
| --batch-size |  | int | 32 |  |  |
| --sample-rate |  | int | 22050 |  |  |
| --accelerator |  | str | auto |  |  |
| --devices |  | str | auto |  |  |
""",
    "upload": """
| --path | -p | str |  |  | required |
| --repo-id | -r | str |  |  |  |
| --type | -t | str | auto | audio,image,video,document,generic,model,auto |  |
| --private |  | flag |  |  |  |
| --token |  | str |  |  |  |
| --force |  | flag |  |  |  |
| --dry-run |  | flag |  |  |  |
| --readme-template |  | str |  |  |  |
| --metadata |  | str |  |  |  |
| --yes | -y | flag |  |  |  |
| --verbose | -V | flag |  |  |  |
""",
}

# (command, flag, column) -> why we differ from the reference there.
DELIBERATE = {
    ("resize", "--workers", "default"): "0 = every CPU core (resize is CPU-bound; the reference "
    "used one core); --workers 1 still gives the reference's behaviour",
    ("degrade", "--workers", "default"): "0 = every CPU core, as resize; the bytes written do "
    "not depend on the worker count",
    ("train", "--batch-size", "default"): "none: 1 for an image LoRA (what the reference "
    "trained, one image a step) and 32 for a voice (the reference's default); a fixed 32 "
    "could not tell a job asking for 32 images from one leaving the default out",
    ("degrade", "--type", "choices"): "the reference took any string and failed later; the "
    "choices are exactly its documented types (lowres ... upscale-sim, random), so a typo is "
    "a usage error before any work",
}

# Behaviour we changed on purpose, through an option the reference did not have:
# (command, option) -> what differs and why. CHANGELOG.md says the same to users.
DELIBERATE_BEHAVIOUR = {
    ("resize", "--captions"): "each image's .txt caption is copied beside its output, renamed "
    "with it (--output-name-numbers included); the reference left captions behind, so a "
    "captioned dataset lost them on its first step. --no-captions gives the reference's output",
    ("degrade", "--captions"): "the caption is copied beside every output, both sides of "
    "--paired and every variant; --no-captions gives the reference's output",
}

# Values our --type accepts: the reference's documented list, nothing more.
DEGRADE_TYPES = {
    "lowres", "oversharpen", "noise", "blur", "jpeg", "motion-blur", "pixelate", "color-bands",
    "upscale-sim", "random",
}  # fmt: skip


@dataclass(frozen=True)
class Flag:
    """One row of a reference table."""

    command: str
    name: str
    short: str
    type: str
    default: str
    choices: str
    nature: str

    def __str__(self) -> str:
        return f"{self.command} {self.name}"


def parse_row(command: str, row: str) -> Flag:
    # "| a | b |" -> ["a", "b"]: one space of padding each side, whatever is left is the value.
    cells = [cell[1:-1] for cell in row.split("|")[1:-1]]
    assert len(cells) == 6, row
    return Flag(command, *cells)


FLAGS = [
    parse_row(command, row)
    for command, table in REFERENCE_TABLES.items()
    for row in table.strip().splitlines()
]


def option(flag: Flag) -> click.Option:
    command = commands()[flag.command]
    for param in command.params:
        if isinstance(param, click.Option) and flag.name in param.opts:
            return param
    raise AssertionError(f"{flag}: missing from our command")


def resolved_defaults(name: str) -> dict[str, Any]:
    """What the command function receives for every parameter when no flag is given."""
    command = commands()[name]
    # resilient_parsing: no error for the required options, which then come back as None.
    with command.make_context(name, [], resilient_parsing=True) as ctx:
        return dict(ctx.params)


def expected_default(flag: Flag) -> Any:
    if flag.type == "flag":
        return False
    if flag.nature == "repeatable":
        return ()
    if flag.default == "":
        return None
    return {"int": int, "float": float, "str": str}[flag.type](flag.default)


@pytest.fixture(autouse=True)
def no_env_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    # `server` reads DATASETY_* environment variables; the reference defaults are without them.
    monkeypatch.delenv("DATASETY_PORT", raising=False)


def test_the_tables_are_the_reference_ones() -> None:
    # A guard against a bad paste: the row counts of the reference's tables.
    counts = {name: len(t.strip().splitlines()) for name, t in REFERENCE_TABLES.items()}
    assert counts == {
        "filter": 15, "mask": 17, "resize": 17, "degrade": 17, "align": 6, "shuffle": 8,
        "caption": 20, "workflow": 2, "server": 1, "upload": 11, "train": 30, "audio": 23,
        "video": 20,
    }  # fmt: skip
    assert parse_row("shuffle", "| --separator |  | str |   |  |  |").default == " "


@pytest.mark.parametrize("flag", FLAGS, ids=str)
def test_flag_exists_with_the_same_short_flag(flag: Flag) -> None:
    param = option(flag)
    ours = sorted(opt for opt in param.opts if not opt.startswith("--"))
    assert ours == ([flag.short] if flag.short else []), flag


@pytest.mark.parametrize("flag", FLAGS, ids=str)
def test_flag_has_a_compatible_type(flag: Flag) -> None:
    param = option(flag)
    if flag.type == "flag":
        assert param.is_flag and not param.multiple, flag
        return
    assert not param.is_flag, flag
    # IntRange and FloatRange are subclasses: a range check keeps the type.
    expected: tuple[type, ...] = {
        "int": (click.types.IntParamType,),
        "float": (click.types.FloatParamType,),
        "str": (click.types.StringParamType, click.Choice, click.Path),
    }[flag.type]
    assert isinstance(param.type, expected), (flag, param.type)


@pytest.mark.parametrize("flag", FLAGS, ids=str)
def test_flag_has_the_same_default(flag: Flag) -> None:
    actual = resolved_defaults(flag.command)[option(flag).name or ""]
    if (flag.command, flag.name, "default") in DELIBERATE:
        assert actual != expected_default(flag), f"{flag}: no longer differs; drop the exception"
        return
    if flag.type == "str" and flag.default == "" and flag.nature != "repeatable":
        # The table cannot tell no default from an empty string (align --output-format has ""
        # among its choices): both mean "not given".
        assert actual in (None, ""), flag
        return
    assert actual == expected_default(flag), flag


@pytest.mark.parametrize("flag", FLAGS, ids=str)
def test_flag_has_the_same_choices(flag: Flag) -> None:
    param_type = option(flag).type
    ours = set(param_type.choices) if isinstance(param_type, click.Choice) else None
    expected = set(flag.choices.split(",")) if flag.choices else None
    if (flag.command, flag.name, "choices") in DELIBERATE:
        assert (flag.command, flag.name) == ("degrade", "--type")
        assert ours == DEGRADE_TYPES
        return
    assert ours == expected, flag


@pytest.mark.parametrize("flag", FLAGS, ids=str)
def test_flag_is_repeatable_and_required_alike(flag: Flag) -> None:
    param = option(flag)
    assert flag.nature in {"", "repeatable", "required"}, flag
    assert param.multiple == (flag.nature == "repeatable"), flag
    assert param.required == (flag.nature == "required"), flag


def test_deliberate_behaviour_is_an_option_on_by_default_and_in_the_changelog() -> None:
    changelog = (Path(__file__).parents[1] / "CHANGELOG.md").read_text(encoding="utf-8")
    for command, name in DELIBERATE_BEHAVIOUR:
        param = next(p for p in commands()[command].params if name in p.opts)
        assert param.default is True and param.secondary_opts == ["--no-captions"]
        assert name not in {flag.name for flag in FLAGS if flag.command == command}
        assert f"`{command}`" in changelog and "--no-captions" in changelog


def test_deliberate_differences_name_real_flags_and_are_documented() -> None:
    flags = {(flag.command, flag.name) for flag in FLAGS}
    for command, name, column in DELIBERATE:
        assert (command, name) in flags
        assert column in {"default", "choices"}
    # The --workers default is shown in the help, with what 0 means.
    for command in ("resize", "degrade"):
        param = option(next(f for f in FLAGS if (f.command, f.name) == (command, "--workers")))
        assert param.show_default and "0 uses every CPU core" in (param.help or "")
