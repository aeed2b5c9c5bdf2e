"""The one argument validator: {command, args} -> argv, and the command schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest

from datasety.commands import commands, options
from datasety.commands.invocation import (
    JOB_EXCLUDED,
    build_argv,
    command_argv,
    command_schema,
    commands_schema,
    public_name,
    recheck_argv,
    runnable_commands,
    visible_params,
)
from datasety.core.confinement import JOB_ROOTS_ENV, JOB_URLS_ENV, Confinement, job_env
from datasety.core.confinement import from_env as confinement_from_env
from datasety.core.errors import DatasetyError


@click.command("sample")
@click.argument("paths", nargs=-1, cls=options.DocumentedArgument, help="Extra paths")
@options.input_dir()
@click.option("--target", "-t", required=True, help="Target folder")
@click.option(
    "--crop-position",
    type=click.Choice(["top", "center", "bottom"]),
    default="center",
    help="Where to crop",
)
@click.option("--workers", type=click.IntRange(min=0), default=0, help="Workers")
@click.option("--megapixel", type=float, default=None, help="Megapixels")
@click.option("--group", "-g", multiple=True, help="A group, repeatable")
@click.option("--size", nargs=2, type=int, default=None, help="Width and height")
@click.option("--upscale/--no-upscale", default=False, help="Allow upscaling")
@click.option("--dry-run", is_flag=True, default=False, help="Write nothing")
@click.option("--fast", "mode", flag_value="fast", help="Fast mode")
@click.option("--slow", "mode", flag_value="slow", help="Slow mode")
@click.option("--secret", hidden=True, default=None, help="Not for callers")
def sample(**kwargs: Any) -> None:
    """A command shaped like the real ones, to test every kind of parameter.

    Second paragraph, not part of the description.
    """


def argv_of(args: dict[str, Any]) -> list[str]:
    return command_argv("sample", sample, {"target": "out", **args})


def parse(argv: list[str]) -> dict[str, Any]:
    """What the real click command reads from ``argv`` (without the command name)."""
    assert argv[0] == "sample"
    ctx = sample.make_context("sample", argv[1:])
    return ctx.params


def error_of(args: dict[str, Any]) -> str:
    with pytest.raises(DatasetyError) as caught:
        argv_of(args)
    return caught.value.message


# -- argv --------------------------------------------------------------------------------------


def test_values_become_attached_long_flags_in_parameter_order() -> None:
    argv = argv_of({"crop-position": "top", "input": "/data/raw", "workers": 3})
    assert argv == [
        "sample",
        "--input",
        "/data/raw",
        "--target",
        "out",
        "--crop-position",
        "top",
        "--workers",
        "3",
    ]
    params = parse(argv)
    assert params["input_"] == "/data/raw"
    assert params["crop_position"] == "top"
    assert params["workers"] == 3


def test_dash_underscore_dashed_and_python_names_are_the_same_key() -> None:
    spellings = ["crop-position", "crop_position", "--crop-position", "--crop_position"]
    argvs = {tuple(argv_of({key: "bottom"})) for key in spellings}
    assert argvs == {("sample", "--target", "out", "--crop-position", "bottom")}
    # --input is stored as `input_`: the flag name and the Python name both work.
    assert argv_of({"input_": "a"}) == argv_of({"input": "a"})


def test_a_value_that_looks_like_a_flag_stays_a_value() -> None:
    argv = argv_of({"input": "--help", "group": ["-x", "--version"], "paths": ["--help", "-R"]})
    assert argv == [
        "sample",
        "--input=--help",
        "--target",
        "out",
        "--group=-x",
        "--group=--version",
        "--",
        "--help",
        "-R",
    ]
    params = parse(argv)  # make_context would print help and raise Exit if --help were a flag
    assert params["input_"] == "--help"
    assert params["group"] == ("-x", "--version")
    assert params["paths"] == ("--help", "-R")


def test_input_help_parsed_by_the_real_inspect_command(capsys: pytest.CaptureFixture[str]) -> None:
    # One at a time: inspect refuses DIRECTORY and --input together (build_argv parses).
    inspect = commands()["inspect"]
    argv = build_argv("inspect", {"input": "--help"})
    assert inspect.make_context("inspect", argv[1:]).params["input_"] == "--help"
    argv = build_argv("inspect", {"directory": "-h"})
    assert inspect.make_context("inspect", argv[1:]).params["directory"] == "-h"
    assert capsys.readouterr().out == ""


def test_flags_true_false_and_secondary_forms() -> None:
    assert argv_of({"dry-run": True}) == ["sample", "--target", "out", "--dry-run"]
    assert argv_of({"dry-run": False}) == ["sample", "--target", "out"]
    assert argv_of({"upscale": True})[-1] == "--upscale"
    assert argv_of({"upscale": False})[-1] == "--no-upscale"
    assert argv_of({"no-upscale": True})[-1] == "--no-upscale"
    assert argv_of({"no_upscale": False})[-1] == "--upscale"
    assert parse(argv_of({"no-upscale": False}))["upscale"] is True
    # Feature switches share the Python name `mode`: each is keyed by its own flag.
    assert parse(argv_of({"slow": True}))["mode"] == "slow"


def test_null_omits_and_lists_repeat_or_fill_nargs() -> None:
    assert argv_of({"input": None, "megapixel": None}) == ["sample", "--target", "out"]
    argv = argv_of({"group": ["a|b", "c"], "size": [640, 480], "megapixel": 1.5})
    assert parse(argv)["group"] == ("a|b", "c")
    assert parse(argv)["size"] == (640, 480)
    assert parse(argv)["megapixel"] == 1.5
    # A single value for a repeatable option is one occurrence.
    assert parse(argv_of({"group": "solo"}))["group"] == ("solo",)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"workers": "abc"}, "Parameter 'workers' of sample expects an integer >= 0, got 'abc'"),
        ({"workers": -1}, "Parameter 'workers' of sample expects an integer >= 0, got '-1'"),
        ({"workers": 2.5}, "Parameter 'workers' of sample expects an integer >= 0, got '2.5'"),
        ({"workers": True}, "Parameter 'workers' of sample expects an integer >= 0, got true"),
        ({"megapixel": "big"}, "Parameter 'megapixel' of sample expects a number, got 'big'"),
        ({"input": {"a": 1}}, "Parameter 'input' of sample expects a string, got an object"),
        ({"input": ["a", "b"]}, "Parameter 'input' of sample expects a string, got a list"),
        ({"group": [{"a": 1}]}, "Parameter 'group' of sample expects a string, got an object"),
        ({"size": [1]}, "Parameter 'size' of sample expects a list of 2 values, got 1 value"),
        ({"size": 5}, "Parameter 'size' of sample expects a list of 2 values, got 5"),
        (
            {"crop-position": "middle"},
            "Parameter 'crop_position' of sample expects one of top, center, bottom, got 'middle'",
        ),
        (
            {"dry-run": "yes"},
            "Parameter 'dry_run' of sample is a flag: expects true or false, got 'yes'",
        ),
        ({"upscale": 1}, "Parameter 'upscale' of sample is a flag: expects true or false, got 1"),
        (
            {"crop-position": "top", "crop_position": "top"},
            "Parameter 'crop_position' of sample is given twice "
            "('crop-position' and 'crop_position')",
        ),
        (
            {"upscale": True, "no-upscale": True},
            "Parameter 'upscale' of sample is given twice ('upscale' and 'no-upscale')",
        ),
    ],
)
def test_bad_values_name_the_parameter_and_the_expected_type(
    args: dict[str, Any], expected: str
) -> None:
    assert error_of(args) == expected


def test_unknown_parameter_lists_the_allowed_ones() -> None:
    assert error_of({"foo": 1}) == (
        "Unknown parameter 'foo' for sample; allowed: paths, input, target, crop_position, "
        "workers, megapixel, group, size, upscale, dry_run, fast, slow"
    )
    # Hidden parameters and short flags are not keys.
    assert error_of({"secret": "x"}).startswith("Unknown parameter 'secret' for sample;")
    assert error_of({"i": "x"}).startswith("Unknown parameter 'i' for sample;")


def test_missing_required_parameter() -> None:
    with pytest.raises(DatasetyError) as caught:
        command_argv("sample", sample, {"input": "a"})
    assert caught.value.message == "Missing required parameter 'target' for sample"
    with pytest.raises(DatasetyError, match="Missing required parameter 'target'"):
        command_argv("sample", sample, {"target": None})


def test_args_must_be_an_object() -> None:
    with pytest.raises(DatasetyError, match="Arguments for sample must be an object, got a list"):
        command_argv("sample", sample, ["--input", "x"])  # type: ignore[arg-type]


def test_unknown_and_excluded_commands() -> None:
    with pytest.raises(DatasetyError) as caught:
        build_argv("nope", {})
    assert caught.value.message == "Unknown command: nope"
    with pytest.raises(DatasetyError) as caught:
        build_argv(None, {})  # type: ignore[arg-type]
    assert caught.value.message == "Unknown command: None"
    assert "server" in JOB_EXCLUDED
    with pytest.raises(DatasetyError, match="'server' cannot run as a job or a workflow step"):
        build_argv("server", {})
    assert "workflow" in runnable_commands()
    assert build_argv("workflow", {"file": "-x.yaml", "dry-run": True}) == [
        "workflow",
        "--file=-x.yaml",
        "--dry-run",
    ]


# -- schema ------------------------------------------------------------------------------------


def test_schema_has_the_spec_keys_and_additive_details() -> None:
    schema = {p["name"]: p for p in command_schema_for_sample()["params"]}
    assert schema["crop_position"] == {
        "name": "crop_position",
        "help": "Where to crop",
        "required": False,
        "type": "choice",
        "choices": ["top", "center", "bottom"],
        "default": "center",
        "opts": ["--crop-position"],
    }
    assert schema["input"] == {
        "name": "input",
        "help": "Input directory containing images",
        "required": False,
        "type": "path",
        "opts": ["--input", "-i"],
    }
    assert schema["target"]["required"] is True
    assert schema["workers"]["type"] == "integer" and schema["workers"]["min"] == 0
    assert schema["megapixel"]["type"] == "number" and "default" not in schema["megapixel"]
    assert schema["group"]["multiple"] is True and "default" not in schema["group"]
    assert schema["size"]["nargs"] == 2
    assert schema["upscale"]["flag"] is True
    assert schema["upscale"]["default"] is False
    assert schema["upscale"]["secondary_opts"] == ["--no-upscale"]
    assert schema["paths"]["positional"] is True and schema["paths"]["nargs"] == -1
    assert "secret" not in schema


def command_schema_for_sample() -> dict[str, Any]:
    from datasety.commands.invocation import description, param_schema

    ctx = click.Context(sample)
    return {
        "description": description(sample),
        "params": [param_schema(p, ctx) for p in visible_params(sample)],
    }


def test_description_is_the_first_paragraph() -> None:
    assert command_schema_for_sample()["description"] == (
        "A command shaped like the real ones, to test every kind of parameter."
    )


def test_commands_schema_covers_the_registry_and_is_json() -> None:
    schema = commands_schema()
    assert list(schema) == ["commands"]
    assert list(schema["commands"]) == [n for n in commands() if n not in JOB_EXCLUDED]
    json.dumps(schema)  # every default and choice is plain JSON
    for name, entry in schema["commands"].items():
        assert entry["description"].strip(), name
        click_command = commands()[name]
        # Derived from click, parameter for parameter: nothing hand-written in between.
        assert [p["name"] for p in entry["params"]] == [
            public_name(p) for p in visible_params(click_command)
        ]
        for param in entry["params"]:
            assert {"name", "help", "required", "type"} <= set(param), (name, param)
            assert param["help"], (name, param["name"])
            assert param.get("default", 0) is not None
            # Every schema name is a key the validator accepts (no unknown-parameter error;
            # the rules between options are tested on their own).
            if not param["required"]:
                required = {p["name"]: _sample_value(p) for p in entry["params"] if p["required"]}
                command_argv(name, click_command, {**required, param["name"]: None})


def _sample_value(param: dict[str, Any]) -> Any:
    if param.get("choices"):
        return param["choices"][0]
    return {"integer": 1, "number": 1.0, "boolean": True}.get(param["type"], "x")


def test_inspect_schema_matches_its_flags() -> None:
    params = {p["name"]: p for p in command_schema("inspect")["params"]}
    assert params["recursive"]["default"] is True
    assert params["recursive"]["opts"] == ["--recursive", "-R"]
    assert params["near_threshold"]["type"] == "integer"
    assert params["json"]["flag"] is True


# -- confinement to the server's roots ---------------------------------------------------------


def test_path_parameters_come_from_the_registry() -> None:
    """Every parameter named like a path is a click.Path, so confinement sees it; --model
    (a hub id or a folder) and --group (text, a file or a URL) are deliberately not."""
    path_like = {"input", "output", "input_image", "output_image", "output_caption"}
    path_like |= {"target", "control", "file", "directory", "log", "path", "readme_template"}
    path_like |= {"weights", "gguf", "prompts_file", "reference", "output_file", "llm_gguf"}
    path_like |= {"resume", "cache_dir"}  # train: a checkpoint, the latent cache
    path_like |= {"phoneme_map", "keep_temp"}
    for name, command in runnable_commands().items():
        for param in visible_params(command):
            is_path = isinstance(param.type, click.Path)
            # audio and video's --resume is the reference's flag, not train's checkpoint path.
            named_like_a_path = public_name(param) in path_like and not (
                name in {"audio", "video"} and public_name(param) == "resume"
            )
            assert is_path == named_like_a_path, (name, public_name(param))
    shuffle_group = {public_name(p): p for p in visible_params(commands()["shuffle"])}["group"]
    assert isinstance(shuffle_group.type, options.TextOrPath)
    upload_metadata = {public_name(p): p for p in visible_params(commands()["upload"])}["metadata"]
    assert isinstance(upload_metadata.type, options.TextOrPath)
    synthetic_lora = {public_name(p): p for p in visible_params(commands()["synthetic"])}["lora"]
    assert isinstance(synthetic_lora.type, options.TextOrPath)  # a file or a hub repo id
    assert command_schema("resize")["params"][0]["type"] == "path"


def test_confined_paths_inside_the_roots_pass_unchanged(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "raw").mkdir(parents=True)
    confinement = Confinement.of([root])
    args = {"input": str(root / "raw"), "output": str(root / "new" / "deeper"), "resolution": "8x8"}
    assert build_argv("resize", args, confinement) == build_argv("resize", args)
    # The root itself counts as inside.
    assert build_argv("inspect", {"directory": str(root)}, confinement)[-1] == str(root)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("{out}/x", "must be inside a --root folder: {out}/x"),
        ("{root}/../out", "must be inside a --root folder: {root}/../out"),
        ("{root}/link/x", "must be inside a --root folder: {root}/link/x"),
        ("{root}/dangling", "must be inside a --root folder: {root}/dangling"),
        ("{root}x", "must be inside a --root folder: {root}x"),
        ("relative", "must be an absolute path inside a --root folder: relative"),
        ("", "must be an absolute path inside a --root folder: "),
        ("{root}/a\x00b", "must not contain a NUL byte"),
    ],
    ids=[
        "outside",
        "dot-dot",
        "symlink",
        "dangling-symlink",
        "sibling-prefix",
        "relative",
        "empty",
        "nul",
    ],
)
def test_confined_paths_outside_the_roots_are_refused(
    tmp_path: Path, value: str, problem: str
) -> None:
    root, out = tmp_path / "root", tmp_path / "out"
    root.mkdir()
    out.mkdir()
    (root / "link").symlink_to(out)
    (root / "dangling").symlink_to(out / "not-yet")
    (tmp_path / "rootx").mkdir()
    value = value.format(root=root, out=out)
    with pytest.raises(DatasetyError) as caught:
        build_argv("align", {"target": str(root), "control": value}, Confinement.of([root]))
    assert caught.value.message == (
        f"Parameter 'control' of align {problem.format(root=root, out=out)}"
    )


def test_relative_paths_resolve_against_the_base(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "work").mkdir(parents=True)
    confinement = Confinement.of([root], base=str(root / "work"))
    assert build_argv("inspect", {"input": "sub"}, confinement) == ["inspect", "--input", "sub"]
    assert build_argv("inspect", {"input": ".."}, confinement) == ["inspect", "--input", ".."]
    with pytest.raises(DatasetyError, match="'input' of inspect must be inside a --root folder"):
        build_argv("inspect", {"input": "../.."}, confinement)


def test_several_roots_and_repeated_values(tmp_path: Path) -> None:
    one, two, out = tmp_path / "one", tmp_path / "two", tmp_path / "out"
    for folder in (one, two, out):
        folder.mkdir()
    confinement = Confinement.of([one, two])
    build_argv("align", {"target": str(one), "control": str(two)}, confinement)
    (out / "g.txt").write_text("a\n", encoding="utf-8")
    (two / "g.txt").write_text("a\n", encoding="utf-8")
    args = {"input": str(one), "output": str(two)}
    ok = ["a|b", str(two / "g.txt"), str(out / "missing.txt")]
    build_argv("shuffle", {**args, "group": ok}, confinement)
    with pytest.raises(DatasetyError, match="a server with --root fetches no URL"):
        build_argv("shuffle", {**args, "group": ["https://example.com/g.txt"]}, confinement)
    with pytest.raises(DatasetyError) as caught:
        build_argv("shuffle", {**args, "group": ["a|b", str(out / "g.txt")]}, confinement)
    assert caught.value.message == (
        f"Parameter 'group' of shuffle names a file outside the --root folders: {out / 'g.txt'}"
    )


def test_no_roots_means_no_confinement(tmp_path: Path) -> None:
    assert Confinement.of([]) is None
    assert job_env([]) == {}
    assert confinement_from_env({}, str(tmp_path)) is None
    assert build_argv("align", {"target": "/etc", "control": "rel"}, None)[-1] == "rel"


def test_urls_are_refused_without_roots_when_the_server_says_so(tmp_path: Path) -> None:
    no_urls = Confinement.of([], urls=False)
    assert no_urls == Confinement((), None, urls=False)
    assert job_env([], urls=False) == {JOB_URLS_ENV: "0"}
    assert confinement_from_env({JOB_URLS_ENV: "0"}, "/base") == Confinement((), "/base", False)
    args = {"input": "rel", "output": "/anywhere", "group": ["a|b", "http://169.254.169.254/"]}
    with pytest.raises(DatasetyError, match="must not be a URL: this server fetches no URL"):
        build_argv("shuffle", args, no_urls)
    # Paths stay free without roots.
    assert build_argv("shuffle", {**args, "group": ["a|b"]}, no_urls)[-1] == "a|b"


def test_recheck_judges_each_value_by_its_parameter(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "out").mkdir(parents=True)
    (root / "control").mkdir()
    outside.mkdir()
    confinement = Confinement.of([root])
    assert confinement is not None
    args = {"target": str(root / "out"), "control": str(root / "control"), "output_format": "png"}
    argv = build_argv("align", args, confinement)
    recheck_argv(argv, confinement)
    (root / "out").rmdir()
    (root / "out").symlink_to(outside)
    with pytest.raises(DatasetyError, match="Parameter 'target' of align must be inside"):
        recheck_argv(argv, confinement)
    # A value that only looks like a path (a group's inline text) is not a path.
    shuffle = build_argv("shuffle", {"input": str(root), "output": str(root), "group": "a|b"})
    recheck_argv(shuffle, confinement)


def test_roots_travel_to_a_job_through_its_environment(tmp_path: Path) -> None:
    root = tmp_path / "a:b"  # a ':' would break an os.pathsep list
    root.mkdir()
    (tmp_path / "link").symlink_to(root)
    env = job_env([tmp_path / "link"])
    assert json.loads(env[JOB_ROOTS_ENV]) == [str(root)]
    assert confinement_from_env(env, "/base") == Confinement((str(root),), "/base", urls=False)
    for bad in ("", "[]", "not json", '"/x"', "[1]", '[""]'):
        # Fail closed: a job told to stay confined never runs unconfined.
        with pytest.raises(DatasetyError, match=JOB_ROOTS_ENV):
            confinement_from_env({JOB_ROOTS_ENV: bad}, "/base")


def test_train_batch_size_has_no_default_to_leave_out() -> None:
    # Arguments equal to their default are left out of a job's command line; --batch-size has
    # none (1 for images, 32 for voices), so a job asking for 32 images a batch still gets 32.
    assert build_argv("train", {"input": "data", "batch-size": 32})[-2:] == ["--batch-size", "32"]
    assert "--batch-size" not in build_argv("train", {"input": "data"})
