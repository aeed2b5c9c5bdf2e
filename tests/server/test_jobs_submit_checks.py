"""A job's arguments are judged when it is submitted, by the command's own click parser and
rules (issue 17 fix 7): a missing output or ``resolution=banana`` is a 400 naming the field,
never a queued job that fails; a secret (``upload --token``) is refused, never stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from datasety.commands import commands
from datasety.commands.invocation import (
    build_argv,
    command_argv,
    commands_schema,
    runnable_commands,
    without_defaults,
)
from datasety.commands.rules import RuledCommand
from datasety.core.errors import ArgumentError, DatasetyError
from datasety.workflow.steps import validate_steps

from .jobkit import kill_leftover_jobs


@pytest.fixture(autouse=True)
def _no_leftover_jobs(data_dir: Path) -> Iterator[None]:
    yield
    kill_leftover_jobs(data_dir)


def submit(client: TestClient, command: str, args: dict[str, Any]) -> Any:
    return client.post("/v1/jobs", json={"command": command, "args": args})


REFUSED = [
    # (command, args, field, words of the message)
    ("resize", {"input": "/in", "resolution": "8x8"}, "output", "--output is required"),
    ("resize", {"input": "/in", "output": "/out", "resolution": "banana"}, "resolution", "WIDTH"),
    ("resize", {"input": "/in", "output": "/out", "resolution": "0x8"}, "resolution", "1x1"),
    ("resize", {"input": "/in", "output": "/out"}, "resolution", "give a target size"),
    (
        "resize",
        {"input": "/in", "output": "/out", "min_resolution": "big", "resolution": "8x8"},
        "min_resolution",
        "WIDTHxHEIGHT",
    ),
    (
        "resize",
        {"input": "/in", "output": "/out", "resolution": "8x8", "aspect_ratio": "1:1"},
        "aspect_ratio",
        "only applies with --megapixel",
    ),
    (
        "resize",
        {"input": "/in", "output_image": "/o.jpg", "resolution": "8x8"},
        "output_image",
        "--input/--output (a folder) or --input-image/--output-image",
    ),
    ("caption", {"dry_run": True}, "input", "--input or --input-image is required"),
    ("caption", {"input": "/in", "input_image": "/a.png"}, "input_image", "not both"),
    (
        "mask",
        {"input_image": "/a.png", "output": "/o", "keywords": "face"},
        "output",
        "--output is for --input",
    ),
    ("synthetic", {"input": "/in", "prompt": "x"}, "output", "--output is required with --input"),
    ("degrade", {"input": "/in"}, "output", "--output is required with --input"),
    ("filter", {"input": "/in", "labels": "X"}, "labels", "--labels goes with --model nudenet"),
    ("align", {"target": "/t"}, "control", "Missing required parameter 'control'"),
    # Checks only Python judges (not in the schema's rules), still refused at submit.
    (
        "degrade",
        {"input": "/in", "output": "/o", "intensity": 0.2, "intensity_range": "0,1"},
        "intensity_range",
        "use either --intensity or --intensity-range, not both",
    ),
    ("inspect", {"directory": "/a", "input": "/b"}, "input", "as DIRECTORY or as --input"),
    ("align", {"target": "/t", "control": "/t/./"}, "control", "must be different folders"),
    (
        "resize",
        {"input_image": "/a.png", "output_image": "/o.gif", "resolution": "8x8"},
        "output_image",
        "--output-image must end in .jpg, .jpeg, .png or .webp",
    ),
    (
        "resize",
        {
            "input_image": "/a.png",
            "output_image": "/o.JPEG",
            "resolution": "8x8",
            "output_format": "png",
        },
        "output_format",
        "--output-format contradicts the suffix of --output-image",
    ),
    (
        "degrade",
        {"input_image": "/a.png", "output_image": "/o.tif"},
        "output_image",
        "--output-image must end in",
    ),
    (
        "mask",
        {"input_image": "/a.png", "output_image": "/m.bmp", "keywords": "face"},
        "output_image",
        "--output-image must end in",
    ),
    (
        "synthetic",
        {"input_image": "/a.png", "output_image": "/e.png", "prompt": "x", "output_format": "jpg"},
        "output_format",
        "--output-format contradicts the suffix of --output-image",
    ),
    (
        "audio",
        {"input": "/a.wav", "output": "/o", "min_duration": 9, "max_duration": 2},
        "min_duration",
        "--min-duration must not exceed --max-duration",
    ),
]


@pytest.mark.parametrize(("command", "args", "field", "says"), REFUSED)
def test_a_bad_job_is_a_400_naming_its_field_and_nothing_is_queued(
    client: TestClient, command: str, args: dict[str, Any], field: str, says: str
) -> None:
    answer = submit(client, command, args)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["field"] == field
    assert says in body["error"]
    assert client.get("/v1/jobs").json()["jobs"] == []


def test_the_400s_field_is_a_parameter_of_the_commands_schema(client: TestClient) -> None:
    schema = client.get("/v1/commands").json()["commands"]
    for command, _args, field, _ in REFUSED:
        assert field in {p["name"] for p in schema[command]["params"]}, (command, field)


def test_a_client_sending_every_default_is_accepted(client: TestClient, tmp_path: Path) -> None:
    """The spec's client may send each parameter with its schema default (null where it has
    none): the job runs as if they were left out."""
    params = client.get("/v1/commands").json()["commands"]["resize"]["params"]
    args = {p["name"]: p.get("default") for p in params}
    args.update(input=str(tmp_path / "in"), output=str(tmp_path / "out"), resolution="8x8")
    (tmp_path / "in").mkdir()
    answer = submit(client, "resize", args)
    assert answer.status_code == 202, answer.text
    job = client.get(f"/v1/jobs/{answer.json()['id']}").json()
    assert job["argv"][3:] == [
        "resize", "--input", args["input"], "--output", args["output"], "--resolution", "8x8"
    ]  # fmt: skip


def test_every_default_sent_gives_the_command_line_of_none_sent() -> None:
    """For every command: a value equal to its default is left out of the argv, so a command
    that tells given from defaulted (train's voice flags, resize's --output-format beside
    --output-image) runs as if the client had left it out. Paths stay (--root judges them)."""
    for name, command in runnable_commands().items():
        params = commands_schema()["commands"][name]["params"]
        needed = {p["name"]: (p.get("choices") or ["x"])[0] for p in params if p["required"]}
        every = {**{p["name"]: p["default"] for p in params if "default" in p}, **needed}
        paths = {p["name"]: p["default"] for p in params if "default" in p and p["type"] == "path"}
        paths.update(needed)
        kept = without_defaults(name, command, every)
        assert command_argv(name, command, kept) == command_argv(name, command, paths), name


def test_the_spec_example_is_still_accepted(client: TestClient, tmp_path: Path) -> None:
    args = {"input": str(tmp_path), "output": str(tmp_path / "o"), "resolution": "512x512"}
    answer = submit(client, "resize", {**args, "crop-position": "top"})
    assert answer.status_code == 202, answer.text


def test_the_cli_refuses_the_same_argv_with_the_same_message(tmp_path: Path) -> None:
    """One way to validate: the CLI's parse and the server's are the same click parse."""
    from click.testing import CliRunner

    from datasety.cli import cli

    result = CliRunner().invoke(cli, ["resize", "-i", str(tmp_path), "-r", "8x8"])
    assert result.exit_code == 2
    with pytest.raises(ArgumentError) as caught:
        build_argv("resize", {"input": str(tmp_path), "resolution": "8x8"})
    assert caught.value.message in result.output


def test_a_workflow_step_breaking_a_rule_is_refused_before_any_step_runs() -> None:
    steps = [
        {"command": "inspect", "args": {"input": "/data"}},
        {"command": "resize", "args": {"input": "/data", "resolution": "8x8"}},
    ]
    with pytest.raises(DatasetyError, match="Step 2 \\(resize\\): --output is required"):
        validate_steps(steps)


def test_the_schema_publishes_rules_patterns_and_secrets() -> None:
    schema = commands_schema()["commands"]
    resize = schema["resize"]
    rules = resize["rules"]
    assert {
        "rule": "one_of",
        "params": ["input", "input_image"],
        "message": "--input or --input-image is required",
        "field": "input",
    } in rules
    assert any(r["rule"] == "requires" and r["params"] == ["input"] for r in rules)
    resolution = next(p for p in resize["params"] if p["name"] == "resolution")
    assert resolution["pattern"] and "WIDTHxHEIGHT" in resolution["pattern_hint"]
    for name in ("caption", "mask", "synthetic"):
        one_of = [r for r in schema[name]["rules"] if r["rule"] == "one_of"]
        assert one_of[0]["params"] == ["input", "input_image"], name
    token = next(p for p in schema["upload"]["params"] if p["name"] == "token")
    assert token["secret"] is True and token["env"] == "HF_TOKEN"


def test_every_rule_is_declared_on_parameters_without_a_default() -> None:
    """What makes "a client that sends every default" safe: RuledCommand checks it when the
    command is built, so loading every command is the test."""
    ruled = [c for c in commands().values() if isinstance(c, RuledCommand)]
    assert {c.name for c in ruled} >= {"resize", "caption", "mask", "synthetic", "degrade"}


# -- secrets -----------------------------------------------------------------------------------


def test_a_token_in_a_jobs_args_is_refused_and_never_stored(
    client: TestClient, tmp_path: Path
) -> None:
    answer = submit(client, "upload", {"path": str(tmp_path), "token": "hf_secret_value"})
    assert answer.status_code == 400
    body = answer.json()
    assert body["field"] == "token"
    assert "HF_TOKEN" in body["error"]
    assert "hf_secret_value" not in answer.text
    assert client.get("/v1/jobs").json()["jobs"] == []


def test_a_null_token_is_no_secret(client: TestClient, tmp_path: Path) -> None:
    answer = submit(client, "upload", {"path": str(tmp_path), "token": None, "dry_run": True})
    assert answer.status_code == 202, answer.text


def test_a_workflow_step_with_a_token_is_refused() -> None:
    with pytest.raises(DatasetyError, match="HF_TOKEN"):
        validate_steps([{"command": "upload", "args": {"path": "/d", "token": "hf_x"}}])
